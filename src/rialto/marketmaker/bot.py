"""The running market maker: an ordinary API client of Rialto (and of external venues).

One task per market re-quotes when woken: by one of its fills (from the user data stream),
by a reference move, or by its refresh timer. A re-quote computes the ladder
(:func:`strategy.ladder`), trims it to the limits (:func:`risk.fit`), and turns it into
cancels then places (:func:`reconcile.plan`). Quotes are ``LIMIT_MAKER``: they never take,
so the bot never trades with itself, and ``selfTradePreventionMode=EXPIRE_TAKER`` guards its
taking orders (arbitrage legs). Fills are booked in one :class:`risk.Ledger`; the
:class:`risk.Guard` trips the kill switch (cancel everything, stop) and the margin levels.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from rialto.marketmaker import core, reconcile
from rialto.marketmaker.config import Config
from rialto.marketmaker.external import ExternalTrading
from rialto.marketmaker.quotes import BUY, SELL, Quote, Side
from rialto.marketmaker.reconcile import Live
from rialto.marketmaker.reference import Reference
from rialto.marketmaker.risk import (
    ZERO,
    Exposure,
    Guard,
    Ledger,
    book_notional,
    numeraire_prices,
    within,
)
from rialto.marketmaker.runs import HedgeRecord, MarketRun, now_ms
from rialto.marketmaker.strategy import MarketModel
from rialto.marketmaker.venue import FINAL, Venue

log = logging.getLogger("rialto.marketmaker")
RESUME_FILE = "resume"
RESYNC_S = 10.0  # open orders are checked against the venue this often
PRUNE_AT = 100_000
STATUS_FILE = "status.json"


class MarketMaker(ExternalTrading):
    def __init__(self, cfg: Config, on_event: Callable[[str], None] | None = None) -> None:
        self.cfg = cfg
        self.rialto = Venue(
            "rialto", cfg.url, cfg.api_key, cfg.secret, cfg.taker_fee, cfg.maker_fee
        )
        self.venues = {
            v.name: Venue(v.name, v.url, v.api_key, v.secret, v.taker_fee, v.maker_fee)
            for v in cfg.venues
        }
        self.markets: dict[str, MarketRun] = {}
        self.ledger = Ledger()
        tier = cfg.margin.tier_of() if cfg.margin.enabled else None
        self.guard = Guard(cfg.risk, tier, cfg.margin.collateral or ZERO)
        self.events: deque[str] = deque(maxlen=1000)  # kill switch, margin..., newest last
        self.on_event = on_event
        self.hedges: list[HedgeRecord] = []
        self.arbs = 0
        # Fill (its trade time) -> the new quotes live, per re-quote a fill caused.
        self.requote_ms: deque[float] = deque(maxlen=100_000)
        self._seen: set[tuple[str, int]] = set()  # (symbol, trade id) fills booked
        self._ids = itertools.count(1)
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._hedging = asyncio.Lock()
        self._killing: asyncio.Task[None] | None = None
        self.stream_ready = asyncio.Event()

    # --- life cycle -------------------------------------------------------------

    async def start(self) -> None:
        await self.rialto.load()
        for v in self.venues.values():
            await v.load()
        for m in self.cfg.markets:
            spec = self.rialto.specs.get(m.symbol)
            if spec is None:
                raise ValueError(f"market {m.symbol} is not listed at {self.cfg.url}")
            ref = Reference(initial=float(m.initial_price) if m.initial_price else None)
            run = MarketRun(m, spec, MarketModel(spec, m.strategy, ref))
            run.wake.set()  # quote at once
            self.markets[m.symbol] = run
            await self.rialto.cancel_all(m.symbol)  # a clean slate: the account is the bot's
            last = await self.rialto.last_price(m.symbol)
            if last:
                ref.on_trade(float(last))
            else:
                bids, asks = await self.rialto.book(m.symbol, 5)
                ref.on_book(
                    float(bids[0][0]) if bids else None, float(asks[0][0]) if asks else None
                )
        if self.cfg.margin.enabled and self.cfg.margin.collateral is None:
            self.guard.collateral = self._equity(await self.rialto.balances())
        listen_key = await self.rialto.listen_key()
        spawn = self._spawn
        spawn(self._stream(listen_key), "stream")
        spawn(self._keep_alive(listen_key), "keepalive")
        with contextlib.suppress(TimeoutError):  # fills are read from the stream: quote after
            await asyncio.wait_for(self.stream_ready.wait(), 5)
        for run in self.markets.values():
            spawn(self._quoter(run), f"quote-{run.spec.symbol}")
        if any(m.reference_venue for m in self.cfg.markets):
            spawn(self._references(), "references")
        if self.cfg.hedge.enabled and self.cfg.hedge.venues:
            spawn(self._hedger(), "hedger")
        if self.cfg.arbitrage.enabled and self.cfg.arbitrage.venues:
            spawn(self._arbitrage(), "arbitrage")
        spawn(self._control(), "control")

    def _spawn(self, coro: Any, name: str) -> None:
        self._tasks.append(asyncio.create_task(self._guarded(coro, name), name=name))

    async def _guarded(self, coro: Any, name: str) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("market maker task %s failed", name)

    async def stop(self) -> None:
        """Cancel every task, then every order of the bot; close the clients."""
        self._stopping = True
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for run in self.markets.values():
            with contextlib.suppress(Exception):
                await self.rialto.cancel_all(run.spec.symbol)
        for v in (self.rialto, *self.venues.values()):
            with contextlib.suppress(Exception):
                await v.close()

    # --- operator ---------------------------------------------------------------

    def resume(self) -> None:
        """The operator's resume after the kill switch: quote again, loss counted from now."""
        if self.guard.killed is None:
            return
        self.guard.resume(self.ledger.value(self.prices()))
        self._event("resumed by the operator")
        for run in self.markets.values():
            run.wake.set()

    def status(self) -> dict[str, Any]:
        prices = self.prices()
        value = self.ledger.value(prices)
        lat = sorted(self.requote_ms)
        return {
            "name": self.cfg.name,
            "state": "killed" if self.guard.killed else "quoting",
            "killed": self.guard.killed,
            "margin": self.guard.margin.value,
            "margin_usage": str(self.guard.margin_usage),
            "pnl": str(value),
            "day_loss": str(self.guard.loss(value)),
            "positions": {a: str(q) for a, q in self.ledger.deltas.items()},
            "realised": {s: str(v) for s, v in self.ledger.realised.items()},
            "fees": {a: str(v) for a, v in self.ledger.fees.items()},
            "fills": self.ledger.fills,
            "markets": {
                s: {
                    "reference": r.model.reference.price(now_ms()),
                    "source": r.model.reference.source(now_ms()),
                    "sigma_bps": r.model.vol.sigma * 1e4,
                    "orders": len(r.live),
                    "bids": sorted(str(o.price) for o in r.live.values() if o.side == BUY),
                    "asks": sorted(str(o.price) for o in r.live.values() if o.side == SELL),
                    "halted": r.halted_until > time.monotonic(),
                }
                for s, r in self.markets.items()
            },
            "hedges": [
                {
                    "venue": h.venue,
                    "symbol": h.symbol,
                    "side": h.side,
                    "qty": str(h.qty),
                    "filled": str(h.filled),
                    "avg_price": str(h.avg_price),
                    "status": h.status,
                }
                for h in self.hedges[-20:]
            ],
            "arbitrages": self.arbs,
            "requote_ms_p50": lat[len(lat) // 2] if lat else None,
            "events": list(self.events)[-20:],
        }

    def _event(self, text: str) -> None:
        log.warning("%s: %s", self.cfg.name, text)
        self.events.append(text)
        if self.on_event is not None:
            self.on_event(text)

    # --- valuation and risk --------------------------------------------------

    def prices(self) -> dict[str, Decimal]:
        now = now_ms()
        rows = []
        for run in self.markets.values():
            p = run.model.reference.price(now)
            if p:
                rows.append((run.spec.base, run.spec.quote, Decimal(repr(p))))
        return numeraire_prices(rows, self.cfg.risk.numeraire)

    def _equity(self, balances: dict[str, Decimal]) -> Decimal:
        prices = self.prices()
        return sum((q * prices[a] for a, q in balances.items() if a in prices), ZERO)

    def _check(self) -> None:
        """Run the guard; a new kill cancels every order of the bot at once."""
        prices = self.prices()
        exposures = [e for r in self.markets.values() for e in r.exposures()]
        was_killed = self.guard.killed is not None
        for ev in self.guard.check(
            now_ms(),
            self.ledger.value(prices),
            self.ledger.deltas,
            prices,
            book_notional(exposures, prices),
        ):
            self._event(ev)
            if ev.startswith("margin cut"):
                for run in self.markets.values():
                    run.wake.set()
        if self.guard.killed is not None and not was_killed:
            self._killing = asyncio.create_task(self._kill())

    async def _kill(self) -> None:
        await asyncio.gather(
            *(self.rialto.cancel_all(s) for s in self.markets), return_exceptions=True
        )
        # A re-quote that was in flight may have placed after the cancel-all: each market's
        # next re-quote wants nothing and cancels whatever it still has.
        for run in self.markets.values():
            run.wake.set()

    # --- quoting ----------------------------------------------------------------

    async def _quoter(self, run: MarketRun) -> None:
        refresh = run.cfg.strategy.refresh_s
        next_sync = time.monotonic() + RESYNC_S
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(run.wake.wait(), refresh)
            run.wake.clear()
            try:
                if time.monotonic() >= next_sync:
                    next_sync = time.monotonic() + RESYNC_S
                    await self.resync(run)
                await self.requote(run)
            except Exception:
                log.exception("re-quote of %s failed", run.spec.symbol)
                await asyncio.sleep(0.5)

    async def resync(self, run: MarketRun) -> None:
        """Check the live orders against the venue's open orders; when the stream missed
        something (an order ended or filled unseen), book the trades it missed."""
        prefix = f"{self.cfg.client_prefix}q"
        rows = [
            r
            for r in await self.rialto.open_orders(run.spec.symbol)
            if str(r.get("clientOrderId", "")).startswith(prefix)
        ]
        if len(run.ended) > PRUNE_AT:  # ids long ended; the stream will not mention them
            run.ended.clear()
        if len(run.quote_ids) > PRUNE_AT:
            run.quote_ids = set(run.live)
        if len(self._seen) > PRUNE_AT:  # trade ids rise: keep the recent ones
            newest = max(t for _, t in self._seen)
            self._seen = {k for k in self._seen if k[1] > newest - PRUNE_AT // 2}
        missed = False
        seen = set()
        for r in rows:
            oid = str(r["orderId"])
            seen.add(oid)
            left = Decimal(r["origQty"]) - Decimal(r["executedQty"])
            known = run.live.get(oid)
            if known is None or known.qty != left:
                missed = missed or known is not None
                run.live[oid] = Live(oid, r["side"], Decimal(r["price"]), left)
        for oid in [o for o in run.live if o not in seen]:
            run.live.pop(oid)
            run.ended.add(oid)
            missed = True
        if missed:
            await self.catch_up(run)
        # Other people's mid: the reference when the market has no trades yet.
        bids, asks = self._others_book(run, *await self.rialto.book(run.spec.symbol, 20))
        run.model.reference.on_book(
            float(bids[0][0]) if bids else None, float(asks[0][0]) if asks else None
        )

    async def catch_up(self, run: MarketRun) -> None:
        spec = run.spec
        rows = await self.rialto.ex.privateGetMyTrades({"symbol": spec.symbol, "limit": 500})
        for t in rows:
            key = (spec.symbol, int(t["id"]))
            if key in self._seen:
                continue
            self._seen.add(key)
            side: Side = BUY if t["isBuyer"] else SELL
            qty, price = Decimal(t["qty"]), Decimal(t["price"])
            fee = Decimal(t.get("commission") or "0")
            self.ledger.fill(
                spec.symbol, spec.base, spec.quote, side, qty, price, fee,
                t.get("commissionAsset") or "",
            )  # fmt: skip
            if str(t["orderId"]) in run.quote_ids:
                run.model.on_fill(side, float(qty), float(price))
        self._check()

    def desired(self, run: MarketRun) -> list[Quote]:
        """The ladder this market should show now, within every limit."""
        others = [e for r in self.markets.values() if r is not run for e in r.exposures()]
        return core.desired(
            run.model, now_ms(), self.ledger, self.guard, self.cfg.risk, others, self.prices()
        )

    async def requote(self, run: MarketRun) -> None:
        if self._stopping or time.monotonic() < run.halted_until:
            return
        self._check()
        fill_ts, run.fill_ts = run.fill_ts, None
        want = self.desired(run)
        params = run.cfg.strategy
        p = reconcile.plan(want, list(run.live.values()), params.keep_tolerance, params.keep_bps)
        if p.empty:
            return
        run.in_flight = list(p.places)  # counted by the other markets' limits from now
        try:
            swaps, cancels, places = reconcile.pair(p)
            if self._swappable(run, p, [], p.cancels, p.places):
                # Old and new may all stand at once: cancel and place together, one trip.
                results = await asyncio.gather(
                    *(self._cancel(run, oid) for oid in p.cancels),
                    *(self._place(run, q) for q in p.places),
                    return_exceptions=True,
                )
            elif swaps and self._swappable(run, p, swaps, cancels, places):
                results = await asyncio.gather(
                    *(self._swap(run, sw) for sw in swaps),
                    *(self._cancel(run, oid) for oid in cancels),
                    *(self._place(run, q) for q in places),
                    return_exceptions=True,
                )
            else:
                await asyncio.gather(*(self._cancel(run, oid) for oid in p.cancels))
                if any(oid in run.live for oid in p.cancels):
                    return  # could not cancel: try again on the next wake, place nothing
                if self.guard.killed is not None:
                    return
                results = await asyncio.gather(
                    *(self._place(run, q) for q in p.places), return_exceptions=True
                )
        finally:
            run.in_flight = []
        for out in results:
            if isinstance(out, BaseException):
                run.rejects += 1
                if _halted(out):
                    run.halted_until = time.monotonic() + 2.0
                    log.info("%s is halted: quoting again in 2 s", run.spec.symbol)
                else:
                    log.debug("%s: order refused: %r", run.spec.symbol, out)
        if fill_ts is not None:
            self.requote_ms.append(max(0.0, time.time() * 1000 - fill_ts))

    def _swappable(
        self,
        run: MarketRun,
        p: reconcile.Plan,
        swaps: list[reconcile.Swap],
        cancels: list[str],
        places: list[Quote],
    ) -> bool:
        """Carrying ``p`` out this way is safe: with each swap counted at the larger of its
        pair and every cancel still standing, the limits hold, and no quote, old or new,
        is at or through one of the other side. (No swaps: everything at once.)"""
        s = run.spec
        leaving = set(cancels)
        orders = [Exposure(s.base, s.quote, o.side, o.price, o.qty) for o in p.kept]
        orders += [
            Exposure(s.base, s.quote, o.side, o.price, o.qty)
            for o in p.old
            if o.order_id in leaving
        ]
        orders += [
            Exposure(
                s.base, s.quote, w.new.side, max(w.old.price, w.new.price),
                max(w.old.qty, w.new.qty),
            )
            for w in swaps
        ]  # fmt: skip
        orders += [Exposure(s.base, s.quote, q.side, q.price, q.qty) for q in places]
        others = [e for r in self.markets.values() if r is not run for e in r.exposures()]
        prices = self.prices()
        capacity = self.guard.capacity(self.ledger.value(prices))
        if not within(orders + others, dict(self.ledger.deltas), prices, self.cfg.risk, capacity):
            return False
        # Old and new prices of both sides: none may meet the other side's.
        bids = [o.price for o in p.old + p.kept if o.side == BUY]
        bids += [q.price for q in p.places if q.side == BUY]
        asks = [o.price for o in p.old + p.kept if o.side == SELL]
        asks += [q.price for q in p.places if q.side == SELL]
        return not bids or not asks or max(bids) < min(asks)

    async def _cancel(self, run: MarketRun, oid: str) -> None:
        try:
            await self.rialto.cancel(run.spec.symbol, oid)
        except Exception as exc:
            if not _gone(exc):
                log.debug("%s: cancel of %s refused: %r", run.spec.symbol, oid, exc)
                return
        run.live.pop(oid, None)
        run.ended.add(oid)

    async def _swap(self, run: MarketRun, sw: reconcile.Swap) -> None:
        """One cancelReplace; when it fails the stream tells what became of the old order."""
        cid = f"{self.cfg.client_prefix}q{next(self._ids)}"
        q = sw.new
        r = await self.rialto.replace(
            run.spec.symbol, sw.old.order_id, q.side, q.qty, q.price, client_id=cid
        )
        run.live.pop(sw.old.order_id, None)
        run.ended.add(sw.old.order_id)
        oid = str(r["newOrderResponse"]["orderId"])
        run.quotes += 1
        run.quote_ids.add(oid)
        if oid not in run.ended and oid not in run.live:
            run.live[oid] = Live(oid, q.side, q.price, q.qty)

    async def _place(self, run: MarketRun, q: Quote) -> None:
        cid = f"{self.cfg.client_prefix}q{next(self._ids)}"
        r = await self.rialto.place(run.spec.symbol, q.side, q.qty, q.price, client_id=cid)
        oid = str(r["orderId"])
        run.quotes += 1
        run.quote_ids.add(oid)
        if oid not in run.ended and oid not in run.live:
            run.live[oid] = Live(oid, q.side, q.price, q.qty)

    # --- streams ---------------------------------------------------------------

    def _ws_url(self, listen_key: str) -> str:
        base = self.cfg.ws_url or self.cfg.url.replace("http", "ws", 1)
        names = [listen_key] + [f"{s.lower()}@trade" for s in self.markets]
        return f"{base.rstrip('/')}/stream?streams={'/'.join(names)}"

    async def _stream(self, listen_key: str) -> None:
        from websockets.asyncio.client import connect

        while True:
            try:
                async with connect(self._ws_url(listen_key), max_size=None) as ws:
                    self.stream_ready.set()
                    async for raw in ws:
                        msg = orjson.loads(raw)
                        data = msg.get("data")
                        if isinstance(data, dict):
                            self.on_message(msg.get("stream", ""), data)
            except (OSError, ConnectionError, TimeoutError) as exc:
                log.warning("stream closed (%r); reconnecting", exc)
            except Exception as exc:  # websockets' ConnectionClosed and friends
                log.warning("stream failed (%r); reconnecting", exc)
            await asyncio.sleep(0.5)
            with contextlib.suppress(Exception):
                listen_key = await self.rialto.listen_key()

    async def _keep_alive(self, listen_key: str) -> None:
        while True:
            await asyncio.sleep(30 * 60)
            with contextlib.suppress(Exception):
                await self.rialto.keep_alive(listen_key)

    def on_message(self, stream: str, d: dict[str, Any]) -> None:
        kind = d.get("e")
        if kind == "executionReport":
            self.on_report(d)
        elif kind == "trade":
            run = self.markets.get(d.get("s", ""))
            if run is not None:
                run.model.reference.on_trade(float(d["p"]))

    def on_report(self, d: dict[str, Any]) -> None:
        run = self.markets.get(d["s"])
        if run is None:
            return
        oid, status = str(d["i"]), d["X"]
        ours = str(d.get("c", "")).startswith(f"{self.cfg.client_prefix}q")
        if d["x"] == "TRADE" and (d["s"], d["t"]) not in self._seen:
            self._seen.add((d["s"], d["t"]))
            qty, price = Decimal(d["l"]), Decimal(d["L"])
            spec = run.spec
            fee = Decimal(d.get("n") or "0")
            self.ledger.fill(
                spec.symbol, spec.base, spec.quote, d["S"], qty, price, fee, d.get("N") or ""
            )
            if ours:
                run.model.on_fill(d["S"], float(qty), float(price))
                if run.fill_ts is None:
                    run.fill_ts = int(d.get("T") or d.get("E") or now_ms())
            self._check()
            run.wake.set()
        if not ours:
            return
        if status in FINAL:
            run.live.pop(oid, None)
            run.ended.add(oid)
        elif d["x"] in ("NEW", "TRADE") and oid not in run.ended:
            left = Decimal(d["q"]) - Decimal(d["z"])
            run.live[oid] = Live(oid, d["S"], Decimal(d["p"]), left)

    # --- the operator's control ---------------------------------------------------

    async def _control(self) -> None:
        d = self.cfg.control_dir
        if d is not None:
            d.mkdir(parents=True, exist_ok=True)
        while True:
            if d is not None:
                if (d / RESUME_FILE).exists():
                    (d / RESUME_FILE).unlink(missing_ok=True)
                    self.resume()
                _write_status(d / STATUS_FILE, self.status())
            # The guard also runs without fills: the mark moves the loss.
            self._check()
            await asyncio.sleep(0.5)


def _write_status(path: Path, status: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(status, indent=1, default=str))
    tmp.replace(path)


def _gone(exc: BaseException) -> bool:
    """A cancel refused because the order already ended (-2011 Unknown order)."""
    import ccxt.async_support as ccxt

    return isinstance(exc, ccxt.OrderNotFound)


def _halted(exc: BaseException) -> bool:
    return "Market is closed" in str(exc)
