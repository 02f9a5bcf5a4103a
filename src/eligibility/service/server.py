"""Running the app on uvicorn with the limits a network needs: a deadline for the request
line and headers (uvicorn has none, so a client trickling one header byte at a time would
hold a connection forever), a short keep-alive, a bounded graceful shutdown."""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from eligibility.service.security import Limits


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus a clock on each request's head: from the connection (or
    the first byte of a further request on it) to the end of the headers, at most
    `header_seconds`; otherwise the connection is closed."""

    header_seconds: float = Limits.header_seconds

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer: asyncio.TimerHandle | None = self.loop.call_later(self.header_seconds, self._head_late)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        waiting_for_head = self.conn.their_state is h11.IDLE
        if waiting_for_head and self._head_timer is None and not self.transport.is_closing():
            self._head_timer = self.loop.call_later(self.header_seconds, self._head_late)
        elif not waiting_for_head and self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)

    def _head_late(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def protocol_for(limits: Limits) -> type[GuardedH11Protocol]:
    return type("GuardedH11", (GuardedH11Protocol,), {"header_seconds": limits.header_seconds})


def uvicorn_config(app: Any, host: str, port: int, limits: Limits, log_level: str = "info") -> Any:
    import uvicorn

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol_for(limits),
        log_level=log_level,
        access_log=False,  # ours (eligibility.access) logs no client address
        timeout_keep_alive=5,
        timeout_graceful_shutdown=10,
        h11_max_incomplete_event_size=16 * 1024,
        server_header=False,
    )
