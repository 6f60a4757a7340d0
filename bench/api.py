"""The public API of ``rialto up`` as a process: signed orders over HTTP, market streams over WS.

A ``rialto up`` (bench/_api_server.py) on a fresh data directory: BTCUSDT, ``--users`` traders
(64) each with a funded account and an HMAC key, and a maker whose 20 price levels a side
(65,000 +- 0.50..10.00, 5 BTC each) are placed over HTTP before anything is measured.

**Orders** (``orders_per_s``, ``p50_ms``/``p99_ms``/``p999_ms``): ``--conns`` (32) HTTP/1.1
keep-alive connections, each a closed loop (one request in flight) in one client process on raw
asyncio streams, signing each request as Binance does (HMAC-SHA256, hex, of the query string
followed by the body; POST parameters in the body, DELETE in the query). A connection trades for
its own users in turn. Each step is, with probability ``--ioc`` (0.1), a crossing LIMIT IOC of
0.001 BTC against the maker (a trade), otherwise a LIMIT GTC of 0.001 BTC 20..100 USDT away from
the mid, behind the maker's levels (it rests), then the cancel of that order by ``orderId``.
Every request is counted: ``orders_per_s`` is answered requests per second in the ``--seconds``
(30; ``--quick`` 8) after a warm-up, the latency is one request's, from writing it to the end of
the answer's body.

The per-IP limit (6,000 weight a minute, ``src/rialto/api/ratelimit.py``) stays on. All loopback
clients would be 127.0.0.1 and be refused after 6,000 requests (about 1 s at the goal), then
banned, so each connection binds its own source address in 127.0.0.0/8 and, when the answer's
``X-MBX-USED-WEIGHT-1M`` passes ``ROTATE_AT``, reconnects from a fresh one (``source_ips``):
like many clients, each within its limit. ``--single-ip`` keeps every connection on 127.0.0.1
and shows the limiter stopping the run (``rate_limited``).

**Streams** (``ws_*``): ``--ws-clients`` (1,000; ``--quick`` 200) WebSocket connections to
``/ws/btcusdt@trade/btcusdt@depth@100ms`` (the ``websockets`` library, no compression), spread
over ``--ws-procs`` client processes (one per 500 clients: 2, ``--quick`` 1), while the main
process sends crossing IOCs at ``--ws-trades`` per second (20; each one trade) on a fixed
schedule over 8 HTTP connections. For ``--seconds`` (after a warm-up) every message is counted
and its latency taken: the client's wall clock at receipt minus the payload's ``E`` (the server's
event time, ms; same machine, so the same clock; ms truncation adds up to 1 ms). ``ws_p99_ms`` is
over all messages; ``ws_trade_p99_ms_from_T`` is the trade messages measured from ``T`` (the
trade's time, before its journal commit); ``ws_ioc_p99_ms`` the latency of those IOCs over HTTP
meanwhile.

``cpu_pct``/``ws_cpu_pct`` give each process's CPU (100 = one core), the whole machine's (200 =
both of 2 cores busy) and ``other`` (the machine's less ours: other work on the machine) during
each measured window, from /proc.

    .venv/bin/python bench/api.py [--quick] [--conns N] [--seconds S] [--ws-clients N]
                                  [--ws-procs P] [--ws-trades R] [--single-ip] [--dir DIR]
                                  [--no-orders] [--no-ws] [--server-cmd CMD]

``--server-cmd`` runs another command line instead of ``python -m rialto.cli up`` (with
``--data-dir`` and ``--port`` appended), to measure a variant of the server.

prints one JSON line. It works in a temporary directory under the current directory (or
``--dir``), removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import multiprocessing as mp
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from array import array
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _api_server

SYMBOL = "BTCUSDT"
MID = 65_000.0
LIMIT_PER_MINUTE = 6000  # the server's per-IP weight limit (RateLimiter's default)
ROTATE_AT = 5000  # a connection moves to a fresh source address past this weight
QTY = "0.0010"
STREAMS = ("btcusdt@trade", "btcusdt@depth@100ms")
WS_PER_PROC = 500  # WebSocket clients a client process holds by default (one holds ~1,000 at
# about 90% of a core here, and its own queueing then adds to the latency measured)
CLK_TCK = os.sysconf("SC_CLK_TCK")


def percentile(sorted_values: Sequence[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(p * len(sorted_values)))]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# --- CPU accounting -------------------------------------------------------------


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy_s() -> float:
    """CPU seconds the whole machine has spent not idle (all cores)."""
    parts = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = parts[3] + parts[4]  # idle + iowait
    return (sum(parts[:8]) - idle) / CLK_TCK


class CpuWindow:
    """CPU percentages (100 = one core) of some processes and the machine over a window."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.t0 = time.monotonic()
        self.start = {name: proc_cpu_s(pid) for name, pid in pids.items()}
        self.busy0 = machine_busy_s()

    def pct(self) -> dict[str, float]:
        elapsed = time.monotonic() - self.t0
        out = {
            name: round(100 * (proc_cpu_s(pid) - self.start[name]) / elapsed, 1)
            for name, pid in self.pids.items()
        }
        out["machine"] = round(100 * (machine_busy_s() - self.busy0) / elapsed, 1)
        out["other"] = round(out["machine"] - sum(out[name] for name in self.pids), 1)
        return out


# --- a signing HTTP/1.1 keep-alive client ------------------------------------------


def source_addresses() -> Iterator[str]:
    """127.0.0.2, 127.0.0.3, ...: loopback addresses a client can bind (Linux routes 127/8)."""
    for n in range(2, 1 << 24):
        if n & 0xFF not in (0, 255):
            yield f"127.{n >> 16}.{(n >> 8) & 0xFF}.{n & 0xFF}"


@dataclass
class Key:
    api_key: str
    secret: bytes


@dataclass
class Stats:
    latencies_ns: list[int] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0
    first_limited_after: int | None = None  # requests answered before the first 429/418
    answered: int = 0
    trades: int = 0
    max_weight: int = 0
    reconnects: int = 0


class Http:
    """One keep-alive connection; ``call`` signs and sends one request and reads its answer."""

    def __init__(self, host: str, port: int, ips: Iterator[str] | None, stats: Stats) -> None:
        self.host, self.port = host, port
        self.ips = ips  # None: connect from 127.0.0.1, never move
        self.stats = stats
        self.writer: asyncio.StreamWriter | None = None
        self.ip = "127.0.0.1"

    async def connect(self) -> None:
        self.close()
        local = None
        if self.ips is not None:
            self.ip = next(self.ips)
            local = (self.ip, 0)
        self.reader, self.writer = await asyncio.open_connection(
            self.host, self.port, local_addr=local
        )

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    async def call(self, method: str, path: str, params: str, key: Key) -> tuple[int, Any]:
        """(HTTP status, parsed JSON body) of a SIGNED request with ``params``."""
        if self.writer is None:
            await self.connect()
            self.stats.reconnects += 1
        assert self.writer is not None
        payload = f"{params}&timestamp={now_ms()}"
        signature = hmac.new(key.secret, payload.encode(), hashlib.sha256).hexdigest()
        signed = f"{payload}&signature={signature}"
        if method == "POST":
            head = (
                f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"X-MBX-APIKEY: {key.api_key}\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {len(signed)}\r\n\r\n{signed}"
            )
        else:
            head = (
                f"{method} {path}?{signed} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"X-MBX-APIKEY: {key.api_key}\r\n\r\n"
            )
        self.writer.write(head.encode())
        raw = await self.reader.readuntil(b"\r\n\r\n")
        status = int(raw[9:12])
        length, weight, close = -1, 0, False
        for line in raw.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"x-mbx-used-weight-1m":
                weight = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        if length < 0:
            raise RuntimeError(f"no Content-Length in {raw!r}")
        body = orjson.loads(await self.reader.readexactly(length))
        stats = self.stats
        stats.max_weight = max(stats.max_weight, weight)
        if status in (418, 429):
            stats.rate_limited += 1
            if stats.first_limited_after is None:
                stats.first_limited_after = stats.answered
        elif status != 200:
            stats.errors[f"{status} {body.get('code')} {body.get('msg')}"] += 1
        stats.answered += 1
        if close or (self.ips is not None and weight >= ROTATE_AT):
            self.close()  # the next call reconnects (from a fresh address)
        return status, body


def order_params(side: str, price: float, tif: str) -> str:
    return (
        f"symbol={SYMBOL}&side={side}&type=LIMIT&timeInForce={tif}&quantity={QTY}&price={price:.2f}"
    )


async def seed_book(http: Http, maker: Key) -> None:
    """The maker's 20 levels a side, 5 BTC each, 0.50 apart from the mid."""
    for k in range(1, 21):
        for side, price in (("BUY", MID - 0.5 * k), ("SELL", MID + 0.5 * k)):
            params = order_params(side, price, "GTC").replace(QTY, "5")
            status, body = await http.call("POST", "/api/v3/order", params, maker)
            if status != 200:
                raise RuntimeError(f"seeding the book: {status} {body}")


# --- orders phase ------------------------------------------------------------------


class OrderLoad:
    def __init__(
        self,
        host: str,
        port: int,
        keys: list[Key],
        conns: int,
        ioc: float,
        single_ip: bool,
        ips: Iterator[str],
    ) -> None:
        self.host, self.port = host, port
        self.keys = keys
        self.conns = conns
        self.ioc = ioc
        self.ips = None if single_ip else ips
        self.stats = Stats()
        self.t_start = self.t_end = 0.0
        self.first_ip: str | None = None

    async def connection(self, c: int) -> None:
        rng = random.Random(c)
        users = self.keys[c :: self.conns]
        http = Http(self.host, self.port, self.ips, self.stats)
        await http.connect()
        stats, clock = self.stats, time.perf_counter_ns
        lat = stats.latencies_ns
        t_start, t_end = int(self.t_start * 1e9), int(self.t_end * 1e9)
        n = 0
        try:
            while True:
                t0 = clock()
                if t0 >= t_end:
                    return
                key = users[n % len(users)]
                n += 1
                side = "BUY" if rng.random() < 0.5 else "SELL"
                if rng.random() < self.ioc:
                    price = MID + 10 if side == "BUY" else MID - 10
                    status, body = await http.call(
                        "POST", "/api/v3/order", order_params(side, price, "IOC"), key
                    )
                    t1 = clock()
                    if t0 >= t_start:
                        lat.append(t1 - t0)
                        stats.kinds["limit_ioc"] += 1
                        if status == 200:
                            stats.trades += len(body.get("fills", ()))
                else:
                    away = rng.randint(200, 1000) / 10
                    price = MID - away if side == "BUY" else MID + away
                    status, body = await http.call(
                        "POST", "/api/v3/order", order_params(side, price, "GTC"), key
                    )
                    t1 = clock()
                    if t0 >= t_start:
                        lat.append(t1 - t0)
                        stats.kinds["limit_gtc"] += 1
                    if status != 200:
                        if status == 418:
                            return  # banned: nothing more will be answered
                        continue
                    params = f"symbol={SYMBOL}&orderId={body['orderId']}"
                    t0 = clock()
                    status, body = await http.call("DELETE", "/api/v3/order", params, key)
                    t1 = clock()
                    if t0 >= t_start:
                        lat.append(t1 - t0)
                        stats.kinds["cancel"] += 1
                if status == 418:
                    return
        finally:
            http.close()

    async def run(self, warmup: float, seconds: float) -> None:
        now = time.perf_counter()
        self.t_start = now + warmup
        self.t_end = self.t_start + seconds
        await asyncio.gather(*(self.connection(c) for c in range(self.conns)))


async def orders_phase(
    server: _api_server.Server, args: argparse.Namespace, ips: Iterator[str]
) -> dict[str, Any]:
    host, port = server.url.removeprefix("http://").split(":")
    keys = [Key(k["api_key"], k["secret"].encode()) for k in server.keys]
    load = OrderLoad(host, int(port), keys, args.conns, args.ioc, args.single_ip, ips)
    warmup = 2.0
    cpu: CpuWindow | None = None

    async def measure_cpu() -> None:
        nonlocal cpu
        await asyncio.sleep(warmup)
        cpu = CpuWindow(server.pids() | {"client": os.getpid()})

    await asyncio.gather(load.run(warmup, args.seconds), measure_cpu())
    assert cpu is not None
    cpu_pct = cpu.pct()
    s = load.stats
    lat = sorted(s.latencies_ns)
    n = len(lat)
    out: dict[str, Any] = {
        "orders": n,
        "orders_per_s": round(n / args.seconds),
        "p50_ms": round(percentile(lat, 0.50) / 1e6, 2),
        "p99_ms": round(percentile(lat, 0.99) / 1e6, 2),
        "p999_ms": round(percentile(lat, 0.999) / 1e6, 2),
        "max_ms": round(lat[-1] / 1e6, 2) if lat else None,
        "mix": dict(s.kinds),
        "trades": s.trades,
        "errors": dict(s.errors),
        "rate_limited": s.rate_limited,
        "first_limited_after": s.first_limited_after,
        "max_used_weight_1m": s.max_weight,
        "source_ips": "127.0.0.1 only" if args.single_ip else args.conns + s.reconnects,
        "cpu_pct": cpu_pct,
    }
    return out


# --- streams phase -------------------------------------------------------------------


def ws_worker(url: str, n: int, pipe: Connection) -> None:
    """A client process: ``n`` WebSocket connections; reports what it received in the window."""
    asyncio.run(_ws_worker(url, n, pipe))


async def _ws_worker(url: str, n: int, pipe: Connection) -> None:
    import websockets  # here: only the client processes need it

    loop = asyncio.get_running_loop()
    window = [float("inf"), float("inf")]  # [start, end] in ms since the epoch
    lat_e = array("d")
    lat_t = array("d")
    kinds: Counter[str] = Counter()
    per_client = [0] * n
    closed: Counter[str] = Counter()

    async def client(i: int, ws: Any) -> None:
        try:
            async for msg in ws:
                now = time.time_ns() / 1e6
                if now < window[0]:
                    continue
                if now > window[1]:
                    return
                d = orjson.loads(msg)
                kind = d.get("e")
                kinds[kind] += 1
                per_client[i] += 1
                lat_e.append(now - d["E"])
                if kind == "trade":
                    lat_t.append(now - d["T"])
        except websockets.ConnectionClosed as exc:
            closed[str(exc.rcvd.code if exc.rcvd else "none")] += 1

    conns: list[Any] = []
    t0 = time.perf_counter()
    for first in range(0, n, 50):
        batch = range(first, min(n, first + 50))
        conns += await asyncio.gather(
            *(
                websockets.connect(url, compression=None, ping_interval=None, max_queue=None)
                for _ in batch
            )
        )
    connect_s = time.perf_counter() - t0
    tasks = [asyncio.create_task(client(i, ws)) for i, ws in enumerate(conns)]
    pipe.send(("connected", n, round(connect_s, 2)))
    start, end = await loop.run_in_executor(None, pipe.recv)
    window[:] = [start, end]
    await asyncio.sleep(max(0.0, start / 1000 - time.time()))
    cpu0 = time.process_time()
    await asyncio.sleep(max(0.0, end / 1000 - time.time()))
    cpu_s = time.process_time() - cpu0
    await asyncio.sleep(0.2)  # what is still in the socket buffers but was sent in the window
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.gather(*(ws.close() for ws in conns), return_exceptions=True)
    pipe.send(
        {
            "kinds": dict(kinds),
            "per_client": per_client,
            "closed": dict(closed),
            "cpu_s": cpu_s,
            "lat_e": lat_e.tobytes(),
            "lat_t": lat_t.tobytes(),
        }
    )


DRIVER_CONNS = 8  # so that one slow answer does not hold the schedule up


async def pace_trades(
    http: Http, key: Key, due: Iterator[float], window: tuple[float, float], stats: Stats
) -> None:
    """Crossing IOCs at the times ``due`` (seconds since the epoch); trades and latency of those
    sent in ``window`` are counted."""
    buy = True
    for t in due:
        await asyncio.sleep(max(0.0, t - time.time()))
        side, price = ("BUY", MID + 10) if buy else ("SELL", MID - 10)
        buy = not buy
        sent = time.time()
        t0 = time.perf_counter_ns()
        status, body = await http.call(
            "POST", "/api/v3/order", order_params(side, price, "IOC"), key
        )
        if window[0] <= sent < window[1]:
            stats.latencies_ns.append(time.perf_counter_ns() - t0)
            if status == 200:
                stats.trades += len(body.get("fills", ()))


async def drive_trades(
    server: _api_server.Server,
    rate: float,
    drive_start: float,
    window: tuple[float, float],
    ips: Iterator[str],
) -> Stats:
    """``rate`` crossing IOCs a second from ``drive_start`` to the end of ``window``, spread
    round-robin over ``DRIVER_CONNS`` connections."""
    host, port = server.url.removeprefix("http://").split(":")
    stats = Stats()
    keys = [Key(k["api_key"], k["secret"].encode()) for k in server.keys[:DRIVER_CONNS]]
    https = [Http(host, int(port), ips, stats) for _ in keys]
    total = int((window[1] - drive_start) * rate)
    for h in https:
        await h.connect()
    try:
        await asyncio.gather(
            *(
                pace_trades(
                    h,
                    key,
                    (drive_start + k / rate for k in range(i, total, len(https))),
                    window,
                    stats,
                )
                for i, (h, key) in enumerate(zip(https, keys, strict=True))
            )
        )
    finally:
        for h in https:
            h.close()
    return stats


def streams_phase(
    server: _api_server.Server, args: argparse.Namespace, ips: Iterator[str]
) -> dict[str, Any]:
    url = server.url.replace("http://", "ws://") + "/ws/" + "/".join(STREAMS)
    ctx = mp.get_context("spawn")
    procs: list[tuple[Any, Connection]] = []
    sizes = [
        args.ws_clients // args.ws_procs + (i < args.ws_clients % args.ws_procs)
        for i in range(args.ws_procs)
    ]
    try:
        for n in sizes:
            mine, theirs = ctx.Pipe()
            p = ctx.Process(target=ws_worker, args=(url, n, theirs), daemon=True)
            p.start()
            procs.append((p, mine))
        connect_s = []
        for _, pipe in procs:
            if not pipe.poll(120):
                raise RuntimeError("a WebSocket client process did not connect in 120 s")
            _, _, seconds = pipe.recv()
            connect_s.append(seconds)
        warmup = 2.0
        drive_start = time.time() + 0.5
        start = drive_start + warmup
        end = start + args.seconds
        for _, pipe in procs:
            pipe.send((start * 1000, end * 1000))
        pids = server.pids() | {"driver": os.getpid()}
        pids |= {f"ws_client{i}": p.pid for i, (p, _) in enumerate(procs)}

        async def drive() -> tuple[Stats, dict[str, float]]:
            task = asyncio.create_task(
                drive_trades(server, args.ws_trades, drive_start, (start, end), ips)
            )
            await asyncio.sleep(max(0.0, start - time.time()))
            cpu = CpuWindow(pids)
            await asyncio.sleep(max(0.0, end - time.time()))
            pct = cpu.pct()
            return await task, pct

        trade_stats, cpu_pct = asyncio.run(drive())
        results = []
        for p, pipe in procs:
            if not pipe.poll(120):
                raise RuntimeError("a WebSocket client process did not report in 120 s")
            results.append(pipe.recv())
            p.join(10)
    finally:
        for p, _ in procs:
            if p.is_alive():
                p.kill()
    kinds: Counter[str] = Counter()
    closed: Counter[str] = Counter()
    per_client: list[int] = []
    lat_e, lat_t = array("d"), array("d")
    for r in results:
        kinds.update(r["kinds"])
        closed.update(r["closed"])
        per_client += r["per_client"]
        lat_e.frombytes(r["lat_e"])
        lat_t.frombytes(r["lat_t"])
    le, lt = sorted(lat_e), sorted(lat_t)
    ioc = sorted(trade_stats.latencies_ns)
    total = sum(kinds.values())
    return {
        "ws_clients": args.ws_clients,
        "ws_procs": args.ws_procs,
        "ws_connect_s": connect_s,
        "ws_msgs": total,
        "ws_msgs_per_s": round(total / args.seconds),
        "ws_msgs_by_kind": dict(kinds),
        "ws_msgs_per_client_s": {
            k: round(v / args.ws_clients / args.seconds, 2) for k, v in kinds.items()
        },
        "ws_p50_ms": round(percentile(le, 0.50), 1),
        "ws_p99_ms": round(percentile(le, 0.99), 1),
        "ws_p999_ms": round(percentile(le, 0.999), 1),
        "ws_max_ms": round(le[-1], 1) if le else None,
        "ws_trade_p50_ms_from_T": round(percentile(lt, 0.50), 1),
        "ws_trade_p99_ms_from_T": round(percentile(lt, 0.99), 1),
        "ws_msgs_per_client_min_max": [min(per_client), max(per_client)],
        "ws_closed_by_server": dict(closed),
        "ws_trades_per_s": round(trade_stats.trades / args.seconds, 1),
        "ws_trade_errors": dict(trade_stats.errors),
        "ws_ioc_p50_ms": round(percentile(ioc, 0.50) / 1e6, 1),
        "ws_ioc_p99_ms": round(percentile(ioc, 0.99) / 1e6, 1),
        "ws_cpu_pct": cpu_pct,
        "ws_client_cpu_s": [round(r["cpu_s"], 2) for r in results],
    }


# --- main ------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="8 s windows, 200 WS clients")
    parser.add_argument("--conns", type=int, default=32, help="HTTP connections (32)")
    parser.add_argument("--users", type=int, default=64, help="trader accounts (64)")
    parser.add_argument("--ioc", type=float, default=0.1, help="share of crossing IOCs (0.1)")
    parser.add_argument("--seconds", type=float, default=None, help="each window (30; quick 8)")
    parser.add_argument("--ws-clients", type=int, default=None, help="(1000; quick 200)")
    parser.add_argument(
        "--ws-procs", type=int, default=None, help="WS client processes (one per 500 clients)"
    )
    parser.add_argument("--ws-trades", type=float, default=20.0, help="trades/s in the WS window")
    parser.add_argument("--single-ip", action="store_true", help="all HTTP from 127.0.0.1")
    parser.add_argument("--no-orders", action="store_true", help="skip the orders phase")
    parser.add_argument("--no-ws", action="store_true", help="skip the streams phase")
    parser.add_argument(
        "--server-cmd", default=None, help="run this instead of 'python -m rialto.cli up'"
    )
    parser.add_argument(
        "--gateways", type=int, default=0,
        help="N `rialto serve gateway` processes on one port before a `rialto up --bus` core",
    )  # fmt: skip
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    if args.users < max(args.conns, DRIVER_CONNS):
        parser.error(f"--users must be at least --conns and {DRIVER_CONNS} (one user a connection)")
    args.seconds = args.seconds or (8.0 if args.quick else 30.0)
    args.ws_clients = args.ws_clients or (200 if args.quick else 1000)
    args.ws_procs = args.ws_procs or -(-args.ws_clients // WS_PER_PROC)
    load = os.getloadavg()
    base = Path(tempfile.mkdtemp(prefix=".bench-api-", dir=args.dir or Path.cwd()))
    server = None
    mode = f"rialto up --bus + {args.gateways} gateways" if args.gateways else "rialto up"
    result: dict[str, Any] = {"bench": "api", "mode": mode, "quick": args.quick}
    try:
        t0 = time.perf_counter()
        cmd = args.server_cmd.split() if args.server_cmd else None
        server = _api_server.start(base / "data", args.users, cmd, args.gateways)
        result["setup_s"] = round(time.perf_counter() - t0, 1)
        ips = source_addresses()
        maker = Key(server.maker["api_key"], server.maker["secret"].encode())
        host, port = server.url.removeprefix("http://").split(":")

        async def seed() -> None:
            http = Http(host, int(port), ips, Stats())
            await http.connect()
            try:
                await seed_book(http, maker)
            finally:
                http.close()

        asyncio.run(seed())
        result |= {"conns": args.conns, "users": args.users, "seconds": args.seconds}
        if not args.no_orders:
            result |= asyncio.run(orders_phase(server, args, ips))
        if not args.no_ws:
            result |= streams_phase(server, args, ips)
    finally:
        if server is not None:
            _api_server.stop(server)
            errors = [line for line in server.log().splitlines() if "Traceback" in line]
            result["server_tracebacks"] = len(errors)
        shutil.rmtree(base, ignore_errors=True)
    result |= {
        "rate_limit_per_ip": LIMIT_PER_MINUTE,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in load],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
