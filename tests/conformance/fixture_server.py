"""A downstream MCP server with what the conformance suite's server scenarios call.

The suite names its tools, prompts and resources (`test_simple_text`,
`test://static-text`, ...) and checks their results; this server has them, so the
scenarios run through woollama (with `"namespace": false`) reach a real server.
Run over stdio: `python tests/conformance/fixture_server.py`.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import struct
import zlib
from typing import Annotated, Any

import anyio
import mcp_types as types
from mcp import MCPError
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.prompts.base import Message, UserMessage
from pydantic import Field

mcp = MCPServer("conformance-fixture")

WATCHED = "test://watched-resource"
subscribed: set[str] = set()


def _png() -> bytes:
    """A 1x1 red PNG, built rather than stored."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def _wav() -> bytes:
    """A tenth of a second of 8 kHz mono silence."""
    samples = b"\x00\x00" * 800
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(samples)) + samples
    return b"RIFF" + struct.pack("<I", len(body)) + body


PNG = base64.b64encode(_png()).decode()
WAV = base64.b64encode(_wav()).decode()


# A tool that asks the caller returns its question in the 2026-07-28 era.
Asked = types.CallToolResult | types.InputRequiredResult


def _text(text: str, *, error: bool = False) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=error)


@mcp.tool(description="Returns a simple text response.")
def test_simple_text() -> types.CallToolResult:
    return _text("This is a simple text response for testing.")


@mcp.tool(description="Returns an image.")
def test_image_content() -> types.CallToolResult:
    image = types.ImageContent(type="image", data=PNG, mime_type="image/png")
    return types.CallToolResult(content=[image])


@mcp.tool(description="Returns audio.")
def test_audio_content() -> types.CallToolResult:
    audio = types.AudioContent(type="audio", data=WAV, mime_type="audio/wav")
    return types.CallToolResult(content=[audio])


def _embedded(uri: str, mime: str, text: str) -> types.EmbeddedResource:
    contents = types.TextResourceContents(uri=uri, mime_type=mime, text=text)
    return types.EmbeddedResource(type="resource", resource=contents)


@mcp.tool(description="Returns an embedded resource.")
def test_embedded_resource() -> types.CallToolResult:
    resource = _embedded(
        "test://embedded-resource", "text/plain", "This is an embedded resource content."
    )
    return types.CallToolResult(content=[resource])


@mcp.tool(description="Returns text, an image and an embedded resource.")
def test_multiple_content_types() -> types.CallToolResult:
    return types.CallToolResult(
        content=[
            types.TextContent(type="text", text="Multiple content types test:"),
            types.ImageContent(type="image", data=PNG, mime_type="image/png"),
            _embedded(
                "test://mixed-content-resource",
                "application/json",
                json.dumps({"test": "data", "value": 123}),
            ),
        ]
    )


@mcp.tool(description="Sends three info log messages while it runs.")
async def test_tool_with_logging(ctx: Context) -> types.CallToolResult:
    await ctx.info("Tool execution started")
    await anyio.sleep(0.05)
    await ctx.info("Tool processing data")
    await anyio.sleep(0.05)
    await ctx.info("Tool execution completed")
    return _text("Tool with logging executed successfully")


@mcp.tool(description="Always fails.")
def test_error_handling() -> types.CallToolResult:
    return _text("This tool intentionally returns an error for testing", error=True)


@mcp.tool(description="Reports progress 0, 50 and 100 of 100.")
async def test_tool_with_progress(ctx: Context) -> types.CallToolResult:
    for step in (0, 50, 100):
        await ctx.report_progress(step, 100)
        if step < 100:
            await anyio.sleep(0.05)
    return _text("Tool with progress executed successfully")


@mcp.tool(description="Asks the client's model to answer a prompt.")
async def test_sampling(
    ctx: Context, prompt: Annotated[str, Field(description="The prompt to send to the LLM")]
) -> Asked:
    result = await _sample(ctx, prompt, 100)
    if isinstance(result, types.InputRequiredResult):
        return result
    content = result.content
    text = content.text if isinstance(content, types.TextContent) else str(content)
    return _text(f"LLM response: {text}")


def _modern(ctx: Context) -> bool:
    # 2026-07-28 has no server-to-client requests: a question rides the result instead.
    return (ctx.protocol_version or "") >= "2026-07-28"


def _answer(ctx: Context, key: str, kind: type[Any]) -> Any | None:
    """The client's answer to input request `key` of an earlier round, if any."""
    answer = (ctx.input_responses or {}).get(key)
    if answer is None:
        return None
    raw = answer.model_dump(by_alias=True) if hasattr(answer, "model_dump") else answer
    return kind.model_validate(raw)


def _ask_for(key: str, request: Any) -> types.InputRequiredResult:
    return types.InputRequiredResult(input_requests={key: request}, result_type="input_required")


async def _elicit(
    ctx: Context, message: str, schema: dict[str, Any], key: str = "elicit"
) -> types.ElicitResult | types.InputRequiredResult:
    if not _modern(ctx):
        return await ctx.session.elicit_form(message, schema, related_request_id=ctx.request_id)
    if (answer := _answer(ctx, key, types.ElicitResult)) is not None:
        return answer
    params = types.ElicitRequestFormParams(message=message, requested_schema=schema)
    return _ask_for(key, types.ElicitRequest(method="elicitation/create", params=params))


async def _sample(
    ctx: Context, prompt: str, max_tokens: int, key: str = "sample"
) -> types.CreateMessageResult | types.InputRequiredResult:
    content = types.TextContent(type="text", text=prompt)
    message = types.SamplingMessage(role="user", content=content)
    if not _modern(ctx):
        return await ctx.session.create_message(
            [message], max_tokens=max_tokens, related_request_id=ctx.request_id
        )
    if (answer := _answer(ctx, key, types.CreateMessageResult)) is not None:
        return answer
    params = types.CreateMessageRequestParams(messages=[message], max_tokens=max_tokens)
    request = types.CreateMessageRequest(method="sampling/createMessage", params=params)
    return _ask_for(key, request)


@mcp.tool(description="Asks the user for a username and an email address.")
async def test_elicitation(
    ctx: Context, message: Annotated[str, Field(description="The message to show the user")]
) -> Asked:
    schema = {
        "type": "object",
        "properties": {
            "username": {"type": "string", "description": "User's response"},
            "email": {"type": "string", "description": "User's email address"},
        },
        "required": ["username", "email"],
    }
    result = await _elicit(ctx, message, schema)
    if isinstance(result, types.InputRequiredResult):
        return result
    return _text(f"User response: action={result.action}, content={json.dumps(result.content)}")


@mcp.tool(description="Asks with a default for every primitive type (SEP-1034).")
async def test_elicitation_sep1034_defaults(ctx: Context) -> Asked:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "default": "John Doe"},
            "age": {"type": "integer", "default": 30},
            "score": {"type": "number", "default": 95.5},
            "status": {
                "type": "string",
                "enum": ["active", "inactive", "pending"],
                "default": "active",
            },
            "verified": {"type": "boolean", "default": True},
        },
    }
    result = await _elicit(ctx, "Please review your information", schema)
    if isinstance(result, types.InputRequiredResult):
        return result
    return _text(
        f"Elicitation completed: action={result.action}, content={json.dumps(result.content)}"
    )


def _titled(prefix: str, titles: tuple[str, ...]) -> list[dict[str, str]]:
    return [{"const": f"{prefix}{i}", "title": t} for i, t in enumerate(titles, 1)]


@mcp.tool(description="Asks with every enum variant (SEP-1330).")
async def test_elicitation_sep1330_enums(ctx: Context) -> Asked:
    options = ["option1", "option2", "option3"]
    schema = {
        "type": "object",
        "properties": {
            "untitledSingle": {"type": "string", "enum": options},
            "titledSingle": {
                "type": "string",
                "oneOf": _titled("value", ("First Option", "Second Option", "Third Option")),
            },
            "legacyEnum": {
                "type": "string",
                "enum": ["opt1", "opt2", "opt3"],
                "enumNames": ["Option One", "Option Two", "Option Three"],
            },
            "untitledMulti": {"type": "array", "items": {"type": "string", "enum": options}},
            "titledMulti": {
                "type": "array",
                "items": {
                    "anyOf": _titled("value", ("First Choice", "Second Choice", "Third Choice"))
                },
            },
        },
    }
    result = await _elicit(ctx, "Please choose", schema)
    if isinstance(result, types.InputRequiredResult):
        return result
    return _text(
        f"Elicitation completed: action={result.action}, content={json.dumps(result.content)}"
    )


# The diagnostic tools of the suite's 2026-07-28 `server-stateless` scenario.
@mcp.tool(description="Logs while it runs (the caller's log level decides what it sees).")
async def test_logging_tool(ctx: Context) -> types.CallToolResult:
    for step in ("started", "working", "done"):
        await ctx.info(f"test_logging_tool {step}")
    return _text("Logging tool completed")


@mcp.tool(description="Needs the caller's model (sampling).")
async def test_missing_capability(ctx: Context) -> Asked:
    result = await _sample(ctx, "hi", 10)
    if isinstance(result, types.InputRequiredResult):
        return result
    return _text(f"sampled: {result.content}")


@mcp.tool(description="Asks the caller a question in the middle of the call.")
async def test_streaming_elicitation(ctx: Context) -> Asked:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    result = await _elicit(ctx, "Please answer", schema)
    if isinstance(result, types.InputRequiredResult):
        return result
    return _text(f"answer: action={result.action}, content={json.dumps(result.content)}")


# The basic rounds of the suite's 2026-07-28 input-required-result scenarios.
@mcp.tool(description="Asks the caller's name, then greets them.")
async def test_input_required_result_elicitation(ctx: Context) -> Asked:
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    result = await _elicit(ctx, "What is your name?", schema, key="user_name")
    if isinstance(result, types.InputRequiredResult):
        return result
    return _text(f"Hello, {(result.content or {}).get('name')}!")


@mcp.tool(description="Asks the caller's model a question, then returns its answer.")
async def test_input_required_result_sampling(ctx: Context) -> Asked:
    result = await _sample(ctx, "What is the capital of France?", 100, key="capital_question")
    if isinstance(result, types.InputRequiredResult):
        return result
    content = result.content
    return _text(content.text if isinstance(content, types.TextContent) else str(content))


def _form(message: str, field: str, kind: str = "string") -> types.ElicitRequest:
    schema = {"type": "object", "properties": {field: {"type": kind}}, "required": [field]}
    params = types.ElicitRequestFormParams(message=message, requested_schema=schema)
    return types.ElicitRequest(method="elicitation/create", params=params)


def _sampling(prompt: str, max_tokens: int) -> types.CreateMessageRequest:
    message = types.SamplingMessage(
        role="user", content=types.TextContent(type="text", text=prompt)
    )
    params = types.CreateMessageRequestParams(messages=[message], max_tokens=max_tokens)
    return types.CreateMessageRequest(method="sampling/createMessage", params=params)


ROOTS = types.ListRootsRequest(method="roots/list")


def _rounds(
    ctx: Context, state: str | None, asks: dict[str, Any]
) -> types.InputRequiredResult | None:
    """Ask for what `asks` names unless every key is answered, under `state`."""
    answered = ctx.input_responses or {}
    return None if all(key in answered for key in asks) else _ask_with(asks, state)


def _needs_modern(ctx: Context) -> None:
    if not _modern(ctx):
        raise MCPError(code=types.INVALID_REQUEST, message="this tool speaks only 2026-07-28")


@mcp.tool(description="Asks for a confirmation under a request state it checks on return.")
async def test_input_required_result_request_state(ctx: Context) -> Asked:
    _needs_modern(ctx)
    if ctx.request_state is None:
        asks = {"confirm": _form("Please confirm", "ok", "boolean")}
        return _ask_with(asks, "fixture-state-1")
    if ctx.request_state != "fixture-state-1" or "confirm" not in (ctx.input_responses or {}):
        raise MCPError(code=types.INVALID_PARAMS, message="requestState did not come back")
    return _text("state-ok: the request state came back intact")


def _ask_with(asks: dict[str, Any], state: str | None) -> types.InputRequiredResult:
    return types.InputRequiredResult(
        input_requests=asks, request_state=state, result_type="input_required"
    )


@mcp.tool(description="Asks two questions in two rounds, then answers.")
async def test_input_required_result_multi_round(ctx: Context) -> Asked:
    _needs_modern(ctx)
    answered = ctx.input_responses or {}
    if ctx.request_state is None or ("step1" not in answered and ctx.request_state == "round-1"):
        return _ask_with({"step1": _form("Step 1: What is your name?", "name")}, "round-1")
    if ctx.request_state == "round-1":
        name = _answer(ctx, "step1", types.ElicitResult)
        state = f"round-2:{(name.content or {}).get('name') if name else ''}"
        return _ask_with({"step2": _form("Step 2: What is your favorite color?", "color")}, state)
    color = _answer(ctx, "step2", types.ElicitResult)
    if color is None:
        return _ask_with({"step2": _form("Step 2: What is your favorite color?", "color")},
                         ctx.request_state)  # fmt: skip
    name = ctx.request_state.partition(":")[2]
    return _text(f"{name} likes {(color.content or {}).get('color')}")


_KEY = secrets.token_bytes(32)


def _signed(value: str) -> str:
    return f"{value}.{hmac.new(_KEY, value.encode(), 'sha256').hexdigest()}"


@mcp.tool(description="Asks for a confirmation under a signed request state.")
async def test_input_required_result_tampered_state(ctx: Context) -> Asked:
    _needs_modern(ctx)
    if ctx.request_state is None:
        return _ask_with({"confirm": _form("Please confirm", "ok", "boolean")}, _signed("asked"))
    value, _, _ = ctx.request_state.rpartition(".")
    if not hmac.compare_digest(_signed(value), ctx.request_state):
        raise MCPError(code=types.INVALID_PARAMS, message="requestState failed its integrity check")
    return _text("state verified")


@mcp.tool(description="Asks only for what its client declared it can answer.")
async def test_input_required_result_capabilities(ctx: Context) -> Asked:
    _needs_modern(ctx)
    declared = ctx.client_capabilities or types.ClientCapabilities()
    asks: dict[str, Any] = {}
    if declared.sampling is not None:
        asks["greeting"] = _sampling("Generate a greeting", 50)
    if declared.elicitation is not None:
        asks["user_name"] = _form("What is your name?", "name")
    if (asked := _rounds(ctx, None, asks)) is not None:
        return asked
    return _text(f"answered: {', '.join(sorted(asks))}")


@mcp.tool(description="Asks for the client's roots.")
async def test_input_required_result_list_roots(ctx: Context) -> Asked:
    _needs_modern(ctx)
    if (asked := _rounds(ctx, None, {"client_roots": ROOTS})) is not None:
        return asked
    roots = _answer(ctx, "client_roots", types.ListRootsResult)
    return _text(f"roots: {', '.join(str(r.uri) for r in roots.roots) if roots else ''}")


@mcp.tool(description="Asks a question, the client's model and its roots at once.")
async def test_input_required_result_multiple_inputs(ctx: Context) -> Asked:
    _needs_modern(ctx)
    asks = {
        "user_name": _form("What is your name?", "name"),
        "greeting": _sampling("Generate a greeting", 50),
        "client_roots": ROOTS,
    }
    if (asked := _rounds(ctx, "fixture-multiple", asks)) is not None:
        return asked
    return _text("all three answered")


@mcp.tool(description="Answers after a short pause (the suite's SSE polling probe).")
async def test_reconnection() -> types.CallToolResult:
    await anyio.sleep(0.05)
    return _text("Reconnection test completed")


# The suite's JSON Schema 2020-12 fixture: every keyword must survive re-export.
SCHEMA_2020_12: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "$anchor": "addressDef",
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}


@mcp.tool(description="Tool with JSON Schema 2020-12 features")
def json_schema_2020_12_tool() -> types.CallToolResult:
    return _text("ok")


# MCPServer derives a schema from the signature; this tool advertises the fixture's.
mcp._tool_manager.get_tool("json_schema_2020_12_tool").parameters = SCHEMA_2020_12


@mcp.tool(description="Takes arguments that 2026-07-28 clients mirror into Mcp-Param headers.")
def test_custom_headers(
    region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})],
    priority: Annotated[int, Field(json_schema_extra={"x-mcp-header": "Priority"})] = 0,
) -> types.CallToolResult:
    return _text(f"region={region} priority={priority}")


@mcp.resource(
    "test://static-text",
    name="static-text",
    description="A static text resource",
    mime_type="text/plain",
)
def static_text() -> str:
    return "This is the content of the static text resource."


@mcp.resource(
    "test://static-binary",
    name="static-binary",
    description="A static binary resource (a PNG)",
    mime_type="image/png",
)
def static_binary() -> bytes:
    return base64.b64decode(PNG)


@mcp.resource(
    WATCHED,
    name="watched-resource",
    description="A resource to subscribe to",
    mime_type="text/plain",
)
def watched() -> str:
    return "Watched resource content"


@mcp.resource(
    "test://template/{id}/data",
    name="template-data",
    description="Data for an id",
    mime_type="application/json",
)
def template_data(id: str) -> str:
    return json.dumps({"id": id, "templateTest": True, "data": f"Data for ID: {id}"})


@mcp.prompt(description="A simple prompt without arguments")
def test_simple_prompt() -> list[Message]:
    return [UserMessage("This is a simple prompt for testing.")]


@mcp.prompt(description="A prompt with two arguments")
def test_prompt_with_arguments(
    arg1: Annotated[str, Field(description="First test argument")],
    arg2: Annotated[str, Field(description="Second test argument")],
) -> list[Message]:
    return [UserMessage(f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'")]


@mcp.prompt(description="A prompt that embeds a resource")
def test_prompt_with_embedded_resource(
    resourceUri: Annotated[str, Field(description="URI of the resource to embed")],
) -> list[Message]:
    embedded = _embedded(resourceUri, "text/plain", "Embedded resource content for testing.")
    return [UserMessage(embedded), UserMessage("Please process the embedded resource above.")]


@mcp.prompt(description="A prompt with an image")
def test_prompt_with_image() -> list[Message]:
    image = types.ImageContent(type="image", data=PNG, mime_type="image/png")
    return [UserMessage(image), UserMessage("Please analyze the image above.")]


@mcp.prompt(description="A prompt that asks for its context first (2026-07-28 rounds)")
async def test_input_required_result_prompt(ctx: Context) -> list[Message] | Any:
    _needs_modern(ctx)
    ask = {"user_context": _form("What context should the prompt use?", "context")}
    if (asked := _rounds(ctx, None, ask)) is not None:
        return asked
    given = _answer(ctx, "user_context", types.ElicitResult)
    context = (given.content or {}).get("context") if given else ""
    return [UserMessage(f"Prompt in context: {context}")]


@mcp.completion()
async def complete(ref: Any, argument: types.CompletionArgument, context: Any) -> types.Completion:
    words = ["paris", "park", "party"]
    return types.Completion(values=[w for w in words if w.startswith(argument.value)])


async def _subscribe(ctx: Any, params: types.SubscribeRequestParams) -> types.EmptyResult:
    subscribed.add(str(params.uri))
    return types.EmptyResult()


async def _unsubscribe(ctx: Any, params: types.UnsubscribeRequestParams) -> types.EmptyResult:
    subscribed.discard(str(params.uri))
    return types.EmptyResult()


_low = mcp._lowlevel_server  # MCPServer has no subscribe decorator
_low.add_request_handler("resources/subscribe", types.SubscribeRequestParams, _subscribe)
_low.add_request_handler("resources/unsubscribe", types.UnsubscribeRequestParams, _unsubscribe)


if __name__ == "__main__":
    mcp.run()
