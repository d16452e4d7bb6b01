"""What downstream servers offer besides tools: prompts, resources, resource templates.

A connection reads its server's `Catalog` when it connects (only what the server
declares) and again when the server says a list changed. `CatalogView` is the one
exported table over every server, named the way tools are: prompts `server__name`,
resource URIs `<prefix>+<the server's own URI>` (see `names.uri_prefixes`), and a
server with `"namespace": false` under its own names where they are free.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import mcp.types as mt
from mcp import Client, MCPError

from woollama.tools.names import exported_names, split_exported_uri, uri_prefixes

log = logging.getLogger(__name__)

OWN_SCHEME = "woollama://"  # woollama's own resources; never given to a downstream one
_PAGES = 100  # a server that pages forever must not hang its connection

T = TypeVar("T")


@dataclass(frozen=True)
class Catalog:
    """One server's prompts, resources and templates, and what it can do with them."""

    prompts: tuple[mt.Prompt, ...] = ()
    resources: tuple[mt.Resource, ...] = ()
    templates: tuple[mt.ResourceTemplate, ...] = ()
    completions: bool = False
    subscribe: bool = False


async def fetch_catalog(client: Client) -> Catalog:
    """What the server declares it offers; a list it declares but cannot give is empty
    (its tools stay usable)."""
    caps = client.server_capabilities
    prompts: list[mt.Prompt] = []
    resources: list[mt.Resource] = []
    templates: list[mt.ResourceTemplate] = []
    if caps.prompts is not None:
        prompts = await _pages(lambda c: client.list_prompts(cursor=c, cache_mode="bypass"),
                               lambda r: r.prompts)  # fmt: skip
    if caps.resources is not None:
        resources = await _pages(
            lambda c: client.list_resources(cursor=c, cache_mode="bypass"), lambda r: r.resources
        )
        templates = await _pages(
            lambda c: client.list_resource_templates(cursor=c, cache_mode="bypass"),
            lambda r: r.resource_templates,
        )
    return Catalog(
        prompts=tuple(prompts),
        resources=tuple(resources),
        templates=tuple(templates),
        completions=caps.completions is not None,
        subscribe=bool(caps.resources and caps.resources.subscribe),
    )


async def _pages(
    fetch: Callable[[str | None], Awaitable[Any]], items: Callable[[Any], Any]
) -> list[Any]:
    found: list[Any] = []
    cursor: str | None = None
    for _ in range(_PAGES):
        try:
            page = await fetch(cursor)
        except MCPError as exc:
            if exc.code == mt.CONNECTION_CLOSED:
                raise
            log.info("a declared list could not be read: %s", exc)
            return found
        found.extend(items(page))
        cursor = page.next_cursor
        if not cursor:
            break
    return found


@dataclass(frozen=True)
class Exported:
    """One downstream item under the name or URI woollama's clients see."""

    server: str
    own: str  # its name or URI (template) on its server
    item: Any  # the mt.Prompt / mt.Resource / mt.ResourceTemplate as exported


@dataclass(frozen=True)
class CatalogView:
    prompts: Mapping[str, Exported] = field(default_factory=dict)
    resources: Mapping[str, Exported] = field(default_factory=dict)
    templates: Mapping[str, Exported] = field(default_factory=dict)
    prefixes: Mapping[str, str] = field(default_factory=dict)  # server -> URI prefix
    by_prefix: Mapping[str, str] = field(default_factory=dict)  # URI prefix -> server
    unprefixed: tuple[str, ...] = ()
    clashes: tuple[str, ...] = ()

    def exported_uri(self, server: str, own: str) -> str:
        """The URI a client knows for `own` on `server` (e.g. in `resources/updated`)."""
        if server in self.unprefixed and self.owner(own) == (server, own):
            return own
        return f"{self.prefixes.get(server, server)}+{own}"

    def owner(self, uri: str) -> tuple[str, str] | None:
        """(server, its own URI) for a URI a client sent, or None if nobody has it."""
        listed = self.resources.get(uri)
        if listed is not None:
            return listed.server, listed.own
        split = split_exported_uri(uri, self.by_prefix)
        if split is not None:
            return split
        for exported, entry in self.templates.items():  # an unprefixed template's instance
            if exported == entry.own and _template_regex(entry.own).fullmatch(uri):
                return entry.server, uri
        return None

    def template_owner(self, uri_template: str) -> tuple[str, str] | None:
        entry = self.templates.get(uri_template)
        return (entry.server, entry.own) if entry is not None else None

    def _plain_ok(self, uri: str) -> bool:
        return not uri.startswith(OWN_SCHEME) and split_exported_uri(uri, self.by_prefix) is None


def build_view(
    catalogs: Mapping[str, Catalog],
    unprefixed: Sequence[str] = (),
    reserved_prompts: Sequence[str] = (),
) -> CatalogView:
    plain = tuple(s for s in unprefixed if s in catalogs)
    names, clashes = exported_names(
        (f"{s}.{p.name}" for s, c in catalogs.items() for p in c.prompts), plain, reserved_prompts
    )
    prompts: dict[str, Exported] = {}
    for server, catalog in catalogs.items():
        for prompt in catalog.prompts:
            name = names[f"{server}.{prompt.name}"]
            prompts[name] = Exported(server, prompt.name, prompt.model_copy(update={"name": name}))
    prefixes = uri_prefixes(catalogs)
    by_prefix = {prefix: server for server, prefix in prefixes.items()}
    base = CatalogView(prefixes=prefixes, by_prefix=by_prefix, unprefixed=plain)
    resources: dict[str, Exported] = {}
    templates: dict[str, Exported] = {}
    problems = list(clashes)
    # Unprefixed servers first, in file order, so the earlier one keeps a shared URI.
    order = [*plain, *sorted(s for s in catalogs if s not in plain)]
    for server in order:
        for resource in catalogs[server].resources:
            own = str(resource.uri)
            uri = _export(base, server, own, resources, problems)
            resources[uri] = Exported(server, own, resource.model_copy(update={"uri": uri}))
        for template in catalogs[server].templates:
            own = template.uri_template
            uri = _export(base, server, own, templates, problems)
            item = template.model_copy(update={"uri_template": uri})
            templates[uri] = Exported(server, own, item)
    return CatalogView(
        prompts=prompts,
        resources=resources,
        templates=templates,
        prefixes=prefixes,
        by_prefix=by_prefix,
        unprefixed=plain,
        clashes=tuple(problems),
    )


def catalog_changes(before: CatalogView, after: CatalogView) -> frozenset[str]:
    """Which lists a client should re-read: "prompts", "resources" (templates included)."""
    kinds: set[str] = set()
    if _items(before.prompts) != _items(after.prompts):
        kinds.add("prompts")
    if (_items(before.resources), _items(before.templates)) != (
        _items(after.resources),
        _items(after.templates),
    ):
        kinds.add("resources")
    return frozenset(kinds)


def _items(table: Mapping[str, Exported]) -> list[Any]:
    return [entry.item for entry in table.values()]


def _export(
    base: CatalogView, server: str, own: str, taken: Mapping[str, Exported], problems: list[str]
) -> str:
    prefixed = f"{base.prefixes[server]}+{own}"
    if server not in base.unprefixed:
        return prefixed
    if own in taken or not base._plain_ok(own):
        problems.append(f"{server}: {own!r} is taken; exported as {prefixed!r}")
        return prefixed
    return own


_EXPRESSION = re.compile(r"\{([+#./;?&]?)[^}]*\}")


@functools.lru_cache(maxsize=1024)
def _template_regex(template: str) -> re.Pattern[str]:
    """A loose matcher for an RFC 6570 template: simple expressions match one path
    segment, reserved and query ones the rest."""
    parts: list[str] = []
    last = 0
    for match in _EXPRESSION.finditer(template):
        parts.append(re.escape(template[last : match.start()]))
        parts.append("[^/?#]*" if match.group(1) == "" else ".*")
        last = match.end()
    parts.append(re.escape(template[last:]))
    return re.compile("".join(parts))
