"""An accounts shard: balances, holds, fees and settlement as a deterministic state machine.

Every change of money is a balanced :class:`Posting`. Per user and asset there is a
``free`` and a ``locked`` balance; system accounts (fees, clearing, wallets, ...)
are kept per asset. Amounts are ints in the asset's minor units.

Settlement is per side of a trade (buyer side, seller side), so that two users on
different shards each settle their own side. Each side is balanced on its own
through the ``clearing`` account, which nets to zero once both sides are settled.

Fees are charged in the asset the user receives (Binance's default): the buyer pays
its fee in base, the seller in quote, so a buy order holds no fee. A fee is rounded
up to the next minor unit and a rebate (negative maker rate) down: the exchange
gains at most one minor unit per fee, and nothing is created or destroyed. A market
is refused when one lot or one notional unit is finer than its asset's minor unit,
so the traded amounts themselves are always exact.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, NamedTuple

from rialto.domain.assets import Asset
from rialto.domain.instruments import Instrument
from rialto.domain.numbers import Fixed, parse_signed_fixed, pow10
from rialto.domain.orders import Side
from rialto.domain.postings import AccountKind, Leg, Posting
from rialto.domain.rejects import Reject

SNAPSHOT_VERSION = 1

FREE = AccountKind.FREE
LOCKED = AccountKind.LOCKED
FEES = AccountKind.FEES
CLEARING = AccountKind.CLEARING
HOT = AccountKind.HOT_WALLET
ADJUSTMENTS = AccountKind.ADJUSTMENTS
PENDING = AccountKind.WITHDRAWALS_PENDING
BUY = Side.BUY


class Result(NamedTuple):
    """What an operation did: ``ok`` with its postings, a ``duplicate``, or a rejection."""

    ok: bool
    duplicate: bool
    reason: Reject | None
    postings: tuple[Posting, ...]
    held: int = 0  # for holds: the amount locked, in the held asset's minor units


DUPLICATE = Result(False, True, None, ())
INSUFFICIENT = Result(False, False, Reject.INSUFFICIENT_BALANCE, ())


class AccountsError(ValueError):
    """A malformed operation (unknown asset/market/hold): a bug upstream, not a user error."""


@dataclass(frozen=True)
class MarketTerms:
    """What the accounts need of a market: its assets and unit conversions."""

    instrument: Instrument
    base: Asset
    quote: Asset
    base_per_lot: int  # base minor units in one lot
    quote_per_unit: int  # quote minor units in one notional unit (tick x lot)
    maker_fee: Fixed
    taker_fee: Fixed


class Hold:
    """Funds locked for one open order."""

    __slots__ = ("amount", "asset", "price", "side", "symbol", "user_id")

    def __init__(
        self, user_id: int, symbol: str, side: Side, asset: str, amount: int, price: int
    ) -> None:
        self.user_id = user_id
        self.symbol = symbol
        self.side = side
        self.asset = asset
        self.amount = amount
        self.price = price  # limit price a buy was held at; 0 when held by amount


class Accounts:
    """One accounts shard. Apply operations in log order; each returns a :class:`Result`."""

    def __init__(self) -> None:
        self.assets: dict[str, Asset] = {}
        self.markets: dict[str, MarketTerms] = {}
        self.balances: dict[int, dict[str, list[int]]] = {}  # user -> asset -> [free, locked]
        self.system: dict[tuple[AccountKind, str], int] = {}
        self.holds: dict[int, Hold] = {}
        self.withdrawals: dict[int, tuple[int, str, int]] = {}  # id -> (user, asset, amount)
        self.tiers: dict[str, tuple[Fixed, Fixed]] = {}  # name -> (maker, taker)
        self.user_tiers: dict[int, str] = {}
        self.high: dict[str, int] = {}  # idempotency: highest seq applied per stream

    # --- configuration ----------------------------------------------------

    def add_asset(self, asset: Asset) -> None:
        known = self.assets.get(asset.symbol)
        if known is not None and known != asset:
            raise AccountsError(f"asset {asset.symbol} exists with {known.decimals} decimals")
        self.assets[asset.symbol] = asset

    def add_market(self, instrument: Instrument) -> MarketTerms:
        base = self._asset(instrument.base_asset)
        quote = self._asset(instrument.quote_asset)
        base_per_lot = base.unit_of(instrument.step)
        quote_per_unit = quote.unit_of(instrument.notional_unit)
        if base_per_lot is None:
            raise AccountsError(
                f"{instrument.symbol}: step {instrument.step_size} is finer than "
                f"{base.symbol}'s {base.decimals} decimals"
            )
        if quote_per_unit is None:
            raise AccountsError(
                f"{instrument.symbol}: tick x step ({instrument.notional_unit}) is finer than "
                f"{quote.symbol}'s {quote.decimals} decimals"
            )
        maker, taker = _rates(instrument.maker_fee, instrument.taker_fee)
        terms = MarketTerms(instrument, base, quote, base_per_lot, quote_per_unit, maker, taker)
        self.markets[instrument.symbol] = terms
        return terms

    def set_tier(self, name: str, maker_fee: str, taker_fee: str) -> None:
        """A fee tier overriding the markets' rates (a maker rate may be zero or negative)."""
        self.tiers[name] = _rates(maker_fee, taker_fee)

    def assign_tier(self, user_id: int, name: str) -> None:
        if name and name not in self.tiers:
            raise AccountsError(f"unknown fee tier {name!r}")
        if name:
            self.user_tiers[user_id] = name
        else:
            self.user_tiers.pop(user_id, None)

    # --- queries ----------------------------------------------------------

    def balance(self, user_id: int, asset: str) -> tuple[int, int]:
        """``(free, locked)`` in minor units."""
        bal = self.balances.get(user_id, {}).get(asset)
        return (bal[0], bal[1]) if bal else (0, 0)

    def rates(self, user_id: int, symbol: str) -> tuple[Fixed, Fixed]:
        """The user's maker and taker rates on ``symbol`` (its fee tier, else the market's)."""
        return self._rates(user_id, self.markets[symbol])

    def system_balance(self, kind: AccountKind, asset: str) -> int:
        return self.system.get((kind, asset), 0)

    # --- deposits, withdrawals, adjustments -------------------------------

    def deposit(
        self, stream: str, seq: int, ts: int, user_id: int, asset: str, amount: int
    ) -> Result:
        """Credit a confirmed deposit to ``free`` against the hot wallet."""
        self._asset(asset)
        _positive(amount)
        if self._seen(stream, seq):
            return DUPLICATE
        self._bal(user_id, asset)[0] += amount
        self._sys(HOT, asset, amount)
        legs = (Leg(HOT, 0, asset, amount), Leg(FREE, user_id, asset, amount))
        return Result(True, False, None, (Posting("deposit", f"{stream}:{seq}", ts, legs),))

    def adjust(
        self, stream: str, seq: int, ts: int, user_id: int, asset: str, amount: int, reason: str
    ) -> Result:
        """An operator's correction of ``free`` (either sign), with its reason."""
        self._asset(asset)
        if not reason.strip():
            raise AccountsError("an adjustment needs a reason")
        if self._seen(stream, seq, commit=False):
            return DUPLICATE
        bal = self._existing(user_id, asset)
        if bal[0] + amount < 0:
            return INSUFFICIENT
        self.high[stream] = seq
        bal = self._bal(user_id, asset)
        bal[0] += amount
        self._sys(ADJUSTMENTS, asset, -amount)
        legs = (Leg(FREE, user_id, asset, amount), Leg(ADJUSTMENTS, 0, asset, -amount))
        posting = Posting("adjustment", f"{stream}:{seq}", ts, legs, reason)
        return Result(True, False, None, (posting,))

    def hold_withdrawal(
        self,
        stream: str,
        seq: int,
        ts: int,
        withdrawal_id: int,
        user_id: int,
        asset: str,
        amount: int,
    ) -> Result:
        self._asset(asset)
        _positive(amount)
        if self._seen(stream, seq, commit=False) or withdrawal_id <= self.high.get(
            _WITHDRAWAL_IDS, 0
        ):
            return DUPLICATE
        bal = self._existing(user_id, asset)
        if bal[0] < amount:
            return INSUFFICIENT
        self.high[stream] = seq
        self.high[_WITHDRAWAL_IDS] = withdrawal_id
        bal = self._bal(user_id, asset)
        bal[0] -= amount
        self._sys(PENDING, asset, amount)
        self.withdrawals[withdrawal_id] = (user_id, asset, amount)
        legs = (Leg(FREE, user_id, asset, -amount), Leg(PENDING, 0, asset, amount))
        return Result(
            True, False, None, (Posting("withdrawal_hold", f"w:{withdrawal_id}", ts, legs),)
        )

    def finalize_withdrawal(self, ts: int, withdrawal_id: int) -> Result:
        """The coins left the hot wallet: the pending amount is gone for good."""
        w = self.withdrawals.pop(withdrawal_id, None)
        if w is None:
            return DUPLICATE
        _, asset, amount = w
        self._sys(PENDING, asset, -amount)
        self._sys(HOT, asset, -amount)
        legs = (Leg(PENDING, 0, asset, -amount), Leg(HOT, 0, asset, -amount))
        return Result(
            True, False, None, (Posting("withdrawal_sent", f"w:{withdrawal_id}", ts, legs),)
        )

    def return_withdrawal(self, ts: int, withdrawal_id: int) -> Result:
        """A refused or failed withdrawal: the amount goes back to ``free``."""
        w = self.withdrawals.pop(withdrawal_id, None)
        if w is None:
            return DUPLICATE
        user_id, asset, amount = w
        self._sys(PENDING, asset, -amount)
        self._bal(user_id, asset)[0] += amount
        legs = (Leg(PENDING, 0, asset, -amount), Leg(FREE, user_id, asset, amount))
        return Result(
            True, False, None, (Posting("withdrawal_returned", f"w:{withdrawal_id}", ts, legs),)
        )

    # --- orders -----------------------------------------------------------

    def hold_order(
        self,
        stream: str,
        seq: int,
        ts: int,
        hold_id: int,
        user_id: int,
        symbol: str,
        side: Side,
        price: int = 0,
        qty: int = 0,
        quote: int = 0,
    ) -> Result:
        """Lock what a new order may spend.

        A limit buy locks ``qty x price`` in quote; a market buy by quote amount
        locks ``quote`` (quote minor units); a sell locks ``qty`` lots of base. A
        market buy by quantity or a market sell by quote amount cannot be priced in
        advance: it locks the whole free balance, and ``Result.held`` tells the
        caller the cap to give the matching engine. The rest comes back on release.
        """
        m = self.markets.get(symbol)
        if m is None:
            raise AccountsError(f"unknown market {symbol}")
        if price < 0 or qty < 0 or quote < 0:
            raise AccountsError("order sizes and prices are never negative")
        if self._seen(stream, seq, commit=False) or hold_id <= self.high.get(_HOLD_IDS, 0):
            return DUPLICATE
        if side is BUY:
            asset = m.quote.symbol
            if quote:
                need, price = quote, 0
            elif price:
                need = qty * price * m.quote_per_unit
            else:
                need = -1  # whole free balance
        else:
            asset = m.base.symbol
            need = qty * m.base_per_lot if qty else -1
            price = 0
        bal = self._existing(user_id, asset)
        if need < 0:
            need = bal[0]
            if need == 0:
                return INSUFFICIENT
        elif need <= 0:
            raise AccountsError("an order hold must be positive")
        elif bal[0] < need:
            return INSUFFICIENT
        self.high[stream] = seq
        self.high[_HOLD_IDS] = hold_id
        bal = self._bal(user_id, asset)
        bal[0] -= need
        bal[1] += need
        self.holds[hold_id] = Hold(user_id, symbol, side, asset, need, price)
        legs = (Leg(FREE, user_id, asset, -need), Leg(LOCKED, user_id, asset, need))
        return Result(True, False, None, (Posting("hold", f"h:{hold_id}", ts, legs),), need)

    def settle(
        self,
        symbol: str,
        trade_id: int,
        ts: int,
        hold_id: int,
        side: Side,
        is_maker: bool,
        price: int,
        qty: int,
    ) -> Result:
        """Settle one side of trade ``trade_id`` against the order's hold.

        Idempotent per (symbol, side): trade ids of a symbol arrive in increasing order.
        """
        if price <= 0 or qty <= 0:
            raise AccountsError(f"trade {symbol}:{trade_id} has no positive price and quantity")
        key = f"t:{symbol}:{side}"
        if trade_id <= self.high.get(key, 0):
            return DUPLICATE
        h = self.holds.get(hold_id)
        if h is None or h.symbol != symbol or h.side is not side:
            raise AccountsError(f"trade {symbol}:{trade_id} names hold {hold_id} that is not open")
        m = self.markets[symbol]
        base_amt = qty * m.base_per_lot
        quote_amt = qty * price * m.quote_per_unit
        user = h.user_id
        maker_rate, taker_rate = self._rates(user, m)
        rate = maker_rate if is_maker else taker_rate
        base, quote = m.base.symbol, m.quote.symbol
        if side is BUY:
            # Locked at the limit price; the price improvement goes back to free.
            used = qty * h.price * m.quote_per_unit if h.price else quote_amt
            if used > h.amount or used < quote_amt:
                raise AccountsError(f"hold {hold_id} cannot cover trade {symbol}:{trade_id}")
            fee = _fee(base_amt, rate)
            h.amount -= used
            qb = self._bal(user, quote)
            qb[1] -= used
            qb[0] += used - quote_amt
            self._bal(user, base)[0] += base_amt - fee
            self._sys(CLEARING, quote, quote_amt)
            self._sys(CLEARING, base, -base_amt)
            self._sys(FEES, base, fee)
            legs = [
                Leg(LOCKED, user, quote, -used),
                Leg(CLEARING, 0, quote, quote_amt),
                Leg(CLEARING, 0, base, -base_amt),
                Leg(FREE, user, base, base_amt - fee),
            ]
            if used != quote_amt:
                legs.append(Leg(FREE, user, quote, used - quote_amt))
            if fee:
                legs.append(Leg(FEES, 0, base, fee))
        else:
            if base_amt > h.amount:
                raise AccountsError(f"hold {hold_id} cannot cover trade {symbol}:{trade_id}")
            fee = _fee(quote_amt, rate)
            h.amount -= base_amt
            self._bal(user, base)[1] -= base_amt
            self._bal(user, quote)[0] += quote_amt - fee
            self._sys(CLEARING, base, base_amt)
            self._sys(CLEARING, quote, -quote_amt)
            self._sys(FEES, quote, fee)
            legs = [
                Leg(LOCKED, user, base, -base_amt),
                Leg(CLEARING, 0, base, base_amt),
                Leg(CLEARING, 0, quote, -quote_amt),
                Leg(FREE, user, quote, quote_amt - fee),
            ]
            if fee:
                legs.append(Leg(FEES, 0, quote, fee))
        self.high[key] = trade_id
        return Result(
            True, False, None, (Posting("trade", f"{symbol}:{trade_id}:{side}", ts, tuple(legs)),)
        )

    def release(self, ts: int, hold_id: int) -> Result:
        """Return what is left of an order's hold when it is filled, canceled or expired."""
        h = self.holds.pop(hold_id, None)
        if h is None:
            return DUPLICATE
        amount = h.amount
        if not amount:
            return Result(True, False, None, ())
        bal = self._bal(h.user_id, h.asset)
        bal[1] -= amount
        bal[0] += amount
        legs = (Leg(LOCKED, h.user_id, h.asset, -amount), Leg(FREE, h.user_id, h.asset, amount))
        return Result(True, False, None, (Posting("release", f"h:{hold_id}", ts, legs),))

    # --- invariants and snapshots -----------------------------------------

    def totals(self) -> dict[str, int]:
        """Per asset: liabilities minus wallet holdings. Zero for every asset, always."""
        out = dict.fromkeys(self.assets, 0)
        for per_user in self.balances.values():
            for asset, (free, locked) in per_user.items():
                out[asset] += free + locked
        for (kind, asset), amount in self.system.items():
            out[asset] += -amount if kind in (HOT, AccountKind.COLD_WALLET) else amount
        return out

    def snapshot(self) -> bytes:
        state: dict[str, Any] = {
            "version": SNAPSHOT_VERSION,
            "assets": sorted([a.symbol, a.decimals] for a in self.assets.values()),
            "markets": [self.markets[s].instrument.to_dict() for s in sorted(self.markets)],
            "balances": sorted(
                [user, asset, bal[0], bal[1]]
                for user, per in self.balances.items()
                for asset, bal in per.items()
            ),
            "system": sorted([k.value, a, v] for (k, a), v in self.system.items()),
            "holds": sorted(
                [hid, h.user_id, h.symbol, h.side.value, h.asset, h.amount, h.price]
                for hid, h in self.holds.items()
            ),
            "withdrawals": sorted([wid, *w] for wid, w in self.withdrawals.items()),
            "tiers": sorted([n, str(mk), str(tk)] for n, (mk, tk) in self.tiers.items()),
            "user_tiers": sorted([u, n] for u, n in self.user_tiers.items()),
            "high": sorted([k, v] for k, v in self.high.items()),
        }
        return json.dumps(state, separators=(",", ":")).encode()

    def state_hash(self) -> str:
        return hashlib.sha256(self.snapshot()).hexdigest()

    @classmethod
    def restore(cls, data: bytes) -> Accounts:
        try:
            state = json.loads(data)
            if state.get("version") != SNAPSHOT_VERSION:
                raise AccountsError(f"unsupported snapshot version {state.get('version')!r}")
            acc = cls()
            for symbol, decimals in state["assets"]:
                acc.add_asset(Asset(symbol, decimals))
            for spec in state["markets"]:
                acc.add_market(Instrument.from_dict(spec))
            for user, asset, free, locked in state["balances"]:
                acc.balances.setdefault(user, {})[asset] = [free, locked]
            for kind, asset, amount in state["system"]:
                acc.system[(AccountKind(kind), asset)] = amount
            for hid, user, symbol, side, asset, amount, price in state["holds"]:
                acc.holds[hid] = Hold(user, symbol, Side(side), asset, amount, price)
            for wid, user, asset, amount in state["withdrawals"]:
                acc.withdrawals[wid] = (user, asset, amount)
            for name, maker, taker in state["tiers"]:
                acc.set_tier(name, maker, taker)
            for user, name in state["user_tiers"]:
                acc.user_tiers[user] = name
            acc.high = {k: v for k, v in state["high"]}
        except AccountsError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise AccountsError(f"corrupt accounts snapshot: {exc}") from exc
        return acc

    # --- helpers ----------------------------------------------------------

    def _asset(self, symbol: str) -> Asset:
        asset = self.assets.get(symbol)
        if asset is None:
            raise AccountsError(f"unknown asset {symbol}")
        return asset

    def _bal(self, user_id: int, asset: str) -> list[int]:
        per = self.balances.get(user_id)
        if per is None:
            per = self.balances[user_id] = {}
        bal = per.get(asset)
        if bal is None:
            bal = per[asset] = [0, 0]
        return bal

    def _existing(self, user_id: int, asset: str) -> list[int]:
        """The user's balance, or a detached zero one: a refusal must not create accounts."""
        bal = self.balances.get(user_id, {}).get(asset)
        return bal if bal is not None else [0, 0]

    def _sys(self, kind: AccountKind, asset: str, amount: int) -> None:
        key = (kind, asset)
        self.system[key] = self.system.get(key, 0) + amount

    def _seen(self, stream: str, seq: int, commit: bool = True) -> bool:
        if seq <= self.high.get(stream, 0):
            return True
        if commit:
            self.high[stream] = seq
        return False

    def _rates(self, user_id: int, m: MarketTerms) -> tuple[Fixed, Fixed]:
        tier = self.user_tiers.get(user_id)
        if tier is None:
            return m.maker_fee, m.taker_fee
        return self.tiers[tier]


_HOLD_IDS = "#hold_ids"  # high-water marks of ids that must only grow
_WITHDRAWAL_IDS = "#withdrawal_ids"


def _rates(maker_fee: str, taker_fee: str) -> tuple[Fixed, Fixed]:
    """Maker and taker rates: the taker's in [0, 1), the maker's in (-1, 1) (negative: rebate)."""
    maker = parse_signed_fixed(maker_fee, "maker_fee")
    taker = parse_signed_fixed(taker_fee, "taker_fee")
    one = pow10(maker.scale)
    if not 0 <= taker.mantissa < pow10(taker.scale) or not -one < maker.mantissa < one:
        raise AccountsError(f"fee rates out of range: maker {maker_fee}, taker {taker_fee}")
    return maker, taker


def _fee(amount: int, rate: Fixed) -> int:
    """Fee on ``amount`` at ``rate``: rounded up; a rebate (negative) rounded towards zero."""
    num = amount * rate.mantissa
    den = pow10(rate.scale)
    # Ceiling for a fee; for a rebate (negative) the same expression rounds towards zero.
    return -(-num // den)


def _positive(amount: int) -> None:
    if amount <= 0:
        raise AccountsError("an amount must be positive")
