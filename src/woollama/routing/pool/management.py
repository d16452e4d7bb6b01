"""The management API of a device: which models it holds, and loading and unloading one.

Every protocol is a set of three REST calls (`running`, `start`, `stop`); the two
built in are written in the same shape a `[management_protocols.<n>]` block uses:

- `ollama`: `GET /api/ps` lists what is loaded; a request with `keep_alive` loads a
  model and one with `keep_alive: 0` unloads it.
- `device`: `GET {base}/api/v1/models/running` (`instances.running[]`, each with its
  `capabilities`), `POST .../start` and `POST .../stop` with `{"model": id}`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from woollama.config.models import ManagementProtocolConfig, RestEndpoint, RestEndpoints
from woollama.errors import BackendError
from woollama.providers.http import load_aiohttp

if TYPE_CHECKING:
    import aiohttp

READ_TIMEOUT = 3.0  # a residency read; slower means unknown, not wrong
LOAD_TIMEOUT = 600.0  # a model load can take minutes on a cold disk

_OLLAMA_KEEP_ALIVE = "30m"  # how long Ollama keeps what woollama loaded, if idle

BUILTIN: Mapping[str, RestEndpoints] = {
    "ollama": RestEndpoints(
        running=RestEndpoint(url="{base}/api/ps", method="GET", path="models", id_field="name"),
        start=RestEndpoint(
            url="{base}/api/generate", body={"model": "{id}", "keep_alive": _OLLAMA_KEEP_ALIVE}
        ),
        stop=RestEndpoint(url="{base}/api/generate", body={"model": "{id}", "keep_alive": 0}),
    ),
    "device": RestEndpoints(
        running=RestEndpoint(
            url="{base}/api/v1/models/running",
            method="GET",
            path="instances.running",
            id_field="model",
        ),
        start=RestEndpoint(url="{base}/api/v1/models/start", body={"model": "{id}"}),
        stop=RestEndpoint(url="{base}/api/v1/models/stop", body={"model": "{id}"}),
    ),
}


@dataclass(frozen=True)
class Resident:
    """A model the device holds now, with the capabilities it reports (if any)."""

    id: str
    capabilities: frozenset[str] = frozenset()


class Management:
    """One device's management API, on its own pooled session."""

    def __init__(
        self,
        base: str,
        protocol: str,
        named: Mapping[str, ManagementProtocolConfig],
    ):
        self.base = base
        self.protocol = protocol
        self._calls = BUILTIN[protocol] if protocol in BUILTIN else named[protocol].endpoints
        self._session: aiohttp.ClientSession | None = None

    async def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            aiohttp = await load_aiohttp()
            if self._session is None:
                self._session = aiohttp.ClientSession(trust_env=False)
        return self._session

    async def running(self) -> dict[str, Resident]:
        """What the device holds now; raises BackendError when it cannot be read."""
        call = self._calls.running
        answer = await self._call(call, "", READ_TIMEOUT)
        entries: Any = answer
        for part in filter(None, call.path.split(".")):
            entries = entries.get(part) if isinstance(entries, dict) else None
        if entries is None:
            entries = []
        if not isinstance(entries, list):
            raise BackendError(
                f"{self.base}: the running-models answer has no list at {call.path!r}"
            )
        found: dict[str, Resident] = {}
        for entry in entries:
            if isinstance(entry, str):
                found[entry] = Resident(entry)
                continue
            if not isinstance(entry, dict):
                continue
            model = entry.get(call.id_field) or entry.get("model") or entry.get("id")
            if not isinstance(model, str):
                continue
            caps = entry.get("capabilities")
            names = (
                frozenset(c for c in caps if isinstance(c, str))
                if isinstance(caps, list)
                else frozenset()
            )
            found[model] = Resident(model, names)
        return found

    async def start(self, model: str) -> None:
        await self._call(self._calls.start, model, LOAD_TIMEOUT)

    async def stop(self, model: str) -> None:
        await self._call(self._calls.stop, model, LOAD_TIMEOUT)

    async def _call(self, call: RestEndpoint, model: str, limit: float) -> Any:
        url = _fill(call.url, self.base, model)
        headers = {k: _fill(v, self.base, model) for k, v in call.headers.items()}
        body = _fill_json(call.body, self.base, model) if call.body is not None else None
        session = await self._client()
        import aiohttp  # loaded with the session

        try:
            async with session.request(
                call.method,
                url,
                data=json.dumps(body).encode() if body is not None else None,
                headers={"content-type": "application/json", **headers}
                if body is not None
                else headers,
                timeout=aiohttp.ClientTimeout(total=limit),
                allow_redirects=False,
            ) as response:
                raw = await response.read()
                if response.status >= 400:
                    text = raw[:200].decode("utf-8", "replace")
                    raise BackendError(
                        f"device {self.base}: {call.method} {url} answered "
                        f"HTTP {response.status}: {text}"
                    )
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise BackendError(
                f"device {self.base}: {call.method} {url} failed ({exc or type(exc).__name__}); "
                "is its management_url right?"
            ) from None
        try:
            return json.loads(raw) if raw.strip() else None
        except ValueError:
            return None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def _fill(text: str, base: str, model: str) -> str:
    return text.replace("{base}", base).replace("{id}", model)


def _fill_json(value: Any, base: str, model: str) -> Any:
    if isinstance(value, str):
        return _fill(value, base, model)
    if isinstance(value, dict):
        return {k: _fill_json(v, base, model) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill_json(v, base, model) for v in value]
    return value
