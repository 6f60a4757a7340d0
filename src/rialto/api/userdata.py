"""User data events (``executionReport``, ``outboundAccountPosition``, ``balanceUpdate``).

Built from durable outcomes only: balances are a projection of the postings' free and
locked legs (seeded from the exchange at start-up, when the state is exactly the
durable one), so a client never sees a balance the journal does not hold. Orders are
remembered from their ``OrderAccepted`` (or, for orders older than the process, from
the engines at start-up) until they end.

Listen keys (the legacy user data stream) live here too: 60 minutes, extended by a
keep-alive; one per user, as Binance hands out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from rialto.api import errors, views
from rialto.api.listenkeys import ListenKeys, MemoryListenKeys
from rialto.api.params import Params
from rialto.domain.events import OrderAccepted, OrderAmended, OrderUpdate, Trade
from rialto.domain.exchange import Exchange, Outcome
from rialto.domain.instruments import Instrument
from rialto.domain.orders import OrderStatus, OrderType, SelfTradePrevention, Side, TimeInForce
from rialto.domain.postings import AccountKind, Posting

FREE, LOCKED = AccountKind.FREE, AccountKind.LOCKED
_EXEC_TYPE = {
    OrderStatus.NEW: "NEW",
    OrderStatus.PARTIALLY_FILLED: "TRADE",
    OrderStatus.FILLED: "TRADE",
    OrderStatus.CANCELED: "CANCELED",
    OrderStatus.EXPIRED: "EXPIRED",
    OrderStatus.EXPIRED_IN_MATCH: "TRADE_PREVENTION",
    OrderStatus.REJECTED: "REJECTED",
}


class OrderInfo(NamedTuple):
    symbol: str
    user_id: int
    client_order_id: str
    side: Side
    order_type: OrderType
    tif: TimeInForce
    price: int
    qty: int
    quote_qty: int
    stop_price: int
    stp: SelfTradePrevention
    created: int


class UserEvent(NamedTuple):
    user_id: int
    payload: dict[str, Any]


class UserData:
    def __init__(
        self,
        exchange: Exchange,
        instrument_of: Callable[[str], Instrument],
        clock: Callable[[], int],
        listen_keys: ListenKeys | None = None,
    ) -> None:
        self.instrument_of = instrument_of
        self.clock = clock
        self.assets = exchange.accounts[0].assets  # live: assets added later are known too
        self.balances: dict[int, dict[str, list[int]]] = {}
        for accounts in exchange.accounts:
            for user, per_asset in accounts.balances.items():
                self.balances[user] = {a: list(v) for a, v in per_asset.items()}
        self.orders: dict[tuple[str, int], OrderInfo] = {}
        for symbol, engine in exchange.engines.items():
            for o in engine.orders.values():
                self.orders[(symbol, o.order_id)] = OrderInfo(
                    symbol, o.user_id, o.client_order_id, o.side, o.order_type, o.tif,
                    o.price, o.qty, o.quote_qty, o.stop_price, o.stp, o.ts,
                )  # fmt: skip
        self.listen_keys = listen_keys or MemoryListenKeys()

    # --- listen keys ------------------------------------------------------------

    async def listen_key_request(self, method: str, user_id: int, p: Params) -> dict[str, str]:
        """``userDataStream``: POST makes (or extends) the key, PUT keeps it alive, DELETE
        closes it."""
        if method == "POST":
            return {"listenKey": await self.new_listen_key(user_id, self.clock())}
        listen_key = p.need("listenKey")
        done = await (
            self.keep_alive(user_id, listen_key, self.clock())
            if method == "PUT"
            else self.close_listen_key(user_id, listen_key)
        )
        if not done:
            raise errors.invalid_listen_key()
        return {}

    async def new_listen_key(self, user_id: int, now: int) -> str:
        return await self.listen_keys.create(user_id, now)

    async def keep_alive(self, user_id: int, key: str, now: int) -> bool:
        return await self.listen_keys.keep_alive(user_id, key, now)

    async def close_listen_key(self, user_id: int, key: str) -> bool:
        return await self.listen_keys.close(user_id, key)

    async def listen_key_user(self, key: str, now: int) -> int | None:
        return await self.listen_keys.user_of(key, now)

    # --- events -------------------------------------------------------------------

    def events(
        self, outcomes: list[Outcome], wanted: Callable[[int], bool] = lambda _: True
    ) -> Iterator[UserEvent]:
        """The user events of durable outcomes, in order, for the users ``wanted`` says.

        Balances and orders are tracked for everybody; only the reports are skipped.
        """
        for o in outcomes:
            yield from self._outcome(o, wanted)

    def _outcome(self, o: Outcome, wanted: Callable[[int], bool]) -> Iterator[UserEvent]:
        now = self.clock()
        fills: dict[int, list[Trade]] = {}
        fees: dict[str, tuple[str, int]] = {}
        changed: dict[int, set[str]] = {}
        deposits: list[tuple[int, str, int, int]] = []
        for e in o.events:
            t = type(e)
            if t is OrderAccepted:
                a: OrderAccepted = e  # type: ignore[assignment]
                info = OrderInfo(
                    o.symbol, a.user_id, a.client_order_id, a.side, a.order_type, a.tif,
                    a.price, a.qty, a.quote_qty, a.stop_price, a.stp, a.ts,
                )  # fmt: skip
                self.orders[(o.symbol, a.order_id)] = info
            elif t is Trade:
                tr: Trade = e  # type: ignore[assignment]
                fills.setdefault(tr.maker_order_id, []).append(tr)
                fills.setdefault(tr.taker_order_id, []).append(tr)
            elif t is Posting:
                p: Posting = e  # type: ignore[assignment]
                for leg in p.legs:
                    if leg.account is AccountKind.FEES and p.kind == "trade":
                        fees[p.ref] = (leg.asset, leg.amount)
                    if leg.account in (FREE, LOCKED) and leg.user_id:
                        bal = self.balances.setdefault(leg.user_id, {}).setdefault(
                            leg.asset, [0, 0]
                        )
                        bal[0 if leg.account is FREE else 1] += leg.amount
                        changed.setdefault(leg.user_id, set()).add(leg.asset)
                        if p.kind in ("deposit", "adjustment") and leg.account is FREE:
                            deposits.append((leg.user_id, leg.asset, leg.amount, p.ts))
        last_update = {e.order_id: k for k, e in enumerate(o.events) if type(e) is OrderUpdate}
        for k, e in enumerate(o.events):
            t = type(e)
            if t is OrderAccepted:
                a2: OrderAccepted = e  # type: ignore[assignment]
                if wanted(a2.user_id):
                    yield self._report(
                        o, a2.order_id, "NEW", OrderStatus.NEW, 0, 0, None, fees, now
                    )
            elif t is OrderUpdate:
                up: OrderUpdate = e  # type: ignore[assignment]
                if last_update[up.order_id] != k:  # its fills and end, once per outcome
                    continue
                if wanted(up.user_id):
                    yield from self._updated(o, up, fills.get(up.order_id, []), fees, now)
                elif up.status not in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED):
                    self.orders.pop((o.symbol, up.order_id), None)
            elif t is OrderAmended:
                am: OrderAmended = e  # type: ignore[assignment]
                known = self.orders.get((o.symbol, am.order_id))
                if known is not None:
                    amended = known._replace(price=am.price, qty=am.qty)
                    self.orders[(o.symbol, am.order_id)] = amended
        for user, asset, amount, ts in deposits:
            if not wanted(user):
                continue
            yield UserEvent(
                user,
                {
                    "e": "balanceUpdate",
                    "E": now,
                    "a": asset,
                    "d": self.assets[asset].format(amount) if asset in self.assets else str(amount),
                    "T": ts,
                },
            )
        for user, assets in changed.items():
            if wanted(user):
                yield UserEvent(user, self._position(user, assets, o.ts, now))

    def _updated(
        self,
        o: Outcome,
        u: OrderUpdate,
        mine: list[Trade],
        fees: dict[str, tuple[str, int]],
        now: int,
    ) -> Iterator[UserEvent]:
        """A TRADE report per fill of this outcome, then the order's end if it ended otherwise."""
        done = u.filled - sum(tr.qty for tr in mine)
        done_quote = u.filled_quote - sum(tr.qty * tr.price for tr in mine)
        for tr in mine:
            done += tr.qty
            done_quote += tr.qty * tr.price
            filled_now = tr is mine[-1] and u.status is OrderStatus.FILLED
            status = OrderStatus.FILLED if filled_now else OrderStatus.PARTIALLY_FILLED
            yield self._report(o, u.order_id, "TRADE", status, done, done_quote, tr, fees, now)
        ended = u.status not in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED)
        if ended or (not mine and u.status is not OrderStatus.NEW):
            exec_type = _EXEC_TYPE[u.status]
            yield self._report(
                o, u.order_id, exec_type, u.status, u.filled, u.filled_quote, None, fees, now
            )
        if u.status not in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED):
            self.orders.pop((o.symbol, u.order_id), None)

    def _position(self, user: int, assets: set[str], ts: int, now: int) -> dict[str, Any]:
        rows = []
        for asset in sorted(assets):
            free, locked = self.balances[user][asset]
            fmt = self.assets[asset].format if asset in self.assets else str
            rows.append({"a": asset, "f": fmt(free), "l": fmt(locked)})
        return {"e": "outboundAccountPosition", "E": now, "u": ts, "B": rows}

    def _report(
        self,
        o: Outcome,
        order_id: int,
        exec_type: str,
        status: OrderStatus,
        filled: int,
        filled_quote: int,
        trade: Trade | None,
        fees: dict[str, tuple[str, int]],
        now: int,
    ) -> UserEvent:
        info = self.orders.get((o.symbol, order_id))
        ins = self.instrument_of(o.symbol)
        if info is None:  # not seen accepted: report what the outcome says
            info = OrderInfo(o.symbol, 0, "", Side.BUY, OrderType.LIMIT, TimeInForce.GTC,
                             0, 0, 0, 0, SelfTradePrevention.NONE, o.ts)  # fmt: skip
        commission, commission_asset = "0", None
        is_maker = False
        if trade is not None:
            is_maker = trade.maker_order_id == order_id
            ref = f"{o.symbol}:{trade.trade_id}:{info.side.value}"
            if ref in fees:
                asset, amount = fees[ref]
                commission, commission_asset = self.assets[asset].format(amount), asset
        canceled = exec_type == "CANCELED"
        payload = {
            "e": "executionReport",
            "E": now,
            "s": o.symbol,
            "c": info.client_order_id,
            "S": info.side.value,
            "o": info.order_type.value,
            "f": info.tif.value,
            "q": views.qty(ins, info.qty),
            "p": views.price(ins, info.price),
            "P": views.price(ins, info.stop_price),
            "F": views.qty(ins, 0),
            "g": -1,
            "C": info.client_order_id if canceled else "",
            "x": exec_type,
            "X": status.value,
            "r": "NONE",
            "i": order_id,
            "l": views.qty(ins, trade.qty if trade else 0),
            "z": views.qty(ins, filled),
            "L": views.price(ins, trade.price if trade else 0),
            "n": commission,
            "N": commission_asset,
            "T": o.ts,
            "t": trade.trade_id if trade else -1,
            "I": o.seq,
            "w": status in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED),
            "m": is_maker,
            "M": False,
            "O": info.created,
            "Z": views.notional(ins, filled_quote),
            "Y": views.notional(ins, trade.qty * trade.price if trade else 0),
            "Q": views.notional(ins, info.quote_qty),
            "W": info.created,
            "V": info.stp.value,
        }
        user = info.user_id or (trade.maker_user_id if trade and is_maker else 0)
        return UserEvent(user, payload)
