// The depth chart: cumulative bid and ask amounts against price, drawn on a canvas.

import { format, decimalsOf } from "../decimal";
import { h } from "../dom";
import { sym } from "../store";
import type { Book, Level } from "./book";

const LEVELS = 200; // the levels on each side the chart spans at most

export function mountDepthChart(root: HTMLElement, book: Book, visible: () => boolean): void {
  const canvas = h("canvas", { id: "depth-chart", role: "img", "aria-label": "Depth chart" });
  const caption = h("p", { class: "depth-caption num" });
  root.append(canvas, caption);

  function cumulative(levels: Level[], limit: (p: number) => boolean): [number, number][] {
    const out: [number, number][] = [];
    let cum = 0;
    for (const [p, q] of levels) {
      const price = Number(format(p, 10));
      if (!limit(price)) break;
      cum += Number(format(q, 10));
      out.push([price, cum]);
    }
    return out;
  }

  function draw(): void {
    if (!visible() || !book.ready) return;
    const bids = book.sorted("bids");
    const asks = book.sorted("asks");
    if (!bids.length || !asks.length) return;
    const mid = (Number(format(bids[0][0], 10)) + Number(format(asks[0][0], 10))) / 2;
    // Span the levels shown (at most LEVELS a side), between 0.1% and 10% of the mid.
    const far = (levels: Level[]) => Math.abs(Number(format(levels[Math.min(levels.length, LEVELS) - 1][0], 10)) - mid);
    const span = Math.min(Math.max((Math.max(far(bids), far(asks)) / mid) * 1.1, 0.001), 0.1);
    const lo = mid * (1 - span);
    const hi = mid * (1 + span);
    const b = cumulative(bids, (p) => p >= lo);
    const a = cumulative(asks, (p) => p <= hi);
    const ratio = window.devicePixelRatio || 1;
    const w = canvas.clientWidth;
    const hgt = canvas.clientHeight;
    canvas.width = w * ratio;
    canvas.height = hgt * ratio;
    const ctx = canvas.getContext("2d");
    if (!ctx || w === 0) return;
    ctx.scale(ratio, ratio);
    ctx.clearRect(0, 0, w, hgt);
    const top = Math.max(b.length ? b[b.length - 1][1] : 0, a.length ? a[a.length - 1][1] : 0) || 1;
    const x = (p: number) => ((p - lo) / (hi - lo)) * w;
    const y = (v: number) => hgt - 16 - (v / top) * (hgt - 24);
    const area = (pts: [number, number][], edge: number, color: string) => {
      if (!pts.length) return;
      ctx.beginPath();
      ctx.moveTo(x(pts[0][0]), hgt - 16);
      let level = 0;
      for (const [p, v] of pts) {
        ctx.lineTo(x(p), y(level)); // a step: flat to the level's price, then up by its amount
        ctx.lineTo(x(p), y(v));
        level = v;
      }
      ctx.lineTo(x(edge), y(pts[pts.length - 1][1]));
      ctx.lineTo(x(edge), hgt - 16);
      ctx.closePath();
      ctx.fillStyle = color + "55";
      ctx.fill();
      ctx.strokeStyle = color;
      ctx.stroke();
    };
    area(b, lo, "#26a69a");
    area(a, hi, "#ef5350");
    ctx.fillStyle = "#8b949e";
    ctx.font = "11px system-ui, sans-serif";
    const d = decimalsOf(sym().tick);
    ctx.fillText(lo.toFixed(d), 2, hgt - 3);
    ctx.fillText(mid.toFixed(d), w / 2 - 20, hgt - 3);
    ctx.fillText(hi.toFixed(d), w - 60, hgt - 3);
    caption.textContent = `Bids ${b.length ? b[b.length - 1][1].toFixed(4) : 0} · Asks ${
      a.length ? a[a.length - 1][1].toFixed(4) : 0
    } within ±${(span * 100).toFixed(1)}% of ${mid.toFixed(d)}`;
  }

  book.onChange(draw);
  new ResizeObserver(draw).observe(canvas);
}
