"""`GET /v1/tools`: every downstream tool and every MCP server's health."""

from __future__ import annotations

import math

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from woollama.errors import BadRequest
from woollama.routing.router import Router

MAX_WAIT = 30.0


async def list_tools(request: Request) -> Response:
    router: Router = request.app.state.router
    registry = router.registry
    wait = request.query_params.get("wait")
    if wait is not None:
        # Lets a script that just started woollama wait for the first connection
        # attempts instead of polling.
        try:
            seconds = float(wait)
            if math.isnan(seconds):
                raise ValueError(wait)
            seconds = min(max(seconds, 0.0), MAX_WAIT)
        except ValueError:
            raise BadRequest(f"wait must be a number of seconds, not {wait!r}") from None
        await registry.wait_first_attempts(seconds)
    tools = [
        {
            "name": entry.qualified,
            "model_name": entry.model_name,
            "server": entry.server,
            "description": entry.description,
            "input_schema": entry.input_schema,
            "output_schema": entry.output_schema,
        }
        for entry in registry.entries()
    ]
    return JSONResponse({"object": "list", "data": tools, "servers": registry.health()})


ROUTES = [Route("/v1/tools", list_tools, methods=["GET"])]
