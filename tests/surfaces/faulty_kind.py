"""woollama with one more provider kind, `faulty`, whose requests raise an error no
handler knows: a stand-in for a bug in an adapter. It is added the way any kind is,
with `register_kind`, so woollama's own code runs unchanged.

    python -m tests.surfaces.faulty_kind      # then as `python -m woollama`
"""

from __future__ import annotations

from typing import Any

from woollama.cli import main
from woollama.config.models import InferencerConfig
from woollama.providers import Upstream, register_kind

BUG = "a bug in the faulty adapter"


class FaultyProvider:
    def __init__(self, name: str, config: InferencerConfig):
        self.name = name

    async def list_models(self) -> list[str]:
        return ["broken"]

    def unavailable(self) -> str | None:
        return None

    async def open(self, endpoint: str, body: dict[str, Any]) -> Upstream:
        raise RuntimeError(BUG)

    async def aclose(self) -> None:
        return None


if __name__ == "__main__":
    register_kind("faulty", FaultyProvider)
    raise SystemExit(main())
