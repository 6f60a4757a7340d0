// Order entry: limit (GTC/IOC/FOK, post-only), market (by amount or by total), stop-limit;
// amounts by percentage of the balance; the fee shown before submitting; the API's own
// error message shown on rejection.

import { ApiError, trade } from "../api";
import { decimalsOf, div, fixed, floorTo, format, mul, units } from "../decimal";
import { h, replace } from "../dom";
import { balance, bus, state, sym } from "../store";
import type { SymbolInfo } from "../types";

type Kind = "limit" | "market" | "stop";

function radio(name: string, value: string, label: string, checked = false): HTMLLabelElement {
  return h(
    "label",
    { class: `seg seg-${value}` },
    h("input", { type: "radio", name, value, checked }),
    h("span", {}, label),
  );
}

function field(id: string, label: string, unit: HTMLElement, attrs: Record<string, string> = {}): {
  wrap: HTMLElement;
  input: HTMLInputElement;
} {
  const input = h("input", { id, name: id, inputmode: "decimal", autocomplete: "off", placeholder: "0", ...attrs });
  const wrap = h("div", { class: "field" }, h("label", { for: id }, label), input, unit);
  return { wrap, input };
}

export function mountOrderForm(root: HTMLElement, requireLogin: () => void): void {
  const sides = h("div", { class: "segs sides", role: "radiogroup", "aria-label": "Side" },
    radio("side", "BUY", "Buy", true), radio("side", "SELL", "Sell"));
  const kinds = h("div", { class: "segs kinds", role: "radiogroup", "aria-label": "Order type" },
    radio("kind", "limit", "Limit", true), radio("kind", "market", "Market"), radio("kind", "stop", "Stop-limit"));

  const quoteUnit = () => h("span", { class: "unit quote-asset" });
  const baseUnit = () => h("span", { class: "unit base-asset" });
  const stop = field("stop-price", "Stop", quoteUnit());
  const price = field("price", "Price", quoteUnit());
  const amount = field("amount", "Amount", baseUnit());
  const total = field("total", "Total", quoteUnit());
  const by = h("select", { id: "market-by", "aria-label": "Market order by" },
    h("option", { value: "amount" }, "By amount"), h("option", { value: "total" }, "By total"));
  const tif = h("select", { id: "tif", "aria-label": "Time in force" },
    h("option", { value: "GTC", title: "Good till canceled" }, "GTC"),
    h("option", { value: "IOC", title: "Immediate or cancel" }, "IOC"),
    h("option", { value: "FOK", title: "Fill or kill" }, "FOK"));
  const postOnly = h("input", { type: "checkbox", id: "post-only" });
  const options = h("div", { class: "options" },
    h("label", { class: "check", for: "post-only" }, postOnly, "Post-only"), tif);
  const pcts = h("div", { class: "pcts", role: "group", "aria-label": "Amount by percentage of balance" },
    ...[25, 50, 75, 100].map((p) => h("button", { type: "button", "data-pct": p, onclick: () => byPercent(p) }, `${p}%`)));
  const available = h("p", { class: "available num", id: "available" });
  const fee = h("p", { class: "fee num", id: "fee", "aria-live": "polite" });
  const submit = h("button", { type: "submit", class: "submit", id: "submit-order" }, "Buy");
  const message = h("p", { class: "message", id: "order-message", role: "status", "aria-live": "polite" });
  const form = h("form", { class: "order-form", id: "order-form", novalidate: true },
    sides, kinds, by, stop.wrap, price.wrap, amount.wrap, total.wrap, pcts, options, available, fee, submit, message);
  root.appendChild(form);

  const side = () => (form.elements.namedItem("side") as RadioNodeList).value as "BUY" | "SELL";
  const kind = () => (form.elements.namedItem("kind") as RadioNodeList).value as Kind;
  const byTotal = () => kind() === "market" && by.value === "total";

  function refPrice(): bigint | null {
    if (kind() === "market") return units(state.tickers.get(sym().symbol)?.last ?? "");
    return units(price.input.value);
  }

  function layout(): void {
    const k = kind();
    const s = state.symbol;
    by.hidden = k !== "market";
    stop.wrap.hidden = k !== "stop";
    price.wrap.hidden = k === "market";
    amount.wrap.hidden = byTotal();
    total.wrap.hidden = k === "market" && !byTotal();
    total.input.readOnly = k !== "market";
    options.hidden = k !== "limit";
    tif.disabled = postOnly.checked;
    if (s) {
      for (const el of form.querySelectorAll(".quote-asset")) el.textContent = s.quoteAsset;
      for (const el of form.querySelectorAll(".base-asset")) el.textContent = s.baseAsset;
      replace(submit, `${side() === "BUY" ? "Buy" : "Sell"} ${s.baseAsset}`);
    }
    submit.classList.toggle("sell", side() === "SELL");
    update();
  }

  function update(): void {
    const s = state.symbol;
    if (!s) return;
    const qd = decimalsOf(s.step);
    const pd = decimalsOf(s.tick);
    const p = refPrice();
    const q = units(amount.input.value);
    if (kind() !== "market" || !byTotal()) {
      if (p !== null && q !== null && !total.input.matches(":focus") && kind() !== "market") {
        total.input.value = format(mul(p, q), pd);
      }
    }
    const asset = side() === "BUY" ? s.quoteAsset : s.baseAsset;
    const b = balance(asset);
    replace(available, state.user ? `Available ${b.free} ${asset}` : "Log in to trade");
    // The fee: a buyer pays it in the base asset, a seller in the quote asset.
    const rates = state.account?.fees[s.symbol] ?? { maker: "0.001", taker: "0.001" };
    const maker = kind() === "limit" && postOnly.checked;
    const rate = units(maker ? rates.maker : rates.taker) ?? 0n;
    let qty = q;
    if (byTotal()) {
      const t = units(total.input.value);
      qty = t !== null && p ? div(t, p) : null;
    }
    const pct = (r: bigint) => `${format(r * 100n, 4).replace(/\.?0+$/, "")}%`;
    const label = maker ? `maker ${pct(rate)}` : `up to taker ${pct(rate)}`;
    if (qty === null || qty === 0n) {
      replace(fee, `Fee ${label}`);
    } else if (side() === "BUY") {
      replace(fee, `Fee ≈ ${format(mul(qty, rate), Math.min(qd + 4, 8))} ${s.baseAsset} (${label})`);
    } else if (p !== null) {
      replace(fee, `Fee ≈ ${format(mul(mul(qty, p), rate), Math.min(pd + 4, 8))} ${s.quoteAsset} (${label})`);
    }
  }

  function byPercent(pct: number): void {
    const s = sym();
    const p = refPrice();
    const share = (x: string) => ((units(x) ?? 0n) * BigInt(pct)) / 100n;
    if (side() === "BUY") {
      const quote = share(balance(s.quoteAsset).free);
      if (byTotal()) {
        total.input.value = format(floorTo(quote, units(s.tick)!), decimalsOf(s.tick));
      } else if (p) {
        amount.input.value = format(floorTo(div(quote, p), units(s.step)!), decimalsOf(s.step));
      }
    } else {
      const base = share(balance(s.baseAsset).free);
      if (byTotal() && p) {
        total.input.value = format(floorTo(mul(base, p), units(s.tick)!), decimalsOf(s.tick));
      } else {
        amount.input.value = format(floorTo(base, units(s.step)!), decimalsOf(s.step));
      }
    }
    update();
  }

  function params(s: SymbolInfo): Record<string, string> {
    const p: Record<string, string> = { symbol: s.symbol, side: side(), newOrderRespType: "FULL" };
    const k = kind();
    if (k === "market") {
      p.type = "MARKET";
      if (byTotal()) p.quoteOrderQty = total.input.value.trim();
      else p.quantity = amount.input.value.trim();
    } else if (k === "limit") {
      p.type = postOnly.checked ? "LIMIT_MAKER" : "LIMIT";
      if (!postOnly.checked) p.timeInForce = tif.value;
      p.price = price.input.value.trim();
      p.quantity = amount.input.value.trim();
    } else {
      // Binance's stop-limit: a buy stop above the market (a sell stop below) is a stop-loss;
      // the other way round, a take-profit.
      const last = units(state.tickers.get(s.symbol)?.last ?? "") ?? 0n;
      const stopAt = units(stop.input.value) ?? 0n;
      const above = stopAt > last;
      p.type = (side() === "BUY") === above ? "STOP_LOSS_LIMIT" : "TAKE_PROFIT_LIMIT";
      p.timeInForce = "GTC";
      p.stopPrice = stop.input.value.trim();
      p.price = price.input.value.trim();
      p.quantity = amount.input.value.trim();
    }
    return p;
  }

  function say(text: string, kindOf: "ok" | "error"): void {
    delete message.dataset.orderId;
    delete message.dataset.tradeIds;
    message.className = `message ${kindOf}`;
    message.setAttribute("role", kindOf === "error" ? "alert" : "status");
    replace(message, text);
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!state.user) return requireLogin();
    const s = sym();
    submit.disabled = true;
    try {
      const r = await trade<any>("POST", "order", params(s));
      const fills: { price: string; qty: string; tradeId: number }[] = r.fills ?? [];
      const filled = fills.length ? `, filled ${fixed(r.executedQty, decimalsOf(s.step))} in ${fills.length} trade${fills.length > 1 ? "s" : ""}` : "";
      say(`${r.side} ${r.type.replace(/_/g, " ")} #${r.orderId}: ${r.status}${filled}`, "ok");
      message.dataset.orderId = String(r.orderId);
      message.dataset.tradeIds = fills.map((f) => f.tradeId).join(",");
      bus.emit("orders", undefined);
    } catch (err) {
      if (err instanceof ApiError) say(`${err.msg} (${err.code})`, "error");
      else say(String(err), "error");
    } finally {
      submit.disabled = false;
    }
  });
  form.addEventListener("change", layout);
  form.addEventListener("input", update);
  total.input.addEventListener("input", () => {
    if (kind() === "market") return;
    const p = refPrice();
    const t = units(total.input.value);
    if (p && t !== null) amount.input.value = format(floorTo(div(t, p), units(sym().step)!), decimalsOf(sym().step));
  });
  bus.on("price", (p) => {
    if (kind() === "market") return;
    price.input.value = p;
    update();
  });
  bus.on("symbol", (s) => {
    for (const f of [stop, price, amount, total]) f.input.value = "";
    price.input.step = s.tick;
    amount.input.step = s.step;
    const t = state.tickers.get(s.symbol);
    if (t && units(t.last)) price.input.value = fixed(t.last, decimalsOf(s.tick));
    replace(message);
    layout();
  });
  bus.on("account", update);
  bus.on("user", layout);
  layout();
}
