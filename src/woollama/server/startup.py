"""The lines after the banner: each MCP server as it connects or fails."""

from __future__ import annotations

from collections.abc import Callable

from woollama.tools import Health, ServerConnection


class StartupLines:
    """Holds the lines until the banner is out, then says each one as it happens."""

    def __init__(self) -> None:
        self._held: list[str] = []
        self._say: Callable[[str], None] | None = None

    def server_settled(self, connection: ServerConnection, seconds: float) -> None:
        self.add(server_line(connection, seconds))

    def add(self, line: str) -> None:
        if self._say is None:
            self._held.append(line)
        else:
            self._say(line)

    def release(self, say: Callable[[str], None]) -> None:
        """Say the held lines, and every later one at once."""
        self._say = say
        held, self._held = self._held, []
        for line in held:
            say(line)


def server_line(connection: ServerConnection, seconds: float) -> str:
    if connection.health is Health.CONNECTED:
        count = len(connection.tools)
        tools = f"{count} tool" if count == 1 else f"{count} tools"
        return f"{connection.name}: connected, {tools} ({seconds:.1f} s)"
    return f"{connection.name}: failed: {connection.last_error or 'no reason given'}"
