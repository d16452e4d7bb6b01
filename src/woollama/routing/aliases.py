"""The `[aliases]` table: which alias a client's `model` names, exact keys over globs.

A glob key is how a family of names a client sends (`claude-haiku-*`) maps to local
models. Among matching globs the most specific wins: the longest literal prefix (the
text before the first wildcard), then the first in the file. A glob never shadows a
`<provider>/<model>` of a configured provider or a `woollama/<recipe>`: those names
mean what they say.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

DEFAULT_COOLDOWN = 30.0
_WILDCARDS = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class Alias:
    name: str  # the key as written (an exact name or a glob)
    targets: tuple[str, ...]  # `<provider>/<model>` (or `woollama/<recipe>`), in order
    cooldown: float  # seconds a failed target is skipped


@dataclass(frozen=True)
class _Glob:
    alias: Alias
    prefix: int  # length of the literal text before the first wildcard
    order: int  # position in the file
    match: Callable[[str], re.Match[str] | None]


class AliasTable:
    def __init__(
        self,
        aliases: Mapping[str, tuple[str, ...]],
        cooldowns: Mapping[str, float],
        reserved: Collection[str],
    ):
        """`reserved` are the provider names (and `woollama`) a glob may not shadow."""
        self._exact: dict[str, Alias] = {}
        globs: list[_Glob] = []
        for order, (name, targets) in enumerate(aliases.items()):
            alias = Alias(name, tuple(targets), cooldowns.get(name, DEFAULT_COOLDOWN))
            wildcard = _WILDCARDS.search(name)
            if wildcard is None:
                self._exact[name] = alias
            else:
                matcher = re.compile(fnmatch.translate(name)).match
                globs.append(_Glob(alias, wildcard.start(), order, matcher))
        # Most specific first, so the first match is the answer.
        self._globs = sorted(globs, key=lambda g: (-g.prefix, g.order))
        self._reserved = frozenset(reserved)

    def __bool__(self) -> bool:
        return bool(self._exact or self._globs)

    def names(self) -> list[str]:
        """The exact alias names, which `/v1/models` lists (a glob is not a model)."""
        return list(self._exact)

    def get(self, model: object) -> Alias | None:
        """The alias `model` names, or None."""
        if not isinstance(model, str):
            return None
        alias = self._exact.get(model)
        if alias is not None or not self._globs:
            return alias
        provider, sep, _ = model.partition("/")
        if sep and provider in self._reserved:
            return None
        for glob in self._globs:
            if glob.match(model):
                return glob.alias
        return None
