"""KV leases on real NATS servers (2.9 and 2.15): acquire, renew, expiry, takeover, fencing."""

from __future__ import annotations

import asyncio
import time

import pytest
from nats_server import nats_server_fixture, open_conn, run, unique

from rialto.adapters.nats import JetStreamJournal, Lease, LeaseError, StreamSpec, lease_bucket
from rialto.adapters.nats.local_server import LocalNatsServer
from rialto.runtime.journal import JournalError

pytestmark = pytest.mark.integration
nats_server = nats_server_fixture

TTL = 2.0


def test_only_one_holder_and_renewal_keeps_it(nats_server: LocalNatsServer) -> None:
    async def go() -> None:
        a_conn, b_conn = await open_conn(nats_server.url), await open_conn(nats_server.url)
        bucket = unique("LEASES")
        a = Lease(a_conn.js, bucket, "shard-BTC", "node-a", TTL)
        b = Lease(b_conn.js, bucket, "shard-BTC", "node-b", TTL)
        assert await a.acquire()
        assert a.held and a.valid() and a.token > 0
        assert not await b.acquire()
        # Well past the TTL: a's renewals keep the key alive, b still cannot take it.
        await asyncio.sleep(TTL * 1.6)
        assert a.renewals >= 3 and a.revision > a.token
        assert a.valid() and not a.lost.is_set()
        assert not await b.acquire()
        assert await b.current_holder() == ("node-a", a.revision)
        # Release hands over at once, with a higher fencing token.
        await a.release()
        assert not a.held
        assert await b.acquire()
        assert b.token > a.revision > a.token
        await b.release()
        for c in (a_conn, b_conn):
            await c.close()

    run(go())


def test_crashed_holder_is_taken_over_after_the_ttl(nats_server: LocalNatsServer) -> None:
    async def go() -> None:
        a_conn, b_conn = await open_conn(nats_server.url), await open_conn(nats_server.url)
        bucket = unique("LEASES")
        a = Lease(a_conn.js, bucket, "shard-ETH", "node-a", TTL)
        b = Lease(b_conn.js, bucket, "shard-ETH", "node-b", TTL)
        assert await a.acquire()
        await a.abandon()  # a crashes: no more renewals, no release
        t0 = time.monotonic()
        assert await b.acquire_wait(timeout=TTL * 4, poll=0.1)
        took = time.monotonic() - t0
        assert TTL * 0.5 < took < TTL * 3, took
        assert b.token > a.token
        assert await b.current_holder() == ("node-b", b.token)
        await b.release()
        for c in (a_conn, b_conn):
            await c.close()

    run(go())


def test_paused_renewals_signal_loss(nats_server: LocalNatsServer) -> None:
    """Renewal every 1.5 TTL (a holder that is too slow): it is told before anyone else can
    take over, through the callback and the event."""

    async def go() -> None:
        conn = await open_conn(nats_server.url)
        bucket = unique("LEASES")
        reasons: list[str] = []
        a = Lease(
            conn.js, bucket, "k", "node-a", TTL, on_lost=reasons.append, renew_every=TTL * 1.5
        )
        t0 = time.monotonic()
        assert await a.acquire()
        await asyncio.wait_for(a.lost.wait(), TTL * 2)
        assert time.monotonic() - t0 <= TTL + 0.3
        assert not a.held and not a.valid()
        assert reasons == [a.lost_reason] and "no successful renewal" in reasons[0]
        await conn.close()

    run(go())


def test_refused_renewal_signals_loss(nats_server: LocalNatsServer) -> None:
    """Someone else wrote the key (e.g. after an expiry the holder did not notice): the next
    renewal's compare-and-set fails and the holder is told at once."""

    async def go() -> None:
        conn = await open_conn(nats_server.url)
        bucket = unique("LEASES")
        a = Lease(conn.js, bucket, "k", "node-a", TTL, renew_every=0.2)
        assert await a.acquire()
        kv = await lease_bucket(conn.js, bucket, TTL)
        await kv.put("k", b"intruder")
        await asyncio.wait_for(a.lost.wait(), 1.0)
        assert "refused" in a.lost_reason
        await conn.close()

    run(go())


def test_bucket_with_another_ttl_is_refused(nats_server: LocalNatsServer) -> None:
    async def go() -> None:
        conn = await open_conn(nats_server.url)
        bucket = unique("LEASES")
        await lease_bucket(conn.js, bucket, TTL)
        with pytest.raises(LeaseError, match="TTL"):
            await Lease(conn.js, bucket, "k", "n", TTL * 2).acquire()
        await conn.close()

    run(go())


def test_lease_loss_fences_the_journal(nats_server: LocalNatsServer) -> None:
    """End to end: the owner is too slow to renew, a standby takes the lease and the shard.
    The lease callback revokes the old owner's journal; a journal the callback did not reach
    is still rejected by the stream's fence."""

    async def go() -> None:
        a_conn, b_conn = await open_conn(nats_server.url), await open_conn(nats_server.url)
        bucket, s = unique("LEASES"), StreamSpec(name=unique("CMD"), prefix=unique("cmd").lower())
        revocable: list[JetStreamJournal] = []

        def revoke(reason: str) -> None:
            for j in revocable:
                j.revoke(reason)

        a = Lease(a_conn.js, bucket, "shard-SOL", "node-a", TTL, on_lost=revoke, renew_every=9)
        assert await a.acquire()
        ja = await JetStreamJournal.open(a_conn, "SOL", stream=s, fence=a.token)
        revocable.append(ja)
        await ja.append([b"a1", b"a2"])
        unreached = await JetStreamJournal.open(a_conn, "SOL", stream=s, fence=a.token)

        b = Lease(b_conn.js, bucket, "shard-SOL", "node-b", TTL)
        assert await b.acquire_wait(timeout=TTL * 4, poll=0.1)
        assert a.lost.is_set()  # a was told first: its deadline is before the server's
        jb = await JetStreamJournal.open(b_conn, "SOL", stream=s, fence=b.token)
        assert jb.last_seq == 2
        await jb.append([b"b3"])

        with pytest.raises(JournalError, match="revoked"):
            await ja.append([b"a3"])
        with pytest.raises(JournalError, match="fenced: another writer owns shard SOL"):
            await unreached.append([b"a3"])
        assert [r.payload async for r in jb.read()] == [b"a1", b"a2", b"b3"]
        await b.release()
        for c in (a_conn, b_conn):
            await c.close()

    run(go())
