"""Connecting to NATS: one connection, its JetStream context and the server's features."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from rialto.adapters.nats.features import ServerFeatures, detect_features

__all__ = ["NatsConnection", "NatsUnavailableError", "connect"]

log = logging.getLogger("rialto.nats")


class NatsUnavailableError(ConnectionError):
    """No NATS server could be reached (or it has no JetStream)."""


@dataclass(frozen=True, slots=True)
class NatsConnection:
    nc: NATS
    js: JetStreamContext
    features: ServerFeatures

    @property
    def max_payload(self) -> int:
        return self.nc.max_payload

    async def close(self) -> None:
        """Flush what was published and close. Idempotent."""
        if self.nc.is_closed:
            return
        try:
            if self.nc.is_connected:
                await self.nc.flush(timeout=2)
        except Exception as exc:  # the connection may be going away already
            log.debug("nats: flush on close failed: %s", exc)
        await self.nc.close()


async def _on_error(exc: Exception) -> None:
    # nats-py's default prints a full traceback for every failed (re)connect attempt.
    log.warning("nats: %s: %s", type(exc).__name__, exc)


async def connect(
    servers: str | Sequence[str] = "nats://127.0.0.1:4222",
    *,
    name: str = "rialto",
    connect_timeout: int = 2,
    api_timeout: float = 5.0,
    allow_reconnect: bool = True,
    max_reconnect_attempts: int = -1,
    reconnect_time_wait: int = 1,
    initial_timeout: float = 5.0,
) -> NatsConnection:
    """Connect, open JetStream and probe the server's features.

    ``max_reconnect_attempts=-1`` keeps reconnecting for ever once connected, so a service
    rides out a NATS restart. The first connection must succeed within ``initial_timeout``
    seconds or this raises ``NatsUnavailableError`` (nats-py itself retries a first connection
    for ever when ``max_reconnect_attempts <= 0``).
    """
    server_list = [servers] if isinstance(servers, str) else list(servers)
    nc = NATS()

    async def on_disconnected() -> None:
        if nc.is_closed:  # our own close(), or given up for good (logged by _on_error)
            log.debug("nats: connection closed")
        else:
            log.warning("nats: disconnected from %s; reconnecting", nc.connected_url)

    async def on_reconnected() -> None:
        log.warning("nats: reconnected to %s", nc.connected_url)

    try:
        await asyncio.wait_for(
            nc.connect(
                server_list,
                name=name,
                connect_timeout=connect_timeout,
                allow_reconnect=allow_reconnect,
                max_reconnect_attempts=max_reconnect_attempts,
                reconnect_time_wait=reconnect_time_wait,
                error_cb=_on_error,
                disconnected_cb=on_disconnected,
                reconnected_cb=on_reconnected,
            ),
            initial_timeout,
        )
    except Exception as exc:
        await nc.close()
        raise NatsUnavailableError(f"cannot connect to NATS at {server_list}: {exc!r}") from exc
    except BaseException:
        await nc.close()
        raise
    try:
        js = nc.jetstream(timeout=api_timeout)
        features = await detect_features(nc, js)
    except Exception as exc:
        await nc.close()
        raise NatsUnavailableError(f"NATS at {server_list}: {exc}") from exc
    log.info("nats: connected to %s, features %s", server_list, features.as_dict())
    return NatsConnection(nc=nc, js=js, features=features)
