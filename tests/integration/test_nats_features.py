"""Feature detection on NATS 2.9 and 2.15, and the local shared server on 127.0.0.1:4222."""

from __future__ import annotations

import asyncio
import time

import pytest
from nats.js.api import KeyValueConfig
from nats_server import SHARED_URL, nats_server_fixture, open_conn, run, unique

from rialto.adapters.nats import (
    JetStreamJournal,
    MissingFeatureError,
    NatsUnavailableError,
    ServerFeatures,
    StreamSpec,
    connect,
)
from rialto.adapters.nats.features import parse_version
from rialto.adapters.nats.local_server import LocalNatsServer, free_port

pytestmark = pytest.mark.integration
nats_server = nats_server_fixture


def test_parse_version() -> None:
    assert parse_version("2.9.10") == (2, 9, 10)
    assert parse_version("v2.15.1-beta.2") == (2, 15, 1)
    with pytest.raises(ValueError):
        parse_version("nightly")


def test_gating_rules() -> None:
    old = ServerFeatures.from_server("2.9.10", None, max_payload=1 << 20)
    assert not (old.per_key_ttl or old.atomic_batch or old.multi_filter_subjects)
    mid = ServerFeatures.from_server("2.10.22", None, max_payload=1 << 20)
    assert mid.multi_filter_subjects and not mid.per_key_ttl
    # A 2.11+ version without an API level is not trusted with 2.11+ features.
    odd = ServerFeatures.from_server("2.12.0", None, max_payload=1 << 20)
    assert not (odd.per_key_ttl or odd.atomic_batch)
    new = ServerFeatures.from_server("2.12.3", 2, max_payload=1 << 20)
    assert new.per_key_ttl and new.atomic_batch and not new.fast_batch
    with pytest.raises(ValueError, match="unknown NATS feature"):
        new.require("teleport")


def test_features_differ_between_versions(nats_server: LocalNatsServer) -> None:
    async def go() -> None:
        conn = await open_conn(nats_server.url)
        f = conn.features
        assert f.version_text == nats_server.version
        assert f.jetstream and f.max_payload == 1 << 20
        if nats_server.version.startswith("2.9."):
            assert f.api_level is None
            assert not (f.per_key_ttl or f.atomic_batch or f.subject_delete_markers)
            assert not f.multi_filter_subjects
            with pytest.raises(MissingFeatureError, match=r"per_key_ttl \(needs 2\.11\.0\+\)"):
                f.require("per_key_ttl", "atomic_batch")
        else:
            assert f.api_level is not None and f.api_level >= 5
            assert f.per_key_ttl and f.atomic_batch and f.fast_batch
            assert f.multi_filter_subjects and f.subject_delete_markers
            f.require("per_key_ttl", "atomic_batch")
        await conn.close()

    run(go())


def test_per_key_ttl_is_silently_ignored_where_the_probe_says_so(
    nats_server: LocalNatsServer,
) -> None:
    """Why the probe exists: 2.9 accepts a per-message TTL and never expires the key."""

    async def go() -> None:
        conn = await open_conn(nats_server.url)
        kv = await conn.js.create_key_value(KeyValueConfig(bucket=unique("TTL"), history=1))
        await kv.create("k", b"v", msg_ttl=1)
        await asyncio.sleep(2.2)
        try:
            await kv.get("k")
            still_there = True
        except Exception:
            still_there = False
        assert still_there is (not conn.features.per_key_ttl)
        await conn.close()

    run(go())


def test_unreachable_server_fails_fast() -> None:
    async def go() -> None:
        t0 = time.monotonic()
        with pytest.raises(NatsUnavailableError):
            await connect(f"nats://127.0.0.1:{free_port()}", initial_timeout=1.0)
        assert time.monotonic() - t0 < 2.0

    run(go())


def test_shared_local_server_on_4222() -> None:
    """The Debian server that scripts/services.sh runs: reachable, 2.9 features, and a journal
    round trip in a throw-away stream (deleted afterwards)."""

    async def go() -> None:
        conn = await open_conn(SHARED_URL)
        assert conn.features.jetstream
        if conn.features.version < (2, 11, 0):
            assert conn.features.api_level is None and not conn.features.per_key_ttl
        s = StreamSpec(name=unique("RIALTO_IT_"), prefix=unique("it").lower())
        try:
            j = await JetStreamJournal.open(conn, "BTC-USDT", stream=s)
            assert await j.append([b"1", b"2"]) == 2
            assert [r.payload async for r in j.read()] == [b"1", b"2"]
        finally:
            await conn.js.delete_stream(s.name)
            await conn.close()

    run(go())
