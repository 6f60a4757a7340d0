"""Folding a batch of stream items into rows, then writing them with multi-row statements."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from rialto.adapters.sql import schema
from rialto.adapters.sql.balances import BalanceKey, add_to_balances
from rialto.adapters.sql.bulk import insert_rows, update_rows
from rialto.adapters.sql.stream import Projected, ProjectionError, StreamItem
from rialto.domain.events import (
    BookDelta,
    MarketStatusChanged,
    OrderAccepted,
    OrderAmended,
    OrderRejected,
    OrderUpdate,
    StopTriggered,
    Trade,
)
from rialto.domain.orders import OrderStatus
from rialto.domain.postings import Posting, imbalance

IGNORED = (BookDelta, OrderRejected, StopTriggered, MarketStatusChanged)

OrderKey = tuple[str, int]  # (symbol, order_id)


class Plan:
    """The rows a batch turns into, folded in memory before any write."""

    def __init__(self) -> None:
        self.new_orders: dict[OrderKey, dict[str, Any]] = {}
        self.order_changes: dict[OrderKey, dict[str, Any]] = {}
        self.trades: list[dict[str, Any]] = []
        self.legs: list[dict[str, Any]] = []
        self.deltas: dict[BalanceKey, int] = {}

    def add(self, item: StreamItem) -> None:
        posting_idx = 0
        for event in item.events:
            if isinstance(event, Posting):
                self._posting(item, posting_idx, event)
                posting_idx += 1
            elif isinstance(event, Trade):
                self.trades.append(_trade_row(_symbol(item), event))
            elif isinstance(event, OrderUpdate):
                self._change(
                    (_symbol(item), event.order_id),
                    status=str(event.status),
                    price=event.price,
                    qty=event.qty,
                    remaining=event.remaining,
                    filled=event.filled,
                    filled_quote=event.filled_quote,
                    updated_ts=event.ts,
                )
            elif isinstance(event, OrderAmended):
                self._change(
                    (_symbol(item), event.order_id),
                    price=event.price,
                    qty=event.qty,
                    remaining=event.remaining,
                    updated_ts=event.ts,
                )
            elif isinstance(event, OrderAccepted):
                key = (_symbol(item), event.order_id)
                if key in self.new_orders:
                    raise ProjectionError(f"order {key} accepted twice")
                self.new_orders[key] = _order_row(key[0], event)
            elif not isinstance(event, IGNORED):
                raise ProjectionError(f"{item.stream}/{item.seq}: unknown event {event!r}")

    def _change(self, key: OrderKey, **values: Any) -> None:
        target = self.new_orders.get(key)
        if target is None:
            target = self.order_changes.setdefault(key, {})
        target.update(values)

    def _posting(self, item: StreamItem, posting_idx: int, posting: Posting) -> None:
        if any(imbalance(posting).values()):
            raise ProjectionError(f"{item.stream}/{item.seq}: unbalanced posting {posting.ref}")
        for leg_idx, leg in enumerate(posting.legs):
            account = str(leg.account)
            self.legs.append(
                {
                    "stream": item.stream,
                    "seq": item.seq,
                    "posting_idx": posting_idx,
                    "leg_idx": leg_idx,
                    "kind": posting.kind,
                    "ref": posting.ref,
                    "ts": posting.ts,
                    "account": account,
                    "user_id": leg.user_id,
                    "asset": leg.asset,
                    "amount": leg.amount,
                }
            )
            key = (leg.user_id, account, leg.asset)
            self.deltas[key] = self.deltas.get(key, 0) + leg.amount

    def write(self, conn: Connection) -> Projected:
        insert_rows(conn, schema.orders, list(self.new_orders.values()))
        self._write_order_changes(conn)
        insert_rows(conn, schema.trades, self.trades)
        insert_rows(conn, schema.ledger_postings, self.legs)
        add_to_balances(conn, self.deltas)
        return Projected(
            orders=len(self.new_orders),
            order_changes=len(self.order_changes),
            trades=len(self.trades),
            legs=len(self.legs),
            balances=len(self.deltas),
        )

    def _write_order_changes(self, conn: Connection) -> None:
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for (symbol, order_id), values in self.order_changes.items():
            row = {"symbol": symbol, "order_id": order_id, **values}
            groups.setdefault(tuple(sorted(values)), []).append(row)
        for columns, rows in groups.items():
            matched = update_rows(conn, schema.orders, rows, columns)
            if matched not in (-1, len(rows)):
                raise ProjectionError(f"{len(rows) - matched} order changes name no known order")


def _symbol(item: StreamItem) -> str:
    if not item.symbol:
        raise ProjectionError(f"{item.stream}/{item.seq}: market events need a symbol")
    return item.symbol


def _order_row(symbol: str, e: OrderAccepted) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "order_id": e.order_id,
        "user_id": e.user_id,
        "client_order_id": e.client_order_id,
        "side": str(e.side),
        "order_type": str(e.order_type),
        "tif": str(e.tif),
        "price": e.price,
        "qty": e.qty,
        "quote_qty": e.quote_qty,
        "stop_price": e.stop_price,
        "stp": str(e.stp),
        "status": str(OrderStatus.NEW),
        "remaining": e.qty,
        "filled": 0,
        "filled_quote": 0,
        "created_ts": e.ts,
        "updated_ts": e.ts,
    }


def _trade_row(symbol: str, e: Trade) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "trade_id": e.trade_id,
        "price": e.price,
        "qty": e.qty,
        "maker_order_id": e.maker_order_id,
        "taker_order_id": e.taker_order_id,
        "maker_user_id": e.maker_user_id,
        "taker_user_id": e.taker_user_id,
        "taker_side": str(e.taker_side),
        "ts": e.ts,
    }
