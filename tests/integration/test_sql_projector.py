"""The projector: batched writes of a real event stream, exactly once per (stream, seq)."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest
from sql_feed import ACCOUNTS, MATCH, SYMBOL, USERS, Expected, batches, expected, feed
from sqlalchemy import Connection, delete, func, select
from sqlalchemy.exc import IntegrityError

from rialto.adapters.sql import ProjectionError, Projector, SqlStore, StreamItem
from rialto.adapters.sql.schema import projector_checkpoints, trades
from rialto.domain.events import BookDelta, OrderUpdate
from rialto.domain.orders import Side
from rialto.domain.postings import AccountKind, Leg, Posting

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
ITEMS = feed()
BATCHES = batches(ITEMS, 25)


def project_all(projector: Projector, batches: Sequence[Sequence[StreamItem]]) -> int:
    return sum(projector.project(batch).items for batch in batches)


def assert_read_model(store: SqlStore, want: Expected) -> None:
    """Every order, trade, leg and balance is there exactly once, with the right values."""
    assert store.count("orders") == len(want.orders)
    for (symbol, order_id), fields in want.orders.items():
        row = store.get_order(symbol, order_id)
        assert row is not None, order_id
        assert {k: getattr(row, k) for k in fields} == fields, order_id
    assert store.count("trades") == len(want.trades)
    trades = store.trades(SYMBOL, limit=5000)
    assert {(t.symbol, t.trade_id) for t in trades} == want.trades
    assert store.count("ledger_postings") == len(want.legs)
    legs = store.postings(limit=5000)
    assert {(p.stream, p.seq, p.posting_idx, p.leg_idx): p.amount for p in legs} == want.legs
    assert store.count("balances") == len(want.balances)
    got = {
        (r.user_id, str(r.account), r.asset): r.amount
        for user_id in (0, *USERS)
        for r in store.balances(user_id)
    }
    assert got == want.balances


def snapshot(store: SqlStore) -> tuple[object, ...]:
    return (
        store.count("orders"),
        store.count("trades"),
        store.count("ledger_postings"),
        [store.balances(u) for u in (0, *USERS)],
        store.orders(1, SYMBOL, limit=5000),
    )


def test_projects_a_real_event_stream_in_batches(store: SqlStore) -> None:
    projector = Projector(store, "read-model")
    assert project_all(projector, BATCHES) == len(ITEMS)
    want = expected(ITEMS)
    assert_read_model(store, want)
    assert projector.checkpoint(MATCH) == max(i.seq for i in ITEMS if i.stream == MATCH)
    assert projector.checkpoint(ACCOUNTS) == max(i.seq for i in ITEMS if i.stream == ACCOUNTS)

    # Queries agree with the events.
    for user in USERS:
        mine = {k for k in want.orders if store.get_order(*k).user_id == user}  # type: ignore[union-attr]
        assert {(o.symbol, o.order_id) for o in store.orders(user, SYMBOL, limit=5000)} == mine
        open_ids = {k[1] for k in mine if want.orders[k]["status"] in ("NEW", "PARTIALLY_FILLED")}
        assert {o.order_id for o in store.open_orders(user)} == open_ids
        assert {o.order_id for o in store.open_orders(user, SYMBOL)} == open_ids
        for t in store.user_trades(user, SYMBOL, limit=5000):
            assert user in (t.maker_user_id, t.taker_user_id)
            assert t.taker_side in (Side.BUY, Side.SELL)
    assert len(store.recent_trades(SYMBOL, limit=10)) == 10
    later = store.trades(SYMBOL, from_id=50, limit=5)
    assert [t.trade_id for t in later] == [50, 51, 52, 53, 54]


def test_one_big_batch_gives_the_same_read_model(store: SqlStore) -> None:
    written = Projector(store, "big").project(ITEMS)
    want = expected(ITEMS)
    assert written.items == len(ITEMS)
    assert written.trades == len(want.trades)
    assert written.legs == len(want.legs)
    assert written.balances == len(want.balances)
    assert_read_model(store, want)


def test_replaying_projected_batches_is_a_no_op(store: SqlStore) -> None:
    projector = Projector(store, "replay")
    project_all(projector, BATCHES[:5])
    before = snapshot(store)
    assert project_all(projector, BATCHES[:5]) == 0
    assert Projector(store, "replay").project(ITEMS[:100]).items == 0
    assert snapshot(store) == before
    # Overlapping batches: only the new part is applied.
    assert project_all(projector, batches(ITEMS, 40)) == len(ITEMS) - 125
    assert_read_model(store, expected(ITEMS))
    assert project_all(projector, BATCHES) == 0
    assert_read_model(store, expected(ITEMS))


def test_a_failure_before_the_checkpoint_rolls_everything_back(store: SqlStore) -> None:
    projector = Projector(store, "fails")
    project_all(projector, BATCHES[:2])

    def boom(conn: Connection, fresh: Sequence[StreamItem]) -> None:
        assert len(fresh) == len(BATCHES[2])
        # Inside the transaction, the batch's rows are there...
        assert conn.execute(select(func.count()).select_from(trades)).scalar() == len(
            expected(ITEMS[:75]).trades
        )
        raise RuntimeError("injected")

    projector.before_checkpoint = boom
    with pytest.raises(RuntimeError, match="injected"):
        projector.project(BATCHES[2])
    assert_read_model(store, expected(ITEMS[:50]))  # ...and after the failure they are not.
    projector.before_checkpoint = None
    project_all(projector, BATCHES)
    assert_read_model(store, expected(ITEMS))


@pytest.mark.parametrize("crash_at", [0, 4])
def test_a_killed_projector_leaves_nothing_half_done(store: SqlStore, crash_at: int) -> None:
    """SIGKILL between the writes and the checkpoint; a fresh projector finishes the job."""
    child = subprocess.run(
        [sys.executable, str(HERE / "crash_child.py"), store.url, str(crash_at), "25"],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert child.stdout.count("batch ") == crash_at
    done = [item for batch in BATCHES[:crash_at] for item in batch]
    legs_before = len(expected(done).legs)
    legs_at_death = len(expected([*done, *BATCHES[crash_at]]).legs)
    assert legs_at_death > legs_before
    assert f"{len(BATCHES[crash_at])} items written, {legs_at_death} ledger rows" in child.stdout
    assert_read_model(store, expected(done))
    projector = Projector(store, "crash-test")
    for stream in (MATCH, ACCOUNTS):
        assert projector.checkpoint(stream) == max(
            (i.seq for i in done if i.stream == stream), default=0
        )

    assert project_all(projector, BATCHES) == len(ITEMS) - len(done)
    assert_read_model(store, expected(ITEMS))
    assert project_all(Projector(store, "crash-test"), BATCHES) == 0
    assert_read_model(store, expected(ITEMS))


def test_unique_keys_refuse_a_second_write_when_the_checkpoint_is_lost(store: SqlStore) -> None:
    projector = Projector(store, "guard")
    project_all(projector, BATCHES[:3])
    before = snapshot(store)
    with store.engine.begin() as conn:
        conn.execute(delete(projector_checkpoints))
    for batch in BATCHES[:3]:
        with pytest.raises(IntegrityError):
            projector.project(batch)
    assert snapshot(store) == before
    with store.engine.connect() as conn:
        assert conn.execute(select(projector_checkpoints)).all() == []


def test_projectors_with_different_names_keep_their_own_checkpoints(store: SqlStore) -> None:
    item = StreamItem(MATCH, 1, SYMBOL, [BookDelta(1, Side.BUY, 10, 1)])
    assert Projector(store, "a").project([item]).items == 1
    assert Projector(store, "b").project([item]).items == 1
    assert Projector(store, "a").project([item]).items == 0
    assert store.checkpoint("a", MATCH) == store.checkpoint("b", MATCH) == 1


def test_bad_batches_are_refused_whole(store: SqlStore) -> None:
    projector = Projector(store, "strict")
    deposit = Posting(
        "deposit",
        "d",
        1,
        (Leg(AccountKind.HOT_WALLET, 0, "BTC", 5), Leg(AccountKind.FREE, 1, "BTC", 5)),
    )
    unbalanced = deposit._replace(legs=deposit.legs[:1])
    unknown_order = next(e for i in ITEMS for e in i.events if isinstance(e, OrderUpdate))
    cases = [
        [StreamItem(ACCOUNTS, 5, "", [deposit]), StreamItem(ACCOUNTS, 3, "", [deposit])],
        [StreamItem(ACCOUNTS, 0, "", [deposit])],
        [StreamItem(ACCOUNTS, 1, "", [deposit]), StreamItem(ACCOUNTS, 2, "", [unbalanced])],
        [StreamItem(ACCOUNTS, 1, "", ["not an event"])],
        [ITEMS[3]._replace(symbol="")],
        [StreamItem(MATCH, 1, SYMBOL, [unknown_order])],  # its OrderAccepted was never seen
    ]
    for batch in cases:
        with pytest.raises(ProjectionError):
            projector.project(batch)
    assert store.count("ledger_postings") == store.count("balances") == 0
    assert projector.checkpoint(ACCOUNTS) == 0
    # The same item twice in one batch is applied once.
    item = StreamItem(ACCOUNTS, 1, "", [deposit])
    assert projector.project([item, item]).items == 1
    assert store.count("ledger_postings") == 2


def test_concurrent_projectors_add_to_the_same_balances_exactly(store: SqlStore) -> None:
    """Four shards settle into shared rows (fees of user 0), created on the fly: no update lost."""
    shards, batches_per_shard, items_per_batch = 4, 12, 10
    assets = [f"C{i}" for i in range(5)]

    def shard_batches(shard: int) -> list[list[StreamItem]]:
        rng = random.Random(shard)
        out, seq = [], 0
        for _ in range(batches_per_shard):
            batch = []
            for _ in range(items_per_batch):
                seq += 1
                asset, amount = rng.choice(assets), rng.randint(1, 10**30)
                legs = (
                    Leg(AccountKind.FEES, 0, asset, amount),
                    Leg(AccountKind.FREE, 100 + shard, asset, -amount),
                )
                batch.append(
                    StreamItem(f"accounts.{shard}", seq, "", [Posting("fee", "f", 1, legs)])
                )
            out.append(batch)
        return out

    work = {shard: shard_batches(shard) for shard in range(shards)}
    errors: list[BaseException] = []

    def run(shard: int) -> None:
        try:
            projector = Projector(store, f"shard-{shard}")
            projector.retries = 50
            for batch in work[shard]:
                projector.project(batch)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(shard,)) for shard in range(shards)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    want = expected([item for batches in work.values() for batch in batches for item in batch])
    got = {(r.user_id, str(r.account), r.asset): r.amount for r in store.balances(0)}
    for shard in range(shards):
        got.update(
            {(r.user_id, str(r.account), r.asset): r.amount for r in store.balances(100 + shard)}
        )
    assert got == want.balances
    assert store.count("ledger_postings") == len(want.legs)
