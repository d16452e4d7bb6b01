"""Where woollama finds its config, keeps its state and puts its socket."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def _xdg(env: Mapping[str, str], var: str, fallback: str) -> Path:
    value = env.get(var)
    return Path(value) if value else Path.home() / fallback


def config_dir(env: Mapping[str, str] = os.environ) -> Path:
    if explicit := env.get("WOOLLAMA_CONFIG_DIR"):
        return Path(explicit)
    return _xdg(env, "XDG_CONFIG_HOME", ".config") / "woollama"


def state_dir(env: Mapping[str, str] = os.environ) -> Path:
    if explicit := env.get("WOOLLAMA_STATE_DIR"):
        return Path(explicit)
    return _xdg(env, "XDG_STATE_HOME", ".local/state") / "woollama"


def private_tmp_dir(env: Mapping[str, str] = os.environ) -> Path:
    """The per-user directory under `$TMPDIR` (or /tmp) used when there is no XDG_RUNTIME_DIR.

    It is per user because /tmp is shared: a bare /tmp/woollama.sock would be one name
    that every user of the machine competes for, and that any of them could plant.
    """
    return Path(env.get("TMPDIR") or "/tmp") / f"woollama-{os.getuid()}"


def runtime_dir(env: Mapping[str, str] = os.environ) -> Path:
    """Where the socket and the address file live; servers and clients both ask here."""
    xdg = env.get("XDG_RUNTIME_DIR")
    return Path(xdg) if xdg else private_tmp_dir(env)
