"""A fake of llama.cpp's `llama-server` tokenizer routes, on loopback.

Only what counting tokens needs, in the server's documented wire format:
`POST /apply-template` (an OpenAI chat body in, `{"prompt"}` out: the chat template
rendered, here ChatML with the tools in the system turn) and `POST /tokenize`
(`{"content", "add_special", "parse_special"}` in, `{"tokens": [ids]}` out). Its
tokenizer splits words, punctuation and ChatML markers, so a count can be checked
by hand. The real engine in the tests is llama-cpp-python, which has neither route.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tests.fakes._threaded import Receive, Recorder, Scope, Send, ThreadedServer, read_request

_TOKEN = re.compile(r"<\|im_(?:start|end)\|>|\w+|[^\w\s]")
BOS = 1


def render(body: dict[str, Any]) -> str:
    """The ChatML prompt for a chat body, ending where the assistant's turn begins."""
    turns = [(m["role"], m.get("content") if isinstance(m.get("content"), str) else
              " ".join(p.get("text", "") for p in m.get("content") or []))
             for m in body["messages"]]  # fmt: skip
    if body.get("tools"):
        turns.insert(0, ("system", "Tools: " + json.dumps(body["tools"])))
    prompt = "".join(f"<|im_start|>{role}\n{text}<|im_end|>\n" for role, text in turns)
    return prompt + "<|im_start|>assistant\n"


def tokenize(text: str, *, add_special: bool) -> list[int]:
    tokens = [abs(hash(piece)) % 50_000 + 2 for piece in _TOKEN.findall(text)]
    return [BOS, *tokens] if add_special else tokens


class FakeLlamaServer(ThreadedServer):
    def __init__(self) -> None:
        self.recorder = Recorder()
        super().__init__(self._app, label="llama-server")
        self.base_url = f"{self.origin}/v1"

    @property
    def requests(self):
        return self.recorder.requests

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = await read_request(scope, receive)
        if request is None:
            return
        self.recorder.record(request)
        body = request.body if isinstance(request.body, dict) else {}
        if request.path == "/apply-template" and isinstance(body.get("messages"), list):
            await _json(send, 200, {"prompt": render(body)})
        elif request.path == "/tokenize" and isinstance(body.get("content"), str):
            tokens = tokenize(body["content"], add_special=bool(body.get("add_special", False)))
            await _json(send, 200, {"tokens": tokens})
        else:
            await _json(send, 404, {"error": {"code": 404, "message": "File Not Found",
                                              "type": "not_found_error"}})  # fmt: skip


async def _json(send: Send, status: int, payload: Any) -> None:
    raw = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(raw))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": raw})
