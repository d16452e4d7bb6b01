"""The validated shape of woollama's config files (pydantic, unknown keys rejected)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_PROVIDER_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_SERVER_NAME = re.compile(r"[A-Za-z0-9_-]+")


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

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https:// (got {value!r})")
        return value.rstrip("/")


class McpServerConfig(_Strict):
    """A downstream MCP server: a command to spawn (stdio) or a URL (Streamable HTTP)."""

    type: Literal["stdio", "http", "streamable-http", "streamableHttp"] | None = None
    command: str | None = None
    args: tuple[str, ...] = ()
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerConfig:
        if (self.command is None) == (self.url is None):
            raise ValueError("give either `command` (stdio) or `url` (Streamable HTTP), not both")
        return self

    @property
    def transport(self) -> Literal["stdio", "http"]:
        return "stdio" if self.command is not None else "http"


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
        return value

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
        provider, sep, model = value.partition("/")
        if not sep or not provider or not model:
            raise ValueError(f"must be <provider>/<model> (got {value!r})")
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
    sources: dict[str, str] = Field(default_factory=dict)  # file kind -> path or "bundled"

    @field_validator("inferencers")
    @classmethod
    def _provider_names(cls, value: dict[str, InferencerConfig]) -> dict[str, InferencerConfig]:
        for name in value:
            if not _PROVIDER_NAME.match(name) or name in ("woollama",):
                raise ValueError(f"provider name {name!r} is reserved or has a '/' in it")
        return value
