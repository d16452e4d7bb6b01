"""The exported table of downstream prompts, resources and templates, and the names
an unprefixed (`"namespace": false`) server gets."""

from __future__ import annotations

import mcp.types as mt
from hypothesis import given
from hypothesis import strategies as st

from woollama.tools.catalog import Catalog, build_view, catalog_changes
from woollama.tools.names import exported_names, split_exported_uri, uri_prefixes


def test_an_unprefixed_server_keeps_its_own_tool_names_and_the_rest_are_prefixed():
    names, clashes = exported_names(["conf.test_simple_text", "fs.read"], ["conf"])
    assert names == {"conf.test_simple_text": "test_simple_text", "fs.read": "fs__read"}
    assert clashes == []


def test_the_later_unprefixed_server_keeps_its_prefix_on_a_clash():
    names, clashes = exported_names(["b.echo", "a.echo"], ["b", "a"])  # file order: b, then a
    assert names == {"b.echo": "echo", "a.echo": "a__echo"}
    assert clashes == ["a: 'echo' is taken; exported as 'a__echo'"]


def test_prefixed_names_and_reserved_names_are_never_taken():
    names, clashes = exported_names(["x.fs__read", "fs.read", "x.chat"], ["x"], ["chat"])
    assert names["fs.read"] == "fs__read"
    assert names["x.fs__read"] != "fs__read" and names["x.chat"] != "chat"
    assert len(clashes) == 2 and len(set(names.values())) == 3


def test_an_own_name_that_is_not_model_safe_keeps_its_prefix():
    names, clashes = exported_names(["x.read file"], ["x"])
    assert names["x.read file"] == "x__read_file"
    assert "not model-safe" in clashes[0]


@given(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=8, unique=True))
def test_uri_prefixes_are_unique_schemes_that_split_back(servers: list[str]):
    table = uri_prefixes(servers)
    assert len(set(table.values())) == len(servers)
    by_prefix = {prefix: server for server, prefix in table.items()}
    for server, prefix in table.items():
        assert prefix[0].isalpha() and "+" not in prefix and prefix == prefix.lower()
        uri = f"{prefix}+git+https://host/{{path}}?q=1"
        assert split_exported_uri(uri, by_prefix) == (server, "git+https://host/{path}?q=1")


def test_a_uri_without_a_known_prefix_does_not_split():
    by_prefix = {"fs": "fs"}
    assert split_exported_uri("fs+nothing-uri-like", by_prefix) is None
    assert split_exported_uri("other+file:///a", by_prefix) is None
    assert split_exported_uri("file:///a", by_prefix) is None


def _catalog(*uris: str, templates: tuple[str, ...] = (), prompts: tuple[str, ...] = ()) -> Catalog:
    return Catalog(
        prompts=tuple(mt.Prompt(name=p) for p in prompts),
        resources=tuple(mt.Resource(name=u, uri=u) for u in uris),
        templates=tuple(mt.ResourceTemplate(name=t, uri_template=t) for t in templates),
    )


def test_the_view_maps_uris_both_ways_for_prefixed_and_unprefixed_servers():
    view = build_view(
        {
            "Memory": _catalog("file:///notes", templates=("file:///notes/{id}",)),
            "conf": _catalog("test://static", templates=("test://t/{id}/data",)),
        },
        ["conf"],
    )
    assert set(view.resources) == {"memory+file:///notes", "test://static"}
    assert set(view.templates) == {"memory+file:///notes/{id}", "test://t/{id}/data"}
    assert view.owner("memory+file:///notes/7") == ("Memory", "file:///notes/7")
    assert view.owner("MEMORY+file:///x") == ("Memory", "file:///x")  # schemes ignore case
    assert view.owner("test://t/5/data") == ("conf", "test://t/5/data")
    assert view.owner("test://elsewhere") is None
    assert view.exported_uri("Memory", "file:///notes/7") == "memory+file:///notes/7"
    assert view.exported_uri("conf", "test://t/5/data") == "test://t/5/data"


def test_an_unprefixed_server_never_takes_woollamas_own_uris_or_a_prefixed_form():
    view = build_view(
        {"fs": _catalog("file:///a"), "conf": _catalog("woollama://models", "fs+file:///a")},
        ["conf"],
    )
    assert "conf+woollama://models" in view.resources
    assert view.resources["fs+file:///a"].server == "fs"
    assert len(view.clashes) == 2


def test_prompts_of_an_unprefixed_server_yield_to_recipes():
    view = build_view({"conf": _catalog(prompts=("review", "greet"))}, ["conf"], ["review"])
    assert set(view.prompts) == {"conf__review", "greet"}
    assert view.prompts["conf__review"].own == "review"


def test_changes_name_the_lists_a_client_should_read_again():
    before = build_view({"a": _catalog("x://1")})
    assert catalog_changes(before, build_view({"a": _catalog("x://1")})) == frozenset()
    assert catalog_changes(before, build_view({"a": _catalog("x://2")})) == {"resources"}
    assert catalog_changes(before, build_view({"a": _catalog("x://1", prompts=("p",))})) == {
        "prompts"
    }
