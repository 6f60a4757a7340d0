"""The market maker end to end: real ``rialto up`` processes, ccxt's binance class, no mocks.

``main`` is the exchange the bot quotes on (as alice); ``ext`` is a second Rialto on another
port playing the external venue for references, hedges and arbitrage (alice has an account
there too). Bob trades against the bot on both through ccxt. Each test runs its own bot in
process and stops it (which cancels its orders), so the tests share the two exchanges.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt.async_support as ccxt
import pytest

from rialto.marketmaker import config
from rialto.marketmaker.bot import MarketMaker
from rialto.marketmaker.venue import binance_client
from rialto.runtime import admin
from rialto.runtime.local_exchange import Rialto, start, stop

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def venues(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Rialto, Rialto]]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RIALTO_IP_WEIGHT_PER_MINUTE", "1000000")  # all clients are 127.0.0.1
        main = start(tmp_path_factory.mktemp("mm-main"))
        try:
            ext = start(tmp_path_factory.mktemp("mm-ext"))
        except BaseException:
            stop(main)
            raise
    try:
        yield main, ext
    finally:
        stop(ext)
        stop(main)


def bot_config(r: Rialto, markets: list[dict[str, Any]], **more: Any) -> config.Config:
    key = r.keys["alice@api.test"]
    return config.from_dict(
        {
            "url": r.url,
            "api_key": key["api_key"],
            "secret": key["secret"],
            "markets": markets,
            **more,
        }
    )


def client(r: Rialto, who: str = "bob@api.test") -> Any:
    key = r.keys[who]
    return binance_client(r.url, key["api_key"], key["secret"])


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 3.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.02)
    return False


async def with_bot(cfg: config.Config, body: Callable[[MarketMaker], Awaitable[None]]) -> None:
    bot = MarketMaker(cfg)
    await bot.start()
    try:
        await body(bot)
    finally:
        await bot.stop()


def run(coro: Awaitable[None]) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


# --- quoting ---------------------------------------------------------------------


def test_market_stays_two_sided_within_spread_bounds_while_a_trader_trades(
    venues: tuple[Rialto, Rialto],
) -> None:
    main, _ = venues
    strategy = {"levels": 3, "min_spread_bps": 10, "max_spread_bps": 80, "pool_base": 3}
    cfg = bot_config(
        main,
        [{"symbol": "BTCUSDT", "initial_price": "65000", "strategy": strategy}],
        risk={"max_position": {"BTC": "0.5"}, "max_daily_loss": "2000"},
    )

    async def body(bot: MarketMaker) -> None:
        bob, alice = client(main), client(main, "alice@api.test")
        rng = random.Random(7)
        spreads = []

        async def two_sided() -> bool:  # the spread of the book as the bot re-quoted it
            book = await bob.publicGetDepth({"symbol": "BTCUSDT", "limit": 5})
            if book["bids"] and book["asks"]:
                bid, ask = Decimal(book["bids"][0][0]), Decimal(book["asks"][0][0])
                spreads.append((ask - bid) / ((ask + bid) / 2) * 10_000)
                return True
            return False

        try:
            await bob.load_markets()
            assert await until(two_sided)
            for _ in range(25):
                side = rng.choice(["buy", "sell"])
                requotes = len(bot.requote_ms)
                await bob.create_order(
                    "BTC/USDT", "market", side, rng.choice([0.001, 0.002, 0.004])
                )

                async def requoted(n: int = requotes) -> bool:
                    return len(bot.requote_ms) > n

                assert await until(requoted, 2.0), "no re-quote after a fill"
                assert await two_sided(), (bot.status()["markets"], bot.markets["BTCUSDT"].rejects)
                mine = await alice.privateGetOpenOrders({"symbol": "BTCUSDT"})
                bids = [Decimal(o["price"]) for o in mine if o["side"] == "BUY"]
                asks = [Decimal(o["price"]) for o in mine if o["side"] == "SELL"]
                assert not bids or not asks or max(bids) < min(asks)
            trades = await alice.privateGetMyTrades({"symbol": "BTCUSDT", "limit": 1000})
            assert len(trades) >= 10
            assert all(t["isMaker"] for t in trades), "the bot took liquidity (its own?)"
            assert bot.ledger.fills == len(trades)
        finally:
            await bob.close()
            await alice.close()
        # Min spread 10 bps (ticks round outward); the volatility term keeps it under the cap.
        assert all(Decimal("9.9") <= s <= Decimal("80.5") for s in spreads), spreads
        assert bot.requote_ms and sorted(bot.requote_ms)[len(bot.requote_ms) // 2] < 200

    run(with_bot(cfg, body))


# --- risk --------------------------------------------------------------------------


def test_kill_switch_cancels_everything_and_waits_for_the_operator(
    venues: tuple[Rialto, Rialto], tmp_path: Path
) -> None:
    main, _ = venues
    strategy = {"levels": 3, "min_spread_bps": 10, "pool_base": 20, "trade_anchor": 1.0}
    cfg = bot_config(
        main,
        [{"symbol": "ETHUSDT", "initial_price": "3200", "strategy": strategy}],
        risk={"max_daily_loss": "15", "kill_fraction": "0.5"},
        control_dir=str(tmp_path),
    )

    async def body(bot: MarketMaker) -> None:
        bob, alice = client(main), client(main, "alice@api.test")
        try:
            await bob.load_markets()

            async def quoting() -> bool:
                return bool(await alice.privateGetOpenOrders({"symbol": "ETHUSDT"}))

            assert await until(quoting)
            for _ in range(40):  # bob lifts the asks: the bot goes short as the price rises
                if bot.guard.killed:
                    break
                with _ok():  # a refused order (halted market...) is not the point here
                    await bob.create_order("ETH/USDT", "market", "buy", 0.5)
                await asyncio.sleep(0.05)
            assert bot.guard.killed and "daily loss" in bot.guard.killed

            async def nothing_open() -> bool:
                return not await quoting()

            assert await until(nothing_open)
            await asyncio.sleep(0.6)  # still nothing: it waits for the operator
            assert not await quoting()
            status = json.loads((tmp_path / "status.json").read_text())
            assert status["state"] == "killed" and Decimal(status["day_loss"]) <= 15
            (tmp_path / "resume").touch()
            assert await until(quoting, 3.0)
            assert bot.guard.killed is None and "resumed by the operator" in bot.events
        finally:
            await bob.close()
            await alice.close()

    run(with_bot(cfg, body))


class _ok:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return exc[0] is not None and issubclass(exc[0], ccxt.BaseError)  # type: ignore[arg-type]


def test_margin_warns_then_cuts_to_position_reducing_quotes(
    venues: tuple[Rialto, Rialto],
) -> None:
    main, _ = venues
    strategy = {"levels": 3, "min_spread_bps": 10, "pool_base": 5, "skew_bps": 0}
    tiers = [{"name": "test", "leverage": "2", "warn": "0.3", "liquidation": "0.5"}]
    cfg = bot_config(
        main,
        [{"symbol": "BTCUSDT", "initial_price": "65000", "strategy": strategy}],
        margin={"tier": "test", "collateral": "5000", "tiers": tiers},
    )

    async def body(bot: MarketMaker) -> None:
        bob, alice = client(main), client(main, "alice@api.test")
        try:
            await bob.load_markets()
            for _ in range(30):  # capacity 10,000 USDT: warn at 3,000 short, cut at 5,000
                if bot.guard.margin.value == "cut":
                    break
                with _ok():
                    await bob.create_order("BTC/USDT", "market", "buy", 0.01)
                await asyncio.sleep(0.1)
            assert [e for e in bot.events if e.startswith("margin")][:2] == [
                "margin warn",
                "margin cut",
            ]

            async def reduce_only() -> bool:
                mine = await alice.privateGetOpenOrders({"symbol": "BTCUSDT"})
                return bool(mine) and all(o["side"] == "BUY" for o in mine)

            assert await until(reduce_only), "after the cut only bids (buying back) remain"
            short = -bot.ledger.position("BTC")
            mine = await alice.privateGetOpenOrders({"symbol": "BTCUSDT"})
            assert sum(Decimal(o["origQty"]) for o in mine) <= short
        finally:
            await bob.close()
            await alice.close()

    run(with_bot(cfg, body))


# --- hedging and arbitrage against a second Rialto ------------------------------------


def _venue(ext: Rialto) -> dict[str, Any]:
    key = ext.keys["alice@api.test"]
    return {"name": "ext", "url": ext.url, "api_key": key["api_key"], "secret": key["secret"]}


def test_hedges_on_the_external_venue_and_tracks_the_order(
    venues: tuple[Rialto, Rialto],
) -> None:
    main, ext = venues
    strategy = {"levels": 2, "min_spread_bps": 10, "pool_base": 40}  # ~0.02 BTC a level
    cfg = bot_config(
        main,
        [{"symbol": "BTCUSDT", "reference_venue": "ext", "strategy": strategy}],
        venues=[_venue(ext)],
        hedge={"threshold": {"BTC": "0.01"}},
        reference_poll_s=0.1,
    )

    async def body(bot: MarketMaker) -> None:
        bob, bob_ext, alice_ext = client(main), client(ext), client(ext, "alice@api.test")
        try:
            for c in (bob, bob_ext):
                await c.load_markets()

            async def follows_ext() -> bool:
                return bot.markets["BTCUSDT"].model.reference.source(_now()) == "external"

            assert await until(follows_ext)
            for _ in range(5):  # the bot sells ~0.03 (a re-quote may be under way: retry)
                if bot.ledger.fills or bot.hedges:
                    break
                await until(_asks_live(bot, "BTCUSDT", 2))
                await bob.create_order("BTC/USDT", "market", "buy", 0.03)
                await asyncio.sleep(0.1)

            async def hedged() -> bool:
                flat = abs(bot.ledger.position("BTC")) <= Decimal("0.01")
                return flat and any(h.status == "FILLED" for h in bot.hedges)

            assert await until(hedged, 10.0), bot.hedges
            h = bot.hedges[0]
            assert (h.venue, h.side) == ("ext", "BUY") and h.filled > 0
            assert abs(bot.ledger.position("BTC")) <= Decimal("0.01")
            trades = await alice_ext.privateGetMyTrades({"symbol": "BTCUSDT"})
            assert sum(Decimal(t["qty"]) for t in trades if t["isBuyer"]) == sum(
                x.filled for x in bot.hedges if x.side == "BUY"
            )
            assert "BTCUSDT" in bot.status()["realised"]
        finally:
            for c in (bob, bob_ext, alice_ext):
                await c.close()

    async def setup() -> None:
        bob_ext = client(ext)
        try:
            await bob_ext.load_markets()
            for price in ("65010", "65020"):
                await bob_ext.create_order("BTC/USDT", "limit", "sell", 0.05, float(price))
            await bob_ext.create_order("BTC/USDT", "limit", "buy", 0.05, 64990.0)
        finally:
            await bob_ext.close()
        await with_bot(cfg, body)

    run(setup())


def test_arbitrage_buys_cheap_on_one_venue_and_sells_dear_on_the_other(
    venues: tuple[Rialto, Rialto],
) -> None:
    main, ext = venues
    cfg = bot_config(
        main,
        [{"symbol": "ETHUSDT", "strategy": {"quote": False}}],
        venues=[_venue(ext)],
        arbitrage={"max_qty": {"ETHUSDT": "0.2"}, "min_profit_bps": 10, "interval_s": 0.1},
    )

    async def body(bot: MarketMaker) -> None:
        alice, alice_ext = client(main, "alice@api.test"), client(ext, "alice@api.test")
        try:

            async def traded() -> bool:
                return bot.arbs >= 1

            assert await until(traded, 10.0), bot.events

            async def gap_closed() -> bool:  # it goes on while the gap pays: all of bob's 0.5
                return bot.ledger.position("USDT") >= 45  # 0.5 x 100, less the sell leg's fee

            assert await until(gap_closed, 10.0), bot.events
            bought = await alice.privateGetMyTrades({"symbol": "ETHUSDT"})
            sold = await alice_ext.privateGetMyTrades({"symbol": "ETHUSDT"})
            buys = [t for t in bought if t["isBuyer"] and t["price"] == "3000.00000000"]
            sells = [t for t in sold if not t["isBuyer"] and t["price"] == "3100.00000000"]
            assert sum(Decimal(t["qty"]) for t in buys) == Decimal("0.5")
            assert sum(Decimal(t["qty"]) for t in sells) == Decimal("0.5")
            assert all(Decimal(t["qty"]) <= Decimal("0.2") for t in buys + sells)  # max_qty
            # Both legs filled: flat but for the buy leg's fee (in ETH, as Binance takes it).
            assert bot.ledger.position("ETH") == -Decimal("0.0005")
        finally:
            await alice.close()
            await alice_ext.close()

    async def setup() -> None:
        bob, bob_ext = client(main), client(ext)
        try:
            for c in (bob, bob_ext):
                await c.load_markets()
            await bob.create_order("ETH/USDT", "limit", "sell", 0.5, 3000.0)
            await bob_ext.create_order("ETH/USDT", "limit", "buy", 0.5, 3100.0)
            await with_bot(cfg, body)
        finally:
            for c in (bob, bob_ext):
                with _ok():  # nothing left open is fine
                    await c.cancel_all_orders("ETH/USDT")
                await c.close()

    run(setup())


# --- stress: a 200% move ----------------------------------------------------------------


async def arm_circuit_breaker(r: Rialto, symbol: str) -> bool:
    """The exchange's circuit breaker on ``symbol`` (``markets.risk``); False on a build
    without one, and the test then holds the bot's own limits alone."""
    try:
        await admin.call(
            r.data_dir,
            {
                "op": "markets.risk",
                "symbol": symbol,
                "breaker_pct": "40",
                "window_s": "30",
                "cool_s": "1",
            },
        )
    except admin.AdminError:
        return False
    return True


async def third_trader(r: Rialto, email: str) -> Any:
    """A funded user with a key on the running exchange (through its admin socket)."""
    from argon2 import PasswordHasher

    hashed = PasswordHasher().hash("a long password")
    await admin.call(r.data_dir, {"op": "users.create", "email": email, "password_hash": hashed})
    for asset, amount in (("ETH", "1000"), ("USDT", "10000000")):
        await admin.call(
            r.data_dir, {"op": "deposit", "email": email, "asset": asset, "amount": amount}
        )
    key = await admin.call(
        r.data_dir, {"op": "apikeys.create", "email": email, "permissions": "read,trade"}
    )
    assert key is not None
    return binance_client(r.url, key["api_key"], key["secret"])


def test_a_200pct_move_loses_no_more_than_the_configured_maximum(
    venues: tuple[Rialto, Rialto],
) -> None:
    """A replayed path up 200%: carol offers a little at each step's price and bob takes it,
    lifting every ask of the bot below it on the way. The exchange's circuit breaker halts
    the market on the way up; the bot's loss limit stops it selling; what it lost, marked
    at the last price, stays within its max_daily_loss: its inventory was sized
    (stress_move_pct) to survive the whole move, gaps included."""
    main, _ = venues
    max_loss = Decimal(60)
    strategy = {"levels": 3, "min_spread_bps": 10, "pool_base": 10, "trade_anchor": 1.0}

    async def scenario() -> None:
        bob, alice = client(main), client(main, "alice@api.test")
        carol = await third_trader(main, "carol@api.test")
        await bob.load_markets()
        await carol.load_markets()
        rows = await bob.publicGetTrades({"symbol": "ETHUSDT", "limit": 1})
        last = rows[-1]["price"] if rows else "3200.00"
        cfg = bot_config(
            main,
            [{"symbol": "ETHUSDT", "initial_price": last, "strategy": strategy}],
            risk={
                "max_daily_loss": str(max_loss),
                "max_position": {"ETH": "5"},
                "stress_move_pct": "200",
            },
        )
        breaker = await arm_circuit_breaker(main, "ETHUSDT")
        before = await _balances(alice)
        halts = 0
        start = float(last)

        async def step(price: float) -> bool:
            nonlocal halts
            try:
                await carol.create_order("ETH/USDT", "limit", "sell", 0.01, price)
                await bob.create_order("ETH/USDT", "limit", "buy", 2, price, {"timeInForce": "IOC"})
            except ccxt.BaseError as exc:
                if "closed" not in str(exc).lower():
                    raise
                halts += 1
                return False
            return True

        async def body(bot: MarketMaker) -> None:
            for i in range(1, 31):
                price = round(start * (1 + 2.0 * i / 30), 2)
                for _ in range(40):  # halted: wait out the cooling period
                    if await step(price):
                        break
                    await asyncio.sleep(0.1)
                await asyncio.sleep(0.03)
            await asyncio.sleep(0.3)
            assert bot.guard.killed is not None or not [
                o for o in bot.markets["ETHUSDT"].live.values() if o.side == "SELL"
            ], "after a 200% move the bot still sells into it"

        try:
            await with_bot(cfg, body)
            after = await _balances(alice)
            trades = await bob.publicGetTrades({"symbol": "ETHUSDT", "limit": 1})
            final = Decimal(trades[-1]["price"])
            assert final >= Decimal(start) * Decimal("2.9")  # the path was replayed to the end
            loss = -((after["ETH"] - before["ETH"]) * final + after["USDT"] - before["USDT"])
            assert loss <= max_loss, (loss, final)
            if breaker:
                assert halts >= 1, "the circuit breaker never halted the market"
        finally:
            for c in (bob, alice, carol):
                with _ok():
                    await c.cancel_all_orders("ETH/USDT")
                await c.close()

    run(scenario())


async def _balances(c: Any) -> dict[str, Decimal]:
    acct = await c.privateGetAccount()
    return {b["asset"]: Decimal(b["free"]) + Decimal(b["locked"]) for b in acct["balances"]}


def _now() -> int:
    import time

    return time.time_ns() // 1_000_000


# --- halts, the runner, the demo ------------------------------------------------------------


def test_a_halted_market_is_left_alone_until_it_trades_again(
    venues: tuple[Rialto, Rialto],
) -> None:
    main, _ = venues
    cfg = bot_config(
        main,
        [
            {
                "symbol": "BTCUSDT",
                "initial_price": "65000",
                "strategy": {"levels": 2, "pool_base": 3, "refresh_s": 0.2},
            }
        ],
    )

    async def body(bot: MarketMaker) -> None:
        run = bot.markets["BTCUSDT"]

        async def quoting() -> bool:
            return len(run.live) >= 2

        assert await until(quoting)
        await admin.call(
            main.data_dir, {"op": "markets.status", "symbol": "BTCUSDT", "status": "HALT"}
        )
        try:
            run.live.clear()  # as if the book had been wiped: the bot tries to quote anew

            async def backed_off() -> bool:
                return run.halted_until > 0 and not run.live

            assert await until(backed_off), "the bot did not notice the halt"
        finally:
            await admin.call(
                main.data_dir, {"op": "markets.status", "symbol": "BTCUSDT", "status": "TRADING"}
            )
        assert await until(quoting, 4.0), "the bot did not quote again after the resume"

    run(with_bot(cfg, body))


def test_rialto_serve_marketmaker_runs_resumes_on_sigusr1_and_cancels_on_stop(
    venues: tuple[Rialto, Rialto], tmp_path: Path
) -> None:
    import signal
    import subprocess
    import sys

    main, _ = venues
    key = main.keys["alice@api.test"]
    conf = tmp_path / "mm.toml"
    conf.write_text(
        f'url = "{main.url}"\napi_key = "{key["api_key"]}"\nsecret = "{key["secret"]}"\n'
        f'control_dir = "{tmp_path / "ctl"}"\n'
        '[[markets]]\nsymbol = "BTCUSDT"\ninitial_price = "65000"\n'
        "[markets.strategy]\nlevels = 2\npool_base = 3\n"
    )
    log = (tmp_path / "mm.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "rialto.cli", "serve", "marketmaker", "--config", str(conf)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    async def open_orders() -> int:
        alice = client(main, "alice@api.test")
        try:
            return len(await alice.privateGetOpenOrders({"symbol": "BTCUSDT"}))
        finally:
            await alice.close()

    async def check() -> None:
        async def quoting() -> bool:
            return await open_orders() == 4

        assert await until(quoting, 10.0), (tmp_path / "mm.log").read_text()
        status = tmp_path / "ctl" / "status.json"
        assert await until(_exists(status), 3.0)
        assert json.loads(status.read_text())["state"] == "quoting"
        proc.send_signal(signal.SIGUSR1)  # resume when not killed: nothing changes
        await asyncio.sleep(0.3)
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 15)
        assert proc.returncode == 0, (tmp_path / "mm.log").read_text()
        assert await open_orders() == 0  # stopping cancels the bot's orders

    try:
        run(check())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def _asks_live(bot: MarketMaker, symbol: str, n: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return sum(o.side == "SELL" for o in bot.markets[symbol].live.values()) >= n

    return check


def _exists(path: Path) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return path.exists()

    return check


def test_the_demo_quotes_every_demo_market_two_sided(tmp_path: Path) -> None:
    import sys

    from rialto.runtime.local_exchange import halt, launch

    proc, url = launch(tmp_path, [sys.executable, "-m", "rialto.cli", "up", "--demo"])

    async def check() -> None:
        pub = binance_client(url)
        try:

            async def two_sided() -> bool:
                for symbol in ("BTCUSDT", "ETHUSDT", "ETHBTC"):
                    book = await pub.publicGetDepth({"symbol": symbol, "limit": 5})
                    if len(book["bids"]) < 3 or len(book["asks"]) < 3:
                        return False
                    bid, ask = Decimal(book["bids"][0][0]), Decimal(book["asks"][0][0])
                    if not bid < ask or (ask - bid) / bid > Decimal("0.01"):
                        return False
                return True

            assert await until(two_sided, 20.0), (tmp_path / "up.log").read_text()

            # The demo's traders trade against it.
            async def traded() -> bool:
                for symbol in ("BTCUSDT", "ETHUSDT", "ETHBTC"):
                    if await pub.publicGetTrades({"symbol": symbol, "limit": 1}):
                        return True
                return False

            assert await until(traded, 10.0)
        finally:
            await pub.close()

    try:
        run(check())
    finally:
        halt(proc)
    assert proc.returncode == 0
