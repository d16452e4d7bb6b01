"""Pooling: device-aware inferencers (those with `management_url`) behind one gate per
device, with its residency and its management API. See docs/routing.md."""

from __future__ import annotations

from collections.abc import MutableMapping

from woollama.config.models import Config
from woollama.providers import Provider
from woollama.routing.pool.gate import Gate, Limits
from woollama.routing.pool.management import Management
from woollama.routing.pool.provider import PooledProvider
from woollama.routing.pool.residency import Residency


def pool_providers(providers: MutableMapping[str, Provider], config: Config) -> list[Gate]:
    """Put every pooled inferencer's provider behind its device's gate, in place.

    Inferencers that share a `management_url` share one gate: the strictest limits
    and the most forgiving timeout of them all.
    """
    limits: dict[str, Limits] = {}
    protocols: dict[str, str] = {}
    for inferencer in config.inferencers.values():
        url = inferencer.management_url
        if url is None:
            continue
        mine = Limits(inferencer.parallel, inferencer.pool_max, inferencer.queue_max,
                      inferencer.queue_timeout)  # fmt: skip
        limits[url] = limits[url].shared_with(mine) if url in limits else mine
        protocols.setdefault(url, inferencer.management_protocol)
    gates: dict[str, Gate] = {}
    for url, shared in limits.items():
        management = Management(url, protocols[url], config.management_protocols)
        gates[url] = Gate(management, Residency(management), shared)
    for name, inferencer in config.inferencers.items():
        if inferencer.management_url is not None and name in providers:
            providers[name] = PooledProvider(
                providers[name], inferencer, gates[inferencer.management_url]
            )
    return list(gates.values())


__all__ = ["Gate", "Limits", "PooledProvider", "pool_providers"]
