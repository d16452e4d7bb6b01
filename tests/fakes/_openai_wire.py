"""Pure builders for OpenAI wire objects, written from the public API reference.

Kept free of any server state so the shapes can be read (and reviewed) in one place:
``chat.completion``, ``chat.completion.chunk``, SSE framing, error bodies, embeddings.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

SSE_DONE = b"data: [DONE]\n\n"
SYSTEM_FINGERPRINT = "fp_fake"
EMBEDDING_DIM = 8
# Smallest valid PNG (1x1, transparent): enough for a client to recognise an image.
PNG_1X1_B64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJ"
    "RU5ErkJggg=="
)
PNG_1X1 = base64.b64decode(PNG_1X1_B64)
# How many characters of tool-call arguments go in one streamed fragment. Small on
# purpose: real backends split JSON mid-token, mid-string and mid-escape.
ARGUMENT_FRAGMENT = 5


def new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:24]}"


def error_body(
    message: str,
    type_: str = "invalid_request_error",
    *,
    param: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def sse(obj: Any) -> bytes:
    return b"data: " + dumps(obj) + b"\n\n"


def split_words(text: str) -> list[str]:
    """Word-ish pieces that join back to exactly ``text`` (whitespace stays attached)."""
    return re.findall(r"\s*\S+|\s+$", text)


def fragments(text: str, size: int = ARGUMENT_FRAGMENT) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def rough_tokens(text: str) -> int:
    # Whitespace-separated words: deterministic and easy to predict in an assertion.
    return len(text.split())


def message_text(content: Any) -> str:
    """Text of a message ``content``: a string or a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, Mapping) and part.get("type") == "text"
        )
    return ""


def prompt_tokens(messages: Iterable[Any]) -> int:
    return sum(
        rough_tokens(message_text(m.get("content"))) for m in messages if isinstance(m, Mapping)
    )


def last_user_text(messages: Sequence[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role") == "user":
            return message_text(message.get("content"))
    return ""


def usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def chat_completion(
    *,
    id_: str,
    created: int,
    model: str,
    message: dict[str, Any],
    finish_reason: str,
    usage_: Mapping[str, Any],
) -> dict[str, Any]:
    return {
        "id": id_,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        ],
        "usage": dict(usage_),
    }


def assistant_message(content: str | None, tool_calls: Sequence[dict[str, Any]]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if tool_calls:
        message["tool_calls"] = list(tool_calls)
    return message


def tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def chunk(
    *,
    id_: str,
    created: int,
    model: str,
    delta: Mapping[str, Any] | None,
    finish_reason: str | None = None,
    with_usage_field: bool = False,
    usage_: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One ``chat.completion.chunk``; ``delta=None`` builds the usage-only final chunk.

    With ``stream_options.include_usage`` OpenAI puts ``"usage": null`` on every chunk
    and then sends one extra chunk whose ``choices`` is empty and whose usage is set.
    """
    obj: dict[str, Any] = {
        "id": id_,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "choices": []
        if delta is None
        else [{"index": 0, "delta": dict(delta), "logprobs": None, "finish_reason": finish_reason}],
    }
    if with_usage_field:
        obj["usage"] = dict(usage_) if usage_ is not None else None
    return obj


def interleave(sequences: Sequence[Sequence[Any]]) -> Iterator[Any]:
    """Round-robin over several sequences: a0, b0, a1, b1, b2 ..."""
    longest = max((len(s) for s in sequences), default=0)
    for i in range(longest):
        for seq in sequences:
            if i < len(seq):
                yield seq[i]


def embedding_vector(text: str, dim: int) -> list[float]:
    """Unit-length vector derived from a hash of the text: same text, same vector."""
    raw = b""
    counter = 0
    while len(raw) < 4 * dim:
        raw += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    ints = struct.unpack(f"<{dim}I", raw[: 4 * dim])
    vec = [i / 0xFFFFFFFF * 2.0 - 1.0 for i in ints]
    norm = sum(v * v for v in vec) ** 0.5 or 1.0
    # Round through float32 so the float and base64 encodings carry identical values.
    return list(struct.unpack(f"<{dim}f", struct.pack(f"<{dim}f", *(v / norm for v in vec))))


def encode_embedding(vec: Sequence[float], encoding_format: str | None) -> list[float] | str:
    if encoding_format == "base64":
        return base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode()
    return list(vec)
