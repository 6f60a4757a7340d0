"""The market maker's configuration: a TOML or JSON file, read into frozen dataclasses.

Amounts of money (limits, collateral) are decimal strings in the file and ``Decimal`` here;
strategy shape parameters (basis points, fractions) are plain numbers. See
docs/marketmaker.md for every key.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message says which key."""


@dataclass(frozen=True)
class StrategyParams:
    quote: bool = True  # false: no quotes in this market (arbitrage or hedging only)
    levels: int = 5  # orders a side
    level_step_bps: float = 10.0  # distance between consecutive levels
    min_spread_bps: float = 10.0  # full quoted spread when volatility is nil
    max_spread_bps: float = 500.0
    vol_window: int = 50  # returns in the EWMA (alpha = 2 / (window + 1))
    vol_spread_mult: float = 2.0  # half-spread added per unit of per-return sigma (in bps)
    vol_size_ref_bps: float = 20.0  # sigma at which sizes are halved
    min_size_fraction: float = 0.1
    pool_base: float = 1.0  # base units in the virtual x*y=k pool at the initial price
    range_pct: float = 50.0  # quotes stay within +-range_pct of the initial price...
    price_min: float | None = None  # ...unless these bounds are given
    price_max: float | None = None
    skew_bps: float = 20.0  # centre shift at a full position (toward flat)
    anchor: float = 1.0  # an external reference: 1 centres on it, 0 on the pool's own price
    trade_anchor: float = 0.2  # the same for the exchange's own trades (they bounce bid/ask)
    vol_sample_s: float = 1.0  # the centre is sampled for volatility this often
    requote_bps: float = 2.0  # a reference move that re-quotes at once
    keep_tolerance: float = 0.25  # a live order within this share of its size is kept...
    keep_bps: float = 3.0  # ...and within this of its price (not narrowing the spread)
    refresh_s: float = 2.0  # re-quote at least this often


@dataclass(frozen=True)
class MarketConfig:
    symbol: str  # Rialto's symbol, e.g. BTCUSDT
    strategy: StrategyParams = field(default_factory=StrategyParams)
    initial_price: Decimal | None = None  # when the book and trades give none yet
    reference_venue: str | None = None  # an external venue's name: its mid is the reference
    external_symbol: str | None = None  # the symbol on external venues (default BASE/QUOTE)


@dataclass(frozen=True)
class MarginTier:
    name: str
    leverage: Decimal  # quoting capacity = leverage x collateral
    warn: Decimal  # share of capacity used by positions: warn
    liquidation: Decimal  # ...and cut the quotes that add exposure


DEFAULT_TIERS = (
    MarginTier("standard", Decimal(3), Decimal("0.6"), Decimal("0.8")),
    MarginTier("pro", Decimal(5), Decimal("0.7"), Decimal("0.9")),
)


@dataclass(frozen=True)
class MarginConfig:
    enabled: bool = False
    tier: str = "standard"
    collateral: Decimal | None = None  # numeraire; None: the account's equity at start
    tiers: tuple[MarginTier, ...] = DEFAULT_TIERS

    def tier_of(self) -> MarginTier:
        for t in self.tiers:
            if t.name == self.tier:
                return t
        raise ConfigError(f"margin.tier {self.tier!r} is not among margin.tiers")


@dataclass(frozen=True)
class RiskLimits:
    numeraire: str = "USDT"  # P&L, notional and collateral are valued in this asset
    max_position: dict[str, Decimal] = field(default_factory=dict)  # |asset change| cap
    max_notional: Decimal | None = None  # all open orders, valued in the numeraire
    max_daily_loss: Decimal | None = None  # fills are sized so the loss cannot pass it
    kill_fraction: Decimal = Decimal("0.9")  # the kill switch trips at this share of it
    # The loss guard marks a filled side this far beyond its farthest level (200: the price
    # triples, or falls to a third): inventory is sized to survive such a gap.
    stress_move_pct: Decimal = Decimal(0)


@dataclass(frozen=True)
class VenueConfig:
    name: str
    url: str
    api_key: str = ""
    secret: str = ""
    taker_fee: Decimal = Decimal("0.001")
    maker_fee: Decimal = Decimal("0.001")


@dataclass(frozen=True)
class HedgeConfig:
    enabled: bool = False
    venues: tuple[str, ...] = ()  # names of [[venues]]; default all of them
    threshold: dict[str, Decimal] = field(default_factory=dict)  # base asset -> |position|
    target: Decimal = Decimal(0)  # hedge down to this share of the threshold
    max_slippage_bps: float = 50.0
    order_timeout_s: float = 5.0


@dataclass(frozen=True)
class ArbitrageConfig:
    enabled: bool = False
    venues: tuple[str, ...] = ()
    min_profit_bps: float = 5.0  # beyond both venues' taker fees
    max_qty: dict[str, Decimal] = field(default_factory=dict)  # symbol -> base per trade
    interval_s: float = 0.5


@dataclass(frozen=True)
class Config:
    url: str  # the Rialto API, e.g. http://127.0.0.1:8000
    api_key: str
    secret: str
    markets: tuple[MarketConfig, ...]
    ws_url: str | None = None  # default: the API URL with ws:// and /stream
    name: str = "marketmaker"
    client_prefix: str = "mm"  # newClientOrderId prefix of the bot's orders
    risk: RiskLimits = field(default_factory=RiskLimits)
    margin: MarginConfig = field(default_factory=MarginConfig)
    venues: tuple[VenueConfig, ...] = ()
    hedge: HedgeConfig = field(default_factory=HedgeConfig)
    arbitrage: ArbitrageConfig = field(default_factory=ArbitrageConfig)
    control_dir: Path | None = None  # status.json is written here; touch "resume" to resume
    maker_fee: Decimal = Decimal("0.001")  # Rialto's fees for this bot (its tier)
    taker_fee: Decimal = Decimal("0.001")
    reference_poll_s: float = 0.5

    def venue(self, name: str) -> VenueConfig:
        for v in self.venues:
            if v.name == name:
                return v
        raise ConfigError(f"no venue named {name!r} in [[venues]]")


def load(path: Path) -> Config:
    """Read a ``.toml`` or ``.json`` file."""
    text = path.read_text()
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return from_dict(data)


def from_dict(data: dict[str, Any]) -> Config:
    try:
        return _config(data)
    except (KeyError, TypeError, ArithmeticError) as exc:
        raise ConfigError(f"bad market maker configuration: {exc!r}") from exc


def _dec(v: Any) -> Decimal:
    if isinstance(v, float):
        v = repr(v)  # 0.1 in TOML is a float: take its shortest text, not its binary value
    return Decimal(str(v))


def _opt_dec(v: Any) -> Decimal | None:
    return None if v is None else _dec(v)


def _known(cls: type, data: dict[str, Any], where: str, more: tuple[str, ...] = ()) -> None:
    names = {f.name for f in fields(cls)} | set(more)
    extra = set(data) - names
    if extra:
        raise ConfigError(f"{where}: unknown keys {sorted(extra)}")


def _strategy(data: dict[str, Any], base: StrategyParams, where: str) -> StrategyParams:
    _known(StrategyParams, data, where)
    out = replace(base, **data)
    if out.levels < 1 or out.vol_window < 2 or out.pool_base <= 0:
        raise ConfigError(f"{where}: levels >= 1, vol_window >= 2 and pool_base > 0")
    if not (0 <= out.anchor <= 1 and 0 <= out.trade_anchor <= 1):
        raise ConfigError(f"{where}: anchor and trade_anchor are between 0 and 1")
    return out


def _config(d: dict[str, Any]) -> Config:
    _known(Config, d, "top level", ("strategy",))
    default = _strategy(d.get("strategy", {}), StrategyParams(), "[strategy]")
    markets = []
    for m in d["markets"]:
        m = dict(m)
        _known(MarketConfig, m, f"market {m.get('symbol')}")
        strategy = _strategy(m.pop("strategy", {}), default, f"[markets.{m['symbol']}.strategy]")
        markets.append(
            MarketConfig(
                symbol=str(m["symbol"]).upper(),
                strategy=strategy,
                initial_price=_opt_dec(m.get("initial_price")),
                reference_venue=m.get("reference_venue"),
                external_symbol=m.get("external_symbol"),
            )
        )
    if not markets:
        raise ConfigError("at least one market")
    r = d.get("risk", {})
    _known(RiskLimits, r, "[risk]")
    risk = RiskLimits(
        numeraire=str(r.get("numeraire", "USDT")).upper(),
        max_position={k.upper(): _dec(v) for k, v in r.get("max_position", {}).items()},
        max_notional=_opt_dec(r.get("max_notional")),
        max_daily_loss=_opt_dec(r.get("max_daily_loss")),
        kill_fraction=_dec(r.get("kill_fraction", "0.9")),
        stress_move_pct=_dec(r.get("stress_move_pct", 0)),
    )
    mg = d.get("margin", {})
    _known(MarginConfig, mg, "[margin]")
    tiers = tuple(
        MarginTier(t["name"], _dec(t["leverage"]), _dec(t["warn"]), _dec(t["liquidation"]))
        for t in mg.get("tiers", ())
    )
    margin = MarginConfig(
        enabled=bool(mg.get("enabled", bool(mg))),
        tier=mg.get("tier", "standard"),
        collateral=_opt_dec(mg.get("collateral")),
        tiers=tiers or DEFAULT_TIERS,
    )
    margin.tier_of()
    venues = []
    for v in d.get("venues", ()):
        _known(VenueConfig, v, f"venue {v.get('name')}")
        venues.append(
            VenueConfig(
                name=v["name"],
                url=v["url"].rstrip("/"),
                api_key=v.get("api_key", ""),
                secret=v.get("secret", ""),
                taker_fee=_dec(v.get("taker_fee", "0.001")),
                maker_fee=_dec(v.get("maker_fee", "0.001")),
            )
        )
    h = d.get("hedge", {})
    _known(HedgeConfig, h, "[hedge]")
    hedge = HedgeConfig(
        enabled=bool(h.get("enabled", bool(h))),
        venues=tuple(h.get("venues", [v.name for v in venues])),
        threshold={k.upper(): _dec(v) for k, v in h.get("threshold", {}).items()},
        target=_dec(h.get("target", 0)),
        max_slippage_bps=float(h.get("max_slippage_bps", 50.0)),
        order_timeout_s=float(h.get("order_timeout_s", 5.0)),
    )
    a = d.get("arbitrage", {})
    _known(ArbitrageConfig, a, "[arbitrage]")
    arb = ArbitrageConfig(
        enabled=bool(a.get("enabled", bool(a))),
        venues=tuple(a.get("venues", [v.name for v in venues])),
        min_profit_bps=float(a.get("min_profit_bps", 5.0)),
        max_qty={k.upper(): _dec(v) for k, v in a.get("max_qty", {}).items()},
        interval_s=float(a.get("interval_s", 0.5)),
    )
    cfg = Config(
        url=str(d["url"]).rstrip("/"),
        api_key=d["api_key"],
        secret=d["secret"],
        markets=tuple(markets),
        ws_url=d.get("ws_url"),
        name=d.get("name", "marketmaker"),
        client_prefix=d.get("client_prefix", "mm"),
        risk=risk,
        margin=margin,
        venues=tuple(venues),
        hedge=hedge,
        arbitrage=arb,
        control_dir=Path(d["control_dir"]) if d.get("control_dir") else None,
        maker_fee=_dec(d.get("maker_fee", "0.001")),
        taker_fee=_dec(d.get("taker_fee", "0.001")),
        reference_poll_s=float(d.get("reference_poll_s", 0.5)),
    )
    for name in {*cfg.hedge.venues, *cfg.arbitrage.venues} | {
        m.reference_venue for m in cfg.markets if m.reference_venue
    }:
        cfg.venue(name)
    return cfg
