// The Rialto trading terminal: wiring of the views, the streams and the shared state.

import "./styles.css";
import { pub } from "./api";
import { changePct, decimalsOf, fixed, units } from "./decimal";
import { byId, h, replace } from "./dom";
import { bus, state } from "./store";
import { MarketStreams, UserStream } from "./streams";
import type { SymbolInfo } from "./types";
import { mountAccount } from "./views/account";
import { mountApiKeys } from "./views/apikeys";
import { mountAuth } from "./views/auth";
import { mountBook } from "./views/book";
import { mountCharts } from "./views/chart";
import { mountMarkets, tickerOf } from "./views/markets";
import { mountOrderForm } from "./views/orderForm";
import { mountTape } from "./views/tape";

function symbolOf(raw: any): SymbolInfo {
  const filter = (type: string) => raw.filters.find((f: any) => f.filterType === type) ?? {};
  return {
    symbol: raw.symbol,
    baseAsset: raw.baseAsset,
    quoteAsset: raw.quoteAsset,
    tick: filter("PRICE_FILTER").tickSize ?? "0.01",
    step: filter("LOT_SIZE").stepSize ?? "0.0001",
    minNotional: filter("NOTIONAL").minNotional ?? filter("MIN_NOTIONAL").minNotional ?? "0",
  };
}

function mountHeaderTicker(el: HTMLElement): void {
  const show = () => {
    const s = state.symbol;
    if (!s) return;
    const known = state.tickers.get(s.symbol);
    const t = known && units(known.last) ? known : undefined; // undefined: no trade yet
    const d = decimalsOf(s.tick);
    const pct = t ? changePct(t.open, t.last) : "";
    replace(
      el,
      h("h1", { class: "pair" }, `${s.baseAsset}/${s.quoteAsset}`),
      h("span", { class: "num last", id: "last-price" }, t ? fixed(t.last, d) : "–"),
      h("span", { class: `num change ${pct.startsWith("-") ? "down" : pct.startsWith("+") ? "up" : ""}` }, pct),
      t ? h("span", { class: "num stat" }, `24h high ${fixed(t.high, d)}`) : null,
      t ? h("span", { class: "num stat" }, `24h low ${fixed(t.low, d)}`) : null,
      t ? h("span", { class: "num stat" }, `24h vol ${fixed(t.volume, decimalsOf(s.step))} ${s.baseAsset}`) : null,
    );
    document.title = t ? `${fixed(t.last, d)} ${s.symbol} · Rialto` : "Rialto";
  };
  bus.on("symbol", show);
  bus.on("ticker", (t) => {
    if (t.symbol === state.symbol?.symbol) show();
  });
}

async function start(): Promise<void> {
  const info = await pub<any>("exchangeInfo");
  for (const raw of info.symbols) {
    const s = symbolOf(raw);
    state.symbols.set(s.symbol, s);
  }
  for (const raw of await pub<any[]>("ticker/24hr")) {
    const t = tickerOf(raw);
    state.tickers.set(t.symbol, t);
  }

  const streams = new MarketStreams();
  const select = (symbol: string) => {
    const s = state.symbols.get(symbol);
    if (!s || s === state.symbol) return;
    state.symbol = s;
    history.replaceState(null, "", `#${symbol}`);
    bus.emit("symbol", s);
  };

  mountHeaderTicker(byId("ticker"));
  mountMarkets(byId("markets"), streams, select);
  const book = mountBook(byId("book"), streams);
  mountCharts(byId("charts"), streams, book);
  mountTape(byId("tape"), streams);
  const keys = mountApiKeys();
  const auth = mountAuth(byId("user"), keys.open);
  const login = () => auth.open("login");
  mountOrderForm(byId("entry"), login);
  const account = mountAccount(byId("account"), login);

  let userStream: UserStream | null = null;
  bus.on("user", (u) => {
    userStream?.close();
    userStream = u ? new UserStream(account.onEvent) : null;
  });

  const wanted = location.hash.slice(1).toUpperCase();
  select(state.symbols.has(wanted) ? wanted : [...state.symbols.keys()][0]);
}

start().catch((err) => {
  console.warn("the terminal could not start", err);
  document.body.prepend(h("p", { class: "message error", role: "alert" }, "Cannot reach the exchange. Reload to try again."));
});
