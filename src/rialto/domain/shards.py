"""The exchange as separate shards, each a state machine on its own log (distributed mode).

Shards: ``ctl`` (the user registry), ``acct-<i>`` (:class:`AccountsShard`, the users with
``user_id % N == i``) and ``mkt-<SYMBOL>`` (:class:`MatchingShard`). A shard applies one
input at a time and returns a :class:`Step`: its outcome, whether it answers the caller,
and messages for other shards. The funds flow is the embedded one, spread over logs: a
new order is held by its user's accounts shard, which sends :class:`Place` to the
market's shard; the market sends :class:`Settle` for each side of a trade and
:class:`Release` when an order ends.

Messages from one shard to another are numbered 1, 2, 3, ... per (source, destination);
a shard admits only the next number from each source, so a message re-sent after a
failover is applied once, and never out of order.
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
from rialto.domain.engine import EngineError, MatchingEngine, static_reject
from rialto.domain.events import Event, OrderAccepted, OrderRejected, OrderUpdate, Trade
from rialto.domain.exchange import Outcome, create_key
from rialto.domain.funds import UNPRICED, hold_new_order, place_of, trade_sides
from rialto.domain.instruments import Instrument
from rialto.domain.orders import FINAL_STATUSES, OrderType, SelfTradePrevention, Side, TimeInForce
from rialto.domain.postings import Posting
from rialto.domain.rejects import Reject
from rialto.domain.users import Users

SNAPSHOT_VERSION = 1
CONTROL = "ctl"
BUY = Side.BUY


def accounts_shard(user_id: int, count: int) -> str:
    return f"acct-{user_id % count}"


def market_shard(symbol: str) -> str:
    return f"mkt-{symbol}"


class Place(NamedTuple):
    """A held order, from its user's accounts shard to the market's shard."""

    user_id: int
    symbol: str
    side: Side
    order_type: OrderType
    qty: int
    price: int
    tif: TimeInForce
    quote_qty: int
    stop_price: int
    client_order_id: str
    stp: SelfTradePrevention | None
    hold_id: int
    cap: int  # for an order that holds the whole free balance (see funds.hold_new_order)
    hold_price: int  # the limit price a buy was held at (0: held by amount)
    held_qty: int  # the quantity the hold covers


class Settle(NamedTuple):
    """One side of a trade, from the market's shard to that side's accounts shard."""

    symbol: str
    trade_id: int
    hold_id: int
    side: Side
    is_maker: bool
    price: int
    qty: int


class Release(NamedTuple):
    """An order ended: return what is left of its hold."""

    symbol: str
    hold_id: int


Message = req.Request | Place | Settle | Release
Send = tuple[str, Message]


class Step(NamedTuple):
    """What one input did. ``reply``: this shard answers the caller; otherwise the first
    send carries the caller on (a held order is answered by its market)."""

    outcome: Outcome
    reply: bool
    sends: list[Send]


class Shard:
    """Sequencing, admission and numbering common to every shard."""

    kind = ""

    def __init__(self, name: str) -> None:
        self.name = name
        self.last_seq = 0
        self.last_ts = 0
        self.inbox_seq = 0  # position in the shard's inbox of the last input applied
        self.received: dict[str, int] = {}  # source shard -> last message number applied
        self.sent: dict[str, int] = {}  # destination shard -> last message number sent
        self._handlers: dict[type, Callable[[int, int, Any], Step]] = {}

    def admits(self, source: str, number: int, inbox_seq: int) -> bool:
        """Whether an input is new: the next message from ``source``, or a later client request."""
        if source:
            return number == self.received.get(source, 0) + 1
        return inbox_seq > self.inbox_seq

    def apply(
        self, seq: int, ts: int, source: str, number: int, inbox_seq: int, msg: Message
    ) -> tuple[Step, list[int]]:
        """Apply one admitted input; returns its step and the numbers of its sends."""
        if seq != self.last_seq + 1:
            raise ValueError(f"{self.name}: input seq {seq} does not follow {self.last_seq}")
        if not self.admits(source, number, inbox_seq):
            raise ValueError(f"{self.name}: input {source}:{number} is not the next one")
        handler = self._handlers.get(type(msg))
        if handler is None:
            raise TypeError(f"{self.name} does not take {type(msg).__name__}")
        step = handler(seq, ts, msg)
        self.last_seq, self.last_ts = seq, ts
        self.inbox_seq = max(self.inbox_seq, inbox_seq)
        if source:
            self.received[source] = number
        numbers = []
        for dest, _ in step.sends:
            n = self.sent.get(dest, 0) + 1
            self.sent[dest] = n
            numbers.append(n)
        return step, numbers

    # --- snapshots --------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        raise NotImplementedError

    def _load(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def snapshot(self) -> bytes:
        doc = {
            "version": SNAPSHOT_VERSION,
            "kind": self.kind,
            "name": self.name,
            "last_seq": self.last_seq,
            "last_ts": self.last_ts,
            "inbox_seq": self.inbox_seq,
            "received": self.received,
            "sent": self.sent,
            "state": self._state(),
        }
        return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()

    def state_hash(self) -> str:
        return hashlib.sha256(self.snapshot()).hexdigest()


def new_shard(name: str) -> Shard:
    """The empty shard called ``name``."""
    if name == CONTROL:
        return ControlShard(name)
    if name.startswith("acct-") and name[5:].isdigit():
        return AccountsShard(name)
    if name.startswith("mkt-") and len(name) > 4:
        return MatchingShard(name)
    raise ValueError(f"not a shard name: {name!r}")


def restore_shard(data: bytes) -> Shard:
    try:
        doc = json.loads(data)
        if not isinstance(doc, dict) or doc.get("version") != SNAPSHOT_VERSION:
            raise AccountsError("not a shard snapshot of a known version")
        shard = new_shard(doc["name"])
        if shard.kind != doc["kind"]:
            raise AccountsError(f"snapshot of {doc['name']} is of kind {doc['kind']}")
        shard.last_seq = int(doc["last_seq"])
        shard.last_ts = int(doc["last_ts"])
        shard.inbox_seq = int(doc["inbox_seq"])
        shard.received = {str(k): int(v) for k, v in doc["received"].items()}
        shard.sent = {str(k): int(v) for k, v in doc["sent"].items()}
        shard._load(doc["state"])
    except (ValueError, KeyError, TypeError, AttributeError, EngineError) as exc:
        raise AccountsError(f"corrupt shard snapshot: {exc}") from exc
    return shard


def _done(seq: int, ts: int, symbol: str = "", events: list[Event | Posting] | None = None) -> Step:
    return Step(Outcome(seq, ts, symbol, None, 0, events or []), True, [])


def _refused(seq: int, ts: int, symbol: str, reason: Reject, order_id: int = 0) -> Step:
    return Step(Outcome(seq, ts, symbol, reason, order_id, []), True, [])


class ControlShard(Shard):
    """The user registry: user ids are handed out in one sequence."""

    kind = "control"

    def __init__(self, name: str = CONTROL) -> None:
        super().__init__(name)
        self.users = Users()
        self._handlers = {
            req.CreateUser: self._create_user,
            req.CreateApiKey: self._create_api_key,
            req.RevokeApiKey: self._revoke_api_key,
        }

    def _create_user(self, seq: int, ts: int, r: req.CreateUser) -> Step:
        user = self.users.create(ts, r.email, r.password_hash)
        if user is None:
            return _refused(seq, ts, "", Reject.USER_EXISTS)
        return Step(Outcome(seq, ts, "", None, 0, [], user_id=user.user_id), True, [])

    def _create_api_key(self, seq: int, ts: int, r: req.CreateApiKey) -> Step:
        self.users.add_key(create_key(ts, r))
        return Step(Outcome(seq, ts, "", None, 0, [], user_id=r.user_id), True, [])

    def _revoke_api_key(self, seq: int, ts: int, r: req.RevokeApiKey) -> Step:
        if not self.users.revoke_key(ts, r.user_id, r.api_key):
            return _refused(seq, ts, "", Reject.UNKNOWN_API_KEY)
        return Step(Outcome(seq, ts, "", None, 0, [], user_id=r.user_id), True, [])

    def _state(self) -> dict[str, Any]:
        return {"users": self.users.to_state()}

    def _load(self, state: dict[str, Any]) -> None:
        self.users = Users.from_state(state["users"])


class AccountsShard(Shard):
    """Balances and holds of one user shard."""

    kind = "accounts"

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.accounts = Accounts()
        self._handlers = {
            req.NewOrder: self._new_order,
            Settle: self._settle,
            Release: self._release,
            req.Deposit: self._deposit,
            req.Adjust: self._adjust,
            req.AddAsset: self._add_asset,
            req.AddMarket: self._add_market,
            req.SetFeeTier: self._set_fee_tier,
            req.AssignFeeTier: self._assign_fee_tier,
        }

    def _new_order(self, seq: int, ts: int, r: req.NewOrder) -> Step:
        terms = self.accounts.markets.get(r.symbol)
        if terms is None:
            return _refused(seq, ts, r.symbol, Reject.INVALID_SYMBOL)
        place = place_of(seq, ts, r)
        reason = static_reject(terms.instrument, place)
        if reason is not None:
            return _refused(seq, ts, r.symbol, reason)
        reason, held, place = hold_new_order(self.accounts, "x", seq, ts, seq, place, r.symbol)
        if held is None:
            return _refused(seq, ts, r.symbol, reason or Reject.INSUFFICIENT_BALANCE)
        priced_buy = r.side is BUY and r.order_type not in UNPRICED
        msg = Place(*r[:11], seq, place.cap, r.price if priced_buy else 0, r.qty)
        outcome = Outcome(seq, ts, r.symbol, None, 0, list(held.postings))
        return Step(outcome, False, [(market_shard(r.symbol), msg)])

    def _settle(self, seq: int, ts: int, m: Settle) -> Step:
        res = self.accounts.settle(
            m.symbol, m.trade_id, ts, m.hold_id, m.side, m.is_maker, m.price, m.qty
        )
        return _done(seq, ts, m.symbol, list(res.postings))

    def _release(self, seq: int, ts: int, m: Release) -> Step:
        return _done(seq, ts, m.symbol, list(self.accounts.release(ts, m.hold_id).postings))

    def _deposit(self, seq: int, ts: int, r: req.Deposit) -> Step:
        res = self.accounts.deposit("x", seq, ts, r.user_id, r.asset, r.amount)
        return Step(Outcome(seq, ts, "", res.reason, 0, list(res.postings)), True, [])

    def _adjust(self, seq: int, ts: int, r: req.Adjust) -> Step:
        res = self.accounts.adjust("x", seq, ts, r.user_id, r.asset, r.amount, r.reason)
        return Step(Outcome(seq, ts, "", res.reason, 0, list(res.postings)), True, [])

    def _add_asset(self, seq: int, ts: int, r: req.AddAsset) -> Step:
        self.accounts.add_asset(Asset(r.symbol, r.decimals))
        return _done(seq, ts)

    def _set_fee_tier(self, seq: int, ts: int, r: req.SetFeeTier) -> Step:
        self.accounts.set_tier(r.name, r.maker_fee, r.taker_fee)
        return _done(seq, ts)

    def _assign_fee_tier(self, seq: int, ts: int, r: req.AssignFeeTier) -> Step:
        self.accounts.assign_tier(r.user_id, r.name)
        return _done(seq, ts)

    def _add_market(self, seq: int, ts: int, r: req.AddMarket) -> Step:
        instrument = Instrument.from_dict(dict(r.spec))
        if instrument.symbol in self.accounts.markets:
            raise AccountsError(f"market {instrument.symbol} exists")
        self.accounts.add_market(instrument)
        return _done(seq, ts, instrument.symbol)

    def _state(self) -> dict[str, Any]:
        return {"accounts": json.loads(self.accounts.snapshot())}

    def _load(self, state: dict[str, Any]) -> None:
        self.accounts = Accounts.restore(json.dumps(state["accounts"]).encode())


class _Held(NamedTuple):
    shard: str  # the accounts shard holding the funds
    hold_id: int
    hold_price: int
    held_qty: int


class MatchingShard(Shard):
    """The book of one symbol, and which hold backs each of its orders."""

    kind = "matching"

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.symbol = name[4:]
        self.engine: MatchingEngine | None = None
        self.held: dict[int, _Held] = {}  # order id -> its hold
        self._source = ""  # the shard the input being applied came from
        self._handlers = {
            Place: self._place,
            req.CancelOrder: self._cancel,
            req.CancelAllOrders: self._cancel_all,
            req.AmendOrder: self._amend,
            req.SetMarketStatus: self._set_status,
            req.SetMarketRisk: self._set_risk,
            req.ResumeMarket: self._resume,
            req.AddMarket: self._add_market,
        }

    def apply(
        self, seq: int, ts: int, source: str, number: int, inbox_seq: int, msg: Message
    ) -> tuple[Step, list[int]]:
        self._source = source
        return super().apply(seq, ts, source, number, inbox_seq, msg)

    def _add_market(self, seq: int, ts: int, r: req.AddMarket) -> Step:
        instrument = Instrument.from_dict(dict(r.spec))
        if instrument.symbol != self.symbol:
            raise AccountsError(f"market {instrument.symbol} sent to shard {self.name}")
        if self.engine is not None:
            raise AccountsError(f"market {self.symbol} exists")
        self.engine = MatchingEngine(instrument)
        return _done(seq, ts, self.symbol)

    def _place(self, seq: int, ts: int, m: Place) -> Step:
        sends: list[Send] = []
        if self.engine is None:  # the accounts knew the market: it is being added here
            sends.append((self._source, Release(m.symbol, m.hold_id)))
            return Step(Outcome(seq, ts, m.symbol, Reject.INVALID_SYMBOL, 0, []), True, sends)
        place = cmd.PlaceOrder(
            seq,
            ts,
            m.user_id,
            m.side,
            m.order_type,
            m.qty,
            m.price,
            m.tif,
            m.quote_qty,
            m.stop_price,
            m.client_order_id,
            m.stp,
            m.cap,
        )
        events = self.engine.place(place)
        first = events[0]
        if type(first) is OrderAccepted:
            self.held[first.order_id] = _Held(self._source, m.hold_id, m.hold_price, m.held_qty)
            self._route(events, sends)
            return Step(Outcome(seq, ts, m.symbol, None, first.order_id, list(events)), True, sends)
        sends.append((self._source, Release(m.symbol, m.hold_id)))
        reason = first.reason if type(first) is OrderRejected else Reject.INVALID_ORDER
        return Step(Outcome(seq, ts, m.symbol, reason, 0, list(events)), True, sends)

    def _cancel(self, seq: int, ts: int, r: req.CancelOrder) -> Step:
        if self.engine is None:
            return _refused(seq, ts, r.symbol, Reject.INVALID_SYMBOL)
        c = cmd.CancelOrder(seq, ts, r.user_id, r.order_id, r.client_order_id)
        return self._engine_step(seq, ts, self.engine.cancel(c))

    def _cancel_all(self, seq: int, ts: int, r: req.CancelAllOrders) -> Step:
        if self.engine is None:
            return _refused(seq, ts, r.symbol, Reject.INVALID_SYMBOL)
        return self._engine_step(seq, ts, self.engine.cancel_all(cmd.CancelAll(seq, ts, r.user_id)))

    def _amend(self, seq: int, ts: int, r: req.AmendOrder) -> Step:
        if self.engine is None:
            return _refused(seq, ts, r.symbol, Reject.INVALID_SYMBOL)
        o = self.engine.orders.get(r.order_id)
        h = self.held.get(r.order_id)
        if o is not None and o.user_id == r.user_id and h is not None:
            # The hold covers ``held_qty`` at ``hold_price``: never more, never dearer. A
            # buy held by amount (no hold price) can take no limit price at all.
            price, qty = r.price or o.price, r.qty or o.qty
            if o.side is not BUY:
                short = qty > h.held_qty
            elif h.hold_price:
                short = price > h.hold_price or qty > h.held_qty
            else:
                short = price > 0
            if short:
                return _refused(seq, ts, r.symbol, Reject.INSUFFICIENT_BALANCE, r.order_id)
        c = cmd.AmendOrder(seq, ts, r.user_id, r.order_id, r.price, r.qty)
        return self._engine_step(seq, ts, self.engine.amend(c))

    def _set_status(self, seq: int, ts: int, r: req.SetMarketStatus) -> Step:
        if self.engine is None:
            return _refused(seq, ts, r.symbol, Reject.INVALID_SYMBOL)
        events = self.engine.set_status(cmd.SetMarketStatus(seq, ts, r.status))
        return _done(seq, ts, self.symbol, list(events))

    def _set_risk(self, seq: int, ts: int, r: req.SetMarketRisk) -> Step:
        if self.engine is None:
            return _refused(seq, ts, r.symbol, Reject.INVALID_SYMBOL)
        events = self.engine.set_risk(cmd.SetMarketRisk(seq, ts, *r[1:]))
        return _done(seq, ts, self.symbol, list(events))

    def _resume(self, seq: int, ts: int, r: req.ResumeMarket) -> Step:
        if self.engine is None:
            return _refused(seq, ts, r.symbol, Reject.INVALID_SYMBOL)
        events = self.engine.resume(cmd.ResumeMarket(seq, ts))
        return _done(seq, ts, self.symbol, list(events))

    def _engine_step(self, seq: int, ts: int, events: list[Event]) -> Step:
        sends: list[Send] = []
        self._route(events, sends)
        first = events[0]
        order_id = getattr(first, "order_id", 0)
        reason = first.reason if type(first) is OrderRejected else None
        return Step(Outcome(seq, ts, self.symbol, reason, order_id, list(events)), True, sends)

    def _route(self, events: list[Event], sends: list[Send]) -> None:
        """Settle both sides of every trade; release the holds of orders that ended."""
        for e in events:
            t = type(e)
            if t is Trade:
                tr: Trade = e  # type: ignore[assignment]
                for _, order_id, side, is_maker in trade_sides(tr):
                    h = self.held[order_id]
                    price, qty = tr.price, tr.qty
                    settle = Settle(self.symbol, tr.trade_id, h.hold_id, side, is_maker, price, qty)
                    sends.append((h.shard, settle))
            elif t is OrderUpdate:
                up: OrderUpdate = e  # type: ignore[assignment]
                if up.status in FINAL_STATUSES:
                    h = self.held.pop(up.order_id)
                    sends.append((h.shard, Release(self.symbol, h.hold_id)))

    def _state(self) -> dict[str, Any]:
        return {
            "engine": None if self.engine is None else json.loads(self.engine.snapshot()),
            "held": sorted([o, *h] for o, h in self.held.items()),
        }

    def _load(self, state: dict[str, Any]) -> None:
        engine = state["engine"]
        self.engine = (
            None
            if engine is None
            else MatchingEngine.restore(json.dumps(engine, sort_keys=True).encode())
        )
        self.held = {
            int(o): _Held(str(s), int(h), int(p), int(q)) for o, s, h, p, q in state["held"]
        }
