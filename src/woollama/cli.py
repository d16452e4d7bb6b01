"""The command line: the only place that prints banners or exits."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from woollama import __version__
from woollama.config import config_dir, load_config
from woollama.errors import ConfigError

_LISTEN_OPTIONS = ("host", "port", "socket")


class _Parser(argparse.ArgumentParser):
    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: None = None
    ) -> argparse.Namespace:
        parsed = super().parse_args(args, namespace)
        # `woollama --port 1 mcp` would otherwise drop the option without a word.
        if parsed.command not in (None, "serve") and any(
            getattr(parsed, name, None) is not None for name in _LISTEN_OPTIONS
        ):
            self.error(f"--host, --port and --socket apply to serve, not to {parsed.command}")
        return parsed


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0-65535)")
    return int(text)


def _add_listen_options(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "--host",
        default=default,
        help="address to listen on (default 127.0.0.1; off loopback needs WOOLLAMA_TOKEN)",
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=default,
        help="TCP port (default: the last run's if free, else any; 0 for any)",
    )
    parser.add_argument(
        "--socket",
        type=Path,
        default=default,
        metavar="PATH",
        help="Unix socket path (default: woollama.sock in the runtime dir)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="woollama",
        description="Local router between AI clients (OpenAI API, MCP) and AI backends.",
    )
    parser.add_argument("--version", action="version", version=f"woollama {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail to stderr")
    _add_listen_options(parser, None)
    sub = parser.add_subparsers(dest="command")
    # SUPPRESS keeps `woollama --port 1 serve` from being reset by serve's own default.
    _add_listen_options(
        sub.add_parser("serve", help="run the router (the default)"), argparse.SUPPRESS
    )
    _add_mcp_options(sub.add_parser("mcp", help="serve MCP over stdio"))
    sub.add_parser("check-config", help="validate the config files and show what they define")
    status = sub.add_parser("status", help="show what the running woollama is doing")
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    return parser


def _add_mcp_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--servers", metavar="A,B", help="show only the tools of these MCP servers")
    parser.add_argument(
        "--tools", metavar="GLOBS", help="show only tools whose server.tool matches a glob"
    )
    parser.add_argument(
        "--standalone",
        action="store_true",
        help="serve in-process even when a woollama is running (its own MCP servers)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Logs go to stderr so `woollama mcp` keeps stdout for the protocol alone.
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if log_file := os.environ.get("WOOLLAMA_LOG_FILE"):
        from woollama.observability.log_file import log_to_file

        log_to_file(Path(log_file).expanduser())
    command = args.command or "serve"
    if command == "check-config":
        return _check_config()
    if command == "status":
        return _status(as_json=args.json)
    if command == "mcp" and not args.standalone and (bridged := _bridge_mcp(args)) is not None:
        return bridged
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"woollama: config error:\n{exc}", file=sys.stderr)
        return 1
    if (problem := _state_problem()) is not None:
        print(f"woollama: {problem}", file=sys.stderr)
        return 1
    if command == "mcp":
        import anyio

        from woollama.surfaces.mcp.scope import Scope
        from woollama.surfaces.mcp.server import serve_stdio

        scope = Scope.parse(args.servers, args.tools)
        logging.getLogger("woollama.mcp").info(
            "%s; serving in-process with its own MCP servers (narrowed to %s)",
            "--standalone" if args.standalone else "no woollama is running",
            scope.describe(),
        )
        with contextlib.suppress(KeyboardInterrupt):
            anyio.run(serve_stdio, config, scope)
        return 0
    return _serve(config, args)


def _bridge_mcp(args: argparse.Namespace) -> int | None:
    """Relay stdio to the running woollama, or None when none answers."""
    import anyio

    from woollama.server.status_client import socket_path
    from woollama.surfaces.mcp.bridge import WoollamaGone, answers, bridge
    from woollama.surfaces.mcp.scope import Scope

    socket = socket_path()
    if not answers(socket):
        return None
    scope = Scope.parse(args.servers, args.tools)
    logging.getLogger("woollama.mcp").info(
        "bridging stdio to the running woollama at %s (narrowed to %s)",
        socket,
        scope.describe(),
    )

    def gone(problem: WoollamaGone) -> None:
        print(f"woollama: {problem}", file=sys.stderr, flush=True)
        # The client still holds stdin open, and a thread is blocked reading it: exit
        # now, so the client sees its server end (and may start it again).
        os._exit(1)

    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(bridge, socket, scope, gone)
    return 0


def _state_problem() -> str | None:
    """Open the state database once up front so a bad one stops start-up with a clear word."""
    from woollama.config.paths import state_dir
    from woollama.conversations.handles import DB_NAME, HandleTable, StateError

    path = state_dir() / DB_NAME
    if not path.exists():
        return None  # created (and any original state imported) when serving starts
    try:
        HandleTable(path).close()
    except StateError as exc:
        return exc.message
    return None


def _serve(config: object, args: argparse.Namespace) -> int:
    from woollama.server.binding import BindError
    from woollama.server.serve import serve

    socket_path = args.socket.expanduser().absolute() if args.socket else None
    try:
        serve(
            config,  # type: ignore[arg-type]
            announce=lambda line: print(line, flush=True),
            host=args.host,
            port=args.port,
            socket_path=socket_path,
        )
    except BindError as exc:
        print(f"woollama: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        pass
    return 0


def _status(*, as_json: bool) -> int:
    from woollama.observability.status_text import render_status
    from woollama.server.status_client import NotRunning, fetch_status

    try:
        status = fetch_status()
    except NotRunning as exc:
        print(f"woollama: {exc}", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps(status, indent=2))
    else:
        print(render_status(status))
    return 0


def _check_config() -> int:
    from woollama.config.check import check

    directory = config_dir()
    print(f"config dir: {directory}")
    try:
        config = load_config(directory)
    except ConfigError as exc:
        print(f"errors:\n{exc}")
        return 1
    for kind, source in sorted(config.sources.items()):
        print(f"  {kind}: {source}")
    print(f"providers ({len(config.inferencers)}):")
    for name, inf in config.inferencers.items():
        key = ""
        if inf.api_key_env:
            key = f"  key {inf.api_key_env} {'set' if os.environ.get(inf.api_key_env) else 'unset'}"
        print(f"  {name}: {inf.base_url}{key}")
    print(f"recipes ({len(config.recipes)}):")
    for name, recipe in config.recipes.items():
        print(f"  woollama/{name}: {recipe.inferencer}, tools {list(recipe.tools)}")
    for note in config.notes:
        print(f"  {note}")
    print(f"MCP servers ({len(config.mcp.servers)}):")
    for name, server in config.mcp.servers.items():
        target = server.command if server.transport == "stdio" else server.url
        print(f"  {name}: {server.transport} {target}")
    problems = check(config)
    for severity in ("warning", "error"):
        found = [p for p in problems if p.severity == severity]
        if found:
            print(f"{severity}s:\n" + "\n".join(f"  {p}" for p in found))
    if any(p.severity == "error" for p in problems):
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
