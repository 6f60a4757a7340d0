"""The funds side of an order, shared by the embedded exchange and the accounts shards."""

from __future__ import annotations

from rialto.domain.accounts import Accounts, AccountsError, Result
from rialto.domain.commands import PlaceOrder
from rialto.domain.events import Trade
from rialto.domain.orders import OrderType, Side
from rialto.domain.rejects import Reject
from rialto.domain.requests import NewOrder

BUY = Side.BUY
# Types that trade without a limit price once active: their buys cannot be priced ahead.
UNPRICED = frozenset({OrderType.MARKET, OrderType.STOP_LOSS, OrderType.TAKE_PROFIT})


def place_of(seq: int, ts: int, r: NewOrder) -> PlaceOrder:
    """The engine's command for a new order request."""
    return PlaceOrder(
        seq,
        ts,
        r.user_id,
        r.side,
        r.order_type,
        r.qty,
        r.price,
        r.tif,
        r.quote_qty,
        r.stop_price,
        r.client_order_id,
        r.stp,
    )


def hold_new_order(
    accounts: Accounts, stream: str, seq: int, ts: int, hold_id: int, place: PlaceOrder, symbol: str
) -> tuple[Reject | None, Result | None, PlaceOrder]:
    """Hold what ``place`` may spend: ``(reject, result, place)``.

    An order that cannot be priced ahead (a market buy by quantity, a market sell by
    quote amount) holds the whole free balance, and the returned ``place`` carries the
    cap the matching engine must respect.
    """
    terms = accounts.markets.get(symbol)
    if terms is None:
        raise AccountsError(f"market {symbol} is not known to the accounts")
    side = place.side
    unpriced = place.order_type in UNPRICED
    whole = unpriced and (place.quote_qty if side is BUY else place.qty) == 0
    unit = terms.quote_per_unit if side is BUY else terms.base_per_lot
    if whole:
        asset = terms.quote.symbol if side is BUY else terms.base.symbol
        if accounts.balance(place.user_id, asset)[0] < unit:
            return Reject.INSUFFICIENT_BALANCE, None, place
    user = place.user_id
    if side is not BUY:
        held = accounts.hold_order(stream, seq, ts, hold_id, user, symbol, side, qty=place.qty)
    elif unpriced:
        quote = place.quote_qty * terms.quote_per_unit
        held = accounts.hold_order(stream, seq, ts, hold_id, user, symbol, side, quote=quote)
    else:
        held = accounts.hold_order(
            stream, seq, ts, hold_id, user, symbol, side, price=place.price, qty=place.qty
        )
    if not held.ok:
        return held.reason or Reject.INSUFFICIENT_BALANCE, None, place
    if whole:
        place = place._replace(cap=held.held // unit)
    return None, held, place


def trade_sides(tr: Trade) -> tuple[tuple[int, int, Side, bool], tuple[int, int, Side, bool]]:
    """``(user, order id, side, is maker)`` of the buyer, then of the seller."""
    maker_buys = tr.taker_side is not BUY
    if maker_buys:
        return (
            (tr.maker_user_id, tr.maker_order_id, Side.BUY, True),
            (tr.taker_user_id, tr.taker_order_id, Side.SELL, False),
        )
    return (
        (tr.taker_user_id, tr.taker_order_id, Side.BUY, False),
        (tr.maker_user_id, tr.maker_order_id, Side.SELL, True),
    )
