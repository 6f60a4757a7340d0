// Recent trades, newest first, live from <symbol>@trade.

import { pub } from "../api";
import { decimalsOf, fixed } from "../decimal";
import { h, replace } from "../dom";
import { bus, sym } from "../store";
import type { MarketStreams } from "../streams";
import type { TradeTick } from "../types";

const KEEP = 40;

function time(ms: number): string {
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}

export function mountTape(root: HTMLElement, streams: MarketStreams): void {
  const cols = h("div", { class: "tape-row cols" }, h("span", {}, "Price"), h("span", {}, "Amount"), h("span", {}, "Time"));
  const list = h("ol", { class: "tape-list", id: "tape-list" });
  root.append(cols, list);
  let stream = "";
  let generation = 0;
  let newest = 0;

  function row(t: TradeTick): HTMLElement {
    const s = sym();
    const price = fixed(t.price, decimalsOf(s.tick));
    // The taker's side: a buyer-maker trade was a sell.
    const side = t.isBuyerMaker ? "sell" : "buy";
    return h(
      "li",
      { class: `tape-row ${side}`, "data-trade-id": t.id, "data-price": price },
      h("span", { class: "num price" }, price),
      h("span", { class: "num" }, fixed(t.qty, decimalsOf(s.step))),
      h("span", { class: "num time" }, time(t.time)),
    );
  }

  function add(t: TradeTick): void {
    if (t.id <= newest) return;
    newest = t.id;
    list.prepend(row(t));
    while (list.children.length > KEEP) list.lastElementChild?.remove();
  }

  async function load(): Promise<void> {
    const s = sym();
    const mine = ++generation;
    if (stream) streams.unsubscribe(stream);
    stream = `${s.symbol.toLowerCase()}@trade`;
    newest = 0;
    replace(list);
    streams.subscribe(stream, (m: any) => {
      if (mine === generation) add({ id: m.t, price: m.p, qty: m.q, time: m.T, isBuyerMaker: m.m });
    });
    const rows = await pub<any[]>("trades", { symbol: s.symbol, limit: KEEP });
    if (mine !== generation) return;
    const known = newest;
    newest = 0;
    const later = [...list.children];
    replace(list);
    for (const r of rows) add({ id: r.id, price: r.price, qty: r.qty, time: r.time, isBuyerMaker: r.isBuyerMaker });
    for (const el of later.reverse()) {
      const id = Number((el as HTMLElement).dataset.tradeId);
      if (id > newest) {
        list.prepend(el);
        newest = id;
      }
    }
    newest = Math.max(newest, known);
  }

  list.addEventListener("click", (e) => {
    const li = (e.target as HTMLElement).closest("li");
    if (li?.dataset.price) bus.emit("price", li.dataset.price);
  });
  bus.on("symbol", () => void load().catch((err) => console.warn("trades", err)));
  streams.whenOpen(() => {
    if (generation) void load().catch((err) => console.warn("trades", err));
  });
}
