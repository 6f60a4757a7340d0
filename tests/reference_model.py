"""A deliberately naive reference model of the matching rules in ``docs/matching.md``.

It is written from the document, not from ``rialto.domain.engine``, and is meant to be easy to
check by reading rather than fast:

* every open order (resting orders and pending stops) sits in one plain list;
* a taker finds its next maker by filtering that list and sorting it with a key: price priority,
  then an arrival counter that is renewed whenever an order (re)joins the book;
* everything else is a simple loop.

For every command :meth:`ReferenceModel.apply` returns an :class:`Outcome` (the reject reason or
``None``, the trades, the stops that triggered with the price that reached them), and the model
keeps the final state of every order id it ever accepted (:meth:`ReferenceModel.states`).

How stops are modelled (the document's rules, spelled out): every trade at price ``p`` sets the
last price to ``p`` and reaches each pending stop whose condition holds at ``p`` (``last <= stop``
for a sell STOP_LOSS / buy TAKE_PROFIT, ``last >= stop`` for a buy STOP_LOSS / sell
TAKE_PROFIT), also in the middle of a sweep. Reached stops run, after the order whose trade
reached them has finished (event order 3 before 4), one at a time: the one reached by an earlier
trade first; among those reached by one trade, the highest stop on a fall / the lowest on a rise
(all equal at the first trade of the symbol), then the older order. A reached stop runs even if
the price has moved back meanwhile.

Readings of the document this model commits to where it is silent or loose:

* While the market is halted every amend is refused with ``MARKET_CLOSED`` ("While HALT,
  placements and amends are refused"), even one naming an unknown order.
* ``CancelOrder`` with a non-zero ``order_id`` cancels by that id (the client id is not used;
  the generated commands never send both).
* A market order sized by quote amount ends ``FILLED`` when it traded and what is left of its
  budget is less than one lot at its last trade price, also when its ``cap`` stopped it ("whether
  it is FILLED is judged by its own size only"): "an order the cap stops early ends EXPIRED" is
  read as "stops before its own size is reached".
* Where several validation rules fail at once the document names no order; this model checks
  them in the order: market status, STP mode, duplicate client id, then the order's own fields
  (the engine's order). The rejects for integer commands that the document names only for wire
  strings (price outside ``[min_price, max_price]``: PRICE_FILTER, size outside the lot limits:
  LOT_SIZE / MARKET_LOT_SIZE, ``price x qty`` or a quote size below ``min_notional``: NOTIONAL)
  are checked the same way; a field an order type does not use (a price on a market order, a
  quote amount on a limit order, a stop price on a non-stop order, a LIMIT_MAKER that is not
  GTC) is INVALID_ORDER, and an amend to a quantity not above what is filled is
  AMEND_NOT_ALLOWED, as in the engine (the document names no reject for these).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

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
    OrderStatus,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from rialto.domain.rejects import Reject

BUY, SELL = Side.BUY, Side.SELL
NEW = OrderStatus.NEW
PARTIALLY_FILLED = OrderStatus.PARTIALLY_FILLED
FILLED = OrderStatus.FILLED
CANCELED = OrderStatus.CANCELED
EXPIRED = OrderStatus.EXPIRED
EXPIRED_IN_MATCH = OrderStatus.EXPIRED_IN_MATCH

STOP_KINDS = (
    OrderType.STOP_LOSS,
    OrderType.STOP_LOSS_LIMIT,
    OrderType.TAKE_PROFIT,
    OrderType.TAKE_PROFIT_LIMIT,
)
# Orders with no limit price once they are active.
MARKET_KINDS = (OrderType.MARKET, OrderType.STOP_LOSS, OrderType.TAKE_PROFIT)

# Where an order is.
ON_BOOK = "book"
PENDING_STOP = "stop"
NOWHERE = "nowhere"  # being processed, or finished


class TradeRow(NamedTuple):
    trade_id: int
    price: int
    qty: int
    maker_order_id: int
    taker_order_id: int
    maker_user_id: int
    taker_user_id: int
    taker_side: Side


class OrderState(NamedTuple):
    status: OrderStatus
    filled: int
    remaining: int
    filled_quote: int


class Outcome(NamedTuple):
    reject: Reject | None
    trades: list[TradeRow]
    triggered: list[tuple[int, int]]  # (order id, price of the trade that reached it), in order


@dataclass
class ModelOrder:
    order_id: int
    user_id: int
    client_order_id: str
    side: Side
    order_type: OrderType
    tif: TimeInForce
    price: int
    qty: int  # 0 for a market order sized by quote amount
    quote_qty: int
    stop_price: int
    stp: SelfTradePrevention
    cap: int = 0  # market-type orders: a buy spends at most cap notional, a sell sells cap lots
    status: OrderStatus = NEW
    filled: int = 0
    filled_quote: int = 0
    where: str = NOWHERE
    arrival: int = 0  # renewed each time the order (re)joins the book

    @property
    def remaining(self) -> int:
        # Nothing is ever "left" of an order sized by quote amount.
        return self.qty - self.filled if self.qty else 0

    @property
    def by_quote(self) -> bool:
        return self.qty == 0

    @property
    def acts_as_market(self) -> bool:
        return self.order_type in MARKET_KINDS

    def state(self) -> OrderState:
        return OrderState(self.status, self.filled, self.remaining, self.filled_quote)


def stop_fires(order: ModelOrder, last: int) -> bool:
    """Binance's directions, as the document states them."""
    loss = order.order_type in (OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT)
    profit = not loss
    if (order.side is SELL and loss) or (order.side is BUY and profit):
        return last <= order.stop_price
    return last >= order.stop_price


def fires_on_fall(order: ModelOrder) -> bool:
    """True for the stops a falling price reaches (their condition is ``last <= stop``)."""
    loss = order.order_type in (OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT)
    return (order.side is SELL) == loss


class ReferenceModel:
    def __init__(self, instrument: Instrument) -> None:
        self.ins = instrument
        self.trading = instrument.status is MarketStatus.TRADING
        self.open: list[ModelOrder] = []  # resting orders and pending stops, unordered
        self.every: dict[int, ModelOrder] = {}  # every order ever accepted
        self.last_price: int | None = None  # None before the first trade
        self.next_order_id = 1
        self.next_trade_id = 1
        self.clock = 0  # arrival counter
        self.trade_count = 0  # trades ever, to order triggers by the trade that caused them
        # Per command:
        self.trades: list[TradeRow] = []
        self.triggered: list[tuple[int, int]] = []
        # Reached stops not run yet: (sort key, order, price of the trade that reached it).
        self.waiting: list[tuple[tuple[int, int, int], ModelOrder, int]] = []

    # --- public ---------------------------------------------------------------

    def apply(self, cmd: Command) -> Outcome:
        self.trades = []
        self.triggered = []
        self.waiting = []
        reject: Reject | None
        if isinstance(cmd, PlaceOrder):
            reject = self.place(cmd)
        elif isinstance(cmd, CancelOrder):
            reject = self.cancel(cmd)
        elif isinstance(cmd, CancelAll):
            reject = self.cancel_all(cmd)
        elif isinstance(cmd, AmendOrder):
            reject = self.amend(cmd)
        elif isinstance(cmd, SetMarketStatus):
            self.trading = cmd.status is MarketStatus.TRADING
            reject = None
        else:  # pragma: no cover
            raise TypeError(cmd)
        assert not self.waiting
        return Outcome(reject, self.trades, self.triggered)

    def states(self) -> dict[int, OrderState]:
        return {oid: o.state() for oid, o in self.every.items()}

    def open_ids(self, user_id: int | None = None) -> list[int]:
        return sorted(o.order_id for o in self.open if user_id in (None, o.user_id))

    def queue(self, side: Side) -> list[tuple[int, list[int]]]:
        """``(price, order ids front first)`` for every level of ``side``, best level first."""
        resting = [o for o in self.open if o.where == ON_BOOK and o.side is side]
        resting.sort(key=self.priority)
        levels: list[tuple[int, list[int]]] = []
        for o in resting:
            if not levels or levels[-1][0] != o.price:
                levels.append((o.price, []))
            levels[-1][1].append(o.order_id)
        return levels

    # --- placing ----------------------------------------------------------------

    def place(self, c: PlaceOrder) -> Reject | None:
        stp = self.ins.default_stp if c.stp is None else c.stp
        reason = self.check_place(c, stp)
        if reason is not None:
            return reason
        o = ModelOrder(
            order_id=self.next_order_id,
            user_id=c.user_id,
            client_order_id=c.client_order_id,
            side=c.side,
            order_type=c.order_type,
            tif=c.tif,
            price=c.price,
            qty=c.qty,
            quote_qty=c.quote_qty,
            stop_price=c.stop_price,
            stp=stp,
            cap=c.cap,
        )
        self.next_order_id += 1
        self.every[o.order_id] = o
        if o.order_type in STOP_KINDS:
            o.where = PENDING_STOP
            self.open.append(o)
            return None
        self.take(o)
        self.run_triggered()
        return None

    def check_place(self, c: PlaceOrder, stp: SelfTradePrevention) -> Reject | None:
        """The order's own faults first, then what depends on the market's state."""
        ins = self.ins
        if stp not in ins.allowed_stp:
            return Reject.STP_MODE_NOT_ALLOWED
        kind = c.order_type
        if kind in MARKET_KINDS:
            if c.price != 0 or c.cap < 0:  # a market order has no price
                return Reject.INVALID_ORDER
            if c.quote_qty != 0:
                # Sized by quote amount: a plain MARKET order, with no quantity.
                if c.qty != 0 or kind is not OrderType.MARKET:
                    return Reject.INVALID_ORDER
                if c.quote_qty < ins.min_notional_units:
                    return Reject.NOTIONAL
            elif not ins.market_min_lots <= c.qty <= ins.market_max_lots:
                return Reject.MARKET_LOT_SIZE
            # min_notional is not checked for a market order sized by quantity.
        else:
            if c.quote_qty != 0 or c.cap != 0:  # only market-type orders have these
                return Reject.INVALID_ORDER
            if c.price < ins.min_price_ticks or c.price > ins.max_price_ticks:
                return Reject.PRICE_FILTER
            if c.qty < ins.min_lots or c.qty > ins.max_lots:
                return Reject.LOT_SIZE
            if c.price * c.qty < ins.min_notional_units:
                return Reject.NOTIONAL
            if kind is OrderType.LIMIT_MAKER and c.tif is not TimeInForce.GTC:
                return Reject.INVALID_ORDER
        if kind in STOP_KINDS:
            if c.stop_price < ins.min_price_ticks or c.stop_price > ins.max_price_ticks:
                return Reject.PRICE_FILTER
        elif c.stop_price != 0:
            return Reject.INVALID_ORDER
        if not self.trading:
            return Reject.MARKET_CLOSED
        if c.client_order_id:
            for o in self.open:
                if o.user_id == c.user_id and o.client_order_id == c.client_order_id:
                    return Reject.DUPLICATE_ORDER
        if kind is OrderType.LIMIT_MAKER and self.would_cross(c.side, c.price):
            return Reject.WOULD_TAKE
        if kind in STOP_KINDS:
            probe = ModelOrder(0, 0, "", c.side, kind, c.tif, 0, 0, 0, c.stop_price, stp)
            # Before the first trade of the symbol any stop waits.
            if self.last_price is not None and stop_fires(probe, self.last_price):
                return Reject.WOULD_TRIGGER_IMMEDIATELY
        return None

    def would_cross(self, side: Side, price: int) -> bool:
        for o in self.open:
            if o.where == ON_BOOK and o.side is not side:
                if side is BUY and o.price <= price:
                    return True
                if side is SELL and o.price >= price:
                    return True
        return False

    # --- matching ------------------------------------------------------------------

    @staticmethod
    def priority(o: ModelOrder) -> tuple[int, int]:
        """Sort key of a resting order: best price first, then earliest (re)arrival."""
        price_rank = -o.price if o.side is BUY else o.price
        return (price_rank, o.arrival)

    def makers_for(self, taker: ModelOrder) -> list[ModelOrder]:
        """Resting orders ``taker`` may trade with, in the order it meets them."""
        found = []
        for o in self.open:
            if o.where != ON_BOOK or o.side is taker.side:
                continue
            if not taker.acts_as_market:
                if taker.side is BUY and o.price > taker.price:
                    continue
                if taker.side is SELL and o.price < taker.price:
                    continue
            found.append(o)
        found.sort(key=self.priority)
        return found

    def fok_can_fill(self, taker: ModelOrder) -> bool:
        need = taker.remaining
        for m in self.makers_for(taker):
            if m.user_id == taker.user_id and taker.stp is not SelfTradePrevention.NONE:
                if taker.stp is SelfTradePrevention.EXPIRE_MAKER:
                    continue  # that maker would be expired and the taker would go on
                return False  # the taker itself would be expired before filling
            need -= m.remaining
            if need <= 0:
                return True
        return False

    def take(self, o: ModelOrder) -> None:
        """Run an active order as taker, then rest it, expire it or finish it."""
        if not o.acts_as_market and o.tif is TimeInForce.FOK and not self.fok_can_fill(o):
            o.status = EXPIRED
            return
        traded = False
        last_trade_price = 0
        while True:
            makers = self.makers_for(o)
            if not makers:
                break
            m = makers[0]
            want = o.remaining
            if o.by_quote:
                want = (o.quote_qty - o.filled_quote) // m.price
            if o.cap and o.side is BUY:  # spends at most cap notional units
                want = min(want, (o.cap - o.filled_quote) // m.price)
            elif o.cap:  # sells at most cap lots
                want = min(want, o.cap - o.filled)
            if want <= 0:
                break
            if m.user_id == o.user_id and o.stp is not SelfTradePrevention.NONE:
                if o.stp is SelfTradePrevention.EXPIRE_TAKER:
                    o.status = EXPIRED_IN_MATCH
                    break
                m.status = EXPIRED_IN_MATCH
                self.leave(m)
                if o.stp is SelfTradePrevention.EXPIRE_BOTH:
                    o.status = EXPIRED_IN_MATCH
                    break
                continue
            qty = min(want, m.remaining)
            self.trade(o, m, qty)
            traded = True
            last_trade_price = m.price
        if o.status is EXPIRED_IN_MATCH:
            return
        if o.by_quote:
            left = o.quote_qty - o.filled_quote
            o.status = FILLED if traded and left < last_trade_price else EXPIRED
        elif o.remaining == 0:
            o.status = FILLED
        elif o.acts_as_market or o.tif is not TimeInForce.GTC:
            o.status = EXPIRED
        else:
            o.status = PARTIALLY_FILLED if o.filled else NEW
            self.join(o)

    def trade(self, taker: ModelOrder, maker: ModelOrder, qty: int) -> None:
        price = maker.price
        self.trades.append(
            TradeRow(
                self.next_trade_id,
                price,
                qty,
                maker.order_id,
                taker.order_id,
                maker.user_id,
                taker.user_id,
                taker.side,
            )
        )
        self.next_trade_id += 1
        for o in (maker, taker):
            o.filled += qty
            o.filled_quote += price * qty
        if maker.remaining == 0:
            maker.status = FILLED
            self.leave(maker)
        else:
            maker.status = PARTIALLY_FILLED
        first_trade = self.last_price is None
        self.last_price = price
        self.trade_count += 1
        for s in list(self.open):
            if s.where == PENDING_STOP and stop_fires(s, price):
                if first_trade:
                    tie = 0  # no direction yet: all reached at once, the older goes first
                elif fires_on_fall(s):
                    tie = -s.stop_price  # on a fall the highest stop was reached first
                else:
                    tie = s.stop_price  # on a rise the lowest
                self.leave(s)
                self.waiting.append(((self.trade_count, tie, s.order_id), s, price))

    def run_triggered(self) -> None:
        while self.waiting:
            self.waiting.sort(key=lambda item: item[0])
            _, o, price = self.waiting.pop(0)
            self.triggered.append((o.order_id, price))
            self.take(o)  # as MARKET or as LIMIT with its time in force

    def join(self, o: ModelOrder) -> None:
        self.clock += 1
        o.arrival = self.clock
        o.where = ON_BOOK
        self.open.append(o)

    def leave(self, o: ModelOrder) -> None:
        self.open.remove(o)
        o.where = NOWHERE

    # --- cancels and amends ------------------------------------------------------

    def find_open(self, user_id: int, order_id: int) -> ModelOrder | None:
        for o in self.open:
            if o.order_id == order_id and o.user_id == user_id:
                return o
        return None

    def cancel(self, c: CancelOrder) -> Reject | None:
        target = None
        if c.order_id != 0:
            target = self.find_open(c.user_id, c.order_id)
        elif c.client_order_id:
            for o in self.open:
                if o.user_id == c.user_id and o.client_order_id == c.client_order_id:
                    target = o
        if target is None:
            return Reject.UNKNOWN_ORDER
        target.status = CANCELED
        self.leave(target)
        return None

    def cancel_all(self, c: CancelAll) -> Reject | None:
        mine = [o for o in self.open if o.user_id == c.user_id]
        if not mine:
            return Reject.UNKNOWN_ORDER
        for o in sorted(mine, key=lambda o: o.order_id):
            o.status = CANCELED
            self.leave(o)
        return None

    def amend(self, c: AmendOrder) -> Reject | None:
        ins = self.ins
        if not self.trading:
            return Reject.MARKET_CLOSED
        o = self.find_open(c.user_id, c.order_id)
        if o is None:
            return Reject.UNKNOWN_ORDER
        if o.where == PENDING_STOP:
            return Reject.AMEND_NOT_ALLOWED
        price = o.price if c.price == 0 else c.price
        qty = o.qty if c.qty == 0 else c.qty
        if price < ins.min_price_ticks or price > ins.max_price_ticks:
            return Reject.PRICE_FILTER
        if qty < ins.min_lots or qty > ins.max_lots:
            return Reject.LOT_SIZE
        if qty <= o.filled:
            return Reject.AMEND_NOT_ALLOWED
        if price * qty < ins.min_notional_units:
            return Reject.NOTIONAL
        if (
            o.order_type is OrderType.LIMIT_MAKER
            and price != o.price
            and self.would_cross(o.side, price)
        ):
            return Reject.WOULD_TAKE
        if price == o.price and qty <= o.qty:
            o.qty = qty  # keeps its place; remaining drops by the difference
            return None
        # Out of the book, and back in at the end of its (new) level as a taker.
        self.leave(o)
        o.price = price
        o.qty = qty
        self.take(o)
        self.run_triggered()
        return None
