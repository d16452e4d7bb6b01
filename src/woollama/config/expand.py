"""`${VAR}` and `${VAR:-default}` expansion inside loaded config values."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from woollama.errors import ConfigError

_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand(value: Any, env: Mapping[str, str], where: str) -> Any:
    """Expand variables in every string of a parsed JSON/TOML document.

    `where` names the file so that an unset variable can be reported precisely.
    Keys are left alone: only values carry secrets and paths.
    """
    if isinstance(value, str):
        return _expand_str(value, env, where)
    if isinstance(value, list):
        return [expand(v, env, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: expand(v, env, f"{where}.{k}") for k, v in value.items()}
    return value


def _expand_str(text: str, env: Mapping[str, str], where: str) -> str:
    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        current = env.get(name)
        if current:
            return current
        if default is not None:
            return default
        if current is not None:  # set but empty: the user chose empty
            return current
        raise ConfigError(
            f"{where}: environment variable {name} is not set "
            f"(set it, or write ${{{name}:-default}} to give a default)"
        )

    return _PATTERN.sub(substitute, text)
