"""Smart order routing of hedges and cross-venue arbitrage detection (pure)."""

from __future__ import annotations

from decimal import Decimal as D

from rialto.marketmaker import arbitrage
from rialto.marketmaker.quotes import BUY, SELL
from rialto.marketmaker.routing import VenueBook, route


def book(
    venue: str, asks: list[tuple[str, str]], bids: list[tuple[str, str]], fee: str
) -> VenueBook:
    return VenueBook(
        venue,
        [(D(p), D(q)) for p, q in bids],
        [(D(p), D(q)) for p, q in asks],
        D(fee),
        D("0.0001"),
    )


def test_route_takes_the_best_price_after_fees_split_by_depth() -> None:
    a = book("a", [("100.0", "1"), ("100.5", "5")], [("99", "3")], "0.002")
    b = book("b", [("100.1", "2"), ("101", "5")], [("98.9", "3")], "0.0001")
    # After fees: a 100.2, 100.70; b 100.11, 101.01 -> b's 2, then a's 1, then a's 100.5.
    kids = route(BUY, D("4"), [a, b])
    assert [(k.venue, k.qty, k.limit) for k in kids] == [
        ("a", D(2), D("100.5")),
        ("b", D(2), D("100.1")),
    ]
    assert kids[1].cost == D(2) * D("100.1") * D("1.0001")
    # A price limit (after fees) stops the walk.
    kids = route(BUY, D("4"), [a, b], limit=D("100.3"))
    assert sum(k.qty for k in kids) == D(3)
    # Selling: the best bids after fees (b's 98.9 nets 98.89, a's 99 only 98.802).
    kids = route(SELL, D("4"), [a, b])
    assert [(k.venue, k.qty, k.limit) for k in kids] == [("a", D(1), D(99)), ("b", D(3), D("98.9"))]
    assert route(BUY, D(1), []) == []


def test_arbitrage_both_ways_and_only_beyond_fees_and_margin() -> None:
    fee = D("0.001")
    rialto_asks = [(D(100), D(1)), (D("100.5"), D(1))]
    rialto_bids = [(D(99), D(1))]
    ext_bids = [(D(101), D("0.5")), (D("100.3"), D(3))]
    ext_asks = [(D(102), D(1))]
    opp = arbitrage.find(
        "rialto",
        rialto_bids,
        rialto_asks,
        fee,
        "ext",
        ext_bids,
        ext_asks,
        fee,
        5.0,
        D(10),
        D("0.0001"),
    )
    assert opp is not None and (opp.buy_venue, opp.sell_venue) == ("rialto", "ext")
    # 100 x 1.001 = 100.1 against 101 x 0.999 = 100.899 and 100.3 x 0.999 = 100.1997 (> 100.15).
    assert opp.qty == D("1") and opp.buy_limit == D(100) and opp.sell_limit == D("100.3")
    assert opp.profit > 0
    # The reverse: the external ask below Rialto's bid.
    opp = arbitrage.find(
        "rialto",
        [(D(105), D(2))],
        [(D(106), D(1))],
        fee,
        "ext",
        [(D(99), D(1))],
        [(D(100), D("0.7"))],
        fee,
        5.0,
        D(10),
        D("0.0001"),
    )
    assert opp is not None and (opp.buy_venue, opp.sell_venue, opp.qty) == (
        "ext",
        "rialto",
        D("0.7"),
    )
    # Capped by max_qty.
    opp = arbitrage.find(
        "rialto",
        rialto_bids,
        rialto_asks,
        fee,
        "ext",
        ext_bids,
        ext_asks,
        fee,
        5.0,
        D("0.2"),
        D("0.0001"),
    )
    assert opp is not None and opp.qty == D("0.2")
    # A gap the fees eat is no opportunity.
    assert (
        arbitrage.find(
            "rialto",
            [(D(99), D(1))],
            [(D(100), D(1))],
            fee,
            "ext",
            [(D("100.15"), D(1))],
            [(D(101), D(1))],
            fee,
            5.0,
            D(1),
            D("0.0001"),
        )
        is None
    )
