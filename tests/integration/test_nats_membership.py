"""Rendezvous hashing (pure) and KV membership on real NATS servers (2.9 and 2.15)."""

from __future__ import annotations

import asyncio
import hashlib
import time

import pytest
from nats_server import nats_server_fixture, open_conn, run, unique

from rialto.adapters.nats import Membership
from rialto.adapters.nats.local_server import LocalNatsServer
from rialto.runtime.rendezvous import assign, moved, owner, ranked, weight

nats_server = nats_server_fixture

SHARDS = [f"PAIR{i}-USDT" for i in range(2000)]


# ---------------------------------------------------------------- rendezvous (pure, no server)
def test_weight_is_a_fixed_keyed_blake2b() -> None:
    expected = hashlib.blake2b(b"BTC-USDT\x1fnode-a", digest_size=8, person=b"rialto-hrw").digest()
    assert weight("BTC-USDT", "node-a") == int.from_bytes(expected, "big")
    # Pinned: a change here silently reassigns every shard of a running cluster.
    assert weight("BTC-USDT", "node-a") == 1266536745606640935
    members = ["node-a", "node-b", "node-c"]
    assert assign(["BTC-USDT", "ETH-USDT", "SOL-USDT", "DOGE-USDT"], members) == {
        "BTC-USDT": "node-c",
        "ETH-USDT": "node-b",
        "SOL-USDT": "node-c",
        "DOGE-USDT": "node-a",
    }
    assert owner("BTC-USDT", reversed(members)) == "node-c"


def test_owner_needs_members_and_ignores_duplicates() -> None:
    with pytest.raises(ValueError, match="no live members"):
        owner("BTC-USDT", [])
    assert ranked("X", ["a", "b", "a"]) in (["a", "b"], ["b", "a"])
    assert owner("X", ["a", "b", "a"]) == ranked("X", ["a", "b"])[0]


def test_assignment_is_balanced() -> None:
    members = [f"node-{i}" for i in range(4)]
    counts = {m: 0 for m in members}
    for who in assign(SHARDS, members).values():
        counts[who] += 1
    fair = len(SHARDS) / len(members)
    assert all(0.85 * fair < c < 1.15 * fair for c in counts.values()), counts


def test_leaving_member_moves_only_its_shards_to_their_runner_up() -> None:
    members = [f"node-{i}" for i in range(5)]
    before = assign(SHARDS, members)
    after = assign(SHARDS, [m for m in members if m != "node-2"])
    changed = moved(before, after)
    assert changed == {s for s, m in before.items() if m == "node-2"}
    for s in changed:
        assert after[s] == ranked(s, members)[1]


def test_joining_member_takes_about_one_nth() -> None:
    members = [f"node-{i}" for i in range(4)]
    before = assign(SHARDS, members)
    after = assign(SHARDS, [*members, "node-new"])
    changed = moved(before, after)
    assert all(after[s] == "node-new" for s in changed)  # nothing moves between old members
    share = len(changed) / len(SHARDS)
    assert 0.8 / 5 < share < 1.2 / 5, share


def test_assignment_is_stable_under_member_order() -> None:
    members = ["c", "a", "b", "d"]
    assert assign(SHARDS[:200], members) == assign(SHARDS[:200], sorted(members))


# ---------------------------------------------------------------- membership on NATS
@pytest.mark.integration
def test_members_heartbeat_leave_and_expire(nats_server: LocalNatsServer) -> None:
    ttl = 2.0

    async def go() -> None:
        conns = [await open_conn(nats_server.url) for _ in range(3)]
        bucket = unique("MEMBERS")
        a, b, c = (
            Membership(conn.js, bucket, name, ttl)
            for conn, name in zip(conns, ["node-a", "node-b", "node-c"], strict=True)
        )
        for m in (a, b, c):
            await m.start()
        assert await a.live_members() == ["node-a", "node-b", "node-c"]
        shards = SHARDS[:300]
        full = await a.assignment(shards)
        owned = [set(await m.owned(shards)) for m in (a, b, c)]
        assert set().union(*owned) == set(shards) and sum(map(len, owned)) == len(shards)

        await asyncio.sleep(ttl * 1.2)  # heartbeats keep everyone listed past the TTL
        assert await b.live_members() == ["node-a", "node-b", "node-c"]
        assert a.alive and a.beats >= 3

        await b.stop(leave=True)  # clean leave: gone at once
        assert await a.live_members() == ["node-a", "node-c"]
        without_b = await a.assignment(shards)
        assert moved(full, without_b) == {s for s, m in full.items() if m == "node-b"}

        await c.stop(leave=False)  # crash: gone after the TTL
        t0 = time.monotonic()
        while "node-c" in await a.live_members():
            assert time.monotonic() - t0 < ttl * 3
            await asyncio.sleep(0.1)
        assert await a.live_members() == ["node-a"]
        assert set(await a.owned(shards)) == set(shards)
        await a.stop()
        assert await a.live_members() == []
        for conn in conns:
            await conn.close()

    run(go())
