"""The long-lived objects every surface shares, built once by the server's lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from woollama.config.models import Config
from woollama.errors import BadRequest
from woollama.providers import Provider, split_model
from woollama.tools import ToolRegistry


@dataclass(frozen=True)
class Services:
    config: Config
    providers: dict[str, Provider]
    registry: ToolRegistry

    def provider_for(self, model: object) -> tuple[Provider, str]:
        """Resolve `<provider>/<model>` to the adapter and the backend's bare model id."""
        name, bare = split_model(model)
        provider = self.providers.get(name)
        if provider is None:
            known = ", ".join(sorted(self.providers)) or "none"
            raise BadRequest(
                f"unknown provider {name!r} in model {model!r}; configured providers: {known} "
                "(add one as [inferencers.<name>] in inferencers.toml)",
                param="model",
                code="model_not_found",
            )
        return provider, bare
