"""The price band and the circuit breaker of the matching engine (docs/matching.md, "Risk
controls"), their journal records, and replay: restore + replay equals one straight run.

The instrument has tick 1 and step 1, so prices and quantities read as plain numbers; time
(``ts``, ms) is given explicitly on every command, as the sequencer stamps it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from engine_commands import concretize_all, small_instrument, template_lists
from rialto.domain import requests as rq
from rialto.domain.commands import (
    AmendOrder,
    CancelOrder,
    Command,
    PlaceOrder,
    ResumeMarket,
    SetMarketRisk,
    SetMarketStatus,
)
from rialto.domain.engine import EngineError, MatchingEngine
from rialto.domain.events import (
    Event,
    MarketStatusChanged,
    OrderAccepted,
    OrderRejected,
    OrderUpdate,
    Trade,
)
from rialto.domain.orders import MarketStatus, OrderStatus, OrderType, Side
from rialto.domain.rejects import BINANCE_ERRORS, Reject
from rialto.domain.risk import MarketRisk, band
from rialto.runtime.codec import decode, encode

BUY, SELL = Side.BUY, Side.SELL
LIMIT, MARKET = OrderType.LIMIT, OrderType.MARKET
TRADING, HALT, BREAK = MarketStatus.TRADING, MarketStatus.HALT, MarketStatus.BREAK
BAND = Reject.PERCENT_PRICE_BY_SIDE
MAKER, TAKER = 1, 2


class Market:
    """An engine on the small instrument (prices 1..10000 here), commands numbered 1, 2, ..."""

    def __init__(self) -> None:
        self.engine = MatchingEngine(small_instrument(min_price="1", max_price="10000"))
        self.seq = 0
        self.log: list[Command] = []

    def do(self, make: Any, ts: int, *args: Any, **kw: Any) -> list[Event]:
        self.seq += 1
        c = make(self.seq, ts, *args, **kw)
        self.log.append(c)
        return self.engine.apply(c)

    def risk(self, ts: int, band_bps: int = 0, breaker: tuple[int, int, int] = (0, 0, 0)) -> None:
        assert self.do(SetMarketRisk, ts, band_bps, *breaker) == []

    def limit(self, ts: int, user: int, side: Side, price: int, qty: int = 1) -> list[Event]:
        return self.do(PlaceOrder, ts, user, side, LIMIT, qty, price)

    def trade_at(self, ts: int, price: int, qty: int = 1) -> list[Event]:
        """A maker's sell and a taker's buy at ``price``: one trade."""
        self.limit(ts, MAKER, SELL, price, qty)
        ev = self.limit(ts, TAKER, BUY, price, qty)
        assert [e.price for e in ev if type(e) is Trade] == [price], ev
        return ev

    def reject(self, ev: list[Event]) -> Reject | None:
        first = ev[0]
        return first.reason if type(first) is OrderRejected else None


def state(engine: MatchingEngine) -> dict[str, Any]:
    """The engine's snapshot but for the seq of its last command."""
    doc: dict[str, Any] = json.loads(engine.snapshot())
    doc.pop("last_seq")
    return doc


def statuses(ev: list[Event]) -> list[tuple[MarketStatus, int]]:
    return [(e.status, e.until) for e in ev if type(e) is MarketStatusChanged]


# --- the price band ----------------------------------------------------------------------


def test_band_bounds_round_inwards() -> None:
    assert band(1000, 500) == (950, 1050)
    assert band(999, 100) == (990, 1008)  # 989.01 up to 990; 1008.99 down to 1008
    assert band(100, 20_000) == (1, 300)  # more than 100% down: no lower bound


def test_no_band_before_the_first_trade_then_one_around_the_last_price() -> None:
    m = Market()
    m.risk(1, band_bps=500)
    assert m.reject(m.limit(2, MAKER, SELL, 5000)) is None  # no trade yet: any price
    m.do(CancelOrder, 3, MAKER, 1)
    m.trade_at(4, 1000)
    for side in (BUY, SELL):
        assert m.reject(m.limit(5, MAKER, side, 1050 if side is SELL else 950)) is None
    before = state(m.engine)
    for side, price in ((BUY, 1051), (BUY, 949), (SELL, 1051), (SELL, 949)):
        ev = m.limit(6, MAKER, side, price)
        assert ev == [OrderRejected(m.seq, 6, MAKER, 0, "", BAND)], (side, price)
    assert state(m.engine) == before  # a refusal changes nothing (ids included)
    # The reference follows the last trade.
    m.trade_at(7, 1040)
    assert m.reject(m.limit(8, MAKER, SELL, 1092)) is None
    assert m.reject(m.limit(9, MAKER, SELL, 1093)) is BAND
    assert BINANCE_ERRORS[BAND] == (-1013, "Filter failure: PERCENT_PRICE_BY_SIDE")


def test_band_applies_to_stop_limit_prices_and_amended_prices() -> None:
    m = Market()
    m.risk(1, band_bps=500)
    m.trade_at(2, 1000)
    stop = m.do(PlaceOrder, 3, MAKER, SELL, OrderType.STOP_LOSS_LIMIT, 1, 900, stop_price=990)
    assert m.reject(stop) is BAND
    m.limit(4, MAKER, BUY, 960, 5)
    oid = m.engine.next_order_id - 1
    assert m.reject(m.do(AmendOrder, 5, MAKER, oid, 940)) is BAND
    assert m.reject(m.do(AmendOrder, 6, MAKER, oid, 955)) is None
    # Out of band after the price moved: a smaller quantity at the same price is fine.
    m.risk(7, band_bps=0)
    m.trade_at(8, 1050)
    m.risk(9, band_bps=500)
    assert m.reject(m.do(AmendOrder, 10, MAKER, oid, 0, 3)) is None
    assert m.reject(m.do(AmendOrder, 11, MAKER, oid, 956)) is BAND


def test_band_stops_a_market_order_sweeping_the_book() -> None:
    m = Market()
    m.trade_at(2, 1000)
    for price in (1010, 1050, 1051, 1200):
        m.limit(3, MAKER, SELL, price, 2)
    m.risk(3, band_bps=500)  # after the asks: they could not be placed beyond the band
    ev = m.do(PlaceOrder, 4, TAKER, BUY, MARKET, 8)
    assert [(e.price, e.qty) for e in ev if type(e) is Trade] == [(1010, 2), (1050, 2)]
    final = [e for e in ev if type(e) is OrderUpdate and e.user_id == TAKER][-1]
    assert (final.status, final.filled, final.remaining) == (OrderStatus.EXPIRED, 4, 4)
    assert m.engine.depth()[2] == [(1051, 2), (1200, 2)]


def test_without_risk_settings_the_snapshot_has_no_risk_keys() -> None:
    m = Market()
    m.trade_at(1, 1000)
    assert b"risk" not in m.engine.snapshot() and b"moves" not in m.engine.snapshot()


# --- the circuit breaker -------------------------------------------------------------------

BREAKER = (1000, 60_000, 30_000)  # 10% within 60 s halts for 30 s


def test_a_big_move_within_the_window_halts_then_resume_ends_the_halt_on_time() -> None:
    m = Market()
    m.risk(1, breaker=BREAKER)
    m.trade_at(1000, 1000)
    m.trade_at(20_000, 1090)  # 9%: still trading
    m.limit(20_000, MAKER, BUY, 900, 3)  # a resting bid, kept through the halt
    ev = m.trade_at(50_000, 1101)  # 10.1% from where the window opened
    assert statuses(ev) == [(BREAK, 80_000)]
    assert type(ev[-1]) is MarketStatusChanged  # after the trade and its book changes
    assert (m.engine.status, m.engine.halted_until) == (BREAK, 80_000)
    assert m.engine.depth()[1] == [(900, 3)]
    # Halted: orders and amends refused with the halted-market error, cancels allowed.
    assert m.reject(m.limit(50_001, TAKER, SELL, 1100)) is Reject.MARKET_CLOSED
    assert m.reject(m.do(AmendOrder, 50_002, MAKER, 3, 0, 2)) is Reject.MARKET_CLOSED
    assert BINANCE_ERRORS[Reject.MARKET_CLOSED] == (-1013, "Market is closed.")
    # A resume before the cooling period is over does nothing; at its end, it resumes.
    assert m.do(ResumeMarket, 79_999) == []
    assert m.engine.status is BREAK
    assert m.do(ResumeMarket, 80_000) == [MarketStatusChanged(m.seq, 80_000, TRADING)]
    assert (m.engine.status, m.engine.halted_until) == (TRADING, 0)
    assert m.do(ResumeMarket, 80_001) == []  # once only
    # Trading again; moves count from the halt's price, not from before it.
    assert statuses(m.trade_at(81_000, 1150)) == []


def test_the_reference_is_the_price_when_the_window_opened() -> None:
    m = Market()
    m.risk(1, breaker=BREAKER)
    m.trade_at(0, 1000)
    m.trade_at(30_000, 1080)
    # 60 s after the first trade the window opens at 1000 still (the last trade at or
    # before ts - 60 s): 1101 is 10.1% away.
    m.trade_at(60_000, 1060)
    assert m.engine.status is TRADING
    # A minute later the window opens at 1060 (the trade at 60 s): 1100 is 3.8% away.
    m.trade_at(120_000, 1100)
    assert m.engine.status is TRADING
    # A slow drift never halts: 8% a minute for five minutes.
    price = 1100
    for minute in range(3, 8):
        price = price * 108 // 100
        assert statuses(m.trade_at(minute * 60_000, price)) == [], minute


def test_a_fall_halts_too_and_stops_it_triggered_run_first() -> None:
    m = Market()
    m.risk(1, breaker=BREAKER)
    m.trade_at(10, 1000)
    m.limit(20, MAKER, BUY, 950, 1)
    m.limit(20, MAKER, BUY, 890, 1)
    m.do(PlaceOrder, 20, 3, SELL, OrderType.STOP_LOSS, 1, stop_price=960)
    ev = m.do(PlaceOrder, 30, TAKER, SELL, MARKET, 1)  # 950, which triggers the stop: 890
    assert [e.price for e in ev if type(e) is Trade] == [950, 890]
    assert statuses(ev) == [(BREAK, 30_030)]


def test_the_first_trade_under_the_breaker_sets_the_reference() -> None:
    m = Market()
    m.risk(1, breaker=BREAKER)
    assert statuses(m.trade_at(10, 5000)) == []
    assert statuses(m.trade_at(20, 3000)) == [(BREAK, 30_020)]


def test_the_operator_may_resume_early_or_turn_a_break_into_a_halt() -> None:
    m = Market()
    m.risk(1, breaker=BREAKER)
    m.trade_at(10, 1000)
    m.trade_at(20, 1200)
    assert m.engine.status is BREAK
    m.do(SetMarketStatus, 30, HALT)
    assert (m.engine.status, m.engine.halted_until) == (HALT, 0)
    assert m.do(ResumeMarket, 40_000) == []  # the breaker's resume does not end a HALT
    assert m.engine.status is HALT
    m.do(SetMarketStatus, 40_001, TRADING)
    m.trade_at(40_002, 1500)
    assert m.engine.status is BREAK
    m.do(SetMarketStatus, 40_003, TRADING)  # early, by hand
    assert m.engine.status is TRADING


@pytest.mark.parametrize(
    "risk",
    [(-1, 0, 0, 0), (0, 10**7, 0, 0), (0, 100, 0, 1000), (0, 100, 1000, 0), (0, 0, -5, 0)],
)
def test_bad_settings_are_refused_and_change_nothing(risk: tuple[int, int, int, int]) -> None:
    m = Market()
    before = m.engine.snapshot()
    with pytest.raises(ValueError):
        m.engine.apply(SetMarketRisk(1, 1, *risk))
    assert m.engine.snapshot() == before


def test_a_snapshot_with_bad_risk_settings_is_refused() -> None:
    m = Market()
    m.risk(1, 100)
    bad = m.engine.snapshot().replace(b'"risk":[100,0,0,0]', b'"risk":[100,5,0,0]')
    with pytest.raises(EngineError):
        MatchingEngine.restore(bad)


# --- journal records ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "r", [rq.SetMarketRisk("BTCUSDT", 500, 1000, 60_000, 30_000), rq.ResumeMarket("BTCUSDT")]
)
def test_risk_requests_round_trip_through_the_journal(r: rq.Request) -> None:
    assert decode(encode(7, 1234, r)) == (7, 1234, r)


def test_the_break_status_round_trips_through_the_journal() -> None:
    r = rq.SetMarketStatus("BTCUSDT", BREAK)
    assert decode(encode(1, 2, r)) == (1, 2, r)


# --- replay: restore + replay equals one straight run ---------------------------------------


def roundtrip(engine: MatchingEngine) -> MatchingEngine:
    snap = engine.snapshot()
    restored = MatchingEngine.restore(snap)
    assert restored.snapshot() == snap
    assert restored.state_hash() == hashlib.sha256(snap).hexdigest()
    return restored


def test_restore_in_the_middle_of_a_window_and_of_a_halt_replays_the_same() -> None:
    m = Market()
    m.risk(1, 500, BREAKER)
    m.trade_at(1000, 1000)
    m.trade_at(2000, 1040)
    mid = roundtrip(m.engine)
    tail_start = len(m.log)
    m.trade_at(3000, 1080)
    m.trade_at(4000, 1110)  # 11% from 1000: BREAK
    assert m.engine.status is BREAK
    in_halt, halt_start = roundtrip(m.engine), len(m.log)
    m.do(ResumeMarket, 34_000)
    m.trade_at(35_000, 1150)
    for engine, start in ((mid, tail_start), (in_halt, halt_start)):
        replay = MatchingEngine(m.engine.instrument)
        straight = [replay.apply(c) for c in m.log]
        got = [engine.apply(c) for c in m.log[start:]]
        assert got == straight[start:]
        assert engine.state_hash() == replay.state_hash() == m.engine.state_hash()


TIME_STEPS = st.sampled_from([0, 1, 10, 500, 5_000, 20_000])


@settings(max_examples=80, deadline=None)
@given(
    templates=template_lists(),
    steps=st.lists(TIME_STEPS, min_size=130, max_size=130),
    risk=st.tuples(
        st.sampled_from([0, 300, 800]),  # band
        st.sampled_from([0, 500, 1200]),  # breaker
        st.sampled_from([1_000, 30_000]),  # window
        st.sampled_from([100, 10_000]),  # cooling
    ),
    data=st.data(),
)
def test_risk_controls_replay_deterministically(
    templates: Any, steps: list[int], risk: tuple[int, int, int, int], data: st.DataObject
) -> None:
    """Random command logs (every order type, amends, cancels, halts) on a market with risk
    controls, time moving on and a ResumeMarket now and then: restoring a snapshot at any
    point and replaying the rest gives the same events and the same hash."""
    base = concretize_all(small_instrument(), templates)
    ts = 1
    commands: list[Command] = [SetMarketRisk(1, ts, *risk)]
    for k, c in enumerate(base):
        ts += steps[k % len(steps)]
        if k % 7 == 6:
            commands.append(ResumeMarket(len(commands) + 1, ts))
        commands.append(c._replace(seq=len(commands) + 1, ts=ts))
    straight = MatchingEngine(small_instrument())
    want = [straight.apply(c) for c in commands]
    flat = [e for ev in want for e in ev]
    event(f"breaks: {min(3, sum(1 for e in flat if type(e) is MarketStatusChanged))}")
    event(f"band refusals: {min(3, sum(1 for e in flat if getattr(e, 'reason', 0) is BAND))}")
    cut = data.draw(st.integers(0, len(commands)), label="cut")
    engine = MatchingEngine(small_instrument())
    for c in commands[:cut]:
        engine.apply(c)
    engine = roundtrip(engine)
    assert [engine.apply(c) for c in commands[cut:]] == want[cut:]
    assert engine.state_hash() == straight.state_hash()


def test_settings_are_kept_as_given() -> None:
    m = Market()
    m.risk(5, 250, (700, 2_000, 3_000))
    assert m.engine.risk == MarketRisk(250, 700, 2_000, 3_000)
    assert roundtrip(m.engine).risk == m.engine.risk
    accepted = m.limit(6, MAKER, SELL, 10)
    assert type(accepted[0]) is OrderAccepted
