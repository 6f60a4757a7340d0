"""The matching engine of one symbol: a deterministic single-writer state machine.

Each command returns the ordered list of events it caused. The engine reads no
clock and no randomness (``seq`` and ``ts`` come on the command) and does no I/O,
so the same commands always rebuild the same state, checked by :meth:`state_hash`.
"""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Callable
from typing import Any

from rialto.domain.book import BookSide
from rialto.domain.commands import (
    AmendOrder,
    CancelAll,
    CancelOrder,
    Command,
    PlaceOrder,
    ResumeMarket,
    SetMarketRisk,
    SetMarketStatus,
)
from rialto.domain.events import (
    BookDelta,
    Event,
    MarketStatusChanged,
    OrderAccepted,
    OrderAmended,
    OrderRejected,
    OrderUpdate,
    StopTriggered,
    Trade,
)
from rialto.domain.instruments import Instrument
from rialto.domain.orders import (
    STOP_TYPES,
    MarketStatus,
    Order,
    OrderStatus,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
    triggers_on_fall,
)
from rialto.domain.rejects import Reject
from rialto.domain.risk import OFF, MarketRisk, band

SNAPSHOT_VERSION = 1

BUY = Side.BUY
SELL = Side.SELL
GTC = TimeInForce.GTC
IOC = TimeInForce.IOC
FOK = TimeInForce.FOK
LIMIT = OrderType.LIMIT
MARKET = OrderType.MARKET
LIMIT_MAKER = OrderType.LIMIT_MAKER
STP_NONE = SelfTradePrevention.NONE
EXPIRE_TAKER = SelfTradePrevention.EXPIRE_TAKER
EXPIRE_MAKER = SelfTradePrevention.EXPIRE_MAKER
EXPIRE_BOTH = SelfTradePrevention.EXPIRE_BOTH
NEW = OrderStatus.NEW
PARTIALLY_FILLED = OrderStatus.PARTIALLY_FILLED
FILLED = OrderStatus.FILLED
CANCELED = OrderStatus.CANCELED
EXPIRED = OrderStatus.EXPIRED
EXPIRED_IN_MATCH = OrderStatus.EXPIRED_IN_MATCH
TRADING = MarketStatus.TRADING
BREAK = MarketStatus.BREAK
# Orders that take liquidity at any price once active.
MARKET_TYPES = frozenset({OrderType.MARKET, OrderType.STOP_LOSS, OrderType.TAKE_PROFIT})
_NO_LIMIT = -(1 << 200)


class EngineError(RuntimeError):
    """A snapshot that cannot be restored."""


class MatchingEngine:
    """Price-time priority matching for one instrument.

    Triggered stop orders run inside the cycle of the command whose trade crossed
    their stop price. Among several triggered at once, the one whose stop the price
    crossed first goes first (highest stop on a fall, lowest on a rise), then the
    older order; a trade made by a triggered order can trigger more.
    """

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.status = instrument.status
        self.bids = BookSide(BUY)
        self.asks = BookSide(SELL)
        self.orders: dict[int, Order] = {}  # resting and pending-stop orders by id
        self._client_ids: dict[tuple[int, str], int] = {}
        # Pending stops as sort keys; the next to trigger is last.
        self._stops_fall: list[tuple[int, int]] = []  # (stop, -order_id)
        self._stops_rise: list[tuple[int, int]] = []  # (-stop, -order_id)
        self._triggered: list[tuple[int, int]] = []  # (order id, trigger price), this command
        self.next_order_id = 1
        self.next_trade_id = 1
        self.update_id = 0  # id of the last BookDelta emitted
        self.last_price = 0  # price of the last trade, 0 before the first
        self.last_seq = 0
        self.risk = OFF
        self.halted_until = 0  # status BREAK: when its cooling period ends
        # Circuit breaker: (ts, last price at ts) since the window's start, the first the
        # price the market stood at when the window opened; one entry per ts.
        self._moves: deque[tuple[int, int]] = deque()
        self._handlers: dict[type, Callable[[Any], list[Event]]] = {
            PlaceOrder: self.place,
            AmendOrder: self.amend,
            CancelOrder: self.cancel,
            CancelAll: self.cancel_all,
            SetMarketStatus: self.set_status,
            SetMarketRisk: self.set_risk,
            ResumeMarket: self.resume,
        }

    # --- commands ---------------------------------------------------------

    def apply(self, cmd: Command) -> list[Event]:
        handler: Callable[[Any], list[Event]] = self._handlers[type(cmd)]
        return handler(cmd)

    def place(self, c: PlaceOrder) -> list[Event]:
        self.last_seq = c.seq
        ev: list[Event] = []
        stp = self.instrument.default_stp if c.stp is None else c.stp
        reason = self._check_place(c)
        if reason is not None:
            ev.append(OrderRejected(c.seq, c.ts, c.user_id, 0, c.client_order_id, reason))
            return ev
        oid = self.next_order_id
        self.next_order_id = oid + 1
        o = Order(
            oid,
            c.user_id,
            c.client_order_id,
            c.side,
            c.order_type,
            c.tif,
            c.price,
            c.qty,
            c.quote_qty,
            c.stop_price,
            stp,
            c.seq,
            c.ts,
            c.cap,
        )
        if c.client_order_id:
            self._client_ids[(c.user_id, c.client_order_id)] = oid
        ev.append(
            OrderAccepted(
                c.seq,
                c.ts,
                oid,
                c.user_id,
                c.client_order_id,
                c.side,
                c.order_type,
                c.tif,
                c.price,
                c.qty,
                c.quote_qty,
                c.stop_price,
                stp,
                c.cap,
            )
        )
        if c.order_type in STOP_TYPES:
            self._add_stop(o)
            self.orders[oid] = o
            return ev
        first_trade = self.next_trade_id
        self._execute(o, c.seq, c.ts, ev)
        if self._triggered:
            self._run_stops(c.seq, c.ts, ev)
        self._flush(ev)
        if self.next_trade_id != first_trade and self.risk.breaker_bps:
            self._breaker(c.seq, c.ts, ev, first_trade)
        return ev

    def cancel(self, c: CancelOrder) -> list[Event]:
        self.last_seq = c.seq
        ev: list[Event] = []
        o = self._find(c.user_id, c.order_id, c.client_order_id)
        if o is None:
            ev.append(
                OrderRejected(
                    c.seq, c.ts, c.user_id, c.order_id, c.client_order_id, Reject.UNKNOWN_ORDER
                )
            )
            return ev
        self._cancel(o, c.seq, c.ts, ev)
        self._flush(ev)
        return ev

    def cancel_all(self, c: CancelAll) -> list[Event]:
        self.last_seq = c.seq
        ev: list[Event] = []
        mine = sorted(oid for oid, o in self.orders.items() if o.user_id == c.user_id)
        if not mine:
            ev.append(OrderRejected(c.seq, c.ts, c.user_id, 0, "", Reject.UNKNOWN_ORDER))
            return ev
        for oid in mine:
            self._cancel(self.orders[oid], c.seq, c.ts, ev)
        self._flush(ev)
        return ev

    def amend(self, c: AmendOrder) -> list[Event]:
        self.last_seq = c.seq
        seq, ts = c.seq, c.ts
        ev: list[Event] = []
        o = self.orders.get(c.order_id)
        if self.status is not TRADING:
            cid = o.client_order_id if o is not None and o.user_id == c.user_id else ""
            ev.append(OrderRejected(seq, ts, c.user_id, c.order_id, cid, Reject.MARKET_CLOSED))
            return ev
        if o is None or o.user_id != c.user_id:
            ev.append(OrderRejected(seq, ts, c.user_id, c.order_id, "", Reject.UNKNOWN_ORDER))
            return ev
        price = c.price or o.price
        qty = c.qty or o.qty
        reason = self._check_amend(o, price, qty)
        if reason is not None:
            ev.append(OrderRejected(seq, ts, c.user_id, c.order_id, o.client_order_id, reason))
            return ev
        old_price, old_qty = o.price, o.qty
        book = self.bids if o.side is BUY else self.asks
        if price == old_price and qty <= old_qty:
            # Same price, no larger: keeps its place in the queue.
            cut = old_qty - qty
            if cut:
                book.touch(price)
                o.qty = qty
                o.remaining -= cut
                book.totals[price] -= cut
            ev.append(
                OrderAmended(
                    seq,
                    ts,
                    o.order_id,
                    o.user_id,
                    o.client_order_id,
                    o.side,
                    old_price,
                    old_qty,
                    price,
                    qty,
                    o.remaining,
                    True,
                )
            )
            self._flush(ev)
            return ev
        book.remove(o)
        del self.orders[o.order_id]
        o.price = price
        o.qty = qty
        o.remaining = qty - o.filled
        ev.append(
            OrderAmended(
                seq,
                ts,
                o.order_id,
                o.user_id,
                o.client_order_id,
                o.side,
                old_price,
                old_qty,
                price,
                qty,
                o.remaining,
                False,
            )
        )
        first_trade = self.next_trade_id
        self._execute(o, seq, ts, ev)
        if self._triggered:
            self._run_stops(seq, ts, ev)
        self._flush(ev)
        if self.next_trade_id != first_trade and self.risk.breaker_bps:
            self._breaker(seq, ts, ev, first_trade)
        return ev

    def set_status(self, c: SetMarketStatus) -> list[Event]:
        self.last_seq = c.seq
        self.status = c.status
        self.halted_until = 0  # the operator's word ends a breaker's halt (no auto-resume)
        return [MarketStatusChanged(c.seq, c.ts, c.status)]

    def set_risk(self, c: SetMarketRisk) -> list[Event]:
        risk = MarketRisk(c.band_bps, c.breaker_bps, c.window_ms, c.cooling_ms)
        risk.check()  # before anything changes
        self.last_seq = c.seq
        self.risk = risk
        # The breaker's window starts afresh, at the price the market stands at now.
        self._moves.clear()
        if risk.breaker_bps and self.last_price:
            self._moves.append((c.ts, self.last_price))
        return []

    def resume(self, c: ResumeMarket) -> list[Event]:
        """End a breaker's halt once its cooling period is over; before that, nothing."""
        self.last_seq = c.seq
        if self.status is not BREAK or not self.halted_until or c.ts < self.halted_until:
            return []
        self.status = TRADING
        self.halted_until = 0
        return [MarketStatusChanged(c.seq, c.ts, TRADING)]

    def _breaker(self, seq: int, ts: int, ev: list[Event], first_trade: int) -> None:
        """Halt the market if this command's trades moved the price too far, too fast.

        The reference is the price the market stood at when the window opened (the last
        trade at or before ``ts - window``; without one, the window's earliest price):
        the price path is judged after the whole command, stops it triggered included.
        """
        risk, moves = self.risk, self._moves
        start = ts - risk.window_ms
        while len(moves) > 1 and moves[1][0] <= start:
            moves.popleft()
        reference = moves[0][1] if moves else 0
        if len(moves) > 1 and moves[-1][0] == ts:
            moves[-1] = (ts, self.last_price)  # one entry per ts; the reference stays
        else:
            moves.append((ts, self.last_price))
        if not reference:
            return  # the market's first trade under the breaker: nothing to compare with
        prices = [e.price for e in ev if type(e) is Trade and e.trade_id >= first_trade]
        low, high = band(reference, risk.breaker_bps)
        if min(prices) >= low and max(prices) <= high:
            return
        self.status = BREAK
        self.halted_until = ts + risk.cooling_ms
        moves.clear()
        moves.append((ts, self.last_price))  # after the halt, moves count from here
        ev.append(MarketStatusChanged(seq, ts, BREAK, self.halted_until))

    # --- checks -----------------------------------------------------------

    def check_place(self, c: PlaceOrder) -> Reject | None:
        """Why ``place(c)`` would be refused right now, or None (changes nothing)."""
        return self._check_place(c)

    def _check_place(self, c: PlaceOrder) -> Reject | None:
        # The order's own faults first, then what depends on the market's state (an
        # accounts shard without the book checks the first part only, before its hold).
        reason = static_reject(self.instrument, c)
        if reason is not None:
            return reason
        if self.status is not TRADING:
            return Reject.MARKET_CLOSED
        if c.price and self.risk.band_bps and not self._in_band(c.price):
            return Reject.PERCENT_PRICE_BY_SIDE
        if c.client_order_id and (c.user_id, c.client_order_id) in self._client_ids:
            return Reject.DUPLICATE_ORDER
        t = c.order_type
        if t is LIMIT_MAKER and self._crosses(c.side, c.price):
            return Reject.WOULD_TAKE
        if t in STOP_TYPES:
            last = self.last_price
            if last:
                fall = triggers_on_fall(c.side, t)
                if (last <= c.stop_price) if fall else (last >= c.stop_price):
                    return Reject.WOULD_TRIGGER_IMMEDIATELY
        return None

    def _check_amend(self, o: Order, price: int, qty: int) -> Reject | None:
        ins = self.instrument  # the market status is checked first, by amend()
        if not self._on_book(o):
            return Reject.AMEND_NOT_ALLOWED  # a pending stop is not on the book
        if not ins.min_price_ticks <= price <= ins.max_price_ticks:
            return Reject.PRICE_FILTER
        if not ins.min_lots <= qty <= ins.max_lots:
            return Reject.LOT_SIZE
        if qty <= o.filled:
            return Reject.AMEND_NOT_ALLOWED
        if price * qty < ins.min_notional_units:
            return Reject.NOTIONAL
        if price != o.price and not self._in_band(price):
            return Reject.PERCENT_PRICE_BY_SIDE
        if o.order_type is LIMIT_MAKER and price != o.price and self._crosses(o.side, price):
            return Reject.WOULD_TAKE
        return None

    def _in_band(self, price: int) -> bool:
        """Whether ``price`` is within the price band (no band, or no trade yet: yes)."""
        bps, last = self.risk.band_bps, self.last_price
        if not bps or not last:
            return True
        low, high = band(last, bps)
        return low <= price <= high

    def _crosses(self, side: Side, price: int) -> bool:
        if side is BUY:
            best = self.asks.best()
            return best is not None and best <= price
        best = self.bids.best()
        return best is not None and best >= price

    # --- matching ---------------------------------------------------------

    def _execute(self, o: Order, seq: int, ts: int, ev: list[Event]) -> None:
        """Match an active order as taker, then rest, expire or finish it."""
        is_market = o.order_type in MARKET_TYPES
        limit = 0 if is_market else o.price
        if is_market and self.risk.band_bps and self.last_price:
            # The band also bounds a market order: it trades no further than the band.
            low, high = band(self.last_price, self.risk.band_bps)
            limit = high if o.side is BUY else low
        if o.tif is FOK and not is_market and not self._fillable(o, limit):
            o.status = EXPIRED
            self._finish(o, seq, ts, ev)
            return
        first, before = self.next_trade_id, self.last_price
        traded = self._match(o, limit, seq, ts, ev)
        if traded and (self._stops_fall or self._stops_rise):
            self._collect_triggered(ev, first, before)
        if o.status is EXPIRED_IN_MATCH:
            self._finish(o, seq, ts, ev)
        elif o.qty == 0:  # market order sized by quote amount
            # Filled when what is left of the budget cannot buy one more lot.
            left = o.quote_qty - o.filled_quote
            o.status = FILLED if traded and left < self.last_price else EXPIRED
            self._finish(o, seq, ts, ev)
        elif o.remaining == 0:
            o.status = FILLED
            self._finish(o, seq, ts, ev)
        elif is_market or o.tif is not GTC:
            o.status = EXPIRED
            self._finish(o, seq, ts, ev)
        else:
            self.orders[o.order_id] = o
            (self.bids if o.side is BUY else self.asks).add(o)
            if traded:
                o.status = PARTIALLY_FILLED
                ev.append(self._update(o, seq, ts))

    def _match(self, t: Order, limit: int, seq: int, ts: int, ev: list[Event]) -> bool:
        """Take liquidity for ``t`` down to ``limit`` (0: no limit). True if anything traded."""
        book = self.asks if t.side is BUY else self.bids
        keys = book.keys
        if not keys:
            return False
        sign = book.sign
        lk = sign * limit if limit else _NO_LIMIT
        if keys[-1] < lk:
            return False
        levels, totals, dirty = book.levels, book.totals, book.dirty
        orders, client_ids = self.orders, self._client_ids
        append = ev.append
        uid, stp, tside, toid = t.user_id, t.stp, t.side, t.order_id
        by_quote = t.qty == 0
        budget = t.quote_qty - t.filled_quote
        cap = t.cap
        is_buy = tside is BUY
        traded = False
        last_price = 0
        while keys and keys[-1] >= lk:
            price = sign * keys[-1]
            want = budget // price if by_quote else t.remaining
            cap_hit = False
            if cap:  # the funds held: a buy's notional, a sell's lots
                room = (cap - t.filled_quote) // price if is_buy else cap - t.filled
                if room < want:
                    want = room
                    cap_hit = True
            if want <= 0:
                break
            level = levels[price]
            if price not in dirty:
                dirty[price] = totals[price]
            done: list[Order] = []
            level_fill = 0
            stop = False
            for m in level.values():
                if stp is not STP_NONE and m.user_id == uid:
                    if stp is EXPIRE_TAKER:
                        stop = True
                        break
                    done.append(m)
                    level_fill += m.remaining
                    m.status = EXPIRED_IN_MATCH
                    append(self._update(m, seq, ts))
                    if stp is EXPIRE_BOTH:
                        stop = True
                        break
                    continue
                mr = m.remaining
                q = mr if mr < want else want
                tid = self.next_trade_id
                self.next_trade_id = tid + 1
                append(Trade(seq, ts, tid, price, q, m.order_id, toid, m.user_id, uid, tside))
                notional = q * price
                mr -= q
                m.remaining = mr
                m.filled += q
                m.filled_quote += notional
                if mr:
                    m.status = PARTIALLY_FILLED
                else:
                    m.status = FILLED
                    done.append(m)
                append(
                    OrderUpdate(
                        seq,
                        ts,
                        m.order_id,
                        m.user_id,
                        m.client_order_id,
                        m.side,
                        m.status,
                        m.price,
                        m.qty,
                        mr,
                        m.filled,
                        m.filled_quote,
                    )
                )
                level_fill += q
                t.filled += q
                t.filled_quote += notional
                budget -= notional
                want -= q
                traded = True
                last_price = price
                if not want:
                    break
            if not by_quote:
                t.remaining = t.qty - t.filled
            for m in done:
                del level[m.order_id]
                del orders[m.order_id]
                if m.client_order_id:
                    del client_ids[(m.user_id, m.client_order_id)]
            if level_fill:
                if level:
                    totals[price] -= level_fill
                else:
                    del levels[price]
                    del totals[price]
                    keys.pop()
            if stop:
                t.status = EXPIRED_IN_MATCH
                break
            if want or (by_quote and not cap_hit):
                continue  # level exhausted (or a budget left for the next): next level
            break
        if traded:
            self.last_price = last_price
        return traded

    def _fillable(self, t: Order, limit: int) -> bool:
        """Whether a FOK order would fill completely, self-trade prevention included."""
        book = self.asks if t.side is BUY else self.bids
        sign = book.sign
        lk = sign * limit
        need = t.remaining
        uid, stp = t.user_id, t.stp
        for key in reversed(book.keys):
            if key < lk:
                return False
            for m in book.levels[sign * key].values():
                if stp is not STP_NONE and m.user_id == uid:
                    if stp is EXPIRE_MAKER:
                        continue
                    return False
                need -= m.remaining
                if need <= 0:
                    return True
        return False

    def _finish(self, o: Order, seq: int, ts: int, ev: list[Event]) -> None:
        """Emit the final state of an order that will not rest, and forget its client id."""
        if o.client_order_id:
            self._client_ids.pop((o.user_id, o.client_order_id), None)
        ev.append(self._update(o, seq, ts))

    @staticmethod
    def _update(o: Order, seq: int, ts: int) -> OrderUpdate:
        return OrderUpdate(
            seq,
            ts,
            o.order_id,
            o.user_id,
            o.client_order_id,
            o.side,
            o.status,
            o.price,
            o.qty,
            o.remaining,
            o.filled,
            o.filled_quote,
        )

    # --- cancels and lookups ---------------------------------------------

    def _find(self, user_id: int, order_id: int, client_order_id: str) -> Order | None:
        if not order_id:
            order_id = self._client_ids.get((user_id, client_order_id), 0)
        o = self.orders.get(order_id)
        if o is None or o.user_id != user_id:
            return None
        if client_order_id and o.client_order_id != client_order_id:
            return None
        return o

    def _cancel(self, o: Order, seq: int, ts: int, ev: list[Event]) -> None:
        del self.orders[o.order_id]
        if self._on_book(o):
            self._book_of(o).remove(o)
        else:
            self._remove_stop(o)
        o.status = CANCELED
        self._finish(o, seq, ts, ev)

    def _book_of(self, o: Order) -> BookSide:
        return self.bids if o.side is BUY else self.asks

    # --- stops ------------------------------------------------------------

    def _add_stop(self, o: Order) -> None:
        if triggers_on_fall(o.side, o.order_type):
            insort(self._stops_fall, (o.stop_price, -o.order_id))
        else:
            insort(self._stops_rise, (-o.stop_price, -o.order_id))

    def _remove_stop(self, o: Order) -> None:
        if triggers_on_fall(o.side, o.order_type):
            stops, key = self._stops_fall, (o.stop_price, -o.order_id)
        else:
            stops, key = self._stops_rise, (-o.stop_price, -o.order_id)
        del stops[bisect_left(stops, key)]

    def _collect_triggered(self, ev: list[Event], first_trade_id: int, before: int) -> None:
        """Queue the stops that the taker's trades (ids from ``first_trade_id``) reached.

        Queued in the order the price path (from ``before``, the last price before
        these trades, through each trade) reached them: by the first trade reaching the
        stop, then the stop nearer to where that move started (highest on a fall, lowest
        on a rise; all equal before the symbol's first trade), then the older order.
        Once queued, a stop runs even if the price moves back.
        """
        prices = [e.price for e in ev if type(e) is Trade and e.trade_id >= first_trade_id]
        low, high = min(prices), max(prices)
        reached: list[tuple[int, int, int, int]] = []  # (trade index, nearness, id, price)
        fall, rise = self._stops_fall, self._stops_rise
        while fall and fall[-1][0] >= low:
            stop, neg_id = fall.pop()
            i = next(i for i, p in enumerate(prices) if p <= stop)
            start = prices[i - 1] if i else before
            reached.append((i, start - stop if start else 0, -neg_id, prices[i]))
        while rise and -rise[-1][0] <= high:
            neg_stop, neg_id = rise.pop()
            i = next(i for i, p in enumerate(prices) if p >= -neg_stop)
            start = prices[i - 1] if i else before
            reached.append((i, -neg_stop - start if start else 0, -neg_id, prices[i]))
        reached.sort()
        self._triggered.extend((oid, price) for _, _, oid, price in reached)

    def _run_stops(self, seq: int, ts: int, ev: list[Event]) -> None:
        """Run queued stops in order; trades they make may queue more (a cascade)."""
        queue = self._triggered
        while queue:
            oid, price = queue.pop(0)
            o = self.orders.pop(oid)
            ev.append(StopTriggered(seq, ts, oid, o.user_id, o.stop_price, price))
            self._execute(o, seq, ts, ev)

    # --- market data ------------------------------------------------------

    def _flush(self, ev: list[Event]) -> None:
        """One BookDelta per level whose total this command changed; contiguous update ids."""
        for book in (self.bids, self.asks):
            dirty = book.dirty
            if dirty:
                uid = self.update_id
                totals, side = book.totals, book.side
                for price, before in dirty.items():
                    now = totals.get(price, 0)
                    if now != before:
                        uid += 1
                        ev.append(BookDelta(uid, side, price, now))
                self.update_id = uid
                dirty.clear()

    def depth(
        self, limit: int | None = None
    ) -> tuple[int, list[tuple[int, int]], list[tuple[int, int]]]:
        """``(update_id, bids, asks)``: an L2 snapshot consistent with the delta stream."""
        return self.update_id, self.bids.depth(limit), self.asks.depth(limit)

    def open_orders(self, user_id: int) -> list[Order]:
        return sorted(
            (o for o in self.orders.values() if o.user_id == user_id), key=lambda o: o.order_id
        )

    # --- snapshots --------------------------------------------------------

    def snapshot(self) -> bytes:
        """The whole state as canonical bytes (FIFO order inside every level kept)."""
        stops = sorted(
            (
                o
                for o in self.orders.values()
                if o.order_type in STOP_TYPES and not self._on_book(o)
            ),
            key=lambda o: o.order_id,
        )
        state: dict[str, Any] = {
            "version": SNAPSHOT_VERSION,
            "instrument": self.instrument.to_dict(),
            "status": self.status,
            "next_order_id": self.next_order_id,
            "next_trade_id": self.next_trade_id,
            "update_id": self.update_id,
            "last_price": self.last_price,
            "last_seq": self.last_seq,
            "bids": [o.to_row() for o in self.bids.orders()],
            "asks": [o.to_row() for o in self.asks.orders()],
            "stops": [o.to_row() for o in stops],
        }
        # Only when set, so a market without risk controls keeps its old snapshot bytes.
        if self.risk != OFF:
            state["risk"] = list(self.risk)
        if self.halted_until:
            state["halted_until"] = self.halted_until
        if self._moves:
            state["moves"] = [list(m) for m in self._moves]
        return json.dumps(state, separators=(",", ":"), sort_keys=True).encode()

    def state_hash(self) -> str:
        return hashlib.sha256(self.snapshot()).hexdigest()

    @classmethod
    def restore(cls, data: bytes) -> MatchingEngine:
        try:
            state = json.loads(data)
            if state.get("version") != SNAPSHOT_VERSION:
                raise EngineError(f"unsupported snapshot version {state.get('version')!r}")
            engine = cls(Instrument.from_dict(state["instrument"]))
            engine.status = MarketStatus(state["status"])
            for name in ("next_order_id", "next_trade_id", "update_id", "last_price", "last_seq"):
                setattr(engine, name, int(state[name]))
            engine.risk = MarketRisk(*state.get("risk", OFF))
            engine.risk.check()
            engine.halted_until = int(state.get("halted_until", 0))
            engine._moves.extend((int(t), int(p)) for t, p in state.get("moves", ()))
            for side, key in ((BUY, "bids"), (SELL, "asks"), (None, "stops")):
                for row in state[key]:
                    o = Order.from_row(row)
                    if o.order_id in engine.orders or not 0 < o.order_id < engine.next_order_id:
                        raise EngineError(f"bad or duplicate order id {o.order_id}")
                    engine._index(o)
                    if side is None:
                        if o.order_type not in STOP_TYPES:
                            raise EngineError(f"order {o.order_id} is not a stop order")
                        engine._add_stop(o)
                    elif o.side is not side or o.remaining <= 0 or o.price <= 0:
                        raise EngineError(f"order {o.order_id} cannot rest among the {key}")
                    else:
                        engine._book_of(o).add(o)
            bid, ask = engine.bids.best(), engine.asks.best()
            if bid is not None and ask is not None and bid >= ask:
                raise EngineError("the restored book is crossed")
        except EngineError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise EngineError(f"corrupt engine snapshot: {exc}") from exc
        engine.bids.dirty.clear()
        engine.asks.dirty.clear()
        return engine

    def _index(self, o: Order) -> None:
        self.orders[o.order_id] = o
        if o.client_order_id:
            self._client_ids[(o.user_id, o.client_order_id)] = o.order_id

    def _on_book(self, o: Order) -> bool:
        return o.order_id in self._book_of(o).levels.get(o.price, ())


def static_reject(ins: Instrument, c: PlaceOrder) -> Reject | None:
    """Why ``c`` breaks the market's rules whatever the book holds (shape and filters).

    The engine checks it on every place; an accounts shard checks it before it holds
    funds, so an ill-formed order is refused for what it is, not for its funds.
    """
    t = c.order_type
    if (c.stp if c.stp is not None else ins.default_stp) not in ins.allowed_stp:
        return Reject.STP_MODE_NOT_ALLOWED
    if t in MARKET_TYPES:
        if c.price or c.cap < 0:
            return Reject.INVALID_ORDER
        if c.quote_qty:
            # Sized by quote amount: plain MARKET only, never together with a quantity.
            if c.qty or t is not MARKET:
                return Reject.INVALID_ORDER
            if c.quote_qty < 0 or c.quote_qty < ins.min_notional_units:
                return Reject.NOTIONAL
        elif not ins.market_min_lots <= c.qty <= ins.market_max_lots:
            return Reject.MARKET_LOT_SIZE
    else:
        if c.quote_qty or c.cap:
            return Reject.INVALID_ORDER
        if not ins.min_price_ticks <= c.price <= ins.max_price_ticks:
            return Reject.PRICE_FILTER
        if not ins.min_lots <= c.qty <= ins.max_lots:
            return Reject.LOT_SIZE
        if c.price * c.qty < ins.min_notional_units:
            return Reject.NOTIONAL
        if t is LIMIT_MAKER and c.tif is not GTC:
            return Reject.INVALID_ORDER
    if t in STOP_TYPES:
        if not ins.min_price_ticks <= c.stop_price <= ins.max_price_ticks:
            return Reject.PRICE_FILTER
    elif c.stop_price:
        return Reject.INVALID_ORDER
    return None
