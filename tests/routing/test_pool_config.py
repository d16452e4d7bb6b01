"""A malformed pooling block is a start-up and a check-config error naming the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import base_env, write_config
from woollama.config import load_config
from woollama.errors import ConfigError

BOX = '[inferencers.box]\nbase_url = "http://127.0.0.1:9/v1"\n'
DEVICE = BOX + 'management_url = "http://127.0.0.1:9"\n'

BAD = [
    (DEVICE + "pool_max = 0\n", "inferencers.box.pool_max"),
    (DEVICE + 'parallel = "two"\n', "inferencers.box.parallel"),
    (DEVICE + "queue_timeout = -1\n", "inferencers.box.queue_timeout"),
    (DEVICE + 'management_protocol = "snmp"\n', "inferencers.box.management_protocol"),
    (BOX + "pool_max = 2\n", "management_url"),
    (BOX + 'management_url = "box.local"\n', "inferencers.box.management_url"),
    (DEVICE + "[inferencers.box.capabilities]\nembedding = []\n", "inferencers.box.capabilities"),
    (DEVICE + '[management_protocols.mine]\nkind = "soap"\n', "management_protocols.mine"),
]


@pytest.mark.parametrize(("toml", "key"), BAD)
def test_a_malformed_pooling_block_is_a_load_error_naming_the_key(
    tmp_path: Path, toml: str, key: str
):
    (tmp_path / "inferencers.toml").write_text(toml)
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, env={})
    assert key in str(caught.value)


def test_check_config_names_the_bad_pooling_key_and_fails(tmp_path: Path):
    write_config(tmp_path / "config", inferencers=DEVICE + "pool_max = 0\n")
    result = subprocess.run([sys.executable, "-m", "woollama", "check-config"],
                            env=base_env(tmp_path), capture_output=True, text=True,
                            timeout=60, check=False)  # fmt: skip
    assert result.returncode == 1
    assert "inferencers.box.pool_max" in result.stdout


def test_a_named_rest_protocol_loads(tmp_path: Path):
    (tmp_path / "inferencers.toml").write_text(
        DEVICE
        + 'management_protocol = "mine"\n\n'
        + '[management_protocols.mine]\nkind = "rest"\n'
        + '[management_protocols.mine.endpoints.running]\nurl = "{base}/loaded"\n'
        + 'method = "GET"\npath = "data"\nid_field = "name"\n'
        + '[management_protocols.mine.endpoints.start]\nurl = "{base}/load/{id}"\n'
        + '[management_protocols.mine.endpoints.stop]\nurl = "{base}/unload"\n'
        + 'body = {name = "{id}"}\n'
    )
    config = load_config(tmp_path, env={})
    assert config.inferencers["box"].management_protocol == "mine"
    assert config.management_protocols["mine"].endpoints.running.id_field == "name"


def test_a_recipe_on_an_unknown_alias_is_a_config_error(tmp_path: Path):
    write_config(
        tmp_path / "config",
        inferencers=BOX + '\n[aliases]\nfast = ["box/m"]\n',
        recipes='[recipes.r]\ninferencer = "fsat"\n',
        mcp={"mcpServers": {}},
    )
    result = subprocess.run([sys.executable, "-m", "woollama", "check-config"],
                            env=base_env(tmp_path), capture_output=True, text=True,
                            timeout=60, check=False)  # fmt: skip
    assert result.returncode == 1
    assert "recipes.r.inferencer" in result.stdout
    assert "fast" in result.stdout  # did you mean
