"""Stream messages written to the socket as ready-made WebSocket frames.

A message fanned out to a thousand subscribers is the same bytes for each of them: the
frame is built once and written to each connection's transport, instead of going through
the ASGI server's per-connection framing a thousand times (which was half the server's CPU
at that fan-out). Frames are coalesced per connection within one turn of the event loop,
so several messages cost one write.

This needs the transport under uvicorn's sans-I/O WebSocket protocol, which the ASGI send
callable is bound to (:class:`RawSendCapture` keeps it in the scope). Anywhere else
:func:`raw_socket` returns None and the caller sends through ASGI.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from websockets.protocol import State

SCOPE_KEY = "rialto.raw_send"


def text_frame(payload: bytes) -> bytes:
    """One unmasked, final text frame (server to client, RFC 6455 section 5.2)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x81, 126, n) + payload
    return struct.pack("!BBQ", 0x81, 127, n) + payload


class RawSendCapture:
    """ASGI middleware: remember the server's own send callable of each WebSocket."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            scope[SCOPE_KEY] = send
        await self.app(scope, receive, send)


class RawSocket:
    """Frames for one connection, written together once per loop turn."""

    def __init__(self, protocol: Any, max_buffer: int) -> None:
        self.protocol = protocol
        self.transport: asyncio.WriteTransport = protocol.transport
        self.max_buffer = max_buffer
        self.pending: list[bytes] = []
        # Cap what the kernel may hold too (no autotuning to megabytes on loopback), so a
        # reader that stopped is found within about twice ``max_buffer``.
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, max_buffer)

    def open(self) -> bool:
        return self.protocol.conn.state is State.OPEN and not self.transport.is_closing()

    def add(self, frame: bytes) -> bool:
        """Queue ``frame``; True when the connection now needs a flush scheduled."""
        self.pending.append(frame)
        return len(self.pending) == 1

    def flush(self) -> bool:
        """Write what is queued; False when the peer is too slow (its buffer is full)."""
        frames, self.pending = self.pending, []
        if not frames or not self.open():
            return True
        if self.transport.get_write_buffer_size() > self.max_buffer:
            return False
        self.transport.write(b"".join(frames))
        return True


class Flusher:
    """Writes the queued frames of every connection that has some, in one callback per
    turn of the event loop (not one per connection)."""

    def __init__(self) -> None:
        self._dirty: list[Callable[[], None]] = []

    def mark(self, flush: Callable[[], None]) -> None:
        if not self._dirty:
            asyncio.get_running_loop().call_soon(self._run)
        self._dirty.append(flush)

    def _run(self) -> None:
        dirty, self._dirty = self._dirty, []
        for flush in dirty:
            flush()


def raw_socket(scope: Scope, max_buffer: int) -> RawSocket | None:
    send = scope.get(SCOPE_KEY)
    protocol = getattr(send, "__self__", None)
    if type(protocol).__name__ != "WebSocketsSansIOProtocol":
        return None
    if not hasattr(protocol, "transport") or not hasattr(protocol, "conn"):
        return None
    return RawSocket(protocol, max_buffer)
