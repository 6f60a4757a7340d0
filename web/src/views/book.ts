// The order book: a local copy kept from <symbol>@depth@100ms diffs on a REST snapshot
// (Binance's procedure), shown grouped by a price step with depth bars.

import { pub } from "../api";
import { decimalsOf, fixed, format, timesTen, units } from "../decimal";
import { h, replace } from "../dom";
import { bus, state, sym } from "../store";
import type { MarketStreams } from "../streams";

export type Level = [price: bigint, qty: bigint];

interface Diff {
  U: number;
  u: number;
  b: [string, string][];
  a: [string, string][];
}

const ROWS = 10;

export class Book {
  bids = new Map<bigint, bigint>();
  asks = new Map<bigint, bigint>();
  lastUpdateId = 0;
  ready = false;
  private listeners = new Set<() => void>();

  onChange(fn: () => void): void {
    this.listeners.add(fn);
  }

  changed(): void {
    for (const fn of this.listeners) fn();
  }

  reset(): void {
    this.bids.clear();
    this.asks.clear();
    this.lastUpdateId = 0;
    this.ready = false;
  }

  load(snapshot: { lastUpdateId: number; bids: [string, string][]; asks: [string, string][] }): void {
    this.reset();
    for (const [p, q] of snapshot.bids) this.bids.set(units(p)!, units(q)!);
    for (const [p, q] of snapshot.asks) this.asks.set(units(p)!, units(q)!);
    this.lastUpdateId = snapshot.lastUpdateId;
    this.ready = true;
  }

  /** Applies a diff; false when it does not follow on (the copy must be reloaded). */
  apply(d: Diff): boolean {
    if (d.u <= this.lastUpdateId) return true;
    if (d.U > this.lastUpdateId + 1) return false;
    for (const [side, levels] of [
      [this.bids, d.b],
      [this.asks, d.a],
    ] as const) {
      for (const [p, q] of levels) {
        const qty = units(q)!;
        if (qty === 0n) side.delete(units(p)!);
        else side.set(units(p)!, qty);
      }
    }
    this.lastUpdateId = d.u;
    return true;
  }

  /** Best first: bids high to low, asks low to high. */
  sorted(side: "bids" | "asks"): Level[] {
    const levels = [...this[side].entries()];
    return levels.sort((x, y) => (side === "bids" ? (y[0] > x[0] ? 1 : -1) : x[0] > y[0] ? 1 : -1));
  }
}

/** Levels merged into buckets of `step` (bids rounded down, asks up), best first. */
export function grouped(levels: Level[], step: bigint, side: "bids" | "asks", n: number): Level[] {
  const out: Level[] = [];
  for (const [p, q] of levels) {
    let bucket = (p / step) * step;
    if (side === "asks" && bucket < p) bucket += step;
    const tail = out[out.length - 1];
    if (tail && tail[0] === bucket) tail[1] += q;
    else {
      if (out.length === n) break;
      out.push([bucket, q]);
    }
  }
  return out;
}

export function mountBook(root: HTMLElement, streams: MarketStreams): Book {
  const book = new Book();
  const stepSelect = h("select", { id: "book-step", "aria-label": "Group by price step" });
  const head = h(
    "div",
    { class: "book-head" },
    h("label", { for: "book-step" }, "Group"),
    stepSelect,
  );
  const cols = h("div", { class: "book-row cols" }, h("span", {}, "Price"), h("span", {}, "Amount"), h("span", {}, "Total"));
  const asks = h("div", { class: "book-side asks", id: "book-asks", "aria-label": "Asks" });
  const mid = h("div", { class: "book-mid num", id: "book-mid" }, "–");
  const bids = h("div", { class: "book-side bids", id: "book-bids", "aria-label": "Bids" });
  root.append(head, cols, asks, mid, bids);

  let stream = "";
  let generation = 0;
  let buffer: Diff[] = [];
  let loading = false;
  let scheduled = false;

  function fillSteps(): void {
    const s = sym();
    stepSelect.replaceChildren();
    for (let i = 0; i < 4; i++) {
      const step = timesTen(s.tick, i);
      stepSelect.appendChild(h("option", { value: step }, step));
    }
  }

  async function resync(): Promise<void> {
    const mine = generation;
    const symbol = sym().symbol;
    loading = true;
    try {
      const snap = await pub<any>("depth", { symbol, limit: 1000 });
      if (mine !== generation) return;
      book.load(snap);
      const pending = buffer;
      buffer = [];
      for (const d of pending) {
        if (!book.apply(d)) return void setTimeout(() => void resync(), 200);
      }
      schedule();
    } catch (err) {
      console.warn("depth", err);
      setTimeout(() => void resync(), 1000);
    } finally {
      loading = false;
    }
  }

  function onDiff(d: Diff): void {
    if (loading || !book.ready) {
      buffer.push(d);
      return;
    }
    if (!book.apply(d)) {
      book.ready = false;
      buffer = [d];
      void resync();
      return;
    }
    schedule();
  }

  function schedule(): void {
    if (scheduled) return;
    scheduled = true;
    setTimeout(() => {
      scheduled = false;
      render();
      book.changed();
    }, 100);
  }

  function rows(levels: Level[], side: "bids" | "asks", max: bigint): HTMLElement[] {
    const s = sym();
    const pd = decimalsOf(stepSelect.value || s.tick);
    const qd = decimalsOf(s.step);
    let cum = 0n;
    return levels.map(([p, q]) => {
      cum += q;
      const price = format(p, pd);
      const width = max === 0n ? 0 : Number((cum * 1000n) / max) / 10;
      return h(
        "button",
        {
          type: "button",
          class: `book-row ${side}`,
          "data-price": price,
          // Re-drawn ten times a second: out of the tab order (the price field takes prices).
          tabindex: -1,
          style: `--depth: ${width}%`,
          "aria-label": `${side === "bids" ? "Bid" : "Ask"} ${price}, amount ${format(q, qd)}`,
          onclick: () => bus.emit("price", price),
        },
        h("span", { class: "num price" }, price),
        h("span", { class: "num" }, format(q, qd)),
        h("span", { class: "num" }, format(cum, qd)),
      );
    });
  }

  function render(): void {
    if (!state.symbol || !book.ready) return;
    const step = units(stepSelect.value || sym().tick)!;
    const b = grouped(book.sorted("bids"), step, "bids", ROWS);
    const a = grouped(book.sorted("asks"), step, "asks", ROWS);
    const total = (xs: Level[]) => xs.reduce((acc, [, q]) => acc + q, 0n);
    const max = [total(b), total(a)].reduce((x, y) => (x > y ? x : y));
    replace(asks, ...rows(a, "asks", max).reverse());
    replace(bids, ...rows(b, "bids", max));
    const t = state.tickers.get(sym().symbol);
    const spread = a.length && b.length ? format(a[0][0] - b[0][0], decimalsOf(sym().tick)) : "–";
    const last = t && units(t.last) ? fixed(t.last, decimalsOf(sym().tick)) : "–";
    replace(
      mid,
      h("span", { class: "last" }, last),
      h("span", { class: "spread" }, `spread ${spread}`),
    );
  }

  stepSelect.addEventListener("change", render);
  bus.on("ticker", (t) => {
    if (t.symbol === state.symbol?.symbol) schedule(); // the last price between the sides
  });
  bus.on("symbol", (s) => {
    generation++;
    if (stream) streams.unsubscribe(stream);
    book.reset();
    buffer = [];
    fillSteps();
    replace(asks);
    replace(bids);
    stream = `${s.symbol.toLowerCase()}@depth@100ms`;
    streams.subscribe(stream, onDiff);
    void resync();
  });
  streams.whenOpen(() => {
    if (!state.symbol) return;
    generation++;
    book.ready = false;
    buffer = [];
    void resync();
  });
  return book;
}
