"""Hypothesis strategies for random command sequences on a small, crowded market.

The instrument has tick 1 and step 1 (ticks and lots read as plain numbers), prices 88..112 and
at most 20 lots per limit order, so that random orders from 4 users cross often and self-trade
prevention comes into play. A generated sequence is a list of *templates* rather than commands:
an amend or a cancel names "the ref-th open order" (or, now and then, a stranger's, a finished
or an unknown one), a stop price is a distance from the last trade price, and a price or a
quote amount may be relative to the book. :func:`concretize` turns each template into a real
command against the current state of a :class:`ReferenceModel`, so shrinking keeps the
commands meaningful.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from hypothesis import strategies as st

from reference_model import ReferenceModel
from rialto.domain.commands import (
    AmendOrder,
    CancelAll,
    CancelOrder,
    Command,
    PlaceOrder,
    SetMarketStatus,
)
from rialto.domain.instruments import Instrument
from rialto.domain.orders import (
    MarketStatus,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)

MID = 100  # "last price" used for stop prices before the first trade


def pick(*choices: tuple[list[int] | range, int]) -> st.SearchStrategy[int]:
    """One value out of weighted groups of values, in a single draw (cheap to generate and to
    shrink); a shrunk example falls back to the first value."""
    return st.sampled_from([v for values, weight in choices for _ in range(weight) for v in values])


def weighted(*choices: tuple[st.SearchStrategy[Any], int]) -> st.SearchStrategy[Any]:
    """Pick a strategy with the given weights (``a | b`` picks its branches about evenly, and
    a branch listed twice does not count twice). A shrunk example falls back to the first."""
    branches = [strategy for strategy, weight in choices for _ in range(weight)]
    return st.integers(0, len(branches) - 1).flatmap(lambda i: branches[i])


ZERO = st.just(0)
NONE = st.none()
USERS = st.integers(1, 4)
SIDES = st.sampled_from([Side.BUY, Side.SELL])
# Mostly inside the PRICE_FILTER range 88..112, now and then outside it.
PRICE_RANGE, WIDE_PRICE_RANGE = range(92, 109), range(85, 116)
PRICES = pick((PRICE_RANGE, 12), (WIDE_PRICE_RANGE, 1))
# Mostly valid sizes; 0 and 21+ break LOT_SIZE / MARKET_LOT_SIZE.
QTY_GROUPS: list[tuple[list[int] | range, int]] = [
    (range(1, 9), 12),
    (range(9, 21), 2),
    ([0, 21, 26], 1),
]
QTYS = pick(*QTY_GROUPS)
CIDS = st.sampled_from(["", "", "", "", "a", "b", "c"])
STPS = st.sampled_from([None] * 8 + list(SelfTradePrevention))
TIFS = st.sampled_from([TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK])


class Place(NamedTuple):
    """A PlaceOrder, with a stop price, and optionally a price or a quote amount, to resolve."""

    user: int
    side: Side
    order_type: OrderType
    qty: int
    price: int
    tif: TimeInForce
    quote_qty: int
    # The stop price is this many ticks from the last trade price (MID before the first), on the
    # side where the stop waits (below it for a sell STOP_LOSS / buy TAKE_PROFIT, above it for
    # a buy STOP_LOSS / sell TAKE_PROFIT); 0 or less: WOULD_TRIGGER_IMMEDIATELY.
    stop_offset: int
    stop_absolute: int  # used instead when not 0 (a stray or out-of-range stop price)
    cid: str
    stp: SelfTradePrevention | None
    # When not None, the price is this many ticks through the best opposite price (0: at it,
    # -1: one tick short of it), if there is one: orders that touch the book exactly.
    touch: int | None = None
    # When > 0 (a market order with a quote amount), the quote amount is what the first
    # ``book_lots`` lots of the opposite side cost, plus QUOTE_EXTRAS[quote_extra]: budgets
    # that run out exactly at, or one unit around, a lot or a level boundary.
    book_lots: int = 0
    quote_extra: int = 0
    # The funds cap (market-type orders) when not 0: a sell's is cap_lots lots; a buy's is what
    # the first cap_lots lots of the book cost, plus QUOTE_EXTRAS[quote_extra] (100 a lot when
    # the book is empty). -1: a negative cap (INVALID_ORDER).
    cap_lots: int = 0


# What a book-relative quote amount adds to the cost of its lots.
QUOTE_EXTRAS = (
    "nothing",
    "-1",
    "+1",
    "one more lot at the last price",
    "the next lot's price",
    "the next lot's price - 1",
)


def place(
    user: int,
    side: Side,
    order_type: OrderType,
    qty: int = 0,
    price: int = 0,
    tif: TimeInForce = TimeInForce.GTC,
    quote_qty: int = 0,
    stop: int = 0,
    cid: str = "",
    stp: SelfTradePrevention | None = None,
    cap_lots: int = 0,
) -> Place:
    """A :class:`Place` template with an absolute stop price (for explicit examples)."""
    return Place(
        user, side, order_type, qty, price, tif, quote_qty, 0, stop, cid, stp, cap_lots=cap_lots
    )


class Amend(NamedTuple):
    ref: int  # see _target
    user: int
    foreign: bool
    price: int  # 0: unchanged
    qty: int  # 0: unchanged
    touch: int | None = None  # as for Place: a new price relative to the opposite best
    qty_delta: int | None = None  # when not None, qty = the order's quantity + qty_delta


class Cancel(NamedTuple):
    ref: int  # see _target
    user: int
    foreign: bool
    by_cid: bool  # cancel by the target's client order id (order_id 0)


class CancelEverything(NamedTuple):
    user: int


class Status(NamedTuple):
    status: MarketStatus


class Halt(NamedTuple):
    """A halt that :func:`expand` lifts again after ``length`` more templates (if any)."""

    length: int


Template = Place | Amend | Cancel | CancelEverything | Status | Halt


def small_instrument(**overrides: Any) -> Instrument:
    """Tick 1, step 1, prices 88..112, 1..20 lots (1..25 for market orders)."""
    spec: dict[str, Any] = {
        "symbol": "TESTUSD",
        "base_asset": "TEST",
        "quote_asset": "USD",
        "tick_size": "1",
        "step_size": "1",
        "min_price": "88",
        "max_price": "112",
        "min_qty": "1",
        "max_qty": "20",
        "market_min_qty": "1",
        "market_max_qty": "25",
    }
    spec.update(overrides)
    return Instrument(**spec)


@st.composite
def instruments(draw: st.DrawFn) -> Instrument:
    """:func:`small_instrument` with a random default STP mode, now and then fewer allowed
    modes, and no or a 250 minimum notional."""
    default = draw(st.sampled_from(list(SelfTradePrevention)))
    allowed = tuple(SelfTradePrevention)
    if draw(st.integers(0, 5)) == 0:
        others = draw(st.lists(st.sampled_from(list(SelfTradePrevention)), max_size=2))
        allowed = tuple(m for m in SelfTradePrevention if m is default or m in others)
    return small_instrument(
        min_notional=draw(st.sampled_from(["0", "0", "250"])),
        default_stp=default,
        allowed_stp=allowed,
    )


def _place(
    order_type: OrderType,
    *,
    qty: st.SearchStrategy[int] = QTYS,
    price: st.SearchStrategy[int] = PRICES,
    tif: st.SearchStrategy[TimeInForce] = TIFS,
    quote_qty: st.SearchStrategy[int] = ZERO,
    stop_offset: st.SearchStrategy[int] = ZERO,
    stop_absolute: st.SearchStrategy[int] = ZERO,
    touch: st.SearchStrategy[int | None] = NONE,
    book_lots: st.SearchStrategy[int] = ZERO,
    quote_extra: st.SearchStrategy[int] = ZERO,
    cap_lots: st.SearchStrategy[int] = ZERO,
) -> st.SearchStrategy[Place]:
    return st.builds(
        Place,
        user=USERS,
        side=SIDES,
        order_type=st.just(order_type),
        qty=qty,
        price=price,
        tif=tif,
        quote_qty=quote_qty,
        stop_offset=stop_offset,
        stop_absolute=stop_absolute,
        cid=CIDS,
        stp=STPS,
        touch=touch,
        book_lots=book_lots,
        quote_extra=quote_extra,
        cap_lots=cap_lots,
    )


_STRAY = st.sampled_from([0] * 19 + [100])  # a field that should be 0
_STOP_OFFSETS = pick(([-1, 0], 1), (range(1, 7), 2))
_STOP_ABSOLUTE = st.sampled_from([0] * 18 + [80, 120])  # 80 and 120: PRICE_FILTER

_TOUCH_SOMETIMES = st.sampled_from([None] * 12 + [-2, -1, 0, 1, 2])
_TOUCH_OFTEN = st.sampled_from([None] * 3 + [-1, 0, 0, 1])

LIMIT_GTC = _place(
    OrderType.LIMIT, tif=st.just(TimeInForce.GTC), stop_absolute=_STRAY, touch=_TOUCH_SOMETIMES
)
LIMIT_ANY = _place(
    OrderType.LIMIT,
    quote_qty=_STRAY,
    touch=_TOUCH_SOMETIMES,
    cap_lots=_STRAY.map(lambda v: v // 50),  # now and then a cap (INVALID_ORDER)
)
_BOOK_LOTS = pick(([0], 6), (range(1, 13), 1))
_QUOTE_EXTRA = st.integers(0, len(QUOTE_EXTRAS) - 1)
_CAP_LOTS = pick(([0], 24), (range(1, 13), 2), ([-1], 1))  # now and then a funds cap
MARKET_BY_QTY = _place(
    OrderType.MARKET,
    price=_STRAY,
    qty=pick(*QTY_GROUPS, (range(9, 27), 3)),
    quote_extra=_QUOTE_EXTRA,
    cap_lots=_CAP_LOTS,
)
# Quote amounts: any, or a whole number of lots at one price (budgets that run out exactly).
QUOTES = weighted(
    (st.integers(1, 1000), 2),
    (st.builds(lambda p, n: p * n, st.integers(90, 110), st.integers(1, 10)), 1),
)
MARKET_BY_QUOTE = _place(
    OrderType.MARKET,
    qty=_STRAY.map(lambda v: v // 25),  # now and then a quantity too (INVALID_ORDER)
    price=_STRAY,
    quote_qty=QUOTES,
    book_lots=_BOOK_LOTS,
    quote_extra=_QUOTE_EXTRA,
    cap_lots=_CAP_LOTS,
)
# Market orders with the funds held for them (as the runtime sends them).
MARKET_CAPPED = st.sampled_from([True, False]).flatmap(
    lambda by_quote: _place(
        OrderType.MARKET,
        qty=ZERO if by_quote else QTYS,
        price=_STRAY,
        quote_qty=QUOTES if by_quote else ZERO,
        book_lots=_BOOK_LOTS,
        quote_extra=_QUOTE_EXTRA,
        cap_lots=pick((range(1, 13), 1)),
    )
)
LIMIT_MAKER = _place(
    OrderType.LIMIT_MAKER,
    tif=st.sampled_from([TimeInForce.GTC] * 6 + [TimeInForce.IOC]),
    touch=_TOUCH_OFTEN,
)
STOP_MARKET = st.sampled_from([OrderType.STOP_LOSS, OrderType.TAKE_PROFIT]).flatmap(
    lambda kind: _place(
        kind,
        price=_STRAY,
        quote_qty=_STRAY,
        stop_offset=_STOP_OFFSETS,
        stop_absolute=_STOP_ABSOLUTE,
        quote_extra=_QUOTE_EXTRA,
        cap_lots=_CAP_LOTS,
    )
)
STOP_LIMIT = st.sampled_from([OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT_LIMIT]).flatmap(
    lambda kind: _place(kind, stop_offset=_STOP_OFFSETS, stop_absolute=_STOP_ABSOLUTE)
)
FOREIGN = st.sampled_from([False] * 7 + [True])
AMENDS = st.builds(
    Amend,
    ref=st.integers(0, 30),
    user=USERS,
    foreign=FOREIGN,
    price=pick(([0], 170), (PRICE_RANGE, 12), (WIDE_PRICE_RANGE, 1)),
    qty=pick(([0], 130), *QTY_GROUPS),
    touch=_TOUCH_SOMETIMES,
    qty_delta=st.sampled_from([None] * 6 + [-3, -2, -1, 1, 2, 3]),
)
CANCELS = st.builds(
    Cancel, ref=st.integers(0, 30), user=USERS, foreign=FOREIGN, by_cid=st.booleans()
)
CANCEL_ALLS = st.builds(CancelEverything, user=USERS)
# TRADING while trading (a no-op change), and short halts (which may overlap).
STATUSES = st.just(Status(MarketStatus.TRADING))
HALTS = st.builds(Halt, length=st.integers(0, 3))

_WEIGHTED: list[tuple[st.SearchStrategy[Template], int]] = [
    (LIMIT_GTC, 24),
    (LIMIT_ANY, 3),
    (MARKET_BY_QTY, 2),
    (MARKET_BY_QUOTE, 3),
    (MARKET_CAPPED, 2),
    (LIMIT_MAKER, 1),
    (STOP_MARKET, 3),
    (STOP_LIMIT, 3),
    (AMENDS, 6),
    (CANCELS, 2),
    (CANCEL_ALLS, 1),
    (STATUSES, 1),
    (HALTS, 1),
]
TEMPLATES: st.SearchStrategy[Template] = weighted(*_WEIGHTED)


def template_lists(
    min_chunks: int = 1, max_chunks: int = 12, chunk: int = 10
) -> st.SearchStrategy[list[Template]]:
    """Lists of templates, drawn as a list of short lists and flattened.

    A plain ``st.lists`` averages only a handful of elements, and drawing a length first would
    keep the shrinker from deleting commands. With the defaults a list has about 30 templates
    (at most 120); ``min_chunks=10, max_chunks=30`` gives about 110.
    """
    chunks = st.lists(
        st.lists(TEMPLATES, min_size=1, max_size=chunk), min_size=min_chunks, max_size=max_chunks
    )
    return chunks.map(lambda lists: [t for part in lists for t in part])


def expand(templates: list[Template]) -> list[Template]:
    """Replace every :class:`Halt` by a HALT and a TRADING ``length`` templates later."""
    out: list[Template] = []
    resume_at: list[int] = []
    for i, template in enumerate(templates):
        if isinstance(template, Halt):
            out.append(Status(MarketStatus.HALT))
            resume_at.append(i + template.length)
        else:
            out.append(template)
        while resume_at and resume_at[0] <= i:
            resume_at.pop(0)
            out.append(Status(MarketStatus.TRADING))
        resume_at.sort()
    return out


def _target(model: ReferenceModel, ref: int, user: int, foreign: bool) -> tuple[int, int, str]:
    """``(user, order id, client order id)`` of the order an amend or a cancel names.

    Mostly one of the open orders (``ref`` modulo their number) with its owner; when
    ``foreign`` (or nothing is open), a recent id, or a client id, of anybody, in the name
    of ``user``: another user's order, a finished one, or none at all.
    """
    open_ids = model.open_ids()
    if open_ids and not foreign:
        order = model.every[open_ids[ref % len(open_ids)]]
        return order.user_id, order.order_id, order.client_order_id
    oid = max(0, model.next_order_id - 1 - ref % 4)
    return user, oid, "abc"[ref % 3]


def _touching(model: ReferenceModel, side: Side, touch: int | None, price: int) -> int:
    """``touch`` ticks through the best price opposite ``side`` (``price`` when none)."""
    if touch is None:
        return price
    levels = model.queue(Side.SELL if side is Side.BUY else Side.BUY)
    if not levels:
        return price
    best = levels[0][0]
    return best + touch if side is Side.BUY else best - touch


def _book_cost(model: ReferenceModel, side: Side, lots: int, extra: int, empty: int) -> int:
    """What the first ``lots`` lots opposite ``side`` cost, plus ``QUOTE_EXTRAS[extra]``
    (``empty`` when that side of the book is empty)."""
    prices = [  # the price of every lot opposite ``side``, best first
        model.every[oid].price
        for _, ids in model.queue(Side.SELL if side is Side.BUY else Side.BUY)
        for oid in ids
        for _ in range(model.every[oid].remaining)
    ]
    if not prices:
        return empty
    taken, rest = prices[:lots], prices[lots:]
    extras = [0, -1, 1, taken[-1], rest[0] if rest else 0, rest[0] - 1 if rest else 0]
    return max(1, sum(taken) + extras[extra])


def _quote(model: ReferenceModel, t: Place) -> int:
    """The quote amount of a market order: see :attr:`Place.book_lots`."""
    if not t.book_lots:
        return t.quote_qty
    return _book_cost(model, t.side, t.book_lots, t.quote_extra, t.quote_qty)


def _cap(model: ReferenceModel, t: Place) -> int:
    """The funds cap of a market-type order: see :attr:`Place.cap_lots`."""
    if t.cap_lots <= 0 or t.side is Side.SELL:
        return t.cap_lots
    return _book_cost(model, t.side, t.cap_lots, t.quote_extra, 100 * t.cap_lots)


def concretize(template: Template, seq: int, model: ReferenceModel) -> Command:
    """The command ``template`` stands for, stamped with ``seq`` (and ``ts = 1000 * seq``)."""
    ts = 1000 * seq
    if isinstance(template, Place):
        t = template
        stop = 0
        if t.stop_absolute:
            stop = t.stop_absolute
        elif t.order_type in (
            OrderType.STOP_LOSS,
            OrderType.STOP_LOSS_LIMIT,
            OrderType.TAKE_PROFIT,
            OrderType.TAKE_PROFIT_LIMIT,
        ):
            last = model.last_price or MID
            loss = t.order_type in (OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT)
            waits_below = (t.side is Side.SELL) == loss
            stop = last - t.stop_offset if waits_below else last + t.stop_offset
        return PlaceOrder(
            seq,
            ts,
            t.user,
            t.side,
            t.order_type,
            qty=t.qty,
            price=_touching(model, t.side, t.touch, t.price),
            tif=t.tif,
            quote_qty=_quote(model, t),
            stop_price=stop,
            client_order_id=t.cid,
            stp=t.stp,
            cap=_cap(model, t),
        )
    if isinstance(template, Amend):
        user, oid, _ = _target(model, template.ref, template.user, template.foreign)
        price, qty = template.price, template.qty
        if oid in model.every:
            order = model.every[oid]
            price = _touching(model, order.side, template.touch, price)
            if template.qty_delta is not None:
                qty = max(1, order.qty + template.qty_delta)
        return AmendOrder(seq, ts, user, oid, price, qty)
    if isinstance(template, Cancel):
        user, oid, cid = _target(model, template.ref, template.user, template.foreign)
        if template.by_cid:
            return CancelOrder(seq, ts, user, 0, cid)
        return CancelOrder(seq, ts, user, oid)
    if isinstance(template, CancelEverything):
        return CancelAll(seq, ts, template.user)
    if isinstance(template, Halt):
        return SetMarketStatus(seq, ts, MarketStatus.HALT)
    return SetMarketStatus(seq, ts, template.status)


def concretize_all(instrument: Instrument, templates: list[Template]) -> list[Command]:
    """Turn a whole template list into commands, resolving references with a reference model."""
    model = ReferenceModel(instrument)
    commands: list[Command] = []
    for seq, template in enumerate(expand(templates), 1):
        cmd = concretize(template, seq, model)
        model.apply(cmd)
        commands.append(cmd)
    return commands
