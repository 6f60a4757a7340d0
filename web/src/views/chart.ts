// The candlestick chart with volume (lightweight-charts), Binance's intervals, live from
// <symbol>@kline_<interval>; and a tab with the depth chart.

import {
  CandlestickSeries,
  ColorType,
  HistogramSeries,
  createChart,
  type IChartApi,
  type ISeriesApi,
  type UTCTimestamp,
} from "lightweight-charts";
import { pub } from "../api";
import { decimalsOf, fixed } from "../decimal";
import { h, replace, tabs } from "../dom";
import { bus, state, sym } from "../store";
import type { MarketStreams } from "../streams";
import { INTERVALS, type Interval } from "../types";
import { mountDepthChart } from "./depth";
import type { Book } from "./book";

const UP = "#26a69a";
const DOWN = "#ef5350";

interface Candle {
  time: UTCTimestamp;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  raw: { o: string; h: string; l: string; c: string; v: string };
  lastTrade?: number; // the candle's last trade id (streamed candles only)
}

interface RawCandle {
  t: number;
  o: string;
  h: string;
  l: string;
  c: string;
  v: string;
  L?: number;
}

function candleOf(k: RawCandle): Candle {
  return {
    time: Math.floor(k.t / 1000) as UTCTimestamp,
    open: Number(k.o),
    high: Number(k.h),
    low: Number(k.l),
    close: Number(k.c),
    volume: Number(k.v),
    raw: { o: k.o, h: k.h, l: k.l, c: k.c, v: k.v },
    lastTrade: k.L,
  };
}

export function mountCharts(root: HTMLElement, streams: MarketStreams, book: Book): void {
  const intervals = h("div", { class: "intervals", role: "group", "aria-label": "Candle interval" });
  const legend = h("div", { class: "legend num", id: "chart-legend", "aria-live": "off" });
  const box = h("div", { class: "chart-box", id: "price-chart" });
  const pricePanel = h("div", { class: "price-panel" }, intervals, legend, box);
  const depthPanel = h("div", { class: "depth-panel" });
  const t = tabs("Chart", [
    { id: "price", title: "Price", panel: pricePanel },
    { id: "depth", title: "Depth", panel: depthPanel },
  ]);
  root.appendChild(t.root);

  const chart: IChartApi = createChart(box, {
    autoSize: true,
    layout: { background: { type: ColorType.Solid, color: "#12161c" }, textColor: "#c9d1d9" },
    grid: { vertLines: { color: "#1f252d" }, horzLines: { color: "#1f252d" } },
    timeScale: { timeVisible: true, secondsVisible: true, barSpacing: 10, rightOffset: 4 },
  });
  const candles: ISeriesApi<"Candlestick"> = chart.addSeries(CandlestickSeries, {
    upColor: UP,
    downColor: DOWN,
    borderVisible: false,
    wickUpColor: UP,
    wickDownColor: DOWN,
  });
  const volume: ISeriesApi<"Histogram"> = chart.addSeries(HistogramSeries, {
    priceFormat: { type: "volume" },
    priceScaleId: "",
    lastValueVisible: false,
    priceLineVisible: false,
  });
  volume.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
  candles.priceScale().applyOptions({ scaleMargins: { top: 0.1, bottom: 0.25 } });

  let stream = "";
  let generation = 0;
  let last: Candle | null = null;

  function showLegend(c: Candle | null): void {
    if (!c) return replace(legend, "No trades yet");
    const s = sym();
    const p = (x: string) => fixed(x, decimalsOf(s.tick));
    legend.dataset.close = c.raw.c;
    legend.dataset.high = c.raw.h;
    legend.dataset.low = c.raw.l;
    if (c.lastTrade !== undefined) legend.dataset.lastTrade = String(c.lastTrade);
    replace(
      legend,
      `O ${p(c.raw.o)}  H ${p(c.raw.h)}  L ${p(c.raw.l)}  C ${p(c.raw.c)}  V ${fixed(c.raw.v, decimalsOf(s.step))}`,
    );
  }

  function put(c: Candle): void {
    if (last && c.time < last.time) return; // an update older than what is drawn
    candles.update(c);
    volume.update({ time: c.time, value: c.volume, color: c.close >= c.open ? UP + "80" : DOWN + "80" });
    last = c;
    showLegend(c);
  }

  async function load(): Promise<void> {
    const s = sym();
    const interval = state.interval;
    const mine = ++generation;
    if (stream) streams.unsubscribe(stream);
    stream = `${s.symbol.toLowerCase()}@kline_${interval}`;
    candles.applyOptions({
      priceFormat: { type: "price", precision: decimalsOf(s.tick), minMove: Number(s.tick) },
    });
    const rows = await pub<any[]>("klines", { symbol: s.symbol, interval, limit: 500 });
    if (mine !== generation) return;
    const data = rows.map((r) => candleOf({ t: r[0], o: r[1], h: r[2], l: r[3], c: r[4], v: r[5] }));
    candles.setData(data);
    volume.setData(
      data.map((c) => ({ time: c.time, value: c.volume, color: c.close >= c.open ? UP + "80" : DOWN + "80" })),
    );
    last = data.length ? data[data.length - 1] : null;
    delete legend.dataset.lastTrade;
    showLegend(last);
    chart.timeScale().scrollToRealTime();
    streams.subscribe(stream, (m: any) => {
      if (mine === generation && m.s === s.symbol) put(candleOf(m.k));
    });
  }

  for (const iv of INTERVALS) {
    intervals.appendChild(
      h(
        "button",
        {
          type: "button",
          "data-interval": iv,
          "aria-pressed": String(iv === state.interval),
          onclick: (e: Event) => {
            state.interval = iv as Interval;
            for (const b of intervals.querySelectorAll("button")) b.setAttribute("aria-pressed", "false");
            (e.currentTarget as HTMLElement).setAttribute("aria-pressed", "true");
            void load().catch((err) => console.warn("klines", err));
          },
        },
        iv,
      ),
    );
  }

  bus.on("symbol", () => void load().catch((err) => console.warn("klines", err)));
  streams.whenOpen(() => {
    if (state.symbol) void load().catch((err) => console.warn("klines", err));
  });
  mountDepthChart(depthPanel, book, () => t.current() === "depth");
}
