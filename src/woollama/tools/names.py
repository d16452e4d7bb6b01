"""Model-safe tool names: `server.tool` ↔ a name OpenAI and Anthropic accept.

Both APIs require `^[A-Za-z0-9_-]{1,64}$`. The mapping is a table built from the
full set of qualified names, so dispatch never has to split a string, and it
depends only on that set, so it is the same after a restart.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence

MAX_LEN = 64
_INVALID_CHARS = re.compile(r"[^A-Za-z0-9_-]")
_SEPARATOR = "__"
_HASH_LEN = 8


def _digest(qualified: str) -> str:
    return hashlib.sha256(qualified.encode()).hexdigest()[:_HASH_LEN]


def _base(qualified: str) -> str:
    server, _, tool = qualified.partition(".")
    return _INVALID_CHARS.sub("_", f"{server}{_SEPARATOR}{tool}")


def _hashed(base: str, qualified: str) -> str:
    return f"{base[: MAX_LEN - _HASH_LEN - 1]}_{_digest(qualified)}"


def model_names(qualified_names: Iterable[str]) -> dict[str, str]:
    """Map each `server.tool` to a unique model-safe name.

    Readable `server__tool` where it fits and is unique; otherwise the readable
    prefix plus a hash of the qualified name. Every member of a colliding group
    gets the hashed form, so no name depends on which tool was seen first.
    """
    groups: dict[str, list[str]] = defaultdict(list)
    for qualified in sorted(set(qualified_names)):
        groups[_base(qualified)].append(qualified)
    mapping: dict[str, str] = {}
    for base, members in groups.items():
        for qualified in members:
            unique = len(members) == 1 and len(base) <= MAX_LEN
            mapping[qualified] = base if unique else _hashed(base, qualified)
    taken: set[str] = set()
    for qualified, name in sorted(mapping.items()):
        # A readable name can equal another's hashed form only by astronomically bad
        # luck; rehash with the qualified name salted rather than ever sharing one.
        while name in taken:
            name = _hashed(_base(qualified), name + qualified)
        taken.add(name)
        mapping[qualified] = name
    return mapping


MODEL_SAFE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def exported_names(
    qualified_names: Iterable[str],
    unprefixed: Sequence[str] = (),
    reserved: Iterable[str] = (),
) -> tuple[dict[str, str], list[str]]:
    """`model_names`, except that the servers in `unprefixed` (mcp.json's `"namespace":
    false`, in file order) keep their own names where those are model-safe and unique.

    A name already taken (by a prefixed name, or by an earlier unprefixed server) is
    not taken again: the later one keeps its prefix, and the clash is returned, worded
    for the user, with the table. `reserved` names (woollama's own `chat`, its recipes)
    are never given away.
    """
    qualified = sorted(set(qualified_names))
    mapping = model_names(qualified)
    plain = {server: rank for rank, server in enumerate(unprefixed)}
    if not plain:
        return mapping, []
    taken = {name for q, name in mapping.items() if q.partition(".")[0] not in plain}
    taken.update(reserved)
    kept: list[str] = []
    clashes: list[str] = []
    for q in sorted(
        (q for q in qualified if q.partition(".")[0] in plain),
        key=lambda q: (plain[q.partition(".")[0]], q),
    ):
        server, _, own = q.partition(".")
        if MODEL_SAFE.fullmatch(own) and own not in taken:
            mapping[q] = own
            taken.add(own)
            continue
        why = "is not model-safe" if not MODEL_SAFE.fullmatch(own) else "is taken"
        clashes.append(f"{server}: {own!r} {why}; exported as {mapping[q]!r}")
        kept.append(q)
    for q in kept:  # a kept prefix must not land on a name an unprefixed server took
        name = mapping[q]
        while name in taken:
            name = _hashed(_base(q), name + q)
        taken.add(name)
        mapping[q] = name
    return mapping, clashes


# -- resource URIs ---------------------------------------------------------------------

_SCHEME_UNSAFE = re.compile(r"[^a-z0-9.-]")
URI_JOIN = "+"


def uri_prefixes(servers: Iterable[str]) -> dict[str, str]:
    """Each server's prefix for the resource URIs it exports: `<prefix>+<its own URI>`.

    The prefix is a valid URI scheme (lower case, no `+`), so `memory+file:///notes`
    is still a URI and reads as the server's `file:///notes`; splitting at the first
    `+` finds the server again, also for URIs a client builds from a template.
    """
    groups: dict[str, list[str]] = defaultdict(list)
    for server in sorted(set(servers)):
        base = _SCHEME_UNSAFE.sub("-", server.lower())
        if not base[:1].isalpha():
            base = f"s{base}"
        groups[base].append(server)
    table: dict[str, str] = {}
    for base, members in groups.items():
        for server in members:
            table[server] = base if len(members) == 1 else f"{base}-{_digest(server)}"
    return table


def split_exported_uri(uri: str, by_prefix: dict[str, str]) -> tuple[str, str] | None:
    """(server, its own URI) for a prefixed URI, or None when it is not one."""
    prefix, sep, rest = uri.partition(URI_JOIN)
    server = by_prefix.get(prefix.lower()) if sep else None
    if server is None or ":" not in rest:
        return None
    return server, rest
