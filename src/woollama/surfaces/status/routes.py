"""`/health`, `/health/ready`, `/metrics`, `/v1/status` and the status page at `/`.

All of them sit behind the Host/Origin guard, and all but the page's own files behind
the token: the page asks for the token and sends it as a header, never in a URL.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from woollama.errors import NotFound
from woollama.observability.observer import Observer
from woollama.observability.status import readiness, snapshot
from woollama.routing.router import Router

# The page's files: served without the token, so a browser can load the page that
# then asks for it. They hold no data; everything they show comes from /v1/status.
PAGE_FILES = {"index.html": "text/html", "app.js": "text/javascript", "style.css": "text/css"}
PUBLIC_PATHS = frozenset(
    {"/", "/favicon.ico", *(f"/static/{name}" for name in PAGE_FILES if name != "index.html")}
)
_PAGE_HEADERS = {
    # Only the page's own script and style, no frames: nothing a config value or an
    # error message could smuggle in would run.
    "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}


def _observer(request: Request) -> Observer:
    return request.app.state.observer


def _router(request: Request) -> Router:
    return request.app.state.router


def _problems(request: Request) -> list[str]:
    return list(getattr(request.app.state, "config_problems", []))


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def health_ready(request: Request) -> Response:
    observer = _observer(request)
    body = readiness(_router(request), observer.watch, observer.providers, _problems(request))
    return JSONResponse(body, status_code=200 if body["ready"] else 503)


async def metrics(request: Request) -> Response:
    found = _observer(request).metrics
    if found is None:
        raise NotFound("metrics are turned off (WOOLLAMA_METRICS=0)", code="metrics_off")
    return Response(found.render(), media_type=CONTENT_TYPE_LATEST)


async def status(request: Request) -> Response:
    observer = _observer(request)
    state = request.app.state
    body = snapshot(
        _router(request),
        watch=observer.watch,
        log=observer.providers,
        recent=observer.recent,
        started_at=observer.started_at,
        address=getattr(state, "address", None),
        socket=getattr(state, "socket", None),
        problems=_problems(request),
    )
    return JSONResponse(body)


@cache
def _file(name: str) -> bytes:
    return (files(__package__) / "static" / name).read_bytes()


async def page(request: Request) -> Response:
    return _page_file("index.html")


async def favicon(request: Request) -> Response:
    return Response(status_code=204)  # browsers ask; there is no icon to give


async def static(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in PAGE_FILES or name == "index.html":
        raise NotFound(f"no file {name!r} on the status page")
    return _page_file(name)


def _page_file(name: str) -> Response:
    media = PAGE_FILES[name]
    return Response(_file(name), media_type=media, headers=_PAGE_HEADERS)


ROUTES = [
    Route("/", page, methods=["GET"]),
    Route("/static/{name}", static, methods=["GET"]),
    Route("/favicon.ico", favicon, methods=["GET"]),
    Route("/health", health, methods=["GET"]),
    Route("/health/ready", health_ready, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/v1/status", status, methods=["GET"]),
]
