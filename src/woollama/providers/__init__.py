"""Backends behind one protocol, looked up by the provider half of a model name."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from woollama.config.models import InferencerConfig
from woollama.errors import BadRequest, ConfigError
from woollama.providers.anthropic.provider import AnthropicProvider
from woollama.providers.base import Provider, Upstream, upstream_error
from woollama.providers.ollama.provider import OllamaProvider
from woollama.providers.openai_compat import OpenAICompatProvider

ProviderFactory = Callable[[str, InferencerConfig], Provider]

# Adapters register by the `kind` an inferencer names; built-in kinds use the
# same table as any added later.
KINDS: dict[str, ProviderFactory] = {
    "openai": OpenAICompatProvider,
    "anthropic": AnthropicProvider,
    "ollama": OllamaProvider,
}


def register_kind(kind: str, factory: ProviderFactory) -> None:
    KINDS[kind] = factory


def build_providers(inferencers: Mapping[str, InferencerConfig]) -> dict[str, Provider]:
    providers: dict[str, Provider] = {}
    for name, config in inferencers.items():
        factory = KINDS.get(config.kind)
        if factory is None:
            raise ConfigError(
                f"inferencers.toml: inferencers.{name}.kind: unknown kind {config.kind!r} "
                f"(known: {', '.join(sorted(KINDS))})"
            )
        providers[name] = factory(name, config)
    return providers


def split_model(model: Any) -> tuple[str, str]:
    """`provider/model` → (provider, model); the model half may itself contain '/'."""
    if not isinstance(model, str) or not model:
        raise BadRequest("`model` is required and must be a string", param="model")
    provider, sep, bare = model.partition("/")
    if not sep or not provider or not bare:
        raise BadRequest(
            f"model {model!r} has no provider: write <provider>/<model>, "
            "e.g. ollama/qwen3:14b, or woollama/<recipe>",
            param="model",
            code="model_not_found",
        )
    return provider, bare


__all__ = [
    "KINDS",
    "Provider",
    "Upstream",
    "build_providers",
    "register_kind",
    "split_model",
    "upstream_error",
]
