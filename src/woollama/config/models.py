"""The validated shape of woollama's config files (pydantic, unknown keys rejected)."""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_PROVIDER_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_SERVER_NAME = re.compile(r"[A-Za-z0-9_-]+")

log = logging.getLogger(__name__)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InferencerConfig(_Strict):
    """One backend speaking an inference API (`[inferencers.<name>]`)."""

    kind: str = "openai"  # which adapter speaks to it; see woollama.providers.KINDS
    base_url: str
    api_key_env: str | None = None
    models: tuple[str, ...] = ()
    discover: bool = False
    model_patterns: tuple[str, ...] = ()
    extra_body: dict[str, Any] = Field(default_factory=dict)
    timeout: float = Field(default=600.0, gt=0)
    # Pooling: an inferencer that declares `management_url` is a device whose loaded
    # models woollama tracks and gates (see docs/routing.md); without it, none of
    # the fields below but `capabilities` mean anything.
    management_url: str | None = None
    management_protocol: str = "device"  # "device", "ollama" or a [management_protocols.<n>]
    parallel: int = Field(default=1, ge=1)  # requests at once per loaded model
    pool_max: int | None = Field(default=None, ge=1)  # models loaded at once
    queue_max: int | None = Field(default=None, ge=0)  # waiting requests per model
    queue_timeout: float = Field(default=30.0, gt=0)  # seconds a request may wait, swap included
    virtual: dict[str, str] = Field(default_factory=dict)  # name -> real id; "default" special
    capabilities: dict[str, tuple[str, ...]] = Field(default_factory=dict)  # cap -> id globs

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https:// (got {value!r})")
        return value.rstrip("/")

    @field_validator("management_url")
    @classmethod
    def _management_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https:// (got {value!r})")
        return value.rstrip("/") if value is not None else None

    @field_validator("capabilities")
    @classmethod
    def _capability_globs(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for capability, globs in value.items():
            if not globs or not all(globs):
                raise ValueError(f'{capability!r} needs a list of model-id globs, e.g. ["*embed*"]')
        return value

    @model_validator(mode="after")
    def _pooling_needs_a_device(self) -> InferencerConfig:
        # A pooling key without `management_url` would silently do nothing.
        if self.management_url is None:
            stray = sorted(self.model_fields_set & _POOL_KEYS)
            if stray:
                raise ValueError(
                    f"{', '.join(stray)} need(s) `management_url` (the device's management "
                    "API); without it the inferencer is not pooled"
                )
        return self

    @property
    def pooled(self) -> bool:
        return self.management_url is not None


_POOL_KEYS = frozenset(
    {"management_protocol", "parallel", "pool_max", "queue_max", "queue_timeout", "virtual"}
)


class RestEndpoint(_Strict):
    """One call of a `kind = "rest"` management protocol; `{base}` is the inferencer's
    `management_url` and `{id}` the model id, in `url`, `body` strings and `headers`."""

    url: str
    method: Literal["GET", "POST", "PUT", "DELETE"] = "POST"
    body: dict[str, Any] | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    path: str = ""  # dotted path to the list of running models in the answer (running)
    id_field: str = "id"  # the member of each listed entry that is the model id


class RestEndpoints(_Strict):
    running: RestEndpoint
    start: RestEndpoint
    stop: RestEndpoint


class ManagementProtocolConfig(_Strict):
    """`[management_protocols.<name>]`: a device management API described by its calls."""

    kind: Literal["rest"]
    endpoints: RestEndpoints


# What other clients' mcp.json files call the transports.
_TRANSPORTS = {
    "stdio": "stdio",
    "http": "http",
    "streamable-http": "http",
    "streamableHttp": "http",
    "streamable_http": "http",
    "sse": "sse",
}
# Keys other clients keep for their own approval prompts; they mean nothing here.
_CLIENT_KEYS = ("autoApprove", "alwaysAllow", "disabledTools", "description", "name")


class SamplingConfig(_Strict):
    """`"sampling"` on an mcp.json server entry: the model woollama answers that
    server's sampling requests with when the calling client cannot."""

    model: str

    @field_validator("model")
    @classmethod
    def _provider_model(cls, value: str) -> str:
        if not value or value.startswith("woollama/"):
            raise ValueError(f"must be <provider>/<model> or an alias (got {value!r})")
        return value


class McpServerConfig(_Strict):
    """A downstream MCP server: a command to spawn (stdio) or a URL (Streamable HTTP,
    or the legacy SSE transport that many remote servers still speak)."""

    type: str | None = None
    command: str | None = None
    args: tuple[str, ...] = ()
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    disabled: bool = False
    timeout: float | None = Field(default=None, gt=0)  # seconds a tool call may take
    # Off unless given: woollama answering the server's sampling requests spends the
    # user's models and keys.
    sampling: SamplingConfig | None = None
    # False: the server's tools, prompts and resources are exported under their own
    # names and URIs (no `server__` prefix) where no other server's take them.
    namespace: bool = True

    @model_validator(mode="before")
    @classmethod
    def _other_clients(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for key in _CLIENT_KEYS:
            if key in data:
                log.debug("mcp.json: ignoring %r (another client's setting)", key)
                data.pop(key)
        # Windsurf names the URL `serverUrl`.
        if "serverUrl" in data:
            data.setdefault("url", data.pop("serverUrl"))
        # Cline and others write the transport under another name.
        for alias in ("transport", "transportType"):
            if alias in data:
                value = data.pop(alias)
                data.setdefault("type", value)
        return data

    @field_validator("type")
    @classmethod
    def _known_transport(cls, value: str | None) -> str | None:
        if value is not None and value not in _TRANSPORTS:
            raise ValueError(
                f"unknown transport {value!r}; use one of stdio, http, streamable-http, sse"
            )
        return value

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerConfig:
        if (self.command is None) == (self.url is None):
            raise ValueError("give either `command` (stdio) or `url` (Streamable HTTP), not both")
        kind = _TRANSPORTS.get(self.type or "")
        if kind == "stdio" and self.command is None:
            raise ValueError(f"type {self.type!r} needs `command`")
        if kind in ("http", "sse") and self.url is None:
            raise ValueError(f"type {self.type!r} needs `url`")
        return self

    @property
    def transport(self) -> Literal["stdio", "http", "sse"]:
        if self.command is not None:
            return "stdio"
        return "sse" if _TRANSPORTS.get(self.type or "") == "sse" else "http"


class McpStoreRef(_Strict):
    type: Literal["mcp"]
    server: str


class HttpStoreRef(_Strict):
    type: Literal["http"]
    url: str


ConversationStore = Annotated[McpStoreRef | HttpStoreRef, Field(discriminator="type")]


class McpConfig(_Strict):
    """`mcp.json`, in the shape Claude Desktop uses."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    servers: dict[str, McpServerConfig] = Field(default_factory=dict, alias="mcpServers")
    conversation_store: str | ConversationStore | None = Field(
        default=None, alias="conversationStore"
    )

    @field_validator("servers")
    @classmethod
    def _server_names(cls, value: dict[str, McpServerConfig]) -> dict[str, McpServerConfig]:
        # Recipes write tools as server.tool, so a dot in a server name would be ambiguous.
        for name in value:
            if not _SERVER_NAME.fullmatch(name):
                raise ValueError(f"server name {name!r} may use only letters, digits, _ and -")
        # `disabled: true` (Claude Desktop, Cline, Windsurf) keeps an entry without running it.
        return {name: server for name, server in value.items() if not server.disabled}

    @field_validator("conversation_store", mode="after")
    @classmethod
    def _store_by_name(cls, value: object) -> object:
        # A bare server name is the original's short form of {"type": "mcp", ...}.
        return McpStoreRef(type="mcp", server=value) if isinstance(value, str) else value


class RecipeConfig(_Strict):
    """A named composition: system prompt + allow-listed MCP tools + inferencer."""

    inferencer: str
    system: str = ""
    tools: tuple[str, ...] = ()
    optional_tools: tuple[str, ...] = ()  # used when available; the recipe runs without them
    params: dict[str, Any] = Field(default_factory=dict)
    max_turns: int = Field(default=8, ge=1, le=100)
    description: str = ""

    @field_validator("inferencer")
    @classmethod
    def _provider_model(cls, value: str) -> str:
        # A name without '/' is an [aliases] entry; check-config says if there is none.
        provider, sep, model = value.partition("/")
        if not value or (sep and (not provider or not model)):
            raise ValueError(f"must be <provider>/<model> or an alias (got {value!r})")
        return value

    @field_validator("tools", "optional_tools")
    @classmethod
    def _server_dot_tool(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            server, sep, tool = entry.partition(".")
            if not sep or not server or not tool:
                raise ValueError(f"tool {entry!r} must be written server.tool")
        return value


class Config(_Strict):
    """Everything woollama loaded, already expanded, merged and validated."""

    inferencers: dict[str, InferencerConfig]
    recipes: dict[str, RecipeConfig]
    mcp: McpConfig
    # `[aliases]` of inferencers.toml: a model name (or glob) -> `<provider>/<model>`
    # targets, tried in order (routing/aliases.py).
    aliases: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    alias_cooldowns: dict[str, float] = Field(default_factory=dict)  # seconds, when not 30
    management_protocols: dict[str, ManagementProtocolConfig] = Field(default_factory=dict)
    sources: dict[str, str] = Field(default_factory=dict)  # file kind -> path or "bundled"
    notes: tuple[str, ...] = ()  # what loading decided that a user should hear about

    @field_validator("inferencers")
    @classmethod
    def _provider_names(cls, value: dict[str, InferencerConfig]) -> dict[str, InferencerConfig]:
        for name in value:
            if not _PROVIDER_NAME.match(name) or name in ("woollama",):
                raise ValueError(f"provider name {name!r} is reserved or has a '/' in it")
        return value

    @model_validator(mode="after")
    def _known_protocols(self) -> Config:
        known = {"device", "ollama", *self.management_protocols}
        for name, inferencer in self.inferencers.items():
            if inferencer.pooled and inferencer.management_protocol not in known:
                raise ValueError(
                    f"inferencers.{name}.management_protocol: unknown protocol "
                    f"{inferencer.management_protocol!r} (known: {', '.join(sorted(known))}; "
                    'describe others as [management_protocols.<name>] with kind = "rest")'
                )
        return self

    @field_validator("aliases")
    @classmethod
    def _alias_targets(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for name, targets in value.items():
            if not targets:
                raise ValueError(f"alias {name!r} needs at least one <provider>/<model> target")
            for target in targets:
                provider, sep, model = target.partition("/")
                if not sep or not provider or not model:
                    raise ValueError(
                        f"alias {name!r}: target must be <provider>/<model> (got {target!r})"
                    )
        return value
