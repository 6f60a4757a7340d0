"""The store: exact big integers, reference data, and the read/write split."""

from __future__ import annotations

import pytest
from sql_dbs import Databases
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, StatementError

from rialto.adapters.sql import Projector, SqlStore, StreamItem
from rialto.domain.assets import Asset
from rialto.domain.instruments import Instrument
from rialto.domain.orders import SelfTradePrevention
from rialto.domain.postings import AccountKind, Leg, Posting

pytestmark = pytest.mark.integration

BIG = 123456789012345678901234567890  # > 2**96
WIDEST = 10**65 - 1  # the widest amount every engine holds exactly


def transfer(stream: str, seq: int, user_id: int, asset: str, amount: int) -> StreamItem:
    posting = Posting(
        "deposit",
        f"dep:{stream}:{seq}",
        seq,
        (
            Leg(AccountKind.HOT_WALLET, 0, asset, amount),
            Leg(AccountKind.FREE, user_id, asset, amount),
        ),
    )
    return StreamItem(stream, seq, "", (posting,))


def free(store: SqlStore, user_id: int, asset: str) -> int | None:
    for row in store.balances(user_id):
        if row.account is AccountKind.FREE and row.asset == asset:
            return row.amount
    return None


def test_amounts_beyond_64_bits_round_trip_exactly(store: SqlStore) -> None:
    p = Projector(store, "big")
    p.project([transfer("accounts.0", 1, 7, "ETH", BIG), transfer("accounts.0", 2, 7, "ETH", BIG)])
    p.project(
        [transfer("accounts.0", 3, 8, "WIDE", WIDEST), transfer("accounts.0", 4, 9, "ETH", 1)]
    )
    p.project([transfer("accounts.0", 5, 9, "ETH", -BIG)])

    assert free(store, 7, "ETH") == 2 * BIG
    assert free(store, 8, "WIDE") == WIDEST
    assert free(store, 9, "ETH") == 1 - BIG
    hot = [r for r in store.balances(0) if r.account is AccountKind.HOT_WALLET]
    assert [(r.asset, r.amount) for r in hot] == [("ETH", BIG + 1), ("WIDE", WIDEST)]
    assert all(type(r.amount) is int for r in store.balances(0) + store.balances(7))

    legs = store.postings(user_id=7)
    assert [(leg.seq, leg.account, leg.amount) for leg in legs] == [
        (1, AccountKind.FREE, BIG),
        (2, AccountKind.FREE, BIG),
    ]
    assert type(legs[0].amount) is int
    assert [leg.amount for leg in store.postings(stream="accounts.0")][:2] == [BIG, BIG]


@pytest.mark.parametrize("amount", [1.5, 10**65, -(10**65)])
def test_floats_and_too_wide_amounts_are_refused(store: SqlStore, amount: object) -> None:
    p = Projector(store, "bad")
    with pytest.raises(StatementError):
        p.project([transfer("accounts.0", 1, 7, "ETH", amount)])  # type: ignore[arg-type]
    assert store.count("ledger_postings") == 0
    assert p.checkpoint("accounts.0") == 0


def test_users_assets_and_instruments(store: SqlStore) -> None:
    uid = store.add_user("ada@example.com", "argon2id$hash", 1_700_000_000_000)
    assert store.user_by_email("ada@example.com") == (
        uid,
        "ada@example.com",
        "argon2id$hash",
        1_700_000_000_000,
    )
    assert store.user(uid) is not None
    assert store.user_by_email("bob@example.com") is None
    with pytest.raises(IntegrityError):
        store.add_user("ada@example.com", "x", 1)
    assert store.add_user("bob@example.com", "y", 2) != uid

    store.put_asset(Asset("ETH", 18))
    store.put_asset(Asset("BTC", 8))
    store.put_asset(Asset("BTC", 8))  # upsert
    assert store.assets() == [Asset("BTC", 8), Asset("ETH", 18)]

    btc = Instrument(
        symbol="BTCUSDT",
        base_asset="BTC",
        quote_asset="USDT",
        tick_size="0.01",
        step_size="0.00001",
        min_notional="5",
        maker_fee="-0.0001",
        allowed_stp=(SelfTradePrevention.EXPIRE_MAKER, SelfTradePrevention.EXPIRE_BOTH),
    )
    eth = Instrument(
        symbol="ETHBTC", base_asset="ETH", quote_asset="BTC", tick_size="0.000001", step_size="1"
    )
    store.put_instrument(btc)
    store.put_instrument(eth)
    assert store.instruments() == [btc, eth]
    assert store.instruments()[0].to_dict() == btc.to_dict()


def replica_url(kind: str, url: str) -> str:
    """Another URL of the same database: read-only on SQLite, tagged on the servers."""
    if kind == "sqlite":
        path = url.removeprefix("sqlite:///")
        return f"sqlite:///file:{path}?mode=ro&uri=true"
    if kind == "postgresql":
        return f"{url}?application_name=rialto-replica"
    return f"{url}?connect_timeout=7"


def test_reads_go_to_read_url_of_the_same_database(kind: str, url: str) -> None:
    store = SqlStore(url, read_url=replica_url(kind, url))
    try:
        assert store.read_engine is not store.engine
        assert store.read_engine.url != store.engine.url
        Projector(store, "rw").project([transfer("accounts.0", 1, 5, "USDT", 250)])
        assert free(store, 5, "USDT") == 250
        assert [r.amount for r in store.postings(user_id=5)] == [250]
        assert store.count("ledger_postings") == 2
        with store.read_engine.connect() as conn:
            if kind == "postgresql":
                name = conn.execute(text("SELECT current_setting('application_name')")).scalar()
                assert name == "rialto-replica"
            if kind == "sqlite":  # the read URL really is read-only
                with pytest.raises(Exception, match="readonly"):
                    conn.exec_driver_sql("DELETE FROM balances")
    finally:
        store.close()


def test_reads_come_from_the_replica_not_the_primary(
    kind: str, url: str, databases: Databases
) -> None:
    replica = SqlStore(databases.new(kind))
    replica.migrate()
    Projector(replica, "p").project([transfer("accounts.0", 1, 5, "USDT", 111)])

    store = SqlStore(url, read_url=replica.url)
    try:
        Projector(store, "p").project([transfer("accounts.0", 1, 5, "USDT", 999)])
        # Queries read the replica...
        assert free(store, 5, "USDT") == 111
        assert [r.amount for r in store.postings(user_id=5)] == [111]
        # ...while the writes went to the primary.
        primary = SqlStore(url)
        assert free(primary, 5, "USDT") == 999
        primary.close()
        assert store.checkpoint("p", "accounts.0") == 1
    finally:
        store.close()
        replica.close()
