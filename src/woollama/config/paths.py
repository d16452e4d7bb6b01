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


def runtime_dir(env: Mapping[str, str] = os.environ) -> Path:
    # /tmp keeps the socket findable on systems without a per-user runtime dir.
    return Path(env.get("XDG_RUNTIME_DIR") or "/tmp")
