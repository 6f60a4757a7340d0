"""Market streams over WebSocket: ``/ws``, ``/ws/<streams>``, ``/stream?streams=a/b``.

The hub is fed the durable outcomes (through the market-data read model) and fans each
update out to the connections subscribed to its streams. Trades and book tickers go out
at once; depth diffs are merged per symbol and sent every 100 ms (``@depth@100ms``) and
every second (``@depth``), contiguous in ``U``/``u``; partial books, klines and tickers of
the symbols that changed go out every second. Each connection has a bounded queue: a
consumer that falls that far behind is disconnected (close code 1008), never allowed to
hold the others up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from rialto.api import errors, streams
from rialto.api.errors import ApiError
from rialto.api.signing import KeyCheck, check_timestamp, ws_api_payload
from rialto.api.streams import Stream
from rialto.api.userdata import UserData
from rialto.api.wsframes import Flusher, raw_socket, text_frame
from rialto.domain.exchange import Outcome
from rialto.domain.instruments import Instrument
from rialto.marketdata import Candle, DepthUpdate, KlineTick, MarketData, TradeTick

log = logging.getLogger("rialto.ws")
QUEUE_LIMIT = 2000  # messages a connection may have waiting before it is dropped
# Bytes the kernel has not taken yet on a ready-made-frames connection before it is dropped.
RAW_BUFFER_LIMIT = int(os.environ.get("RIALTO_WS_MAX_BUFFER", str(1 << 20)))
MAX_STREAMS = 1024


def _now() -> int:
    return time.time_ns() // 1_000_000


class _Merged:
    """Depth diffs of one symbol merged over an interval: first U, last u, final levels."""

    def __init__(self, u: DepthUpdate) -> None:
        self.symbol = u.symbol
        self.first, self.last = u.first_id, u.last_id
        self.bids = dict(u.bids)
        self.asks = dict(u.asks)

    def add(self, u: DepthUpdate) -> None:
        self.last = u.last_id
        self.bids.update(u.bids)
        self.asks.update(u.asks)

    def update(self) -> DepthUpdate:
        return DepthUpdate(
            self.symbol,
            0,
            self.first,
            self.last,
            sorted(self.bids.items(), reverse=True),
            sorted(self.asks.items()),
        )


class Client:
    """One WebSocket connection. Messages go out as ready-made frames when the server
    allows (:mod:`rialto.api.wsframes`), else through a queue and ASGI."""

    def __init__(self, ws: WebSocket, combined: bool, flusher: Flusher) -> None:
        self.ws = ws
        self.flusher = flusher
        self.combined = combined
        self.streams: set[str] = set()
        self.queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_LIMIT)
        self.dropped = asyncio.Event()
        self.raw = raw_socket(ws.scope, RAW_BUFFER_LIMIT)

    def put(self, text: str) -> None:
        self.put_frame(text, None)

    def put_frame(self, text: str, frame: bytes | None) -> None:
        """Send ``text``; ``frame`` is its ready-made frame when the caller has one."""
        if self.dropped.is_set():
            return
        raw = self.raw
        if raw is not None:
            if raw.add(frame or text_frame(text.encode())):
                self.flusher.mark(self._flush)
            return
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.dropped.set()  # a slow consumer: disconnected by its own task

    def _flush(self) -> None:
        if self.raw is not None and not self.raw.flush():
            self.dropped.set()


class Hub:
    def __init__(
        self,
        market: MarketData,
        instrument_of: Callable[[str], Instrument],
        known: Callable[[], set[str]],
        userdata: UserData | None = None,
        keys: KeyCheck | None = None,
    ) -> None:
        self.market = market
        self.userdata = userdata
        self.keys = keys
        # user id -> (client, subscription id; None for a listenKey stream, with its key)
        self.user_subs: dict[int, dict[Client, tuple[int | None, str]]] = {}
        self.instrument_of = instrument_of
        self.known = known
        self.subs: dict[str, set[Client]] = {}
        self.parsed: dict[str, Stream] = {}
        self._fast: dict[str, _Merged] = {}
        self._slow: dict[str, _Merged] = {}
        self._changed: set[str] = set()
        self._klines: dict[tuple[str, str], Candle] = {}
        self.clients = 0
        self.dropped = 0
        self.flusher = Flusher()

    # --- feeding -----------------------------------------------------------

    def on_outcomes(self, outcomes: list[Outcome]) -> None:
        self._market_outcomes(outcomes)
        if self.userdata is not None:
            for ev in self.userdata.events(outcomes, self.user_subs.__contains__):
                subs = self.user_subs.get(ev.user_id)
                if subs:
                    self._emit_user(subs, ev.payload)

    def _emit_user(self, subs: dict[Client, tuple[int | None, str]], payload: Any) -> None:
        for client, (sub_id, key) in list(subs.items()):
            if sub_id is not None:
                client.put(orjson.dumps({"subscriptionId": sub_id, "event": payload}).decode())
            elif client.combined:
                client.put(orjson.dumps({"stream": key, "data": payload}).decode())
            else:
                client.put(orjson.dumps(payload).decode())

    def _market_outcomes(self, outcomes: list[Outcome]) -> None:
        for o in outcomes:
            for u in self.market.apply(o):
                t = type(u)
                if t is TradeTick:
                    self._trade(u)  # type: ignore[arg-type]
                elif t is DepthUpdate:
                    self._depth(u)  # type: ignore[arg-type]
                elif t is KlineTick:
                    k: KlineTick = u  # type: ignore[assignment]
                    self._klines[(k.symbol, k.interval)] = k.candle
                else:  # a StatusChange: at once, on <symbol>@status
                    name, payload = streams.market_status(u, _now())  # type: ignore[arg-type]
                    if name in self.subs:
                        self._emit(name, payload)

    def _trade(self, t: TradeTick) -> None:
        lower = t.symbol.lower()
        self._changed.add(t.symbol)
        name = f"{lower}@trade"
        if name in self.subs:
            self._emit(name, streams.trade(self.instrument_of(t.symbol), t, _now()))
        name = f"{lower}@aggTrade"
        if name in self.subs:
            self._emit(name, streams.agg_trade(self.instrument_of(t.symbol), t, _now()))

    def _depth(self, u: DepthUpdate) -> None:
        for acc in (self._fast, self._slow):
            merged = acc.get(u.symbol)
            if merged is None:
                acc[u.symbol] = _Merged(u)
            else:
                merged.add(u)
        self._changed.add(u.symbol)
        name = f"{u.symbol.lower()}@bookTicker"
        if name in self.subs:
            book = self.market.book_ticker(u.symbol)
            self._emit(name, streams.book_ticker(self.instrument_of(u.symbol), book))

    # --- timed streams -------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        tick, start = 0, loop.time()
        while True:
            tick += 1  # a fixed 100 ms schedule, however long each flush takes
            await asyncio.sleep(max(0.0, start + tick * 0.1 - loop.time()))
            try:
                self._flush_depth(self._fast, "@depth@100ms")
                self._flush_partial(fast=True)
                if tick % 10 == 0:
                    self._flush_depth(self._slow, "@depth")
                    self._flush_partial(fast=False)
                    self._flush_second()
            except Exception:  # a formatting bug must not stop the streams
                log.exception("stream flush failed")

    def _flush_depth(self, acc: dict[str, _Merged], suffix: str) -> None:
        merged = list(acc.values())
        acc.clear()
        now = _now()
        for m in merged:
            name = f"{m.symbol.lower()}{suffix}"
            if name in self.subs:
                u = m.update()
                self._emit(name, streams.depth_update(self.instrument_of(m.symbol), u, now))

    def _flush_partial(self, fast: bool) -> None:
        for name, stream in list(self.parsed.items()):
            if stream.kind != "depthN" or stream.fast != fast or name not in self.subs:
                continue
            update_id, bids, asks = self.market.depth(stream.symbol, stream.levels)
            payload = streams.partial_depth(
                self.instrument_of(stream.symbol), update_id, bids, asks
            )
            self._emit(name, payload)

    def _flush_second(self) -> None:
        now = _now()
        changed, self._changed = self._changed, set()
        klines, self._klines = self._klines, {}
        for (symbol, interval), candle in klines.items():
            name = f"{symbol.lower()}@kline_{interval}"
            if name in self.subs:
                self._emit(name, streams.kline(self.instrument_of(symbol), interval, candle, now))
        minis = []
        for symbol in sorted(changed):
            lower = symbol.lower()
            ins = self.instrument_of(symbol)
            t = self.market.ticker_24h(symbol, self.market.now(symbol, now))
            mini = streams.mini_ticker(ins, t, now)
            minis.append(mini)
            if f"{lower}@miniTicker" in self.subs:
                self._emit(f"{lower}@miniTicker", mini)
            if f"{lower}@ticker" in self.subs:
                book = self.market.book_ticker(symbol)
                self._emit(f"{lower}@ticker", streams.ticker(ins, t, book, now))
        if minis and streams.ALL_MINI_TICKERS in self.subs:
            self._emit(streams.ALL_MINI_TICKERS, minis)

    def _emit(self, name: str, payload: Any) -> None:
        # Each form is encoded and framed once, whatever the number of subscribers.
        forms: dict[bool, tuple[str, bytes]] = {}
        for client in list(self.subs.get(name, ())):
            form = forms.get(client.combined)
            if form is None:
                body = {"stream": name, "data": payload} if client.combined else payload
                data = orjson.dumps(body)
                form = forms[client.combined] = (data.decode(), text_frame(data))
            client.put_frame(*form)

    # --- connections -----------------------------------------------------------

    def _subscribe(self, client: Client, names: list[str]) -> str | None:
        known = self.known()
        for name in names:
            if not isinstance(name, str) or streams.parse(name, known) is None:
                return f"Invalid request: unknown stream {name!r}"
        if len(client.streams | set(names)) > MAX_STREAMS:
            return f"Invalid request: more than {MAX_STREAMS} streams"
        for name in names:
            stream = streams.parse(name, known)
            assert stream is not None
            self.parsed[name] = stream
            self.subs.setdefault(name, set()).add(client)
            client.streams.add(name)
        return None

    def _unsubscribe(self, client: Client, names: list[str]) -> None:
        for name in names:
            client.streams.discard(name)
            subs = self.subs.get(name)
            if subs is not None:
                subs.discard(client)
                if not subs:
                    del self.subs[name]
                    self.parsed.pop(name, None)

    async def serve(self, ws: WebSocket, initial: list[str], combined: bool) -> None:
        await ws.accept()
        client = Client(ws, combined, self.flusher)
        names = [n for n in initial if "@" in n or n.startswith("!")]
        for key in initial:  # a listenKey; anything else (ccxt.pro's /ws/0, /ws/1...) is a name
            user = await self.userdata.listen_key_user(key, _now()) if self.userdata else None
            if user is not None:
                self.user_subs.setdefault(user, {})[client] = (None, key)
        error = self._subscribe(client, names)
        if error is not None:
            await ws.send_text(orjson.dumps({"error": {"code": 2, "msg": error}}).decode())
            await ws.close(code=1008)
            return
        self.clients += 1
        sender = asyncio.create_task(self._send(client))
        receiver = asyncio.create_task(self._receive(client))
        dropped = asyncio.create_task(client.dropped.wait())
        try:
            await asyncio.wait({sender, receiver, dropped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (sender, receiver, dropped):
                t.cancel()
            await asyncio.gather(sender, receiver, dropped, return_exceptions=True)
            self._unsubscribe(client, list(client.streams))
            self._drop_user(client)
            self.clients -= 1
            if client.dropped.is_set():
                self.dropped += 1
                with contextlib.suppress(Exception):
                    await ws.close(code=1008, reason="slow consumer")

    def _drop_user(self, client: Client, sub_id: int | None = None) -> bool:
        found = False
        for user, subs in list(self.user_subs.items()):
            entry = subs.get(client)
            if entry is not None and (sub_id is None or entry[0] == sub_id):
                del subs[client]
                found = True
                if not subs:
                    del self.user_subs[user]
        return found

    async def _send(self, client: Client) -> None:
        if client.raw is not None:  # put() writes; nothing to do but wait for the end
            await asyncio.Event().wait()
        while True:
            text = await client.queue.get()
            await client.ws.send_text(text)

    async def _receive(self, client: Client) -> None:
        try:
            while True:
                text = await client.ws.receive_text()
                reply = self._control(client, text)
                client.put(orjson.dumps(reply).decode())
        except (WebSocketDisconnect, RuntimeError):
            return

    def _control(self, client: Client, text: str) -> dict[str, Any]:
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError:
            return {"error": {"code": 3, "msg": "Invalid JSON: expected value at line 1 column 1"}}
        if not isinstance(msg, dict):
            return {"error": {"code": 3, "msg": "Invalid JSON: expected an object"}}
        rid = msg.get("id")
        method, params = msg.get("method"), msg.get("params", [])
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list):
                return _error("Invalid request: params must be a list", rid)
            if method == "SUBSCRIBE":
                error = self._subscribe(client, params)
                if error is not None:
                    return _error(error, rid)
            else:
                self._unsubscribe(client, [p for p in params if isinstance(p, str)])
            return {"result": None, "id": rid}
        if method == "LIST_SUBSCRIPTIONS":
            return {"result": sorted(client.streams), "id": rid}
        combined = params[1] if isinstance(params, list) and len(params) == 2 else None
        if method == "SET_PROPERTY" and params[0] == "combined" and isinstance(combined, bool):
            client.combined = combined
            return {"result": None, "id": rid}
        if method == "GET_PROPERTY" and params == ["combined"]:
            return {"result": client.combined, "id": rid}
        return _error(f"Invalid request: unknown method {method!r}", rid)


def _error(msg: str, rid: Any, code: int = 2) -> dict[str, Any]:
    return {"error": {"code": code, "msg": msg}, "id": rid}


class WsApi:
    """The WebSocket API's user data methods (``/ws-api/v3``), JSON-RPC style as Binance."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def serve(self, ws: WebSocket) -> None:
        await ws.accept()
        client = Client(ws, False, self.hub.flusher)
        self.hub.clients += 1
        next_id = [0]

        async def receive() -> None:
            try:
                while True:
                    text = await ws.receive_text()
                    client.put(orjson.dumps(self._call(client, text, next_id, ws)).decode())
            except (WebSocketDisconnect, RuntimeError):
                return

        sender = asyncio.create_task(self.hub._send(client))
        receiver = asyncio.create_task(receive())
        dropped = asyncio.create_task(client.dropped.wait())
        try:
            await asyncio.wait({sender, receiver, dropped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (sender, receiver, dropped):
                t.cancel()
            await asyncio.gather(sender, receiver, dropped, return_exceptions=True)
            self.hub._drop_user(client)
            self.hub.clients -= 1

    def _call(self, client: Client, text: str, next_id: list[int], ws: WebSocket) -> Any:
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError:
            return _api_error(None, -1000, "Malformed request.")
        if not isinstance(msg, dict):
            return _api_error(None, -1000, "Malformed request.")
        rid, method, params = msg.get("id"), msg.get("method"), msg.get("params") or {}
        if not isinstance(params, dict):
            return _api_error(rid, -1000, "Malformed request.")
        if method == "ping":
            return {"id": rid, "status": 200, "result": {}}
        if method == "time":
            return {"id": rid, "status": 200, "result": {"serverTime": _now()}}
        if method == "userDataStream.subscribe.signature":
            try:
                user = self._authorize(params, ws)
            except ApiError as exc:
                return _api_error(rid, exc.code, exc.msg, exc.status)
            sub_id = next_id[0]
            next_id[0] += 1
            self.hub.user_subs.setdefault(user, {})[client] = (sub_id, "")
            return {"id": rid, "status": 200, "result": {"subscriptionId": sub_id}}
        if method == "userDataStream.unsubscribe":
            sub = params.get("subscriptionId")
            if not isinstance(sub, int) or not self.hub._drop_user(client, sub):
                return _api_error(rid, -2036, "No subscription with that id is active.")
            return {"id": rid, "status": 200, "result": {}}
        if method == "session.subscriptions":
            ids = [
                {"subscriptionId": entry[0]}
                for subs in self.hub.user_subs.values()
                for c, entry in subs.items()
                if c is client and entry[0] is not None
            ]
            return {"id": rid, "status": 200, "result": ids}
        return _api_error(rid, -1000, f"Unknown method {method!r}.")

    def _authorize(self, params: dict[str, Any], ws: WebSocket) -> int:
        if self.hub.keys is None:
            raise errors.rejected_key()
        signature = params.get("signature")
        if not isinstance(signature, str):
            raise errors.mandatory_missing("signature")
        key = self.hub.keys.signed(
            str(params.get("apiKey", "")),
            ws_api_payload(params),
            signature,
            ws.client.host if ws.client else "",
            "read",
        )
        check_timestamp({k: str(v) for k, v in params.items()}, _now())
        return key.user_id


def _api_error(rid: Any, code: int, msg: str, status: int = 400) -> dict[str, Any]:
    return {"id": rid, "status": status, "error": {"code": code, "msg": msg}}
