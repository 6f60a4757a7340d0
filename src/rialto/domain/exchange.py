"""The whole exchange as one deterministic state machine: the funds flow.

A new order goes to its user's accounts shard (hold), then to its symbol's matching
engine (match); the engine's events go back to the accounts shards of every user
involved (each side of a trade settles, a finished order releases the rest of its
hold). Embedded mode journals the requests to this machine in one sequence; the
same shard code serves the distributed mode, where each shard has its own log.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, NamedTuple

from rialto.domain import commands as cmd
from rialto.domain import requests as req
from rialto.domain.accounts import Accounts, AccountsError
from rialto.domain.assets import Asset
from rialto.domain.engine import MatchingEngine
from rialto.domain.events import (
    Event,
    OrderAccepted,
    OrderRejected,
    OrderUpdate,
    Trade,
)
from rialto.domain.funds import hold_new_order, place_of, trade_sides
from rialto.domain.instruments import Instrument
from rialto.domain.orders import FINAL_STATUSES, Side
from rialto.domain.postings import Posting
from rialto.domain.rejects import Reject
from rialto.domain.users import ApiKey, Users

SNAPSHOT_VERSION = 1
BUY = Side.BUY


class Outcome(NamedTuple):
    """What one request did: ``reject`` is None when it was carried out."""

    seq: int
    ts: int
    symbol: str
    reject: Reject | None
    order_id: int
    events: list[Event | Posting]
    detail: str = ""
    user_id: int = 0  # the new user's id, for CreateUser


class Exchange:
    """Accounts shards (users by ``user_id % shards``) and one matching engine per symbol."""

    def __init__(self, shards: int = 1) -> None:
        if shards < 1:
            raise ValueError("at least one accounts shard")
        self.accounts = [Accounts() for _ in range(shards)]
        self.engines: dict[str, MatchingEngine] = {}
        self.order_holds: dict[str, dict[int, int]] = {}  # symbol -> order id -> hold id
        self.users = Users()
        self._handlers: dict[type, Callable[[int, int, Any], Outcome]] = {
            req.NewOrder: self._new_order,
            req.CancelOrder: self._cancel,
            req.AmendOrder: self._amend,
            req.CancelAllOrders: self._cancel_all,
            req.Deposit: self._deposit,
            req.Adjust: self._adjust,
            req.AddAsset: self._add_asset,
            req.AddMarket: self._add_market,
            req.SetMarketStatus: self._set_status,
            req.SetMarketRisk: self._set_risk,
            req.ResumeMarket: self._resume,
            req.CreateUser: self._create_user,
            req.CreateApiKey: self._create_api_key,
            req.RevokeApiKey: self._revoke_api_key,
            req.SetFeeTier: self._set_fee_tier,
            req.AssignFeeTier: self._assign_fee_tier,
        }
        self.last_seq = 0
        self.last_ts = 0  # time stamped on the last request carried out

    def shard(self, user_id: int) -> Accounts:
        return self.accounts[user_id % len(self.accounts)]

    # --- requests ---------------------------------------------------------

    def apply(self, seq: int, ts: int, r: req.Request) -> Outcome:
        if seq <= self.last_seq:
            raise ValueError(f"request seq {seq} is not after {self.last_seq}")
        out = self._dispatch(seq, ts, r)
        self.last_seq = seq  # only once carried out: a request that raised changed nothing
        self.last_ts = ts
        return out

    def _dispatch(self, seq: int, ts: int, r: req.Request) -> Outcome:
        handler = self._handlers.get(type(r))
        if handler is None:
            raise TypeError(f"not an exchange request: {r!r}")
        return handler(seq, ts, r)

    def _new_order(self, seq: int, ts: int, r: req.NewOrder) -> Outcome:
        engine = self.engines.get(r.symbol)
        if engine is None:
            return _refused(seq, ts, r.symbol, Reject.INVALID_SYMBOL)
        place = place_of(seq, ts, r)
        reason = engine.check_place(place)
        if reason is not None:
            return _refused(seq, ts, r.symbol, reason)
        accounts = self.shard(r.user_id)
        reason, held, place = hold_new_order(accounts, "x", seq, ts, seq, place, r.symbol)
        if held is None:
            return _refused(seq, ts, r.symbol, reason or Reject.INSUFFICIENT_BALANCE)
        out: list[Event | Posting] = list(held.postings)
        events = engine.place(place)
        order_id = 0
        first = events[0]
        if type(first) is OrderAccepted:
            order_id = first.order_id
            self.order_holds.setdefault(r.symbol, {})[order_id] = seq
        else:
            out.extend(accounts.release(ts, seq).postings)
        self._route(r.symbol, ts, events, out)
        reject = first.reason if type(first) is OrderRejected else None
        return Outcome(seq, ts, r.symbol, reject, order_id, out)

    def _cancel(self, seq: int, ts: int, r: req.CancelOrder) -> Outcome:
        engine = self.engines.get(r.symbol)
        if engine is None:
            return _refused(seq, ts, r.symbol, Reject.INVALID_SYMBOL)
        events = engine.cancel(cmd.CancelOrder(seq, ts, r.user_id, r.order_id, r.client_order_id))
        return self._engine_outcome(seq, ts, r.symbol, events)

    def _cancel_all(self, seq: int, ts: int, r: req.CancelAllOrders) -> Outcome:
        engine = self.engines.get(r.symbol)
        if engine is None:
            return _refused(seq, ts, r.symbol, Reject.INVALID_SYMBOL)
        return self._engine_outcome(
            seq, ts, r.symbol, engine.cancel_all(cmd.CancelAll(seq, ts, r.user_id))
        )

    def _amend(self, seq: int, ts: int, r: req.AmendOrder) -> Outcome:
        engine = self.engines.get(r.symbol)
        if engine is None:
            return _refused(seq, ts, r.symbol, Reject.INVALID_SYMBOL)
        o = engine.orders.get(r.order_id)
        hold_id = self.order_holds.get(r.symbol, {}).get(r.order_id)
        if o is not None and o.user_id == r.user_id and hold_id is not None:
            # The hold must still cover the amended order: a buy may not go above the
            # price it was held at, and a larger quantity must fit in what is held.
            h = self.shard(r.user_id).holds[hold_id]
            terms = self.shard(r.user_id).markets[r.symbol]
            price = r.price or o.price
            left = (r.qty or o.qty) - o.filled
            if o.side is BUY:
                short = price > h.price or left * h.price * terms.quote_per_unit > h.amount
            else:
                short = left * terms.base_per_lot > h.amount
            if short:
                return _refused(seq, ts, r.symbol, Reject.INSUFFICIENT_BALANCE, r.order_id)
        events = engine.amend(cmd.AmendOrder(seq, ts, r.user_id, r.order_id, r.price, r.qty))
        return self._engine_outcome(seq, ts, r.symbol, events)

    def _engine_outcome(self, seq: int, ts: int, symbol: str, events: list[Event]) -> Outcome:
        out: list[Event | Posting] = []
        self._route(symbol, ts, events, out)
        first = events[0]
        if type(first) is OrderRejected:
            return Outcome(seq, ts, symbol, first.reason, first.order_id, out)
        order_id = getattr(first, "order_id", 0)
        return Outcome(seq, ts, symbol, None, order_id, out)

    def _route(self, symbol: str, ts: int, events: list[Event], out: list[Event | Posting]) -> None:
        """Settle every trade on both sides and release the holds of finished orders."""
        holds = self.order_holds.get(symbol, {})
        for e in events:
            out.append(e)
            t = type(e)
            if t is Trade:
                tr: Trade = e  # type: ignore[assignment]
                for user, order_id, side, is_maker in trade_sides(tr):
                    res = self.shard(user).settle(
                        symbol, tr.trade_id, ts, holds[order_id], side, is_maker, tr.price, tr.qty
                    )
                    out.extend(res.postings)
            elif t is OrderUpdate:
                up: OrderUpdate = e  # type: ignore[assignment]
                if up.status in FINAL_STATUSES:
                    hold_id = holds.pop(up.order_id)
                    out.extend(self.shard(up.user_id).release(ts, hold_id).postings)

    # --- money and configuration -----------------------------------------

    def _deposit(self, seq: int, ts: int, r: req.Deposit) -> Outcome:
        res = self.shard(r.user_id).deposit("x", seq, ts, r.user_id, r.asset, r.amount)
        return Outcome(seq, ts, "", res.reason, 0, list(res.postings))

    def _adjust(self, seq: int, ts: int, r: req.Adjust) -> Outcome:
        res = self.shard(r.user_id).adjust("x", seq, ts, r.user_id, r.asset, r.amount, r.reason)
        return Outcome(seq, ts, "", res.reason, 0, list(res.postings))

    def _set_fee_tier(self, seq: int, ts: int, r: req.SetFeeTier) -> Outcome:
        for accounts in self.accounts:
            accounts.set_tier(r.name, r.maker_fee, r.taker_fee)
        return Outcome(seq, ts, "", None, 0, [])

    def _assign_fee_tier(self, seq: int, ts: int, r: req.AssignFeeTier) -> Outcome:
        self.shard(r.user_id).assign_tier(r.user_id, r.name)
        return Outcome(seq, ts, "", None, 0, [])

    def _add_asset(self, seq: int, ts: int, r: req.AddAsset) -> Outcome:
        asset = Asset(r.symbol, r.decimals)
        for accounts in self.accounts:
            accounts.add_asset(asset)
        return Outcome(seq, ts, "", None, 0, [])

    def _add_market(self, seq: int, ts: int, r: req.AddMarket) -> Outcome:
        instrument = Instrument.from_dict(dict(r.spec))
        if instrument.symbol in self.engines:
            raise AccountsError(f"market {instrument.symbol} exists")
        for accounts in self.accounts:
            accounts.add_market(instrument)
        self.engines[instrument.symbol] = MatchingEngine(instrument)
        return Outcome(seq, ts, instrument.symbol, None, 0, [])

    def _set_status(self, seq: int, ts: int, r: req.SetMarketStatus) -> Outcome:
        engine = self.engines.get(r.symbol)
        if engine is None:
            return _refused(seq, ts, r.symbol, Reject.INVALID_SYMBOL)
        events = engine.set_status(cmd.SetMarketStatus(seq, ts, r.status))
        return Outcome(seq, ts, r.symbol, None, 0, list(events))

    def _set_risk(self, seq: int, ts: int, r: req.SetMarketRisk) -> Outcome:
        engine = self.engines.get(r.symbol)
        if engine is None:
            return _refused(seq, ts, r.symbol, Reject.INVALID_SYMBOL)
        events = engine.set_risk(cmd.SetMarketRisk(seq, ts, *r[1:]))
        return Outcome(seq, ts, r.symbol, None, 0, list(events))

    def _resume(self, seq: int, ts: int, r: req.ResumeMarket) -> Outcome:
        engine = self.engines.get(r.symbol)
        if engine is None:
            return _refused(seq, ts, r.symbol, Reject.INVALID_SYMBOL)
        events = engine.resume(cmd.ResumeMarket(seq, ts))
        return Outcome(seq, ts, r.symbol, None, 0, list(events))

    def _create_user(self, seq: int, ts: int, r: req.CreateUser) -> Outcome:
        user = self.users.create(ts, r.email, r.password_hash)
        if user is None:
            return _refused(seq, ts, "", Reject.USER_EXISTS)
        return Outcome(seq, ts, "", None, 0, [], user_id=user.user_id)

    def _create_api_key(self, seq: int, ts: int, r: req.CreateApiKey) -> Outcome:
        self.users.add_key(create_key(ts, r))
        return Outcome(seq, ts, "", None, 0, [], user_id=r.user_id)

    def _revoke_api_key(self, seq: int, ts: int, r: req.RevokeApiKey) -> Outcome:
        if not self.users.revoke_key(ts, r.user_id, r.api_key):
            return _refused(seq, ts, "", Reject.UNKNOWN_API_KEY)
        return Outcome(seq, ts, "", None, 0, [], user_id=r.user_id)

    # --- snapshots --------------------------------------------------------

    def snapshot(self) -> bytes:
        state: dict[str, Any] = {
            "version": SNAPSHOT_VERSION,
            "last_seq": self.last_seq,
            "last_ts": self.last_ts,
            "accounts": [json.loads(a.snapshot()) for a in self.accounts],
            "engines": {s: json.loads(e.snapshot()) for s, e in sorted(self.engines.items())},
            "users": self.users.to_state(),
            "order_holds": {
                s: sorted([o, h] for o, h in m.items()) for s, m in sorted(self.order_holds.items())
            },
        }
        return json.dumps(state, separators=(",", ":"), sort_keys=True).encode()

    def state_hash(self) -> str:
        return hashlib.sha256(self.snapshot()).hexdigest()

    @classmethod
    def restore(cls, data: bytes) -> Exchange:
        try:
            state = json.loads(data)
            if not isinstance(state, dict) or state.get("version") != SNAPSHOT_VERSION:
                raise AccountsError("not an exchange snapshot of a known version")
            ex = cls(len(state["accounts"]))
            ex.last_seq = int(state["last_seq"])
            ex.last_ts = int(state["last_ts"])
            ex.accounts = [Accounts.restore(json.dumps(a).encode()) for a in state["accounts"]]
            ex.engines = {
                s: MatchingEngine.restore(json.dumps(e, sort_keys=True).encode())
                for s, e in state["engines"].items()
            }
            ex.users = Users.from_state(state["users"])
            ex.order_holds = {
                s: {int(o): int(h) for o, h in pairs} for s, pairs in state["order_holds"].items()
            }
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise AccountsError(f"corrupt exchange snapshot: {exc}") from exc
        return ex


def create_key(ts: int, r: req.CreateApiKey) -> ApiKey:
    return ApiKey(r.api_key, r.user_id, r.kind, r.verifier, r.permissions, r.ips, ts)


def _refused(seq: int, ts: int, symbol: str, reason: Reject, order_id: int = 0) -> Outcome:
    return Outcome(seq, ts, symbol, reason, order_id, [])
