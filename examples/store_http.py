"""Reference conversation store over plain HTTP: one JSON file per thread.

    python examples/store_http.py DIR --port 8765
and in mcp.json: "conversationStore": {"type": "http", "url": "http://127.0.0.1:8765"}

PUT /threads/{id} creates (204), GET returns the messages, PATCH with
{"messages": [...]} appends, DELETE removes (204).
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

try:
    from examples.threads import ThreadFiles
except ImportError:  # run as a script from its own directory
    from threads import ThreadFiles  # type: ignore[no-redef]


def make_app(store: ThreadFiles) -> Starlette:
    async def thread(request: Request) -> Response:
        thread_id = request.path_params["thread_id"]
        try:
            if request.method == "PUT":
                store.create(thread_id)
                return Response(status_code=204)
            if request.method == "GET":
                return JSONResponse(store.get(thread_id))
            if request.method == "PATCH":
                body: Any = await request.json()
                messages = body.get("messages") if isinstance(body, dict) else None
                if not isinstance(messages, list):
                    return JSONResponse({"error": 'send {"messages": [...]}'}, status_code=400)
                return JSONResponse({"ok": True, "count": store.append(thread_id, messages)})
            store.delete(thread_id)
            return Response(status_code=204)
        except KeyError:
            return JSONResponse({"error": f"no thread {thread_id}"}, status_code=404)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    methods = ["PUT", "GET", "PATCH", "DELETE"]
    return Starlette(routes=[Route("/threads/{thread_id}", thread, methods=methods)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    uvicorn.run(make_app(ThreadFiles(args.directory)), host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
