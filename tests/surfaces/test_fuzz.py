"""Every JSON route, fuzzed with hostile bodies against one real woollama: never a 500.

Bodies are JSON of random shapes around the fields each route reads, with tokens
spliced in that Python's json accepts but JSON does not (NaN, Infinity, 1e999, lone
surrogates), numbers past the int-parsing limit, nesting past every encoder's
limit, cut-off JSON and raw bytes. Every answer must be a non-500 and, when it is
an error, a JSON error body with a message; the server must still answer after.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.harness import Woollama, router_with_fake

EXAMPLES = Path(__file__).parents[2] / "examples"
RECIPES = '[recipes.helper]\ninferencer = "fake/fake-model"\ndescription = "helps"\n'
FUZZ = settings(
    max_examples=60,
    # The same examples on every run, so CI is repeatable; explore with --hypothesis-seed.
    derandomize=True,
    deadline=None,
    database=None,  # nothing written into the working tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Spliced in as raw JSON text where a value would go.
HOSTILE = [
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"1e999",
    b"-1e400",
    b"1" * 4301,
    b'"\\ud800"',
    b'"tail \\udfff"',
    b'"\\ud83d"',
    b"[" * 1000 + b"]" * 1000,
    b'{"a":' * 300 + b"1" + b"}" * 300,
    b'"\\ud83d\\ude00 a real pair"',
    b'"\\\\ud800 an escaped backslash, not a surrogate"',
]


@dataclass(frozen=True)
class Hostile:
    index: int

    @property
    def marker(self) -> str:
        return f"\x00hostile{self.index}\x00"


@dataclass
class Rig:
    server: Woollama
    http: httpx2.Client
    conv_id: str
    mcp_headers: dict[str, str]


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    root = tmp_path_factory.mktemp("fuzz")
    store = {
        "mcpServers": {"threads": {"command": sys.executable,
                                   "args": [str(EXAMPLES / "store_mcp.py"), str(root / "t")]}},
        "conversationStore": "threads",
    }  # fmt: skip
    with (
        router_with_fake(root, recipes=RECIPES, mcp=store) as (server, _fake),
        server.http() as http,
    ):
        conv = http.post("/v1/conversations", json={"model": "fake/fake-model"})
        assert conv.status_code == 201, conv.text
        yield Rig(server, http, conv.json()["id"], _mcp_session(http))


def _mcp_session(http: httpx2.Client) -> dict[str, str]:
    headers = {"Accept": "application/json, text/event-stream"}
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "fuzz", "version": "0"}}}  # fmt: skip
    answer = http.post("/mcp", json=init, headers=headers)
    assert answer.status_code == 200, answer.text
    headers["mcp-session-id"] = answer.headers["mcp-session-id"]
    done = http.post("/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"},
                     headers=headers)  # fmt: skip
    assert done.status_code < 300
    return headers


# -- strategies ------------------------------------------------------------------------
# Plausible bodies (real models, real message shapes, odd values) get past validation
# to the backends, the recipe loop and the conversation store; one hostile token
# spliced into such a body tests the parser where it matters; random shapes and
# raw bytes cover the rest.

plain = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
GOOD_MODELS = ["fake/fake-model", "woollama/helper"]
BAD_MODELS = ["woollama/ghost", "/m1", "m1/", "nowhere/m", "fake-model", "claude-code/haiku"]
models = st.sampled_from(GOOD_MODELS) | st.sampled_from(BAD_MODELS)
text = st.text(max_size=20)
message = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "user", "assistant", "system", "developer", "tool"]),
     "content": text | st.lists(st.fixed_dictionaries({"type": st.sampled_from(
         ["text", "input_text", "output_text", "image_url"]), "text": text}), max_size=2)},
    optional={"tool_calls": plain, "tool_call_id": text, "name": text},
)  # fmt: skip
messages = st.lists(message, min_size=1, max_size=3)
small_metadata = st.dictionaries(st.text(max_size=6), text, max_size=3)

FIELDS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "chat": {"messages": messages | plain, "stream": st.booleans(), "temperature": st.floats(0, 2),
             "tools": plain, "max_tokens": st.integers(-1, 10**20), "stream_options": plain,
             "n": st.integers(0, 3), "user": plain},
    # `dimensions` stays sane: the fake backend has no answer for the rest.
    "embeddings": {"input": text | st.lists(text, max_size=3) | plain,
                   "dimensions": st.integers(1, 64),
                   "encoding_format": st.sampled_from(["float", "base64"]) | plain},
    "images": {"prompt": text | plain, "n": st.integers(-1, 3) | plain, "size": plain,
               "response_format": st.sampled_from(["url", "b64_json"]) | plain},
    "responses": {"input": text | messages | plain, "instructions": text | plain,
                  "temperature": st.floats(0, 2) | plain, "stream": st.booleans(),
                  "store": st.booleans(), "tools": plain, "text": plain,
                  "metadata": small_metadata | plain, "conversation": st.just("conv_nope") | plain,
                  "previous_response_id": st.just("resp_nope") | plain,
                  "max_output_tokens": st.integers(-1, 100) | plain, "reasoning": plain,
                  "tool_choice": plain},
    "conversations": {"metadata": small_metadata | plain, "title": text | plain,
                      "key": text | plain, "backend": st.just("store-backed") | plain,
                      "items": plain},
    "update": {"metadata": small_metadata | plain},
    "items": {"items": plain},
}  # fmt: skip
REQUIRED: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "chat": {"model": models, "messages": messages},
    "embeddings": {"model": models, "input": text},
    "images": {"model": models, "prompt": text},
    "responses": {"model": models, "input": text | messages},
    "conversations": {"model": st.sampled_from(GOOD_MODELS) | models},
    "update": {"metadata": small_metadata},
    "items": {},
}
hostile = st.sampled_from(range(len(HOSTILE))).map(Hostile)


def body_for(kind: str) -> st.SearchStrategy[Any]:
    optional = {k: v for k, v in FIELDS[kind].items() if k not in REQUIRED[kind]}
    plausible = st.fixed_dictionaries(REQUIRED[kind], optional=optional)
    loose = st.fixed_dictionaries({"model": models | plain}, optional=FIELDS[kind])
    spliced = st.builds(
        splice,
        plausible,
        st.sampled_from(["model", "extra", *FIELDS[kind]]),
        hostile,
        st.sampled_from(["as is", "in an object", "in a list"]),
    )
    anything = st.dictionaries(st.text(max_size=8), plain, max_size=4) | plain
    return st.one_of(plausible, plausible, plausible, spliced, spliced, loose, anything)


def splice(body: dict[str, Any], field: str, token: Hostile, where: str) -> dict[str, Any]:
    value: Any = {"as is": token, "in an object": {"k": token}, "in a list": [token]}[where]
    return {**body, field: value}


def rpc_body() -> st.SearchStrategy[Any]:
    methods = st.sampled_from(
        ["tools/list", "tools/call", "tools/call", "tools/call", "prompts/list", "prompts/get",
         "resources/list", "resources/read", "ping", "completion/complete"]
    ) | st.text(max_size=10)  # fmt: skip
    arguments = st.fixed_dictionaries(
        {}, optional={"recipe": st.just("helper") | plain, "messages": messages | plain,
                      "prompt": text, "model": models, "conversation": plain}
    )  # fmt: skip
    call = st.fixed_dictionaries(
        {"name": st.sampled_from(["chat", "ask_user", "threads__get"]) | st.text(max_size=8),
         "arguments": arguments | plain}
    )  # fmt: skip
    params = call | st.fixed_dictionaries({"name": text, "uri": text, "arguments": plain}) | plain
    rpc = st.fixed_dictionaries(
        {"jsonrpc": st.just("2.0"), "method": methods, "id": st.integers(1, 10**6)},
        optional={"params": params},
    )
    spliced = st.builds(
        splice,
        rpc,
        st.sampled_from(["params", "id", "method"]),
        hostile,
        st.sampled_from(["as is", "in an object", "in a list"]),
    )
    loose = st.dictionaries(st.text(max_size=8), plain, max_size=4) | plain
    return st.one_of(rpc, rpc, spliced, loose)


def render(body: Any) -> bytes:
    text = json.dumps(body, default=_marker).encode()
    for index, token in enumerate(HOSTILE):
        text = text.replace(json.dumps(Hostile(index).marker).encode(), token)
    return text


def _marker(value: Any) -> str:
    assert isinstance(value, Hostile)
    return value.marker


def raw_bodies(structured: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    rendered = structured.map(render)
    cut = st.tuples(rendered, st.floats(0, 1)).map(
        lambda pair: pair[0][: int(len(pair[0]) * pair[1])]
    )
    return st.one_of(rendered, rendered, rendered, cut, st.binary(max_size=40))


# -- the properties ------------------------------------------------------------------


def check(response: httpx2.Response, *, openai_shape: bool = True) -> None:
    if response.status_code < 400:
        return
    assert response.headers.get("content-type", "").startswith("application/json"), response.text
    error = response.json()["error"]
    # The fake backend answers some odd fields with a 500 of its own, which the
    # pass-through relays as it must; any 500 of woollama's is a failure.
    relayed = error.get("type") == "upstream_error"
    assert response.status_code != 500 or relayed, response.text[:500]
    assert isinstance(error["message"], str) and error["message"]
    if openai_shape:
        assert {"message", "type", "param", "code"} <= set(error), error


def post(rig: Rig, path: str, raw: bytes, headers: dict[str, str] | None = None) -> httpx2.Response:
    headers = {"content-type": "application/json", **(headers or {})}
    return rig.http.post(path, content=raw, headers=headers)


ROUTES = {
    "chat": "/v1/chat/completions",
    "embeddings": "/v1/embeddings",
    "images": "/v1/images/generations",
    "responses": "/v1/responses",
    "conversations": "/v1/conversations",
    "update": "/v1/conversations/{conv}",
    "items": "/v1/conversations/{conv}/items",
}


def fuzz_route(kind: str):  # one test per route, so a failure names it
    @FUZZ
    @given(raw=raw_bodies(body_for(kind)))
    def test(rig: Rig, raw: bytes) -> None:
        check(post(rig, ROUTES[kind].format(conv=rig.conv_id), raw))

    test.__name__ = f"test_fuzzed_{kind}_bodies_never_get_a_500"
    return test


test_fuzzed_chat_bodies_never_get_a_500 = fuzz_route("chat")
test_fuzzed_embeddings_bodies_never_get_a_500 = fuzz_route("embeddings")
test_fuzzed_images_bodies_never_get_a_500 = fuzz_route("images")
test_fuzzed_responses_bodies_never_get_a_500 = fuzz_route("responses")
test_fuzzed_conversations_bodies_never_get_a_500 = fuzz_route("conversations")
test_fuzzed_update_bodies_never_get_a_500 = fuzz_route("update")
test_fuzzed_items_bodies_never_get_a_500 = fuzz_route("items")


@FUZZ
@given(raw=raw_bodies(rpc_body()))
def test_fuzzed_json_rpc_on_mcp_never_gets_a_500(rig: Rig, raw: bytes) -> None:
    response = post(rig, "/mcp", raw, rig.mcp_headers)
    assert response.status_code != 500, response.text[:500]
    if response.status_code >= 400 and "json" in response.headers.get("content-type", ""):
        check(response, openai_shape=False)


def test_after_the_fuzz_the_server_is_healthy_and_its_conversations_list(rig: Rig):
    assert rig.server.proc.poll() is None, rig.server.log()[-3000:]
    with rig.server.http() as fresh:
        models = fresh.get("/v1/models")
        assert models.status_code == 200
        assert "woollama/helper" in {m["id"] for m in models.json()["data"]}
        listed = fresh.get("/v1/conversations", params={"limit": 100})
        assert listed.status_code == 200, listed.text
        assert fresh.get(f"/v1/conversations/{rig.conv_id}").status_code == 200
    log = rig.server.log()
    assert "unhandled error" not in log  # how woollama logs an error no handler knows
    assert "Exception in ASGI application" not in log
