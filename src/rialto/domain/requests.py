"""Commands to the whole exchange, as the sequencer journals them. Integers only.

Prices are in ticks, quantities in lots, ``quote_qty`` in notional units of the
symbol (see :mod:`rialto.domain.instruments`), asset amounts in minor units.
"""

from __future__ import annotations

from typing import NamedTuple

from rialto.domain.instruments import Instrument
from rialto.domain.orders import MarketStatus, OrderType, SelfTradePrevention, Side, TimeInForce


class NewOrder(NamedTuple):
    user_id: int
    symbol: str
    side: Side
    order_type: OrderType
    qty: int = 0
    price: int = 0
    tif: TimeInForce = TimeInForce.GTC
    quote_qty: int = 0
    stop_price: int = 0
    client_order_id: str = ""
    stp: SelfTradePrevention | None = None


class CancelOrder(NamedTuple):
    user_id: int
    symbol: str
    order_id: int = 0
    client_order_id: str = ""


class CancelAllOrders(NamedTuple):
    user_id: int
    symbol: str


class AmendOrder(NamedTuple):
    user_id: int
    symbol: str
    order_id: int
    price: int = 0
    qty: int = 0


class Deposit(NamedTuple):
    user_id: int
    asset: str
    amount: int


class Adjust(NamedTuple):
    user_id: int
    asset: str
    amount: int
    reason: str


class CreateUser(NamedTuple):
    email: str
    password_hash: str


class CreateApiKey(NamedTuple):
    user_id: int
    api_key: str
    kind: str  # HMAC or ED25519
    verifier: str  # see rialto.domain.users.ApiKey
    permissions: tuple[str, ...]
    ips: tuple[str, ...] = ()


class RevokeApiKey(NamedTuple):
    user_id: int
    api_key: str


class AddAsset(NamedTuple):
    symbol: str
    decimals: int


class AddMarket(NamedTuple):
    """A new market; ``spec`` is ``Instrument.to_dict()`` as sorted (key, value) pairs."""

    spec: tuple[tuple[str, object], ...]

    @classmethod
    def of(cls, instrument: Instrument) -> AddMarket:
        """The canonical request for ``instrument`` (lists as tuples, keys sorted)."""
        items = instrument.to_dict().items()
        return cls(tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in items)))


class SetMarketStatus(NamedTuple):
    symbol: str
    status: MarketStatus


class SetMarketRisk(NamedTuple):
    """A market's price band and circuit breaker (see :class:`rialto.domain.risk.MarketRisk`)."""

    symbol: str
    band_bps: int = 0
    breaker_bps: int = 0
    window_ms: int = 0
    cooling_ms: int = 0


class ResumeMarket(NamedTuple):
    """End a circuit-breaker halt whose cooling period is over (otherwise does nothing).

    The runtime sends it when the cooling period ends, so the resume is in the journal.
    """

    symbol: str


class SetFeeTier(NamedTuple):
    """A fee tier: maker and taker rates as decimals ("0.0002"; a maker rate may be negative,
    a rebate). It overrides the markets' own rates for the users assigned to it."""

    name: str
    maker_fee: str
    taker_fee: str


class AssignFeeTier(NamedTuple):
    """Put a user on a fee tier ("" puts the user back on the markets' rates)."""

    user_id: int
    name: str


Request = (
    NewOrder
    | CancelOrder
    | CancelAllOrders
    | AmendOrder
    | Deposit
    | Adjust
    | AddAsset
    | AddMarket
    | SetMarketStatus
    | SetMarketRisk
    | ResumeMarket
    | CreateUser
    | CreateApiKey
    | RevokeApiKey
    | SetFeeTier
    | AssignFeeTier
)
