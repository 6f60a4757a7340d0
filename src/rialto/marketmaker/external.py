"""The market maker's trading on external venues: reference prices, hedging (routed across
venues for the best price after fees) and cross-venue arbitrage. A part of
:class:`rialto.marketmaker.bot.MarketMaker`, kept apart for size."""

from __future__ import annotations

import asyncio
import itertools
import logging
from decimal import Decimal
from typing import Any

from rialto.marketmaker import arbitrage, routing
from rialto.marketmaker.config import Config
from rialto.marketmaker.quotes import BUY, SELL, Side
from rialto.marketmaker.risk import ZERO, Guard, Ledger, Margin
from rialto.marketmaker.runs import HedgeRecord, MarketRun, now_ms
from rialto.marketmaker.venue import Venue

log = logging.getLogger("rialto.marketmaker")


class ExternalTrading:
    # What it uses of the bot (set by MarketMaker.__init__).
    cfg: Config
    rialto: Venue
    venues: dict[str, Venue]
    markets: dict[str, MarketRun]
    ledger: Ledger
    guard: Guard
    hedges: list[HedgeRecord]
    arbs: int
    _ids: itertools.count[int]
    _hedging: asyncio.Lock

    def prices(self) -> dict[str, Decimal]:
        raise NotImplementedError

    def _check(self) -> None:
        raise NotImplementedError

    def _event(self, text: str) -> None:
        raise NotImplementedError

    # --- references -------------------------------------------------------------

    async def _references(self) -> None:
        while True:
            for run in self.markets.values():
                name = run.cfg.reference_venue
                if not name:
                    continue
                try:
                    bids, asks = await self.venues[name].book(self._ext_symbol(run), 5)
                except Exception as exc:
                    log.debug("reference from %s failed: %r", name, exc)
                    continue
                ref = run.model.reference
                before = ref.price(now_ms())
                ref.on_external(
                    float(bids[0][0]) if bids else None,
                    float(asks[0][0]) if asks else None,
                    now_ms(),
                )
                after = ref.price(now_ms())
                if after and (
                    not before or abs(after / before - 1) * 1e4 >= run.cfg.strategy.requote_bps
                ):
                    run.wake.set()
            await asyncio.sleep(self.cfg.reference_poll_s)

    def _ext_symbol(self, run: MarketRun) -> str:
        return run.cfg.external_symbol or f"{run.spec.base}/{run.spec.quote}"

    # --- hedging ----------------------------------------------------------------

    async def _hedger(self) -> None:
        while True:
            await asyncio.sleep(0.25)
            if self.guard.killed is None:
                try:
                    await self.hedge_once()
                except Exception:
                    log.exception("hedge failed")

    async def hedge_once(self) -> list[HedgeRecord]:
        """Hedge every base asset whose position passed its threshold, down to the target."""
        done: list[HedgeRecord] = []
        async with self._hedging:
            for asset, threshold in self.cfg.hedge.threshold.items():
                pos = self.ledger.position(asset)
                if abs(pos) <= threshold:
                    continue
                run = next((r for r in self.markets.values() if r.spec.base == asset), None)
                if run is None:
                    continue
                qty = abs(pos) - threshold * self.cfg.hedge.target
                side: Side = SELL if pos > 0 else BUY
                done += await self._route(run, side, qty)
        return done

    async def _route(self, run: MarketRun, side: Side, qty: Decimal) -> list[HedgeRecord]:
        symbol = self._ext_symbol(run)
        books = []
        for name in self.cfg.hedge.venues:
            v = self.venues[name]
            vid = v.symbol_id(symbol)
            if vid not in v.specs or v.status.get(vid) != "TRADING":
                continue
            try:
                bids, asks = await v.book(symbol, 50)
            except Exception as exc:
                log.warning("hedge venue %s: no book: %r", name, exc)
                continue
            spec = v.specs[vid]
            books.append(routing.VenueBook(name, bids, asks, v.taker_fee, spec.step, spec.min_qty))
        ref = run.model.reference.price(now_ms())
        limit = None
        if ref:
            slip = Decimal(repr(self.cfg.hedge.max_slippage_bps)) / 10_000
            r = Decimal(repr(ref))
            limit = r * (1 + slip) if side == BUY else r * (1 - slip)
        children = routing.route(side, qty, books, limit)
        out = await asyncio.gather(
            *(self._hedge_child(run, c) for c in children), return_exceptions=True
        )
        records = []
        for c, res in zip(children, out, strict=True):
            if isinstance(res, BaseException):
                log.warning("hedge on %s refused: %r", c.venue, res)
            else:
                records.append(res)
        return records

    async def _hedge_child(self, run: MarketRun, c: routing.Child) -> HedgeRecord:
        v = self.venues[c.venue]
        symbol = self._ext_symbol(run)
        r = await v.place(symbol, c.side, c.qty, c.limit, kind="IOC", full=True)
        rec = HedgeRecord(c.venue, symbol, c.side, c.qty, str(r["orderId"]))
        self.hedges.append(rec)
        del self.hedges[:-1000]
        self._book_external(run, c.side, r)
        final = await v.track(symbol, r, self.cfg.hedge.order_timeout_s)
        if final is not r:
            self._book_external(run, c.side, final, already=r)
        rec.status = final.get("status", "?")
        rec.filled = Decimal(final.get("executedQty", "0"))
        if rec.filled:
            rec.avg_price = Decimal(final.get("cummulativeQuoteQty", "0")) / rec.filled
        self._check()
        return rec

    def _book_external(
        self, run: MarketRun, side: Side, r: dict[str, Any], already: dict[str, Any] | None = None
    ) -> None:
        """Book an external order's fills (its FULL answer; or what it filled since)."""
        spec = run.spec
        if "fills" in r and already is None:
            for f in r["fills"]:
                self.ledger.fill(
                    spec.symbol, spec.base, spec.quote, side, Decimal(f["qty"]),
                    Decimal(f["price"]), Decimal(f.get("commission", "0")),
                    f.get("commissionAsset", ""),
                )  # fmt: skip
            return
        before = Decimal(already.get("executedQty", "0")) if already else ZERO
        more = Decimal(r.get("executedQty", "0")) - before
        if more > 0:
            quote = Decimal(r.get("cummulativeQuoteQty", "0")) - (
                Decimal(already.get("cummulativeQuoteQty", "0")) if already else ZERO
            )
            self.ledger.fill(spec.symbol, spec.base, spec.quote, side, more, quote / more)

    # --- arbitrage --------------------------------------------------------------

    async def _arbitrage(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.arbitrage.interval_s)
            if self.guard.killed is None:
                try:
                    await self.arbitrage_once()
                except Exception:
                    log.exception("arbitrage failed")

    def _others_book(
        self, run: MarketRun, bids: list[routing.Level], asks: list[routing.Level]
    ) -> tuple[list[routing.Level], list[routing.Level]]:
        """Rialto's book without the bot's own orders: it never trades with itself."""
        mine: dict[tuple[str, Decimal], Decimal] = {}
        for o in run.live.values():
            mine[(o.side, o.price)] = mine.get((o.side, o.price), ZERO) + o.qty

        def strip(levels: list[routing.Level], side: str) -> list[routing.Level]:
            out = []
            for p, q in levels:
                left = q - mine.get((side, p), ZERO)
                if left > 0:
                    out.append((p, left))
            return out

        return strip(bids, BUY), strip(asks, SELL)

    async def arbitrage_once(self) -> list[arbitrage.Opportunity]:
        taken = []
        for run in self.markets.values():
            max_qty = self.cfg.arbitrage.max_qty.get(run.spec.symbol)
            if not max_qty:
                continue
            for name in self.cfg.arbitrage.venues:
                v = self.venues[name]
                symbol = self._ext_symbol(run)
                (rb, ra), (eb, ea) = await asyncio.gather(
                    self.rialto.book(run.spec.symbol, 20), v.book(symbol, 20)
                )
                rb, ra = self._others_book(run, rb, ra)
                step = max(run.spec.step, v.specs[v.symbol_id(symbol)].step)
                opp = arbitrage.find(
                    "rialto", rb, ra, self.cfg.taker_fee, name, eb, ea, v.taker_fee,
                    self.cfg.arbitrage.min_profit_bps, max_qty, step,
                )  # fmt: skip
                if opp is None or not self._arb_within_limits(run, opp):
                    continue
                await self._take(run, v, opp)
                taken.append(opp)
        return taken

    def _arb_within_limits(self, run: MarketRun, opp: arbitrage.Opportunity) -> bool:
        """Each leg alone must keep positions and notional within the limits (a leg can
        fail), and the bot must not be killed or cut."""
        if self.guard.killed is not None or self.guard.margin is Margin.CUT:
            return False
        lim = self.cfg.risk
        base = run.spec.base
        pos = self.ledger.position(base)
        cap = lim.max_position.get(base)
        if cap is not None and (abs(pos + opp.qty) > cap or abs(pos - opp.qty) > cap):
            return False
        prices = self.prices()
        notional = opp.qty * opp.buy_limit * prices.get(run.spec.quote, ZERO)
        return lim.max_notional is None or notional <= lim.max_notional

    async def _take(self, run: MarketRun, ext: Venue, opp: arbitrage.Opportunity) -> None:
        cid = f"{self.cfg.client_prefix}a{next(self._ids)}"
        symbol = self._ext_symbol(run)

        async def leg(venue: str, side: Side, limit: Decimal) -> dict[str, Any]:
            if venue == "rialto":  # its fills are booked from the user data stream
                return await self.rialto.place(
                    run.spec.symbol, side, opp.qty, limit, kind="IOC", client_id=cid, full=True
                )
            r = await ext.place(symbol, side, opp.qty, limit, kind="IOC", full=True)
            self._book_external(run, side, r)
            return r

        results = await asyncio.gather(
            leg(opp.buy_venue, BUY, opp.buy_limit),
            leg(opp.sell_venue, SELL, opp.sell_limit),
            return_exceptions=True,
        )
        self.arbs += 1
        self._event(
            f"arbitrage {run.spec.symbol}: buy {opp.qty} on {opp.buy_venue} <= {opp.buy_limit}, "
            f"sell on {opp.sell_venue} >= {opp.sell_limit}: "
            + ", ".join(
                repr(r)
                if isinstance(r, BaseException)
                else f"{r.get('status')} {r.get('executedQty')}"
                for r in results
            )
        )
