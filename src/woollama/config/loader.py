"""Read, expand, merge and validate the three config files."""

from __future__ import annotations

import fnmatch
import json
import os
import sys
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from woollama.config.expand import expand
from woollama.config.models import (
    Config,
    InferencerConfig,
    ManagementProtocolConfig,
    McpConfig,
    RecipeConfig,
)
from woollama.config.paths import config_dir
from woollama.errors import ConfigError, did_you_mean

_BUNDLED = "bundled"


def load_config(directory: Path | None = None, env: Mapping[str, str] = os.environ) -> Config:
    """Load the user's files over the bundled defaults.

    `recipes.toml` and `mcp.json` replace the bundled ones when present;
    `inferencers.toml` is merged field by field over the built-in providers so a
    user can change one provider's `base_url` without restating the rest.
    """
    directory = directory if directory is not None else config_dir(env)
    env = {**_builtin_variables(), **env}
    sources: dict[str, str] = {}

    builtin = _table(
        _read("inferencers.toml", None, env, sources), "inferencers.toml", "inferencers"
    )
    user_inf = _read("inferencers.toml", directory, env, sources, optional=True)
    aliases, cooldowns = _aliases((user_inf or {}).pop("aliases", {}))
    protocols = (user_inf or {}).pop("management_protocols", {})
    if not isinstance(protocols, dict):
        raise ConfigError("inferencers.toml: `management_protocols` must be a table of "
                          "[management_protocols.<name>] sections")  # fmt: skip
    protocol_models = {
        name: _validate(
            ManagementProtocolConfig, fields, "inferencers.toml", f"management_protocols.{name}"
        )
        for name, fields in protocols.items()
    }
    merged = {name: dict(fields) for name, fields in builtin.items()}
    if user_inf is not None:
        for name, fields in _table(user_inf, "inferencers.toml", "inferencers").items():
            if not isinstance(fields, dict):
                raise ConfigError(f"inferencers.toml: [inferencers.{name}] must be a table")
            merged[name] = {**merged.get(name, {}), **fields}
        sources["inferencers.toml"] = f"{directory / 'inferencers.toml'} (over built-in providers)"

    recipes_doc = _read("recipes.toml", directory, env, sources, optional=True)
    if recipes_doc is None:
        recipes_doc = _read("recipes.toml", None, env, sources)
    recipes = _table(recipes_doc, "recipes.toml", "recipes")

    mcp_doc = _read("mcp.json", directory, env, sources, optional=True)
    if mcp_doc is None:
        mcp_doc = _read("mcp.json", None, env, sources)

    inferencers = {
        name: _validate(InferencerConfig, fields, "inferencers.toml", f"inferencers.{name}")
        for name, fields in merged.items()
    }
    recipe_models = {
        name: _validate(RecipeConfig, fields, "recipes.toml", f"recipes.{name}")
        for name, fields in recipes.items()
    }
    for name, recipe in recipe_models.items():
        if "/" not in recipe.inferencer and not _aliased(recipe.inferencer, aliases):
            raise ConfigError(
                f"recipes.toml: recipes.{name}.inferencer: must be <provider>/<model> or an "
                f"[aliases] name (got {recipe.inferencer!r})"
                f"{did_you_mean(recipe.inferencer, aliases)}"
            )
    mcp = _validate(McpConfig, mcp_doc, "mcp.json", "")
    notes: list[str] = []
    if sources.get("recipes.toml") == _BUNDLED and sources.get("mcp.json") != _BUNDLED:
        # The bundled recipes use the bundled servers; with the user's own mcp.json
        # they apply only where their servers exist.
        for name, recipe in list(recipe_models.items()):
            missing = sorted({q.partition(".")[0] for q in recipe.tools} - set(mcp.servers))
            if missing:
                del recipe_models[name]
                notes.append(
                    f"bundled recipe {name!r} is not offered: mcp.json has no server "
                    + ", ".join(repr(m) for m in missing)
                )
    try:
        return Config(
            inferencers=inferencers,
            recipes=recipe_models,
            mcp=mcp,
            aliases=aliases,
            alias_cooldowns=cooldowns,
            management_protocols=protocol_models,
            sources=sources,
            notes=tuple(notes),
        )
    except ValidationError as exc:
        raise ConfigError(_describe(exc, "config", "")) from None


def _aliased(model: str, aliases: Mapping[str, Any]) -> bool:
    return model in aliases or any(fnmatch.fnmatchcase(model, key) for key in aliases)


def _aliases(table: Any) -> tuple[dict[str, Any], dict[str, float]]:
    """`[aliases]` in either form: `name = ["p/m", ...]`, or `[aliases.name]` with
    `targets` and `cooldown` (seconds a failed target is skipped)."""
    shape = 'inferencers.toml: `aliases` must be a table of "name" = ["p/model"]'
    if not isinstance(table, dict):
        raise ConfigError(shape)
    targets: dict[str, Any] = {}
    cooldowns: dict[str, float] = {}
    for name, entry in table.items():
        if not isinstance(entry, dict):
            targets[name] = entry
            continue
        unknown = sorted(set(entry) - {"targets", "cooldown"})
        if unknown or "targets" not in entry:
            raise ConfigError(
                f"inferencers.toml: aliases.{name}: a table needs `targets` (a list of "
                f"<provider>/<model>) and may have `cooldown`; unknown key(s) {unknown}"
            )
        targets[name] = entry["targets"]
        cooldown = entry.get("cooldown", 30)
        if isinstance(cooldown, bool) or not isinstance(cooldown, int | float) or cooldown < 0:
            raise ConfigError(
                f"inferencers.toml: aliases.{name}.cooldown: must be a number of seconds >= 0 "
                f"(got {cooldown!r})"
            )
        cooldowns[name] = float(cooldown)
    return targets, cooldowns


def _builtin_variables() -> dict[str, str]:
    """Defaults the bundled mcp.json refers to; the environment may override them."""
    examples = resources.files("woollama_examples")
    return {"WOOLLAMA_PYTHON": sys.executable, "WOOLLAMA_EXAMPLES_DIR": str(examples)}


def _read(
    name: str,
    directory: Path | None,
    env: Mapping[str, str],
    sources: dict[str, str],
    *,
    optional: bool = False,
) -> dict[str, Any] | None:
    """Parse one file (user's when `directory` is given, else the bundled copy)."""
    if directory is None:
        text = resources.files("woollama.config").joinpath("defaults", name).read_text("utf-8")
        where = f"{name} (bundled)"
    else:
        path = directory / name
        if not path.is_file():
            if optional:
                return None
            raise ConfigError(f"{path}: file not found")
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read ({exc})") from None
        where = str(path)
    try:
        doc = tomllib.loads(text) if name.endswith(".toml") else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{where}: not valid {name.rsplit('.', 1)[1].upper()}: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{where}: the top level must be an object")
    sources[name] = _BUNDLED if directory is None else str(directory / name)
    return expand(doc, env, where)


def _table(doc: dict[str, Any] | None, file: str, key: str) -> dict[str, Any]:
    doc = doc or {}
    unknown = sorted(set(doc) - {key})
    if unknown:
        raise ConfigError(f"{file}: unknown top-level key(s) {unknown}; expected [{key}.<name>]")
    table = doc.get(key, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{file}: `{key}` must be a table of [{key}.<name>] sections")
    return table


def _validate(model: type[Any], data: Any, file: str, prefix: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, file, prefix)) from None


def _describe(exc: ValidationError, file: str, prefix: str) -> str:
    problems = []
    for error in exc.errors(include_url=False):
        # Union members and validators appear in `loc` as tags, not as keys.
        parts = [str(p) for p in error["loc"] if not _is_tag(p)]
        loc = _join(prefix, parts)
        problems.append(f"{file}: {loc or '(top level)'}: {_message(error)}")
    return "\n".join(problems)


def _is_tag(part: object) -> bool:
    return isinstance(part, str) and ("[" in part or part in ("str", "mcp", "http"))


def _join(prefix: str, parts: list[str]) -> str:
    path = prefix
    for part in parts:
        path += f"[{part}]" if part.isdigit() else (f".{part}" if path else part)
    return path


_PHRASES = {
    "missing": "is required but missing",
    "extra_forbidden": "unknown key",
    "string_type": "must be a string",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "dict_type": "must be a table (an object)",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "model_type": "must be a table (an object)",
}


def _message(error: Any) -> str:
    kind = error["type"]
    if kind in _PHRASES:
        return _PHRASES[kind]
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"must be one of {expected} (got {error.get('input')!r})"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return error["msg"].replace("Input should be", "must be")
    return str(error["msg"]).removeprefix("Value error, ").replace("Input should be", "must be")
