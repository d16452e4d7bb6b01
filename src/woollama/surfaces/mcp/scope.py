"""What one MCP client asked to see: a narrowing, by server and by tool, of every tool.

A client narrows with `woollama mcp --servers fs,memory --tools 'fs.read_*'`, or on
`/mcp` with the query parameters `servers`/`tools` or the headers
`Mcp-Woollama-Servers`/`Mcp-Woollama-Tools`. Every narrowing given applies at once
(they intersect), so nothing a client sends can widen what another part allowed.
woollama's own tools (`chat`) belong to the server name `woollama`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

OWN_SERVER = "woollama"  # the namespace of woollama's own tools, e.g. `woollama.chat`
SERVERS_HEADER = "Mcp-Woollama-Servers"
TOOLS_HEADER = "Mcp-Woollama-Tools"
SERVERS_PARAM = "servers"
TOOLS_PARAM = "tools"


def _split(text: str | None) -> frozenset[str] | None:
    """A comma-separated list; None when nothing was given (a blank value narrows nothing)."""
    if text is None:
        return None
    parts = frozenset(part.strip() for part in text.split(",") if part.strip())
    return parts or None


@dataclass(frozen=True)
class Scope:
    """A set of tools, as a conjunction of server sets and `server.tool` glob sets.

    Each tuple holds one narrowing per source (the command line, a query parameter, a
    header); a tool is in scope when every one of them admits it.
    """

    servers: tuple[frozenset[str], ...] = ()
    tools: tuple[frozenset[str], ...] = ()

    @classmethod
    def parse(cls, servers: str | None = None, tools: str | None = None) -> Scope:
        server_set, tool_set = _split(servers), _split(tools)
        return cls(
            servers=(server_set,) if server_set is not None else (),
            tools=(tool_set,) if tool_set is not None else (),
        )

    @property
    def everything(self) -> bool:
        return not self.servers and not self.tools

    def narrow(self, other: Scope) -> Scope:
        """Both narrowings at once: never more than either allows."""
        if other.everything:
            return self
        return Scope(self.servers + other.servers, self.tools + other.tools)

    def allows_server(self, server: str) -> bool:
        """Whether anything of `server` may be seen (its prompts and resources too)."""
        return all(server in names for names in self.servers)

    def allows(self, server: str, tool: str) -> bool:
        if not self.allows_server(server):
            return False
        qualified = f"{server}.{tool}"
        return all(any(fnmatchcase(qualified, glob) for glob in globs) for globs in self.tools)

    def describe(self) -> str:
        """The narrowing in the words a client used, for logs and refusals."""
        parts = [f"servers {','.join(sorted(names))}" for names in self.servers]
        parts += [f"tools {','.join(sorted(globs))}" for globs in self.tools]
        return "; ".join(parts) or "everything"

    def headers(self) -> dict[str, str]:
        """The same narrowing as `/mcp` headers (one header may carry only one set per kind:
        the command line gives at most one of each)."""
        found: dict[str, str] = {}
        if self.servers:
            found[SERVERS_HEADER] = ",".join(sorted(frozenset.intersection(*self.servers)))
        if len(self.tools) > 1:
            raise ValueError("several tool narrowings cannot travel as one header")
        if self.tools:
            found[TOOLS_HEADER] = ",".join(sorted(self.tools[0]))
        return found


def request_scope(request: Any) -> Scope:
    """The narrowing an HTTP request asks for, from its query string and its headers.

    `request` is the transport's request object (a Starlette `Request` on `/mcp`, None
    on stdio); anything without query parameters and headers narrows nothing.
    """
    query: Mapping[str, str] | None = getattr(request, "query_params", None)
    headers: Mapping[str, str] | None = getattr(request, "headers", None)
    scope = Scope()
    for source, servers_key, tools_key in (
        (query, SERVERS_PARAM, TOOLS_PARAM),
        (headers, SERVERS_HEADER.lower(), TOOLS_HEADER.lower()),
    ):
        if source is not None:
            scope = scope.narrow(Scope.parse(source.get(servers_key), source.get(tools_key)))
    return scope
