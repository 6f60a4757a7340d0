"""The market maker's pure quoting parts: the x*y=k curve, volatility, reference, ladder."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from rialto.marketmaker import config
from rialto.marketmaker.amm import Pool
from rialto.marketmaker.config import StrategyParams
from rialto.marketmaker.quotes import BUY, SELL, MarketSpec, crosses
from rialto.marketmaker.reference import Reference
from rialto.marketmaker.strategy import MarketModel, ladder
from rialto.marketmaker.volatility import Ewma, half_spread_bps, size_multiplier

SPEC = MarketSpec(
    "BTCUSDT", "BTC", "USDT", Decimal("0.01"), Decimal("0.0001"), Decimal(0), Decimal("5")
)


def model(**params: object) -> MarketModel:
    m = MarketModel(SPEC, StrategyParams(**params), Reference(initial=65000.0))  # type: ignore[arg-type]
    assert m.center(0) == pytest.approx(65000.0)
    return m


def test_pool_curve_sizes_add_up_and_fills_move_the_price() -> None:
    pool = Pool.with_base(2.0, 100.0)
    assert pool.base == pytest.approx(2.0) and pool.quote == pytest.approx(200.0)
    # Levels over adjacent ranges add up to the range: the ladder follows the curve.
    parts = pool.base_between(100, 101) + pool.base_between(101, 103)
    assert parts == pytest.approx(pool.base_between(100, 103))
    assert pool.base_between(103, 100) == pool.base_between(100, 103) > 0
    k = pool.base * pool.quote
    level = pool.base_between(100, 101)
    pool.fill(True, level, 101.0)  # an ask lifted: the pool sold base, its price rises
    assert pool.price == pytest.approx(101, rel=1e-3) and pool.base * pool.quote >= k
    up = pool.price
    pool.fill(False, pool.base_between(up * 0.99, up), up * 0.99)  # a bid hit: it falls
    assert pool.price == pytest.approx(up * 0.99, rel=1e-3)
    pool.anchor(120.0, 1.0)
    assert pool.price == pytest.approx(120.0)
    pool.anchor(100.0, 0.5)
    assert 100 < pool.price < 120


def test_volatility_widens_the_spread_and_shrinks_the_size() -> None:
    calm, wild = Ewma(20), Ewma(20)
    for i in range(50):
        calm.update(100.0 * (1 + 0.0001 * (i % 2)))
        wild.update(100.0 * (1 + 0.02 * (i % 2)))
    assert 0 < calm.sigma < wild.sigma
    assert half_spread_bps(0.0, 10, 500, 2) == 5
    assert half_spread_bps(calm.sigma, 10, 500, 2) < half_spread_bps(wild.sigma, 10, 500, 2)
    assert half_spread_bps(wild.sigma, 10, 500, 2) == 250  # capped at max_spread / 2
    assert size_multiplier(0.0, 20, 0.1) == 1
    assert size_multiplier(0.002, 20, 0.1) == pytest.approx(0.5)
    assert size_multiplier(1.0, 20, 0.1) == 0.1


def test_reference_prefers_fresh_external_then_trades_then_book_then_initial() -> None:
    r = Reference(initial=50.0, stale_ms=1000)
    assert (r.price(0), r.source(0)) == (50.0, "initial")
    r.on_book(99.0, 101.0)
    assert (r.price(0), r.source(0)) == (100.0, "book")
    r.on_trade(102.0)
    assert (r.price(0), r.source(0)) == (102.0, "trades")
    r.on_external(110.0, 112.0, now_ms=5000)
    assert (r.price(5500), r.source(5500)) == (111.0, "external")
    assert (r.price(7000), r.source(7000)) == (102.0, "trades")  # stale: back to our trades


def test_ladder_is_two_sided_ordered_on_the_grid_and_within_bounds() -> None:
    m = model(levels=5, level_step_bps=10, min_spread_bps=10, pool_base=5, range_pct=0.3)
    quotes = ladder(m, 65000.0, 0.0, None)
    bids = [q for q in quotes if q.side == BUY]
    asks = [q for q in quotes if q.side == SELL]
    assert bids and asks and not crosses(bids, asks)
    assert [q.price for q in bids] == sorted((q.price for q in bids), reverse=True)
    assert [q.price for q in asks] == sorted(q.price for q in asks)
    spread_bps = (asks[0].price - bids[0].price) / Decimal(65000) * 10_000
    assert 10 <= spread_bps < 11
    for q in quotes:
        assert q.price % SPEC.tick == 0 and q.qty % SPEC.step == 0 and q.notional >= 5
        assert m.lo <= q.price <= m.hi  # range_pct=0.3: the outer levels are cut
    assert len(bids) < 5 and len(asks) < 5
    # Sizes follow the curve: each level holds its step's worth, a little less further up.
    assert asks[1].qty <= asks[0].qty and bids[1].qty >= bids[0].qty
    curve = m.pool.base_between(float(asks[0].price) / 1.001, float(asks[0].price))
    assert abs(float(asks[0].qty) - curve) <= float(SPEC.step)


def test_inventory_skews_toward_flat_and_volatility_reshapes() -> None:
    m = model(levels=3, pool_base=5, skew_bps=20)
    flat = ladder(m, 65000.0, 0.0, 1.0)
    long = ladder(m, 65000.0, 0.5, 1.0)
    best = {s: next(q for q in flat if q.side == s) for s in (BUY, SELL)}
    best_long = {s: next(q for q in long if q.side == s) for s in (BUY, SELL)}
    assert best_long[SELL].price < best[SELL].price  # long: cheaper asks, to sell
    assert best_long[BUY].price < best[BUY].price
    assert best_long[BUY].qty < best[BUY].qty  # ...and smaller bids
    full = ladder(m, 65000.0, 1.0, 1.0)
    assert not [q for q in full if q.side == BUY]  # at the cap: no bids at all
    m.vol.variance = 0.003**2  # 30 bps per sample
    wide = ladder(m, 65000.0, 0.0, 1.0)
    w = {s: next(q for q in wide if q.side == s) for s in (BUY, SELL)}
    assert w[SELL].price - w[BUY].price > best[SELL].price - best[BUY].price
    assert w[SELL].qty < best[SELL].qty


def test_fills_move_the_pool_and_with_it_the_centre() -> None:
    m = model(pool_base=1, trade_anchor=0.0)
    before = m.center(1)
    assert before is not None
    m.on_fill(SELL, 0.05, 65100.0)  # our ask lifted
    after = m.center(2)
    assert after is not None and after > before


def test_config_from_toml_and_json(tmp_path: Path) -> None:
    toml = tmp_path / "mm.toml"
    toml.write_text(
        """
url = "http://127.0.0.1:8000"
api_key = "k"
secret = "s"
control_dir = "ctl"
[strategy]
levels = 3
[[markets]]
symbol = "btcusdt"
initial_price = "65000"
strategy = { pool_base = 2.5 }
[[markets]]
symbol = "ETHUSDT"
reference_venue = "ext"
[risk]
max_position = { BTC = "1.5" }
max_daily_loss = 100.5
[margin]
tier = "pro"
collateral = "10000"
[[venues]]
name = "ext"
url = "http://127.0.0.1:9000/"
[hedge]
threshold = { BTC = "0.2" }
"""
    )
    cfg = config.load(toml)
    btc, eth = cfg.markets
    assert btc.symbol == "BTCUSDT" and btc.strategy.levels == 3 and btc.strategy.pool_base == 2.5
    assert eth.strategy.pool_base == 1.0 and eth.reference_venue == "ext"
    assert cfg.risk.max_position == {"BTC": Decimal("1.5")}
    assert cfg.risk.max_daily_loss == Decimal("100.5")
    assert cfg.margin.enabled and cfg.margin.tier_of().leverage == 5
    assert cfg.hedge.enabled and cfg.hedge.venues == ("ext",)
    assert cfg.venue("ext").url == "http://127.0.0.1:9000"
    js = tmp_path / "mm.json"
    js.write_text(
        json.dumps({"url": "u", "api_key": "k", "secret": "s", "markets": [{"symbol": "ETHBTC"}]})
    )
    assert config.load(js).markets[0].symbol == "ETHBTC"
    for bad in (
        {"url": "u", "api_key": "k", "secret": "s", "markets": [{"symbol": "X", "oops": 1}]},
        {"url": "u", "api_key": "k", "secret": "s", "markets": []},
        {
            "url": "u",
            "api_key": "k",
            "secret": "s",
            "markets": [{"symbol": "X"}],
            "hedge": {"venues": ["nowhere"]},
        },
    ):
        with pytest.raises(config.ConfigError):
            config.from_dict(bad)
