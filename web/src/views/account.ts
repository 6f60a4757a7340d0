// The user's open orders (cancel one, cancel all), order history, trade history and
// balances; refreshed by the user data stream.

import { ApiError, trade } from "../api";
import { decimalsOf, div, fixed, format, units } from "../decimal";
import { h, replace, tabs } from "../dom";
import { bus, state, sym } from "../store";
import type { Account, Balance, MyTrade, Order } from "../types";

function when(ms: number): string {
  const d = new Date(ms);
  return `${d.toLocaleDateString([], { month: "2-digit", day: "2-digit" })} ${d.toLocaleTimeString([], { hour12: false })}`;
}

function table(caption: string, heads: string[], rows: HTMLElement[], empty: string): HTMLElement {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      h("caption", { class: "sr-only" }, caption),
      h("thead", {}, h("tr", {}, ...heads.map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, ...rows),
    ),
  );
}

function priceOf(o: Order): string {
  const s = state.symbols.get(o.symbol);
  if (o.type === "MARKET") return "Market";
  return s ? fixed(o.price, decimalsOf(s.tick)) : o.price;
}

function qtyOf(symbol: string, q: string): string {
  const s = state.symbols.get(symbol);
  return s ? fixed(q, decimalsOf(s.step)) : q;
}

export interface AccountView {
  refresh: () => void;
  onEvent: (ev: any) => void;
}

export function mountAccount(root: HTMLElement, requireLogin: () => void): AccountView {
  const open = h("div", { class: "orders-open", id: "open-orders" });
  const history = h("div", { class: "orders-history", id: "order-history" });
  const trades = h("div", { class: "trade-history", id: "trade-history" });
  const balances = h("div", { class: "balances", id: "balances" });
  const notice = h("p", { class: "message", id: "account-message", role: "status", "aria-live": "polite" });
  const t = tabs(
    "Your account",
    [
      { id: "open", title: "Open orders", panel: open },
      { id: "history", title: "Order history", panel: history },
      { id: "trades", title: "Trade history", panel: trades },
      { id: "balances", title: "Balances", panel: balances },
    ],
    () => refresh(),
  );
  root.append(t.root, notice);

  function loggedOut(): void {
    for (const el of [open, history, trades, balances]) {
      replace(el, h("p", { class: "empty" }, h("button", { type: "button", class: "link", onclick: requireLogin }, "Log in"), " to see your orders and balances."));
    }
  }

  function say(err: unknown): void {
    notice.className = "message error";
    replace(notice, err instanceof ApiError ? `${err.msg} (${err.code})` : String(err));
  }

  async function cancel(o: Order): Promise<void> {
    try {
      await trade("DELETE", "order", { symbol: o.symbol, orderId: o.orderId });
      notice.className = "message ok";
      replace(notice, `Canceled #${o.orderId}`);
    } catch (err) {
      say(err);
    }
    refresh();
  }

  async function cancelAll(): Promise<void> {
    try {
      const r = await trade<unknown[]>("DELETE", "openOrders", { symbol: sym().symbol });
      notice.className = "message ok";
      replace(notice, `Canceled ${r.length} order${r.length === 1 ? "" : "s"} on ${sym().symbol}`);
    } catch (err) {
      say(err);
    }
    refresh();
  }

  function showOpen(orders: Order[]): void {
    const rows = orders
      .sort((a, b) => b.time - a.time)
      .map((o) =>
        h(
          "tr",
          { "data-order-id": o.orderId, class: o.side === "BUY" ? "buy" : "sell" },
          h("td", {}, when(o.time)),
          h("td", {}, o.symbol),
          h("td", {}, o.type.replace(/_/g, " ").toLowerCase()),
          h("td", { class: "side" }, o.side),
          h("td", { class: "num" }, priceOf(o)),
          h("td", { class: "num" }, qtyOf(o.symbol, o.origQty)),
          h("td", { class: "num" }, qtyOf(o.symbol, o.executedQty)),
          h("td", {}, h("button", { type: "button", class: "cancel", "aria-label": `Cancel order ${o.orderId}`, onclick: () => void cancel(o) }, "Cancel")),
        ),
      );
    const mine = orders.filter((o) => o.symbol === state.symbol?.symbol).length;
    replace(
      open,
      h("div", { class: "bar" }, h("button", { type: "button", id: "cancel-all", disabled: !mine, onclick: () => void cancelAll() }, `Cancel all on ${sym().symbol}`)),
      table("Open orders", ["Time", "Market", "Type", "Side", "Price", "Amount", "Filled", ""], rows, "No open orders."),
    );
  }

  function showHistory(orders: Order[]): void {
    const rows = orders
      .sort((a, b) => b.time - a.time)
      .map((o) => {
        const filled = units(o.executedQty) ?? 0n;
        const s = state.symbols.get(o.symbol);
        const avg = div(units(o.cummulativeQuoteQty) ?? 0n, filled);
        const avgText = filled > 0n && s ? format(avg, decimalsOf(s.tick)) : "–";
        return h(
          "tr",
          { "data-order-id": o.orderId, class: o.side === "BUY" ? "buy" : "sell" },
          h("td", {}, when(o.time)),
          h("td", {}, o.type.replace(/_/g, " ").toLowerCase()),
          h("td", { class: "side" }, o.side),
          h("td", { class: "num" }, priceOf(o)),
          h("td", { class: "num" }, avgText),
          h("td", { class: "num" }, qtyOf(o.symbol, o.origQty)),
          h("td", { class: "num" }, qtyOf(o.symbol, o.executedQty)),
          h("td", { class: "status" }, o.status),
        );
      });
    replace(history, table("Order history", ["Time", "Type", "Side", "Price", "Average", "Amount", "Filled", "Status"], rows, `No orders on ${sym().symbol} yet.`));
  }

  function showTrades(list: MyTrade[]): void {
    const rows = list
      .sort((a, b) => b.time - a.time)
      .map((x) => {
        const s = state.symbols.get(x.symbol);
        return h(
          "tr",
          { "data-trade-id": x.id, class: x.isBuyer ? "buy" : "sell" },
          h("td", {}, when(x.time)),
          h("td", { class: "side" }, x.isBuyer ? "BUY" : "SELL"),
          h("td", { class: "num" }, s ? fixed(x.price, decimalsOf(s.tick)) : x.price),
          h("td", { class: "num" }, qtyOf(x.symbol, x.qty)),
          h("td", { class: "num" }, `${x.commission} ${x.commissionAsset}`),
          h("td", {}, x.isMaker ? "maker" : "taker"),
        );
      });
    replace(trades, table("Trade history", ["Time", "Side", "Price", "Amount", "Fee", "Role"], rows, `No trades on ${sym().symbol} yet.`));
  }

  function showBalances(list: Balance[]): void {
    const rows = list.map((b) =>
      h(
        "tr",
        { "data-asset": b.asset },
        h("th", { scope: "row" }, b.asset),
        h("td", { class: "num free" }, b.free),
        h("td", { class: "num locked" }, b.locked),
      ),
    );
    replace(balances, table("Balances", ["Asset", "Available", "In orders"], rows, "No balances."));
  }

  let running = false;
  let again = false;
  let timer = 0;

  async function load(): Promise<void> {
    if (!state.user || !state.symbol) return loggedOut();
    const symbol = state.symbol.symbol;
    const account = await trade<Account>("GET", "account");
    state.account = account;
    bus.emit("account", account);
    showBalances(account.balances);
    showOpen(await trade<Order[]>("GET", "openOrders"));
    const tab = t.current();
    if (tab === "history") showHistory(await trade<Order[]>("GET", "allOrders", { symbol, limit: 100 }));
    if (tab === "trades") showTrades(await trade<MyTrade[]>("GET", "myTrades", { symbol, limit: 100 }));
  }

  /** Reloads (coalesced: at most one request chain at a time, one more queued). */
  function refresh(): void {
    window.clearTimeout(timer);
    timer = window.setTimeout(async () => {
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        await load();
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 401)) console.warn("account", err);
      } finally {
        running = false;
        if (again) {
          again = false;
          refresh();
        }
      }
    }, 50);
  }

  /** A user-data event: balances at once, orders and trades by reloading. */
  function onEvent(ev: any): void {
    if (ev.e === "outboundAccountPosition" && state.account) {
      for (const b of ev.B as { a: string; f: string; l: string }[]) {
        const row = state.account.balances.find((x) => x.asset === b.a);
        if (row) {
          row.free = b.f;
          row.locked = b.l;
        }
      }
      showBalances(state.account.balances);
      bus.emit("account", state.account);
    }
    if (ev.e === "executionReport" || ev.e === "balanceUpdate" || ev.e === "open") refresh();
  }

  // The user data stream drives the updates; a slow poll covers a stream that is down.
  window.setInterval(() => {
    if (state.user && document.visibilityState === "visible") refresh();
  }, 10_000);
  bus.on("orders", refresh);
  bus.on("symbol", refresh);
  bus.on("user", refresh);
  return { refresh, onEvent };
}
