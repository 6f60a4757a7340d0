"""The HTTP server of ``rialto up`` and ``rialto serve gateway``: uvicorn on the running loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator

import uvicorn
from starlette.types import ASGIApp


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # ``rialto up`` handles SIGINT/SIGTERM itself and stops the server


class HttpServer:
    def __init__(
        self,
        app: ASGIApp,
        host: str,
        port: int,
        trusted_proxies: str | None = None,
        reuse_port: bool = False,
    ) -> None:
        # Proxy headers only from the named load balancers: a trusted X-Forwarded-For from
        # anyone would let any client pick its own rate-limit address.
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            lifespan="off",
            access_log=False,
            proxy_headers=trusted_proxies is not None,
            forwarded_allow_ips=trusted_proxies,
        )
        self._server = _Server(config)
        self._task: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None
        if reuse_port:  # several gateway processes on one port: the kernel spreads connections
            sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            sock.set_inheritable(True)
            self._socket = sock

    async def start(self) -> None:
        sockets = [self._socket] if self._socket is not None else None
        self._task = asyncio.create_task(self._server.serve(sockets=sockets), name="http")
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises why it could not start (e.g. port in use)
                raise OSError("the HTTP server stopped at start-up")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
