"""The market maker's risk: ledger, limits on the ladder, kill switch, margin, reconcile."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from rialto.marketmaker.config import MarginTier, RiskLimits
from rialto.marketmaker.quotes import BUY, SELL, MarketSpec, Quote
from rialto.marketmaker.reconcile import Live, pair, plan
from rialto.marketmaker.risk import (
    Exposure,
    Guard,
    Headroom,
    Ledger,
    Margin,
    fit,
    numeraire_prices,
    worst_positions,
)

SPEC = MarketSpec("BTCUSDT", "BTC", "USDT", D("0.01"), D("0.0001"), D(0), D("5"))
PRICES = {"USDT": D(1), "BTC": D(100)}


def ladder(n: int = 5, qty: str = "1") -> list[Quote]:
    out = []
    for i in range(n):
        out.append(Quote(BUY, D(99 - i), D(qty), i))
        out.append(Quote(SELL, D(101 + i), D(qty), i))
    return out


def room(**kw: object) -> Headroom:
    args: dict[str, object] = {"positions": {}, "others": [], "prices": PRICES}
    args.update(kw)
    return Headroom(**args)  # type: ignore[arg-type]


def test_ledger_books_fills_fees_and_average_cost_pnl() -> None:
    led = Ledger()
    led.fill("BTCUSDT", "BTC", "USDT", BUY, D(2), D(100), D("0.002"), "BTC")
    led.fill("BTCUSDT", "BTC", "USDT", BUY, D(2), D(110))
    assert led.cost["BTCUSDT"] == D(105) and led.inventory["BTCUSDT"] == D(4)
    led.fill("BTCUSDT", "BTC", "USDT", SELL, D(3), D(120))
    assert led.realised["BTCUSDT"] == D(45)  # 3 x (120 - 105)
    led.fill("BTCUSDT", "BTC", "USDT", SELL, D(3), D(100))  # closes 1, opens 2 short at 100
    assert led.realised["BTCUSDT"] == D(40) and led.inventory["BTCUSDT"] == D(-2)
    assert led.cost["BTCUSDT"] == D(100)
    assert led.position("BTC") == D("-2.002") and led.fees == {"BTC": D("0.002")}
    assert led.position("USDT") == D(-200 - 220 + 360 + 300)
    assert led.value({"USDT": D(1), "BTC": D(100)}) == D("39.8")


def test_numeraire_prices_chain_through_markets() -> None:
    px = numeraire_prices([("ETH", "BTC", D("0.05")), ("BTC", "USDT", D(60000))], "USDT")
    assert px == {"USDT": D(1), "BTC": D(60000), "ETH": D(3000)}


def test_fit_keeps_worst_case_positions_within_the_caps() -> None:
    limits = RiskLimits(max_position={"BTC": D("2.5"), "USDT": D(1000)})
    out = fit(ladder(), SPEC, D(100), limits, room(positions={"BTC": D(1)}))
    bids = sum(q.qty for q in out if q.side == BUY)
    asks = sum(q.qty for q in out if q.side == SELL)
    assert bids == D("1.5")  # 1 held + 1.5 bought = the cap of 2.5
    assert asks == D("3.5")  # 1 held - 3.5 sold = -2.5
    assert sum(q.qty * q.price for q in out if q.side == BUY) <= 1000
    hi, lo = worst_positions(
        {"BTC": D(1)}, [Exposure("BTC", "USDT", q.side, q.price, q.qty) for q in out]
    )
    assert hi["BTC"] <= D("2.5") and lo["BTC"] >= D("-2.5") and lo["USDT"] >= -1000
    # Other markets' orders share the caps.
    busy = [Exposure("BTC", "USDT", BUY, D(90), D(1))]
    out = fit(ladder(), SPEC, D(100), limits, room(positions={"BTC": D(1)}, others=busy))
    assert sum(q.qty for q in out if q.side == BUY) == D("0.5")


def test_fit_caps_notional_margin_and_keeps_nearest_levels() -> None:
    limits = RiskLimits(max_notional=D(500))  # 1 BTC a level at ~100 USDT
    out = fit(ladder(), SPEC, D(100), limits, room())
    assert sum(q.notional for q in out) == D(497)  # 99 + 101 + 98 + 102 + 97
    assert {q.level for q in out} == {0, 1, 2} and next(q.level for q in out if q.side == BUY) == 0
    out = fit(ladder(), SPEC, D(100), RiskLimits(), room(margin_capacity=D(300)))
    assert 250 < sum(q.notional for q in out) <= 300
    # A held position uses margin capacity too.
    out = fit(
        ladder(), SPEC, D(100), RiskLimits(), room(margin_capacity=D(300), positions={"BTC": D(2)})
    )
    assert sum(q.notional for q in out) <= 100


def test_fit_loss_guard_stops_a_side_before_the_daily_loss() -> None:
    limits = RiskLimits(max_daily_loss=D(6))  # USDT; 1 BTC a level, levels 1 USDT apart
    out = fit(ladder(), SPEC, D(100), limits, room())
    asks = [q for q in out if q.side == SELL]
    # Filling asks 101..p_far loses sum(p_far - p_i): 0, 1, 3, 6, 10...
    assert [q.price for q in asks] == [D(101), D(102), D(103), D(104)]
    out = fit(ladder(), SPEC, D(100), limits, room(loss=D("5.5")))
    assert [q.price for q in out if q.side == SELL] == [D(101)]
    # A short position already loses as the price rises: fewer asks.
    out = fit(ladder(), SPEC, D(100), limits, room(positions={"BTC": D(-1)}))
    assert len([q for q in out if q.side == SELL]) < len(asks)


def test_fit_loss_guard_with_a_stress_move_sizes_for_the_gap() -> None:
    # A 200% move: asks filled at 101 marked at 303: 202 a BTC; a budget of 50 -> 0.2475.
    limits = RiskLimits(max_daily_loss=D(50), stress_move_pct=D(200))
    out = fit(ladder(1), SPEC, D(100), limits, room())
    asks = [q for q in out if q.side == SELL]
    assert asks == [] or sum(q.qty for q in asks) * (D(303) - D(101)) <= 50
    small = [Quote(SELL, D(101), D("0.2"), 0), Quote(BUY, D(99), D("0.2"), 0)]
    out = fit(small, SPEC, D(100), limits, room())
    assert [q.side for q in out] == [BUY, SELL]  # 0.2 x 202 = 40.4; bids: 0.2 x (99 - 33)
    out = fit(small, SPEC, D(100), limits, room(loss=D(20)))
    assert [q.side for q in out] == [BUY]  # 20 + 13.2 fits, 20 + 40.4 does not


def test_fit_reduce_only_after_a_margin_cut() -> None:
    out = fit(
        ladder(), SPEC, D(100), RiskLimits(), room(positions={"BTC": D("1.5")}, reduce_only=True)
    )
    assert all(q.side == SELL for q in out) and sum(q.qty for q in out) == D("1.5")
    assert fit(ladder(), SPEC, D(100), RiskLimits(), room(reduce_only=True)) == []


def test_guard_kill_switch_trips_on_loss_position_notional_and_resumes() -> None:
    limits = RiskLimits(
        max_position={"BTC": D(1)},
        max_notional=D(1000),
        max_daily_loss=D(100),
        kill_fraction=D("0.9"),
    )
    g = Guard(limits)
    assert g.check(0, D(0), {}, PRICES, D(0)) == [] and g.killed is None
    assert g.check(1, D(-89), {}, PRICES, D(0)) == []
    events = g.check(2, D(-90), {}, PRICES, D(0))
    assert g.killed and events == ["kill: daily loss 90.00 USDT"]
    assert g.check(3, D(-200), {}, PRICES, D(0)) == []  # once: it stays killed
    g.resume(D(-200))
    assert g.killed is None and g.loss(D(-200)) == 0
    g.check(4, D(-200), {"BTC": D("1.1")}, PRICES, D(0))
    assert g.killed and "position BTC" in g.killed
    g.resume(D(-200))
    g.check(5, D(-200), {}, PRICES, D(1001))
    assert g.killed and "notional" in g.killed
    # A new UTC day starts the loss count again.
    g = Guard(limits)
    g.check(0, D(-80), {}, PRICES, D(0))
    assert g.check(86_400_000, D(-150), {}, PRICES, D(0)) == []


def test_guard_margin_levels_warn_then_cut() -> None:
    tier = MarginTier("t", D(2), D("0.5"), D("0.8"))
    g = Guard(RiskLimits(), tier, collateral=D(1000))  # capacity 2,000
    assert g.capacity(D(0)) == 2000
    assert g.check(0, D(0), {"BTC": D(9)}, PRICES, D(0)) == [] and g.margin is Margin.OK
    assert g.check(0, D(0), {"BTC": D(10)}, PRICES, D(0)) == ["margin warn"]
    assert g.check(0, D(0), {"BTC": D(-16)}, PRICES, D(0)) == ["margin cut"]
    # Losses eat the collateral: the same position is a bigger share.
    assert g.check(0, D(0), {"BTC": D(10)}, PRICES, D(0)) == ["margin warn"]
    assert g.check(0, D(-400), {"BTC": D(10)}, PRICES, D(0)) == ["margin cut"]
    assert g.margin_usage == pytest.approx(D(1000) / D(1200))


def test_reconcile_keeps_matching_orders_cancels_the_rest() -> None:
    want = [Quote(BUY, D(99), D(1), 0), Quote(SELL, D(101), D(1), 0), Quote(SELL, D(102), D(2), 1)]
    live = [
        Live("a", BUY, D(99), D("0.9")),  # within tolerance: kept
        Live("b", SELL, D(101), D("0.5")),  # too small now: replaced
        Live("c", SELL, D(103), D(2)),  # not wanted
    ]
    p = plan(want, live, 0.25)
    assert [o.order_id for o in p.kept] == ["a"]
    assert sorted(p.cancels) == ["b", "c"]
    assert p.places == want[1:]
    assert plan(want[:1], [Live("a", BUY, D(99), D(1))], 0.25).empty
    with pytest.raises(ValueError):
        plan([Quote(BUY, D(101), D(1)), Quote(SELL, D(101), D(1))], [], 0.1)


def test_pair_swaps_nearest_first_and_leaves_the_rest() -> None:
    want = [Quote(BUY, D(98), D(1), 0), Quote(BUY, D(97), D(1), 1), Quote(SELL, D(102), D(1), 0)]
    live = [
        Live("b1", BUY, D(99), D(1)),
        Live("a1", SELL, D(101), D(1)),
        Live("a2", SELL, D(103), D(1)),
    ]
    swaps, cancels, places = pair(plan(want, live, 0.1))
    assert [(w.old.order_id, w.new.price) for w in swaps] == [("b1", D(98)), ("a1", D(102))]
    assert cancels == ["a2"] and places == [want[1]]


def test_reconcile_keeps_near_orders_but_never_narrows_the_touch() -> None:
    want = [Quote(BUY, D("99.00"), D(1), 0), Quote(BUY, D("98.00"), D(1), 1)]
    live = [Live("touch", BUY, D("99.02"), D(1)), Live("deep", BUY, D("98.02"), D("0.99"))]
    p = plan(want, live, 0.25, keep_bps=3)
    # 2 bps off: the deep one is kept; the touch one would narrow the spread: replaced.
    assert [o.order_id for o in p.kept] == ["deep"] and p.cancels == ["touch"]
    p = plan(want, [Live("touch", BUY, D("98.99"), D(1))], 0.25, keep_bps=3)
    assert [o.order_id for o in p.kept] == ["touch"]  # less aggressive at the touch: fine
    assert plan(want, [Live("x", BUY, D("98.95"), D(1))], 0.25, keep_bps=3).cancels == ["x"]
