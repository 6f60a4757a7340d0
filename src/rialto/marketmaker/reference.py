"""The reference price of a market: an external venue's mid when configured and fresh,
else the exchange's own last trade, else the mid of other people's orders, else the
configured initial price."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Reference:
    initial: float | None = None
    stale_ms: int = 10_000  # an external mid older than this is not used
    external: float | None = None
    external_ms: int = 0
    last_trade: float | None = None
    others_mid: float | None = None

    def on_external(self, bid: float | None, ask: float | None, now_ms: int) -> None:
        if bid and ask and bid < ask:
            self.external, self.external_ms = (bid + ask) / 2, now_ms
        elif bid or ask:
            self.external, self.external_ms = (bid or ask), now_ms

    def on_trade(self, price: float) -> None:
        if price > 0:
            self.last_trade = price

    def on_book(self, bid: float | None, ask: float | None) -> None:
        """Best bid and ask of the book *without the bot's own orders*."""
        self.others_mid = (bid + ask) / 2 if bid and ask and bid < ask else None

    def price(self, now_ms: int) -> float | None:
        if self.external is not None and now_ms - self.external_ms <= self.stale_ms:
            return self.external
        for p in (self.last_trade, self.others_mid, self.initial):
            if p:
                return p
        return None

    def source(self, now_ms: int) -> str:
        if self.external is not None and now_ms - self.external_ms <= self.stale_ms:
            return "external"
        if self.last_trade:
            return "trades"
        if self.others_mid:
            return "book"
        return "initial" if self.initial else "none"
