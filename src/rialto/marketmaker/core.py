"""The whole quoting decision for one market, pure: model + book-keeping in, ladder out.

The running bot and the property tests call the same function.
"""

from __future__ import annotations

from decimal import Decimal

from rialto.marketmaker.config import RiskLimits
from rialto.marketmaker.quotes import Quote
from rialto.marketmaker.risk import Exposure, Guard, Headroom, Ledger, Margin, fit
from rialto.marketmaker.strategy import MarketModel, ladder


def desired(
    model: MarketModel,
    now_ms: int,
    ledger: Ledger,
    guard: Guard,
    limits: RiskLimits,
    others: list[Exposure],
    prices: dict[str, Decimal],
) -> list[Quote]:
    """The ladder ``model``'s market should show now, within every limit of the bot.

    ``others`` are the bot's open (and in-flight) orders in its other markets; ``prices``
    value each asset in the numeraire.
    """
    if guard.killed is not None or not model.params.quote:
        return []
    center = model.center(now_ms)
    if center is None:
        return []
    spec = model.spec
    value = ledger.value(prices)
    position = ledger.position(spec.base)
    cap = limits.max_position.get(spec.base)
    raw = ladder(model, center, float(position), float(cap) if cap else None)
    room = Headroom(
        positions=dict(ledger.deltas),
        others=others,
        prices=prices,
        loss=guard.loss(value),
        margin_capacity=guard.capacity(value),
        reduce_only=guard.margin is Margin.CUT,
    )
    return fit(raw, spec, Decimal(repr(center)), limits, room)
