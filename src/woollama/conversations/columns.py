"""The handle table's JSON and text columns: written strictly, read forgivingly.

Everything written must read back as something a response can carry: finite
numbers and real characters only. What older versions wrote without that check
is repaired on read (non-finite numbers become null, lone surrogates U+FFFD,
unreadable JSON the column's default) instead of failing every listing.
"""

from __future__ import annotations

import json
import logging
import math
import re
from typing import Any

from woollama.errors import BadRequest

log = logging.getLogger(__name__)

_SURROGATE = re.compile("[\ud800-\udfff]")


def encode_json(value: Any, name: str) -> str:
    """`value` as strict JSON text, or a 400 naming the field that cannot be stored."""
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False)
        text.encode("utf-8")
    except (ValueError, TypeError, RecursionError) as exc:
        # UnicodeEncodeError is a ValueError: a lone surrogate somewhere inside.
        raise BadRequest(f"`{name}` cannot be stored: {_reason(exc)}", param=name) from None
    return text


def check_text(value: str | None, name: str) -> None:
    if value is None:
        return
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(f"`{name}` cannot be stored: {_reason(None)}", param=name) from None


def _reason(exc: Exception | None) -> str:
    if exc is None or isinstance(exc, UnicodeEncodeError):
        return "it holds a lone UTF-16 surrogate, which is not a character"
    if isinstance(exc, RecursionError):
        return "it is nested too deeply"
    if isinstance(exc, TypeError):
        return str(exc)
    return "it holds NaN or an infinite number, which JSON does not allow"


def decode_json(text: str | None, default: Any) -> tuple[Any, str | None]:
    """(the column's value, why it had to be repaired or None)."""
    if text is None:
        return default, None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return default, "not valid JSON"
    return repaired(value, default)


def repaired(value: Any, default: Any) -> tuple[Any, str | None]:
    """(`value` made storable, why it had to be changed or None)."""
    try:
        encode_json(value, "column")
    except BadRequest:
        try:
            return _sanitised(value), "non-finite numbers or lone surrogates"
        except RecursionError:
            return default, "nested too deeply"
    return value, None


def _sanitised(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_sanitised(item) for item in value]
    if isinstance(value, dict):
        return {_sanitised(k): _sanitised(v) for k, v in value.items()}
    return value


def lenient_text(data: bytes) -> str:
    """SQLite's text as str, even when another writer stored bytes that are not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        log.warning("state database: a text value is not UTF-8; read with U+FFFD in its place")
        return data.decode("utf-8", "replace")
