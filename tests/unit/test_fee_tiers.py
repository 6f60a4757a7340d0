"""Fee tiers: journaled, applied to the users on them, kept in snapshots, same in the shards."""

from __future__ import annotations

import pytest

from rialto.domain import requests as rq
from rialto.domain.accounts import AccountsError
from rialto.domain.exchange import Exchange
from rialto.domain.instruments import Instrument
from rialto.domain.orders import OrderType, Side
from rialto.domain.postings import AccountKind, Posting
from rialto.domain.shards import AccountsShard, restore_shard
from rialto.runtime.codec import decode, encode

BTCUSDT = Instrument("BTCUSDT", "BTC", "USDT", "0.01", "0.0001", taker_fee="0.001",
                     maker_fee="0.001")  # fmt: skip
MAKER, TAKER, OTHER = 1, 2, 3


def _fees(events: list[object]) -> dict[str, int]:
    """Fees posted by a request, per asset."""
    out: dict[str, int] = {}
    for e in events:
        if isinstance(e, Posting):
            for leg in e.legs:
                if leg.account is AccountKind.FEES:
                    out[leg.asset] = out.get(leg.asset, 0) + leg.amount
    return out


def _exchange() -> tuple[Exchange, int]:
    ex = Exchange(shards=2)
    seq = 0

    def apply(r: rq.Request) -> None:
        nonlocal seq
        seq += 1
        _, _, decoded = decode(encode(seq, seq, r))  # what a replay reads back
        ex.apply(seq, seq, decoded)

    for r in (
        rq.AddAsset("BTC", 8),
        rq.AddAsset("USDT", 6),
        rq.AddMarket.of(BTCUSDT),
        *(rq.Deposit(u, a, 10**14) for u in (MAKER, TAKER, OTHER) for a in ("BTC", "USDT")),
        rq.SetFeeTier("mm", "-0.0001", "0.0005"),
        rq.AssignFeeTier(MAKER, "mm"),
        rq.AssignFeeTier(TAKER, "mm"),
    ):
        apply(r)
    return ex, seq


def _trade(ex: Exchange, seq: int, taker: int) -> dict[str, int]:
    ex.apply(seq + 1, seq + 1, rq.NewOrder(MAKER, "BTCUSDT", Side.SELL, OrderType.LIMIT, 10_000,
                                            3_000_000))  # fmt: skip
    out = ex.apply(seq + 2, seq + 2, rq.NewOrder(taker, "BTCUSDT", Side.BUY, OrderType.LIMIT,
                                                 10_000, 3_000_000))  # fmt: skip
    return _fees(out.events)


def test_a_tier_sets_the_fees_of_its_users_only() -> None:
    ex, seq = _exchange()
    # 1 BTC at 30,000 USDT. The tier's taker pays 0.05% of 1 BTC; the maker is paid 0.01% of
    # 30,000 USDT (a rebate: the fee account pays it out).
    assert _fees_of(ex, seq, TAKER) == {"BTC": 50_000, "USDT": -3_000_000}
    # A user on no tier pays the market's 0.1%.
    assert _fees_of(ex, seq, OTHER) == {"BTC": 100_000, "USDT": -3_000_000}
    assert ex.shard(TAKER).rates(TAKER, "BTCUSDT") == ex.shard(MAKER).rates(MAKER, "BTCUSDT")
    assert str(ex.shard(OTHER).rates(OTHER, "BTCUSDT")[1]) == "0.001"


def _fees_of(ex: Exchange, seq: int, taker: int) -> dict[str, int]:
    return _trade(ex, seq + 10 * taker, taker)


def test_tiers_survive_a_snapshot_and_can_be_cleared() -> None:
    ex, seq = _exchange()
    restored = Exchange.restore(ex.snapshot())
    assert restored.state_hash() == ex.state_hash()
    restored.apply(seq + 1, seq + 1, rq.AssignFeeTier(TAKER, ""))
    assert str(restored.shard(TAKER).rates(TAKER, "BTCUSDT")[1]) == "0.001"
    assert str(ex.shard(TAKER).rates(TAKER, "BTCUSDT")[1]) == "0.0005"


def test_bad_tiers_are_refused_and_change_nothing() -> None:
    ex, seq = _exchange()
    before = ex.state_hash()
    with pytest.raises(AccountsError):
        ex.apply(seq + 1, seq + 1, rq.SetFeeTier("bad", "0.001", "1.5"))
    with pytest.raises(AccountsError):
        ex.apply(seq + 1, seq + 1, rq.AssignFeeTier(OTHER, "no-such-tier"))
    assert ex.state_hash() == before


def test_the_accounts_shard_keeps_tiers_as_the_exchange_does() -> None:
    shard = AccountsShard("acct-0")
    shard.apply(1, 1, "", 0, 1, rq.AddAsset("BTC", 8))
    shard.apply(2, 2, "", 0, 2, rq.AddAsset("USDT", 6))
    shard.apply(3, 3, "", 0, 3, rq.AddMarket.of(BTCUSDT))
    shard.apply(4, 4, "", 0, 4, rq.SetFeeTier("mm", "0", "0.0002"))
    shard.apply(5, 5, "", 0, 5, rq.AssignFeeTier(TAKER, "mm"))
    again = restore_shard(shard.snapshot())
    assert isinstance(again, AccountsShard)
    assert str(again.accounts.rates(TAKER, "BTCUSDT")[1]) == "0.0002"
    assert str(again.accounts.rates(OTHER, "BTCUSDT")[1]) == "0.001"
