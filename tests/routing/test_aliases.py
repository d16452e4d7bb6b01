"""`[aliases]`: names a client uses, their targets tried in order, and cool-down."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from tests.fakes.openai_backend import Error, FakeOpenAI
from tests.harness import Woollama
from tests.surfaces.conftest import closed_port
from woollama.config import load_config
from woollama.errors import ConfigError
from woollama.routing.router import Router

HI = [{"role": "user", "content": "hi"}]


def _two(a: FakeOpenAI, b: FakeOpenAI, aliases: str) -> str:
    return (
        f'[inferencers.a]\nbase_url = "{a.base_url}"\n\n'
        f'[inferencers.b]\nbase_url = "{b.base_url}"\n\n{aliases}'
    )


def _chats(fake: FakeOpenAI) -> int:
    return sum(1 for r in fake.requests if r.path.endswith("/chat/completions"))


@pytest.fixture
def pair():
    with FakeOpenAI() as a, FakeOpenAI() as b:
        yield a, b


def test_an_alias_answers_from_its_first_target_and_says_which(woollama, pair):
    a, b = pair
    server: Woollama = woollama(inferencers=_two(a, b, '[aliases]\nfast = ["a/one", "b/two"]\n'))
    raw = server.client().chat.completions.with_raw_response.create(model="fast", messages=HI)
    assert raw.headers["x-woollama-target"] == "a/one"
    assert raw.parse().model == "one"  # as the backend gave it
    assert a.requests[-1].body["model"] == "one"
    assert "fast" in {m["id"] for m in server.http().get("/v1/models").json()["data"]}


def test_a_dead_first_target_falls_over_to_the_next(woollama, fake_openai):
    dead = f"http://127.0.0.1:{closed_port()}/v1"
    config = (f'[inferencers.dead]\nbase_url = "{dead}"\n\n'
              f'[inferencers.fake]\nbase_url = "{fake_openai.base_url}"\n\n'
              '[aliases]\nfast = ["dead/x", "fake/fake-model"]\n')  # fmt: skip
    server: Woollama = woollama(inferencers=config)
    raw = server.client().chat.completions.with_raw_response.create(model="fast", messages=HI)
    assert raw.headers["x-woollama-target"] == "fake/fake-model"
    stream = server.client().chat.completions.with_raw_response.create(
        model="fast", messages=HI, stream=True
    )
    assert stream.headers["x-woollama-target"] == "fake/fake-model"
    assert "".join(c.choices[0].delta.content or "" for c in stream.parse() if c.choices)


@pytest.mark.parametrize("status", [429, 500, 503])
def test_a_retryable_status_falls_over_and_the_target_cools_down(woollama, pair, status):
    a, b = pair
    server: Woollama = woollama(inferencers=_two(a, b, '[aliases]\nfast = ["a/one", "b/two"]\n'))
    a.script(Error(status, "not now", type="server_error"))
    client = server.client()
    for _ in range(3):
        raw = client.chat.completions.with_raw_response.create(model="fast", messages=HI)
        assert raw.headers["x-woollama-target"] == "b/two"
    assert _chats(a) == 1  # skipped while cooling down
    assert _chats(b) == 3


def test_with_cooldown_zero_a_failed_target_is_tried_again(woollama, pair):
    a, b = pair
    aliases = '[aliases.fast]\ntargets = ["a/one", "b/two"]\ncooldown = 0\n'
    server: Woollama = woollama(inferencers=_two(a, b, aliases))
    a.script(Error(500, "once", type="server_error"))
    client = server.client()
    targets = [
        client.chat.completions.with_raw_response.create(model="fast", messages=HI).headers[
            "x-woollama-target"
        ]
        for _ in range(2)
    ]
    assert targets == ["b/two", "a/one"]


@pytest.mark.parametrize("status", [400, 401, 404])
def test_a_client_fault_is_returned_not_retried(woollama, pair, status):
    a, b = pair
    server: Woollama = woollama(inferencers=_two(a, b, '[aliases]\nfast = ["a/one", "b/two"]\n'))
    a.script(Error(status, "your fault"))
    with pytest.raises(openai.APIStatusError) as caught:
        server.client().chat.completions.create(model="fast", messages=HI)
    assert caught.value.status_code == status
    assert caught.value.response.headers["x-woollama-target"] == "a/one"
    assert _chats(b) == 0


def test_when_every_target_fails_the_last_failure_is_the_answer(woollama, pair):
    a, b = pair
    server: Woollama = woollama(inferencers=_two(a, b, '[aliases]\nfast = ["a/one", "b/two"]\n'))
    a.script(Error(500, "a down", type="server_error"))
    b.script(Error(503, "b down", type="server_error"))
    with pytest.raises(openai.APIStatusError) as caught:
        server.client().chat.completions.create(model="fast", messages=HI)
    assert caught.value.status_code == 503
    assert caught.value.response.headers["x-woollama-target"] == "b/two"


def test_embeddings_and_responses_and_recipes_take_an_alias(woollama, pair):
    a, b = pair
    recipes = '[recipes.helper]\ninferencer = "fast"\nsystem = "be brief"\n'
    server: Woollama = woollama(
        inferencers=_two(a, b, '[aliases.fast]\ntargets = ["a/one", "b/two"]\ncooldown = 0\n'),
        recipes=recipes,
    )
    client = server.client()
    a.script(Error(500, "down", type="server_error"))
    assert client.embeddings.create(model="fast", input="x").data
    assert b.requests[-1].path.endswith("/embeddings")
    a.script(Error(500, "down", type="server_error"))
    assert client.responses.create(model="fast", input="hi").output_text
    assert b.requests[-1].body["model"] == "two"
    answer = client.chat.completions.create(model="woollama/helper", messages=HI)
    assert answer.choices[0].message.content
    assert a.requests[-1].body["messages"][0]["content"] == "be brief"


def _router(tmp_path: Path, aliases: str) -> Router:
    (tmp_path / "inferencers.toml").write_text(
        '[inferencers.local]\nbase_url = "http://127.0.0.1:9/v1"\n\n' + aliases
    )
    return Router(load_config(tmp_path, env={}), {"local": None}, None, None)  # type: ignore[arg-type,dict-item]


def test_the_most_specific_glob_wins_then_the_first_in_the_file(tmp_path: Path):
    router = _router(
        tmp_path,
        '[aliases]\n"claude-*" = ["local/any"]\n"claude-haiku-*" = ["local/small"]\n'
        '"claude-h*" = ["local/h"]\n"claude-*-4" = ["local/four"]\n',
    )
    assert router.resolve_alias("claude-haiku-4-5") == "local/small"
    assert router.resolve_alias("claude-hx") == "local/h"
    assert router.resolve_alias("claude-opus-4") == "local/any"  # same prefix: file order


def test_a_glob_never_shadows_a_provider_model_or_a_recipe(tmp_path: Path):
    router = _router(tmp_path, '[aliases]\n"*" = ["local/catch-all"]\n')
    assert router.resolve_alias("local/real") is None
    assert router.resolve_alias("woollama/helper") is None
    assert router.resolve_alias("gpt-4o") == "local/catch-all"


def test_the_table_form_carries_targets_and_cooldown(tmp_path: Path):
    router = _router(tmp_path, '[aliases.fast]\ntargets = ["local/a", "local/b"]\ncooldown = 5\n')
    alias = router.aliases.get("fast")
    assert alias is not None and alias.targets == ("local/a", "local/b")
    assert alias.cooldown == 5.0
    assert _router(tmp_path, '[aliases]\nx = ["local/a"]\n').aliases.get("x").cooldown == 30.0


@pytest.mark.parametrize(
    ("table", "complaint"),
    [("[aliases.fast]\ncooldown = 3\n", "aliases.fast"),
     ('[aliases.fast]\ntargets = ["local/a"]\ncooldown = "soon"\n', "aliases.fast.cooldown"),
     ('[aliases.fast]\ntargets = ["local/a"]\nretries = 2\n', "retries")],
)  # fmt: skip
def test_a_bad_alias_table_names_the_key(tmp_path: Path, table: str, complaint: str):
    with pytest.raises(ConfigError) as caught:
        _router(tmp_path, table)
    assert complaint in str(caught.value)
