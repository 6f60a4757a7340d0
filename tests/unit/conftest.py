"""Shared helpers for the matching-engine unit tests.

Everything is exposed through fixtures so that no test module has to import this file:

* ``ex`` -- an :class:`Exchange` on a simple instrument (tick 1, step 1, no notional
  minimum), so that ticks and lots read as plain prices and quantities;
* ``make_ex`` -- builds an :class:`Exchange` on an instrument with overridden fields;
* ``make_instrument`` -- builds an :class:`Instrument` with overridden fields.

Every command an :class:`Exchange` sends gets the next ``seq`` (and ``ts = 1000 + seq``) and
returns the engine's events as an :class:`Events` list with small extractors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rialto.domain.commands import (
    AmendOrder,
    CancelAll,
    CancelOrder,
    Command,
    PlaceOrder,
    SetMarketStatus,
)
from rialto.domain.engine import MatchingEngine
from rialto.domain.events import (
    BookDelta,
    Event,
    OrderAccepted,
    OrderAmended,
    OrderRejected,
    OrderUpdate,
    StopTriggered,
    Trade,
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

BUY = Side.BUY
SELL = Side.SELL


def build_instrument(**overrides: Any) -> Instrument:
    spec: dict[str, Any] = {
        "symbol": "TESTUSD",
        "base_asset": "TEST",
        "quote_asset": "USD",
        "tick_size": "1",
        "step_size": "1",
    }
    spec.update(overrides)
    return Instrument(**spec)


class Events(list[Event]):
    """The events of one command, with extractors for the common questions."""

    def of(self, cls: type) -> list[Any]:
        return [e for e in self if isinstance(e, cls)]

    @property
    def kinds(self) -> list[str]:
        """Event class names in order, e.g. ``["OrderAccepted", "Trade", ...]``."""
        return [type(e).__name__ for e in self]

    @property
    def trades(self) -> list[Trade]:
        return self.of(Trade)

    @property
    def fills(self) -> list[tuple[int, int, int, int]]:
        """``(price, qty, maker_order_id, taker_order_id)`` of every trade, in order."""
        return [(t.price, t.qty, t.maker_order_id, t.taker_order_id) for t in self.trades]

    @property
    def updates(self) -> list[OrderUpdate]:
        return self.of(OrderUpdate)

    @property
    def statuses(self) -> list[tuple[int, OrderStatus]]:
        """``(order_id, status)`` of every OrderUpdate, in order."""
        return [(u.order_id, u.status) for u in self.updates]

    def update(self, order_id: int) -> OrderUpdate:
        """The last OrderUpdate of ``order_id`` in this command."""
        found = [u for u in self.updates if u.order_id == order_id]
        assert found, f"no OrderUpdate for order {order_id} in {self.kinds}"
        return found[-1]

    @property
    def deltas(self) -> list[tuple[Side, int, int]]:
        """``(side, price, new total)`` of every BookDelta, in order."""
        return [(d.side, d.price, d.qty) for d in self.of(BookDelta)]

    @property
    def update_ids(self) -> list[int]:
        return [d.update_id for d in self.of(BookDelta)]

    @property
    def triggered(self) -> list[int]:
        return [s.order_id for s in self.of(StopTriggered)]

    @property
    def reject(self) -> Reject | None:
        rejected = self.of(OrderRejected)
        assert len(rejected) <= 1
        return rejected[0].reason if rejected else None

    @property
    def accepted(self) -> OrderAccepted:
        accepted = self.of(OrderAccepted)
        assert len(accepted) == 1, f"expected one OrderAccepted in {self.kinds}"
        result: OrderAccepted = accepted[0]
        return result

    @property
    def oid(self) -> int:
        """The id the engine gave the order this command placed."""
        return self.accepted.order_id

    @property
    def amended(self) -> OrderAmended:
        amended = self.of(OrderAmended)
        assert len(amended) == 1, f"expected one OrderAmended in {self.kinds}"
        result: OrderAmended = amended[0]
        return result


class Exchange:
    """A MatchingEngine plus a sequencer that stamps ``seq``/``ts`` on every command."""

    def __init__(self, instrument: Instrument | None = None) -> None:
        self.engine = MatchingEngine(instrument or build_instrument())
        self.seq = 0
        self.log: list[Command] = []

    def _stamp(self) -> tuple[int, int]:
        self.seq += 1
        return self.seq, 1000 + self.seq

    def send(self, make: Callable[[int, int], Command]) -> Events:
        cmd = make(*self._stamp())
        self.log.append(cmd)
        return Events(self.engine.apply(cmd))

    # --- placements -----------------------------------------------------

    def place(
        self,
        user: int,
        side: Side,
        order_type: OrderType,
        qty: int = 0,
        price: int = 0,
        tif: TimeInForce = TimeInForce.GTC,
        quote_qty: int = 0,
        stop_price: int = 0,
        cid: str = "",
        stp: SelfTradePrevention | None = None,
        cap: int = 0,
    ) -> Events:
        return self.send(
            lambda seq, ts: PlaceOrder(
                seq,
                ts,
                user,
                side,
                order_type,
                qty=qty,
                price=price,
                tif=tif,
                quote_qty=quote_qty,
                stop_price=stop_price,
                client_order_id=cid,
                stp=stp,
                cap=cap,
            )
        )

    def limit(self, user: int, side: Side, price: int, qty: int, **kw: Any) -> Events:
        return self.place(user, side, OrderType.LIMIT, qty=qty, price=price, **kw)

    def buy(self, user: int, price: int, qty: int, **kw: Any) -> Events:
        return self.limit(user, BUY, price, qty, **kw)

    def sell(self, user: int, price: int, qty: int, **kw: Any) -> Events:
        return self.limit(user, SELL, price, qty, **kw)

    def market(self, user: int, side: Side, qty: int = 0, **kw: Any) -> Events:
        return self.place(user, side, OrderType.MARKET, qty=qty, **kw)

    def stop(
        self,
        user: int,
        side: Side,
        order_type: OrderType,
        stop_price: int,
        qty: int,
        price: int = 0,
        **kw: Any,
    ) -> Events:
        return self.place(user, side, order_type, qty=qty, price=price, stop_price=stop_price, **kw)

    def trade_at(self, price: int, qty: int = 1, maker: int = 90, taker: int = 91) -> None:
        """Print one trade at ``price`` between two bystanders (sets the last price)."""
        self.sell(maker, price, qty)
        events = self.buy(taker, price, qty)
        assert [(t.price, t.qty) for t in events.trades] == [(price, qty)], events.kinds

    # --- other commands -------------------------------------------------

    def cancel(self, user: int, order_id: int = 0, cid: str = "") -> Events:
        return self.send(lambda seq, ts: CancelOrder(seq, ts, user, order_id, cid))

    def cancel_all(self, user: int) -> Events:
        return self.send(lambda seq, ts: CancelAll(seq, ts, user))

    def amend(self, user: int, order_id: int, price: int = 0, qty: int = 0) -> Events:
        return self.send(lambda seq, ts: AmendOrder(seq, ts, user, order_id, price, qty))

    def halt(self) -> Events:
        return self.send(lambda seq, ts: SetMarketStatus(seq, ts, MarketStatus.HALT))

    def resume(self) -> Events:
        return self.send(lambda seq, ts: SetMarketStatus(seq, ts, MarketStatus.TRADING))

    def restored(self) -> Exchange:
        """A new Exchange whose engine is restored from this one's snapshot (same next seq)."""
        twin = Exchange(self.engine.instrument)
        twin.engine = MatchingEngine.restore(self.engine.snapshot())
        twin.seq = self.seq
        return twin

    # --- state ----------------------------------------------------------

    @property
    def bids(self) -> list[tuple[int, int]]:
        return self.engine.depth()[1]

    @property
    def asks(self) -> list[tuple[int, int]]:
        return self.engine.depth()[2]

    def open_ids(self, user: int) -> list[int]:
        return [o.order_id for o in self.engine.open_orders(user)]

    def queue(self, side: Side, price: int) -> list[int]:
        """Order ids resting at one level, front of the queue first."""
        book = self.engine.bids if side is BUY else self.engine.asks
        return list(book.levels.get(price, {}))


@pytest.fixture
def make_instrument() -> Callable[..., Instrument]:
    return build_instrument


@pytest.fixture
def make_ex() -> Callable[..., Exchange]:
    def make(**overrides: Any) -> Exchange:
        return Exchange(build_instrument(**overrides))

    return make


@pytest.fixture
def ex() -> Exchange:
    return Exchange()
