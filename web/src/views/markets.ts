// The market list: last price and 24h change per symbol, live from !miniTicker@arr.

import { changePct, decimalsOf, fixed, units } from "../decimal";
import { h, replace } from "../dom";
import { bus, state } from "../store";
import type { MarketStreams } from "../streams";
import type { Ticker } from "../types";

export function tickerOf(raw: any): Ticker {
  // A REST 24hr ticker or a miniTicker stream payload.
  return {
    symbol: raw.symbol ?? raw.s,
    last: raw.lastPrice ?? raw.c,
    open: raw.openPrice ?? raw.o,
    high: raw.highPrice ?? raw.h,
    low: raw.lowPrice ?? raw.l,
    volume: raw.volume ?? raw.v,
    quoteVolume: raw.quoteVolume ?? raw.q,
  };
}

export function mountMarkets(root: HTMLElement, streams: MarketStreams, select: (s: string) => void): void {
  const list = h("ul", { class: "market-list", role: "list" });
  root.appendChild(list);
  const rows = new Map<string, { button: HTMLButtonElement; last: HTMLElement; change: HTMLElement }>();

  for (const s of state.symbols.values()) {
    const last = h("span", { class: "num", "data-field": "last" }, "–");
    const change = h("span", { class: "num change", "data-field": "change" }, "–");
    const button = h(
      "button",
      { type: "button", class: "market", "data-symbol": s.symbol, onclick: () => select(s.symbol) },
      h("span", { class: "sym" }, `${s.baseAsset}/${s.quoteAsset}`),
      last,
      change,
    );
    rows.set(s.symbol, { button, last, change });
    list.appendChild(h("li", {}, button));
  }

  function show(t: Ticker): void {
    const row = rows.get(t.symbol);
    const s = state.symbols.get(t.symbol);
    if (!row || !s) return;
    const pct = changePct(t.open, t.last);
    replace(row.last, units(t.last) ? fixed(t.last, decimalsOf(s.tick)) : "–");
    replace(row.change, pct);
    row.change.classList.toggle("up", pct.startsWith("+"));
    row.change.classList.toggle("down", pct.startsWith("-"));
  }

  bus.on("ticker", show);
  bus.on("symbol", (s) => {
    for (const [name, row] of rows) row.button.setAttribute("aria-pressed", String(name === s.symbol));
  });
  for (const t of state.tickers.values()) show(t);

  streams.subscribe("!miniTicker@arr", (arr: any[]) => {
    for (const raw of arr) {
      const t = tickerOf(raw);
      state.tickers.set(t.symbol, t);
      bus.emit("ticker", t);
    }
  });
}
