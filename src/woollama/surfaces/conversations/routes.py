"""`/v1/conversations`: OpenAI's Conversations API over woollama's handle table."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from woollama.conversations import Conversation, Conversations
from woollama.errors import BadRequest
from woollama.providers import split_model
from woollama.routing.router import Router
from woollama.surfaces.http import json_object

MAX_PAGE = 100


def _conversations(request: Request) -> Conversations:
    router: Router = request.app.state.router
    return router.conversations


def conversation_object(conv: Conversation) -> dict[str, Any]:
    """The OpenAI Conversation shape, plus where woollama routes it."""
    return {
        "id": conv.id,
        "object": "conversation",
        "created_at": int(conv.created_at),
        "metadata": conv.metadata,
        "backend": conv.backend,
        "model": conv.model,
        "status": conv.status.value,
        "title": conv.title,
        "key": conv.key,
    }


def message_item(index: int, conv_id: str, message: dict[str, Any]) -> dict[str, Any]:
    role = message.get("role", "user")
    content = message.get("content")
    text = content if isinstance(content, str) else _text_of(content)
    part = "output_text" if role == "assistant" else "input_text"
    return {
        "type": "message",
        "id": f"msg_{conv_id.removeprefix('conv_')}_{index}",
        "status": "completed",
        "role": role,
        "content": [{"type": part, "text": text, **_annotations(part)}],
    }


def _annotations(part: str) -> dict[str, Any]:
    return {"annotations": []} if part == "output_text" else {}


def _text_of(content: Any) -> str:
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


async def create(request: Request) -> Response:
    body = await json_object(request)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest(
            "`model` is required: the <provider>/<model> or woollama/<recipe> this "
            "conversation talks to (with the openai SDK: extra_body={'model': ...})",
            param="model",
        )
    split_model(model)  # "/m1" and "m1/" name no provider or no model
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise BadRequest("`metadata` must be an object", param="metadata")
    conversations = _conversations(request)
    key = _optional_str(body, "key")
    # Refused before anything is created, so a 400 leaves nothing behind.
    if body.get("items") and (key is None or conversations.table.by_key(key) is None):
        raise BadRequest("initial `items` are not supported; send them as the first turn",
                         param="items")  # fmt: skip
    conv, created = await conversations.create(
        model,
        backend=_optional_str(body, "backend"),
        metadata=metadata,
        title=_optional_str(body, "title"),
        key=key,
    )
    # 201 for a new conversation, as the original woollama answers; 200 for the one
    # an existing `key` names.
    return JSONResponse(conversation_object(conv), status_code=201 if created else 200)


def _optional_str(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"`{name}` must be a string", param=name)
    return value


async def list_all(request: Request) -> Response:
    params = request.query_params
    try:
        limit = min(max(int(params.get("limit", "20")), 1), MAX_PAGE)
    except ValueError:
        raise BadRequest("`limit` must be an integer", param="limit") from None
    order = params.get("order", "desc")
    if order not in ("asc", "desc"):
        raise BadRequest("`order` must be asc or desc", param="order")
    convs = _conversations(request).table.page(
        limit=limit + 1, after=params.get("after"), newest_first=order == "desc"
    )
    page = [conversation_object(c) for c in convs[:limit]]
    return JSONResponse(
        {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": len(convs) > limit,
        }
    )


async def retrieve(request: Request) -> Response:
    conv = _conversations(request).table.get(request.path_params["conv_id"])
    return JSONResponse(conversation_object(conv))


async def update(request: Request) -> Response:
    body = await json_object(request)
    metadata = body.get("metadata")
    if not isinstance(metadata, dict):
        raise BadRequest("`metadata` (an object) is required", param="metadata")
    conv = _conversations(request).set_metadata(request.path_params["conv_id"], metadata)
    return JSONResponse(conversation_object(conv))


async def delete(request: Request) -> Response:
    conv_id = request.path_params["conv_id"]
    await _conversations(request).delete(conv_id)
    return JSONResponse({"id": conv_id, "object": "conversation.deleted", "deleted": True})


async def items(request: Request) -> Response:
    conv_id = request.path_params["conv_id"]
    messages = await _conversations(request).items(conv_id)
    data = [message_item(i, conv_id, m) for i, m in enumerate(messages)]
    if request.query_params.get("order", "desc") == "desc":
        data.reverse()
    return JSONResponse(
        {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": False,
        }
    )


ROUTES = [
    Route("/v1/conversations", create, methods=["POST"]),
    Route("/v1/conversations", list_all, methods=["GET"]),
    Route("/v1/conversations/{conv_id}", retrieve, methods=["GET"]),
    Route("/v1/conversations/{conv_id}", update, methods=["POST"]),
    Route("/v1/conversations/{conv_id}", delete, methods=["DELETE"]),
    Route("/v1/conversations/{conv_id}/items", items, methods=["GET"]),
]
