"""Model-safe tool names: `server.tool` ↔ a name OpenAI and Anthropic accept.

Both APIs require `^[A-Za-z0-9_-]{1,64}$`. The mapping is a table built from the
full set of qualified names, so dispatch never has to split a string, and it
depends only on that set, so it is the same after a restart.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable

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
