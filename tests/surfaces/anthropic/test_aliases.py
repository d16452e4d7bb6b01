"""The `[aliases]` table of inferencers.toml: loading, validation and resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from woollama.config import load_config
from woollama.errors import ConfigError
from woollama.routing.router import Router


def _router(tmp_path: Path, aliases: str) -> Router:
    (tmp_path / "inferencers.toml").write_text(
        '[inferencers.local]\nbase_url = "http://127.0.0.1:9/v1"\n\n[aliases]\n' + aliases
    )
    config = load_config(tmp_path, env={})
    # Resolution reads only the config; no provider or registry is needed for it.
    return Router(config, {}, None, None)  # type: ignore[arg-type]


def test_an_exact_alias_wins_over_a_glob_listed_before_it(tmp_path: Path):
    router = _router(tmp_path, '"claude-*" = ["local/any"]\n"claude-haiku-4-5" = ["local/small"]\n')
    assert router.resolve_model("claude-haiku-4-5") == "local/small"
    assert router.resolve_model("claude-sonnet-4-5") == "local/any"


def test_globs_are_tried_in_file_order_and_the_first_target_is_used(tmp_path: Path):
    router = _router(
        tmp_path, '"claude-haiku-*" = ["local/small", "local/big"]\n"claude-*" = ["local/any"]\n'
    )
    assert router.resolve_alias("claude-haiku-3") == "local/small"
    assert router.resolve_alias("gpt-4o") is None


def test_an_unaliased_claude_name_goes_to_anthropic_and_others_stay_as_written(tmp_path: Path):
    router = _router(tmp_path, '"gpt-4o" = ["local/m"]\n')
    assert router.resolve_model("claude-opus-4-1") == "anthropic/claude-opus-4-1"
    assert router.resolve_model("local/claude-x") == "local/claude-x"
    assert router.resolve_model("woollama/helper") == "woollama/helper"
    assert router.resolve_model("gpt-4o") == "local/m"


@pytest.mark.parametrize(
    ("table", "complaint"),
    [('"claude-*" = []\n', "at least one"), ('"claude-*" = ["no-slash"]\n', "<provider>/<model>"),
     ('"claude-*" = "local/m"\n', "aliases")],
)  # fmt: skip
def test_a_bad_alias_is_a_config_error_that_says_why(tmp_path: Path, table: str, complaint: str):
    with pytest.raises(ConfigError, match="aliases") as caught:
        _router(tmp_path, table)
    assert complaint in str(caught.value)


def test_aliases_need_no_table_at_all(tmp_path: Path):
    (tmp_path / "inferencers.toml").write_text('[inferencers.local]\nbase_url = "http://x/v1"\n')
    assert load_config(tmp_path, env={}).aliases == {}
