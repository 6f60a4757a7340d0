"""Risk for one bot: the P&L ledger, pre-trade limits on the ladder, the kill switch, margin.

Money is ``Decimal`` here: fills come as decimal strings from the venue and are booked
exactly; prices used to value assets in the numeraire come from the reference prices.

* :class:`Ledger` books fills: the change of every asset since the start, fees, and the
  realised P&L per market (average cost).
* :func:`fit` trims a ladder so that, if every open order of the bot filled, no asset's
  position passes ``max_position``, the orders' notional stays within ``max_notional`` and
  the margin capacity, and filling a side down to its farthest level could not take the
  day's loss past ``max_daily_loss``.
* :class:`Guard` is the kill switch (loss, position or notional breached: stop until an
  operator resumes) and the margin level (warn, then cut quotes to position-reducing ones).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from rialto.marketmaker.config import MarginTier, RiskLimits
from rialto.marketmaker.quotes import BUY, SELL, MarketSpec, Quote, Side

ZERO = Decimal(0)
DAY_MS = 86_400_000


@dataclass(frozen=True)
class Exposure:
    """An open order, as what it would do to balances if it filled."""

    base: str
    quote: str
    side: Side
    price: Decimal
    qty: Decimal


@dataclass
class Ledger:
    deltas: dict[str, Decimal] = field(default_factory=dict)  # asset -> change since start
    fees: dict[str, Decimal] = field(default_factory=dict)
    inventory: dict[str, Decimal] = field(default_factory=dict)  # symbol -> base held
    cost: dict[str, Decimal] = field(default_factory=dict)  # symbol -> average price
    realised: dict[str, Decimal] = field(default_factory=dict)  # symbol -> P&L in quote
    fills: int = 0

    def fill(
        self,
        symbol: str,
        base: str,
        quote: str,
        side: Side,
        qty: Decimal,
        price: Decimal,
        fee: Decimal = ZERO,
        fee_asset: str = "",
    ) -> None:
        sign = 1 if side == BUY else -1
        d = self.deltas
        d[base] = d.get(base, ZERO) + sign * qty
        d[quote] = d.get(quote, ZERO) - sign * qty * price
        if fee and fee_asset:
            d[fee_asset] = d.get(fee_asset, ZERO) - fee
            self.fees[fee_asset] = self.fees.get(fee_asset, ZERO) + fee
        self.fills += 1
        # Realised P&L on average cost: closing against the held inventory realises.
        inv, avg = self.inventory.get(symbol, ZERO), self.cost.get(symbol, ZERO)
        signed = sign * qty
        if inv == 0 or (inv > 0) == (signed > 0):
            new = inv + signed
            avg = (avg * abs(inv) + price * qty) / abs(new)
            inv = new
        else:
            closed = min(qty, abs(inv))
            pnl = (price - avg) * closed if inv > 0 else (avg - price) * closed
            self.realised[symbol] = self.realised.get(symbol, ZERO) + pnl
            inv += signed
            if inv != 0 and (inv > 0) == (signed > 0):  # flipped: the rest opens at price
                avg = price
            elif inv == 0:
                avg = ZERO
        self.inventory[symbol], self.cost[symbol] = inv, avg

    def position(self, asset: str) -> Decimal:
        return self.deltas.get(asset, ZERO)

    def value(self, prices: dict[str, Decimal]) -> Decimal:
        """Mark-to-market P&L since the start in the numeraire (assets without a price: 0)."""
        return sum((q * prices[a] for a, q in self.deltas.items() if a in prices), ZERO)


def numeraire_prices(markets: list[tuple[str, str, Decimal]], numeraire: str) -> dict[str, Decimal]:
    """Each asset's price in ``numeraire`` from (base, quote, price) of markets, chained."""
    px = {numeraire: Decimal(1)}
    for _ in range(3):
        for base, quote, p in markets:
            if p <= 0:
                continue
            if quote in px and base not in px:
                px[base] = p * px[quote]
            elif base in px and quote not in px:
                px[quote] = px[base] / p
    return px


def worst_positions(
    positions: dict[str, Decimal], orders: list[Exposure]
) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    """Per asset, the highest and lowest position if any subset of ``orders`` filled."""
    hi, lo = dict(positions), dict(positions)
    for o in orders:
        up, down = (o.base, o.quote) if o.side == BUY else (o.quote, o.base)
        amount = {o.base: o.qty, o.quote: o.qty * o.price}
        hi[up] = hi.get(up, ZERO) + amount[up]
        lo[down] = lo.get(down, ZERO) - amount[down]
    return hi, lo


def book_notional(orders: list[Exposure], prices: dict[str, Decimal]) -> Decimal:
    return sum((o.qty * o.price * prices.get(o.quote, ZERO) for o in orders), ZERO)


def position_notional(
    positions: dict[str, Decimal], prices: dict[str, Decimal], numeraire: str
) -> Decimal:
    return sum((abs(q) * prices.get(a, ZERO) for a, q in positions.items() if a != numeraire), ZERO)


@dataclass(frozen=True)
class Headroom:
    """What the rest of the bot leaves to one market's ladder."""

    positions: dict[str, Decimal]  # asset -> change since start
    others: list[Exposure]  # the bot's open orders in other markets
    prices: dict[str, Decimal]  # asset -> numeraire price
    loss: Decimal = ZERO  # today's loss so far (positive: a loss)
    margin_capacity: Decimal | None = None  # leverage x collateral
    reduce_only: bool = False  # margin cut: only orders that shrink the position


def fit(
    ladder: list[Quote],
    spec: MarketSpec,
    ref: Decimal,
    limits: RiskLimits,
    room: Headroom,
) -> list[Quote]:
    """The nearest-first prefix of each side of ``ladder`` that all limits allow."""
    prices = room.prices
    quote_px = prices.get(spec.quote, ZERO)
    base_pos = room.positions.get(spec.base, ZERO)
    hi, lo = worst_positions(room.positions, room.others)
    notional = book_notional(room.others, prices)
    margin_used = notional + position_notional(room.positions, prices, limits.numeraire)
    kept: list[Quote] = []
    side_qty = {BUY: ZERO, SELL: ZERO}
    stress = {BUY: ZERO, SELL: ZERO}  # sum q_i * p_i of kept levels: for the loss guard
    blocked: set[Side] = set()
    order = sorted(ladder, key=lambda q: (q.level, q.side))
    for q in order:
        if q.side in blocked:
            continue
        cap = q.qty
        if room.reduce_only:
            # Long: sells down to flat; short: buys up to flat; nothing else.
            room_left = base_pos - side_qty[SELL] if q.side == SELL else -base_pos - side_qty[BUY]
            cap = min(cap, max(room_left, ZERO))
        up, down = (spec.base, spec.quote) if q.side == BUY else (spec.quote, spec.base)
        per_unit = {spec.base: Decimal(1), spec.quote: q.price}
        if (m := limits.max_position.get(up)) is not None:
            cap = min(cap, (m - hi.get(up, ZERO)) / per_unit[up])
        if (m := limits.max_position.get(down)) is not None:
            cap = min(cap, (m + lo.get(down, ZERO)) / per_unit[down])
        unit_value = q.price * quote_px
        if limits.max_notional is not None and unit_value > 0:
            cap = min(cap, (limits.max_notional - notional) / unit_value)
        if room.margin_capacity is not None and unit_value > 0 and not room.reduce_only:
            cap = min(cap, (room.margin_capacity - margin_used) / unit_value)
        qty = spec.qty(max(cap, ZERO))
        if not spec.tradable(q.price, qty):
            blocked.add(q.side)  # farther levels would need the same room
            continue
        if limits.max_daily_loss is not None and not _loss_ok(
            q, qty, spec, ref, base_pos, side_qty, stress, room, limits
        ):
            blocked.add(q.side)
            continue
        kept.append(Quote(q.side, q.price, qty, q.level))
        side_qty[q.side] += qty
        stress[q.side] += qty * q.price
        hi[up] = hi.get(up, ZERO) + qty * per_unit[up]
        lo[down] = lo.get(down, ZERO) - qty * per_unit[down]
        notional += qty * unit_value
        margin_used += qty * unit_value
    return sorted(kept, key=lambda q: (q.side != BUY, q.level))


def _loss_ok(
    q: Quote,
    qty: Decimal,
    spec: MarketSpec,
    ref: Decimal,
    base_pos: Decimal,
    side_qty: dict[Side, Decimal],
    stress: dict[Side, Decimal],
    room: Headroom,
    limits: RiskLimits,
) -> bool:
    """The day's loss if this side filled down to ``q`` and the price then stood at the
    stressed mark: ``q.price`` moved on by ``stress_move_pct`` (up for asks, down by the
    same factor for bids).

    Asks filled as the price rises: the short they leave loses (mark - p_i) each, and the
    position held already moves by (mark - ref).
    """
    assert limits.max_daily_loss is not None
    px = room.prices.get(spec.quote, ZERO)
    factor = 1 + limits.stress_move_pct / 100
    filled = side_qty[q.side] + qty
    paid = stress[q.side] + qty * q.price
    if q.side == SELL:
        mark = q.price * factor
        loss = filled * mark - paid - base_pos * (mark - ref)
    else:
        mark = q.price / factor
        loss = paid - filled * mark + base_pos * (ref - mark)
    return room.loss + loss * px <= limits.max_daily_loss


class Margin(StrEnum):
    OK = "ok"
    WARN = "warn"
    CUT = "cut"


@dataclass
class Guard:
    """The kill switch and the margin level of one bot."""

    limits: RiskLimits
    tier: MarginTier | None = None
    collateral: Decimal = ZERO
    killed: str | None = None  # why, while killed
    margin: Margin = Margin.OK
    margin_usage: Decimal = ZERO
    day: int = -1
    day_start: Decimal = ZERO  # the P&L value at the start of the day (or the last resume)

    def loss(self, value: Decimal) -> Decimal:
        return self.day_start - value

    def capacity(self, value: Decimal) -> Decimal | None:
        if self.tier is None:
            return None
        return max(ZERO, self.tier.leverage * (self.collateral + value))

    def check(
        self,
        now_ms: int,
        value: Decimal,
        positions: dict[str, Decimal],
        prices: dict[str, Decimal],
        on_book: Decimal,
    ) -> list[str]:
        """Update the state from the bot's P&L value, positions and open notional; return
        what changed (``kill: ...``, ``margin warn``, ``margin cut``, ``margin ok``)."""
        events: list[str] = []
        day = now_ms // DAY_MS
        if day != self.day:
            self.day, self.day_start = day, value
        lim = self.limits
        if self.killed is None:
            reason = None
            limit = lim.max_daily_loss
            if limit is not None and self.loss(value) >= limit * lim.kill_fraction:
                reason = f"daily loss {self.loss(value):.2f} {lim.numeraire}"
            for asset, cap in lim.max_position.items():
                if abs(positions.get(asset, ZERO)) > cap:
                    reason = f"position {asset} {positions[asset]} beyond {cap}"
            if lim.max_notional is not None and on_book > lim.max_notional:
                reason = f"notional on book {on_book:.2f} beyond {lim.max_notional}"
            if reason is not None:
                self.killed = reason
                events.append(f"kill: {reason}")
        capacity = self.capacity(value)
        if capacity is not None and self.tier is not None:
            used = position_notional(positions, prices, lim.numeraire)
            self.margin_usage = used / capacity if capacity > 0 else Decimal(1)
            level = Margin.OK
            if self.margin_usage >= self.tier.liquidation:
                level = Margin.CUT
            elif self.margin_usage >= self.tier.warn:
                level = Margin.WARN
            if level != self.margin:
                self.margin = level
                events.append(f"margin {level.value}")
        return events

    def resume(self, value: Decimal) -> None:
        """An operator's resume: quoting again, with the day's loss counted from now."""
        self.killed = None
        self.day_start = value


def within(
    orders: list[Exposure],
    positions: dict[str, Decimal],
    prices: dict[str, Decimal],
    limits: RiskLimits,
    margin_capacity: Decimal | None = None,
) -> bool:
    """True when ``orders`` all open at once keep every position, notional and margin limit."""
    hi, lo = worst_positions(positions, orders)
    for asset, cap in limits.max_position.items():
        if hi.get(asset, ZERO) > cap or lo.get(asset, ZERO) < -cap:
            return False
    notional = book_notional(orders, prices)
    if limits.max_notional is not None and notional > limits.max_notional:
        return False
    if margin_capacity is not None:
        used = notional + position_notional(positions, prices, limits.numeraire)
        if used > margin_capacity:
            return False
    return True
