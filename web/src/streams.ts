// WebSocket streams: one combined market-stream connection with live SUBSCRIBE/UNSUBSCRIBE,
// and the user's data stream by a listenKey obtained with the session. Both reconnect.

import { trade } from "./api";

type Handler = (data: any) => void;

function wsUrl(path: string): string {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${location.host}${path}`;
}

export class MarketStreams {
  private ws: WebSocket | null = null;
  private handlers = new Map<string, Handler>();
  private onOpen = new Set<() => void>();
  private nextId = 1;
  private retry = 500;

  constructor() {
    this.connect();
  }

  /** Calls `fn` with each payload of `stream` until `unsubscribe`. */
  subscribe(stream: string, fn: Handler): void {
    this.handlers.set(stream, fn);
    this.request("SUBSCRIBE", [stream]);
  }

  unsubscribe(stream: string): void {
    if (!this.handlers.delete(stream)) return;
    this.request("UNSUBSCRIBE", [stream]);
  }

  /** Runs `fn` after every (re)connection, when the snapshot a view holds may be stale. */
  whenOpen(fn: () => void): void {
    this.onOpen.add(fn);
  }

  private request(method: string, params: string[]): void {
    if (this.ws?.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ method, params, id: this.nextId++ }));
    }
  }

  private connect(): void {
    const ws = new WebSocket(wsUrl("/stream"));
    this.ws = ws;
    ws.onopen = () => {
      this.retry = 500;
      if (this.handlers.size) this.request("SUBSCRIBE", [...this.handlers.keys()]);
      for (const fn of this.onOpen) fn();
    };
    ws.onmessage = (m) => {
      const msg = JSON.parse(String(m.data));
      if (msg.stream === undefined) return; // an acknowledgement
      this.handlers.get(msg.stream)?.(msg.data);
    };
    ws.onclose = () => {
      this.ws = null;
      setTimeout(() => this.connect(), this.retry);
      this.retry = Math.min(this.retry * 2, 10_000);
    };
  }
}

/** The logged-in user's executionReport / outboundAccountPosition events. */
export class UserStream {
  private ws: WebSocket | null = null;
  private key = "";
  private keepAlive = 0;
  private closed = false;

  constructor(private readonly onEvent: Handler) {
    void this.connect();
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    try {
      const r = await trade<{ listenKey: string }>("POST", "listenKey");
      this.key = r.listenKey;
    } catch {
      if (!this.closed) setTimeout(() => void this.connect(), 3000);
      return;
    }
    if (this.closed) return;
    const ws = new WebSocket(wsUrl(`/ws/${this.key}`));
    this.ws = ws;
    ws.onmessage = (m) => this.onEvent(JSON.parse(String(m.data)));
    ws.onopen = () => this.onEvent({ e: "open" });
    ws.onclose = () => {
      this.ws = null;
      if (!this.closed) setTimeout(() => void this.connect(), 2000);
    };
    window.clearInterval(this.keepAlive);
    this.keepAlive = window.setInterval(
      () => void trade("PUT", "listenKey", { listenKey: this.key }).catch(() => undefined),
      30 * 60 * 1000,
    );
  }

  close(): void {
    this.closed = true;
    window.clearInterval(this.keepAlive);
    this.ws?.close();
  }
}
