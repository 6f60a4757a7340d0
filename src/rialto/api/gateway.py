"""What the REST API does, on the embedded runtime: requests to the node, reads from read models.

Writes go through :meth:`Node.submit` (journaled, durable before the answer). Reads come
from the market-data read model (books, trades, candles, tickers), from the engines
for open orders, and from the SQL read model for order and trade history; a history read
first waits until the SQL read model has every outcome acknowledged so far, so a client
always sees its own writes.
"""

from __future__ import annotations

import asyncio
import secrets
import string
import time
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import Any

from rialto.api import errors, views
from rialto.api.params import Params
from rialto.api.signing import KeyCheck
from rialto.domain import requests as req
from rialto.domain.engine import MatchingEngine
from rialto.domain.events import OrderAccepted, OrderUpdate, Trade
from rialto.domain.exchange import Outcome
from rialto.domain.funds import place_of
from rialto.domain.instruments import Instrument
from rialto.domain.numbers import NumberFormatError
from rialto.domain.orders import Order, OrderStatus, OrderType, Side, TimeInForce
from rialto.domain.postings import AccountKind, Posting
from rialto.domain.rejects import FilterError
from rialto.domain.users import ApiKey
from rialto.marketdata import MarketData
from rialto.runtime.core import Core
from rialto.runtime.keyring import SecretBox
from rialto.runtime.node import NodeStopped, RequestError
from rialto.runtime.projection import SqlFeed

NEEDS_TIF = frozenset({OrderType.LIMIT, OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT_LIMIT})
NEEDS_PRICE = NEEDS_TIF | {OrderType.LIMIT_MAKER}
NEEDS_STOP = frozenset(
    {
        OrderType.STOP_LOSS,
        OrderType.STOP_LOSS_LIMIT,
        OrderType.TAKE_PROFIT,
        OrderType.TAKE_PROFIT_LIMIT,
    }
)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


_ID_CHARS = string.ascii_letters + string.digits


def new_client_order_id() -> str:
    """A random 22-character id, as Binance makes one when ``newClientOrderId`` is not sent
    (it must be unique among the user's open orders: two orders in the same millisecond
    must not clash)."""
    return "".join(secrets.choice(_ID_CHARS) for _ in range(22))


class Gateway:
    def __init__(self, node: Core, feed: SqlFeed, market: MarketData, box: SecretBox) -> None:
        self.node = node
        self.feed = feed
        self.market = market
        self.box = box
        self._secrets: dict[str, str] = {}
        self.keys = KeyCheck(node.exchange.users.live_key, self._secret_of)

    def _secret_of(self, key: ApiKey) -> str:
        secret = self._secrets.get(key.api_key)
        if secret is None:
            secret = self.box.unseal(key.verifier, key.api_key)
            self._secrets[key.api_key] = secret
        return secret

    def _asset_format(self, asset: str, amount: int) -> str:
        return self.node.exchange.accounts[0].assets[asset].format(amount)

    # --- markets ------------------------------------------------------------

    def instrument(self, symbol: str | None) -> Instrument:
        engine = self.node.exchange.engines.get(symbol or "")
        if engine is None:
            raise errors.invalid_symbol()
        return engine.instrument

    def engine(self, symbol: str) -> MatchingEngine:
        engine = self.node.exchange.engines.get(symbol)
        if engine is None:
            raise errors.invalid_symbol()
        return engine

    def exchange_info(self, p: Params, rate_limits: list[dict[str, object]]) -> dict[str, Any]:
        ex = self.node.exchange
        wanted = p.symbols() or ([p.need("symbol")] if p.get("symbol") else sorted(ex.engines))
        assets = ex.accounts[0].assets
        symbols = []
        for s in wanted:
            engine = self.engine(s)
            ins = engine.instrument
            symbols.append(
                views.symbol_info(
                    ins,
                    engine.status,
                    assets[ins.base_asset],
                    assets[ins.quote_asset],
                    engine.risk,
                )
            )
        return {
            "timezone": "UTC",
            "serverTime": now_ms(),
            "rateLimits": rate_limits,
            "exchangeFilters": [],
            "symbols": symbols,
        }

    # --- orders -------------------------------------------------------------

    async def submit(self, r: req.Request) -> Outcome:
        try:
            return await self.node.submit(r)
        except RequestError as exc:
            raise errors.order_rejected(str(exc)) from exc
        except NodeStopped as exc:
            raise errors.unknown(execution_unknown=True) from exc

    def new_order(self, user_id: int, p: Params) -> tuple[req.NewOrder, Instrument]:
        symbol = p.need("symbol")
        ins = self.instrument(symbol)
        side, kind, tif = p.side(), p.order_type(), p.tif()
        if kind in NEEDS_TIF and tif is None:
            raise errors.mandatory_missing("timeInForce")
        if kind not in NEEDS_TIF and tif is not None:
            raise errors.param_not_required("timeInForce")
        if kind is not OrderType.MARKET and p.get("quoteOrderQty") is not None:
            raise errors.param_not_required("quoteOrderQty")
        if kind not in NEEDS_STOP and p.get("stopPrice") is not None:
            raise errors.param_not_required("stopPrice")
        if (
            kind is OrderType.MARKET
            and p.get("quantity") is None
            and p.get("quoteOrderQty") is None
        ):
            raise errors.either_mandatory("quantity", "quoteOrderQty")
        try:
            qty = price = quote = stop = 0
            if kind is OrderType.MARKET and p.get("quoteOrderQty") is not None:
                if p.get("quantity") is not None:
                    raise errors.bad_param_combo()
                quote = ins.quote_units(p.need("quoteOrderQty"))
            else:
                market = kind in (OrderType.MARKET, OrderType.STOP_LOSS, OrderType.TAKE_PROFIT)
                qty = ins.qty_lots(p.need("quantity"), market=market)
            if kind in NEEDS_PRICE:
                price = ins.price_ticks(p.need("price"))
            elif p.get("price") is not None:
                raise errors.param_not_required("price")
            if kind in NEEDS_STOP:
                stop = ins.price_ticks(p.need("stopPrice"), "stopPrice")
        except FilterError as exc:
            raise errors.from_reject(exc.reason) from exc
        except NumberFormatError as exc:
            raise errors.illegal_chars(exc.param, "^([0-9]{1,20})(\\.[0-9]{1,20})?$") from exc
        r = req.NewOrder(
            user_id,
            symbol,
            side,
            kind,
            qty,
            price,
            tif or TimeInForce.GTC,
            quote,
            stop,
            p.client_order_id() or new_client_order_id(),
            p.stp(),
        )
        return r, ins

    async def place(self, user_id: int, p: Params, test: bool = False) -> dict[str, Any]:
        r, ins = self.new_order(user_id, p)
        full = r.order_type in (OrderType.LIMIT, OrderType.MARKET)
        resp = _response_type(p, "FULL" if full else "ACK")
        if test:
            reason = self.engine(r.symbol).check_place(place_of(0, 0, r))
            if reason is not None:
                raise errors.from_reject(reason)
            return {}
        out = await self.submit(r)
        if out.reject is not None:
            raise errors.from_reject(out.reject)
        return self._order_result(ins, r.symbol, user_id, out, resp)

    def _order_result(
        self, ins: Instrument, symbol: str, user_id: int, out: Outcome, resp: str
    ) -> dict[str, Any]:
        accepted = next(e for e in out.events if type(e) is OrderAccepted)
        body: dict[str, Any] = {
            "symbol": symbol,
            "orderId": accepted.order_id,
            "orderListId": -1,
            "clientOrderId": accepted.client_order_id,
            "transactTime": out.ts,
        }
        if resp == "ACK":
            return body
        last: OrderUpdate | None = None
        for e in out.events:
            if type(e) is OrderUpdate and e.order_id == accepted.order_id:
                last = e
        status = last.status if last is not None else OrderStatus.NEW
        filled = last.filled if last is not None else 0
        filled_quote = last.filled_quote if last is not None else 0
        body |= {
            "price": views.price(ins, accepted.price),
            "origQty": views.qty(ins, accepted.qty),
            "executedQty": views.qty(ins, filled),
            "origQuoteOrderQty": views.notional(ins, accepted.quote_qty),
            "cummulativeQuoteQty": views.notional(ins, filled_quote),
            "status": status.value,
            "timeInForce": accepted.tif.value,
            "type": accepted.order_type.value,
            "side": accepted.side.value,
            "workingTime": out.ts,
            "selfTradePreventionMode": accepted.stp.value,
        }
        if accepted.stop_price:
            body["stopPrice"] = views.price(ins, accepted.stop_price)
        if resp == "FULL":
            body["fills"] = _fills(ins, symbol, accepted.side, out, self._asset_format)
        return body

    def _find(self, user_id: int, symbol: str, p: Params) -> tuple[int, str]:
        order_id = p.integer("orderId")
        cid = p.client_order_id("origClientOrderId")
        if order_id is None and not cid:
            raise errors.either_mandatory("orderId", "origClientOrderId")
        return order_id or 0, cid

    async def cancel(self, user_id: int, p: Params) -> dict[str, Any]:
        symbol = p.need("symbol")
        ins = self.instrument(symbol)
        order_id, cid = self._find(user_id, symbol, p)
        cancel_id = p.client_order_id("newClientOrderId")  # checked before anything happens
        known = self._resting(user_id, symbol, order_id)
        out = await self.submit(req.CancelOrder(user_id, symbol, order_id, cid))
        if out.reject is not None:
            raise errors.from_reject(out.reject)
        update = next(e for e in out.events if type(e) is OrderUpdate)
        return self._canceled(ins, symbol, update, out, cancel_id, known.get(update.order_id))

    def _resting(self, user_id: int, symbol: str, order_id: int = 0) -> dict[int, Order]:
        """The user's orders in the engine (just ``order_id`` if given), taken before a
        cancel: its events do not carry the type, time in force and STP mode, and the
        engine forgets a canceled order."""
        engine = self.engine(symbol)
        if order_id:
            o = engine.orders.get(order_id)
            return {order_id: o} if o is not None and o.user_id == user_id else {}
        return {o.order_id: o for o in engine.open_orders(user_id)}

    def _canceled(
        self,
        ins: Instrument,
        symbol: str,
        u: OrderUpdate,
        out: Outcome,
        cancel_id: str,
        row: Order | None,
    ) -> dict[str, Any]:
        return {
            "symbol": symbol,
            "origClientOrderId": u.client_order_id,
            "orderId": u.order_id,
            "orderListId": -1,
            "clientOrderId": cancel_id or u.client_order_id,
            "transactTime": out.ts,
            "price": views.price(ins, u.price),
            "origQty": views.qty(ins, u.qty),
            "executedQty": views.qty(ins, u.filled),
            "origQuoteOrderQty": views.notional(ins, row.quote_qty if row else 0),
            "cummulativeQuoteQty": views.notional(ins, u.filled_quote),
            "status": u.status.value,
            "timeInForce": row.tif.value if row else TimeInForce.GTC.value,
            "type": row.order_type.value if row else OrderType.LIMIT.value,
            "side": u.side.value,
            "selfTradePreventionMode": row.stp.value if row else ins.default_stp.value,
        }

    async def cancel_replace(self, user_id: int, p: Params) -> dict[str, Any]:
        """Cancel an order, then place a new one: two journaled requests, in this order."""
        mode = p.need("cancelReplaceMode")
        if mode not in ("STOP_ON_FAILURE", "ALLOW_FAILURE"):
            raise errors.invalid_parameter("cancelReplaceMode")
        order_id = p.integer("cancelOrderId") or 0
        cid = p.client_order_id("cancelOrigClientOrderId")
        if not order_id and not cid:
            raise errors.either_mandatory("cancelOrderId", "cancelOrigClientOrderId")
        r, ins = self.new_order(user_id, p)  # a bad new order changes nothing
        resp = _response_type(p, "FULL")
        symbol = r.symbol
        known = self._resting(user_id, symbol, order_id)
        out = await self.submit(req.CancelOrder(user_id, symbol, order_id, cid))
        cancel: dict[str, Any]
        if out.reject is None:
            update = next(e for e in out.events if type(e) is OrderUpdate)
            cancel_id = p.client_order_id("cancelNewClientOrderId")
            known_row = known.get(update.order_id)
            cancel = self._canceled(ins, symbol, update, out, cancel_id, known_row)
        else:
            cancel = errors.from_reject(out.reject).body()
            if mode == "STOP_ON_FAILURE":
                raise CancelReplaceError(-2022, "Order cancel-replace failed.", cancel, None)
        placed = await self.submit(r)
        new: dict[str, Any] = (
            errors.from_reject(placed.reject).body()
            if placed.reject is not None
            else self._order_result(ins, symbol, user_id, placed, resp)
        )
        if out.reject is not None or placed.reject is not None:
            code, msg = (-2021, "Order cancel-replace partially failed.")
            if out.reject is not None and placed.reject is not None:
                code, msg = (-2022, "Order cancel-replace failed.")
            raise CancelReplaceError(code, msg, cancel, new)
        return {
            "cancelResult": "SUCCESS",
            "newOrderResult": "SUCCESS",
            "cancelResponse": cancel,
            "newOrderResponse": new,
        }

    async def cancel_all(self, user_id: int, p: Params) -> list[dict[str, Any]]:
        symbol = p.need("symbol")
        ins = self.instrument(symbol)
        known = self._resting(user_id, symbol)
        out = await self.submit(req.CancelAllOrders(user_id, symbol))
        if out.reject is not None:
            raise errors.from_reject(out.reject)
        updates = [e for e in out.events if type(e) is OrderUpdate]
        if not updates:
            raise errors.cancel_rejected("Unknown order sent.")
        return [self._canceled(ins, symbol, u, out, "", known.get(u.order_id)) for u in updates]

    async def _caught_up(self) -> None:
        """Wait (briefly) until the SQL read model holds every acknowledged outcome."""
        target = self.node.durable_seq
        for _ in range(200):
            # In a thread: in gateway mode the read model is another server's database.
            if await asyncio.to_thread(lambda: self.feed.checkpoint) >= target:
                return
            await asyncio.sleep(0.005)

    async def get_order(self, user_id: int, p: Params) -> dict[str, Any]:
        symbol = p.need("symbol")
        ins = self.instrument(symbol)
        order_id, cid = self._find(user_id, symbol, p)
        await self._caught_up()
        rows = await asyncio.to_thread(self.feed.store.orders, user_id, symbol, order_id or 0, 1000)
        for row in rows:
            if (order_id and row.order_id == order_id) or (
                not order_id and row.client_order_id == cid
            ):
                return views.order(ins, row, symbol, row.created_ts, row.updated_ts)
        raise errors.no_such_order()

    async def open_orders(self, user_id: int, p: Params) -> list[dict[str, Any]]:
        symbol = p.get("symbol")
        if symbol is not None:
            self.instrument(symbol)
        await self._caught_up()
        rows = await asyncio.to_thread(self.feed.store.open_orders, user_id, symbol)
        return [
            views.order(self.instrument(r.symbol), r, r.symbol, r.created_ts, r.updated_ts)
            for r in rows
        ]

    async def all_orders(self, user_id: int, p: Params) -> list[dict[str, Any]]:
        symbol = p.need("symbol")
        ins = self.instrument(symbol)
        limit = p.limit(500, 1000)
        start, end = p.integer("startTime"), p.integer("endTime")
        await self._caught_up()
        rows = await asyncio.to_thread(
            self.feed.store.orders, user_id, symbol, p.integer("orderId") or 0, 5000
        )
        rows = [
            r
            for r in rows
            if (start is None or r.created_ts >= start) and (end is None or r.created_ts <= end)
        ]
        newest = rows[len(rows) - limit :] if len(rows) > limit else rows
        rows = rows[:limit] if p.integer("orderId") or start is not None else newest
        return [views.order(ins, r, symbol, r.created_ts, r.updated_ts) for r in rows]

    async def my_trades(self, user_id: int, p: Params) -> list[dict[str, Any]]:
        symbol = p.need("symbol")
        ins = self.instrument(symbol)
        limit = p.limit(500, 1000)
        start, end = p.integer("startTime"), p.integer("endTime")
        only = p.integer("orderId")
        await self._caught_up()
        rows = await asyncio.to_thread(
            self.feed.store.user_trades, user_id, symbol, p.integer("fromId") or 0, 5000
        )
        rows = [
            t
            for t in rows
            if (start is None or t.ts >= start)
            and (end is None or t.ts <= end)
            and (only is None or only in _orders_of(t, user_id))
        ]
        newest = rows[len(rows) - limit :] if len(rows) > limit else rows
        rows = rows[:limit] if p.integer("fromId") is not None or start is not None else newest
        sides = {t.trade_id: _side_of(t, user_id) for t in rows}
        refs = [f"{symbol}:{t.trade_id}:{sides[t.trade_id].value}" for t in rows]
        fees = await asyncio.to_thread(self.feed.store.trade_fees, refs)
        out = []
        for t, ref in zip(rows, refs, strict=True):
            side = sides[t.trade_id]
            is_maker = (t.maker_user_id == user_id) and (t.taker_side is not side)
            order_id = t.maker_order_id if is_maker else t.taker_order_id
            fee_asset = ins.base_asset if side is Side.BUY else ins.quote_asset
            asset, amount = fees.get(ref, (fee_asset, 0))
            out.append(
                {
                    "symbol": symbol,
                    "id": t.trade_id,
                    "orderId": order_id,
                    "orderListId": -1,
                    "price": views.price(ins, t.price),
                    "qty": views.qty(ins, t.qty),
                    "quoteQty": views.notional(ins, t.price * t.qty),
                    "commission": self._asset_format(asset, amount),
                    "commissionAsset": asset,
                    "time": t.ts,
                    "isBuyer": side is Side.BUY,
                    "isMaker": is_maker,
                    "isBestMatch": True,
                }
            )
        return out

    def account(self, key: ApiKey, p: Params) -> dict[str, Any]:
        ex = self.node.exchange
        accounts = ex.shard(key.user_id)
        omit = p.get("omitZeroBalances") == "true"
        balances = []
        for symbol in sorted(accounts.assets):
            free, locked = accounts.balance(key.user_id, symbol)
            if omit and not free and not locked:
                continue
            asset = accounts.assets[symbol]
            balances.append(
                {"asset": symbol, "free": asset.format(free), "locked": asset.format(locked)}
            )
        maker, taker = Decimal(0), Decimal(0)
        if accounts.markets:  # the fee tier's rates, else the first market's
            m, t = accounts.rates(key.user_id, min(accounts.markets))
            maker, taker = (
                Decimal(m.mantissa).scaleb(-m.scale),
                Decimal(t.mantissa).scaleb(-t.scale),
            )
        return {
            "makerCommission": int(maker * 10_000),  # Binance's unit: 0.01%
            "takerCommission": int(taker * 10_000),
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {
                "maker": f"{maker:.8f}",
                "taker": f"{taker:.8f}",
                "buyer": "0.00000000",
                "seller": "0.00000000",
            },
            "canTrade": "trade" in key.permissions,
            "canWithdraw": "withdraw" in key.permissions,
            "canDeposit": True,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": ex.last_ts,
            "accountType": "SPOT",
            "balances": balances,
            "permissions": ["SPOT"],
            "uid": key.user_id,
        }

    # --- market data ----------------------------------------------------------

    def avg_price(self, symbol: str) -> dict[str, Any]:
        ins = self.instrument(symbol)
        value, close_time = self.market.avg_price(symbol, self.market.now(symbol, now_ms()))
        price = Fraction(value) * Fraction(ins.tick.mantissa, 10**ins.tick.scale)
        return {"mins": 5, "price": views.fraction_str(price), "closeTime": close_time}


def _response_type(p: Params, default: str) -> str:
    """``newOrderRespType``: ACK, RESULT or FULL."""
    resp = p.get("newOrderRespType") or default
    if resp not in ("ACK", "RESULT", "FULL"):
        raise errors.invalid_parameter("newOrderRespType")
    return resp


class CancelReplaceError(errors.ApiError):
    """Binance's cancel-replace failure: the error, with what each half did under ``data``."""

    def __init__(
        self, code: int, msg: str, cancel: dict[str, Any], new: dict[str, Any] | None
    ) -> None:
        super().__init__(code, msg, 409 if code == -2021 else 400)
        self.data = {
            "cancelResult": "FAILURE" if "code" in cancel else "SUCCESS",
            "newOrderResult": (
                "NOT_ATTEMPTED" if new is None else "FAILURE" if "code" in new else "SUCCESS"
            ),
            "cancelResponse": cancel,
            "newOrderResponse": new,
        }

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg, "data": self.data}


def _side_of(t: Any, user_id: int) -> Side:
    taker_side: Side = t.taker_side
    if t.taker_user_id == user_id:
        return taker_side
    return Side.SELL if taker_side is Side.BUY else Side.BUY


def _orders_of(t: Any, user_id: int) -> tuple[int, ...]:
    ids = []
    if t.maker_user_id == user_id:
        ids.append(t.maker_order_id)
    if t.taker_user_id == user_id:
        ids.append(t.taker_order_id)
    return tuple(ids)


def _fills(
    ins: Instrument, symbol: str, side: Side, out: Outcome, fmt: Callable[[str, int], str]
) -> list[dict[str, Any]]:
    """The taker's fills, each with the fee its settlement posted."""
    fees: dict[str, tuple[str, int]] = {}
    for e in out.events:
        if type(e) is Posting and e.kind == "trade":
            for leg in e.legs:
                if leg.account is AccountKind.FEES:
                    fees[e.ref] = (leg.asset, leg.amount)
    fills = []
    fee_asset = ins.base_asset if side is Side.BUY else ins.quote_asset
    for e in out.events:
        if type(e) is Trade:
            asset, amount = fees.get(f"{symbol}:{e.trade_id}:{side.value}", (fee_asset, 0))
            fills.append(
                {
                    "price": views.price(ins, e.price),
                    "qty": views.qty(ins, e.qty),
                    "commission": fmt(asset, amount),
                    "commissionAsset": asset,
                    "tradeId": e.trade_id,
                }
            )
    return fills
