"""The Binance-Spot-compatible REST API under ``/api/v3`` (Starlette).

Every answer is JSON; every error is ``{"code": -N, "msg": "..."}`` with Binance's code,
wording and HTTP status. Nothing raises past a handler: an unexpected exception is
logged and answered with -1000, never a traceback. Each response carries
``X-MBX-USED-WEIGHT-1M``; over the per-IP weight limit the answer is 429, then 418.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from rialto.api import errors, openapi, views, webapp
from rialto.api.errors import ApiError
from rialto.api.gateway import Gateway, now_ms
from rialto.api.marketcache import LEVELS, SharedMarket, ticker_view
from rialto.api.params import Params
from rialto.api.people import People
from rialto.api.ratelimit import ORDER_COUNT_HEADER, Limits, MemoryStore
from rialto.api.sessions import Sessions, SessionStore, Throttle
from rialto.api.signing import check_timestamp, signed_payload
from rialto.api.userdata import UserData
from rialto.api.ws import Hub, WsApi
from rialto.domain.users import ApiKey
from rialto.marketdata import KLINE_INTERVALS

log = logging.getLogger("rialto.api")
Handler = Callable[[Request, Params], Awaitable[Any]]
SignedHandler = Callable[[Request, Params, ApiKey], Awaitable[Any]]


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _ip(request: Request) -> str:
    return request.client.host if request.client else ""


class Api:
    def __init__(
        self,
        gateway: Gateway,
        limits: Limits,
        userdata: UserData | None = None,
        shared: SharedMarket | None = None,
    ) -> None:
        self.g = gateway
        self.shared = shared
        self.userdata = userdata
        self._openapi = openapi.document()
        self.limiter = limits.weight
        self.orders = limits.orders
        self._rate_limits = limits.rate_limits()

    async def _respond(
        self, request: Request, weight: int, body: Any, status: int = 200
    ) -> Response:
        usage = await self.limiter.hit(_ip(request), weight, now_ms())
        error = self.limiter.error(usage)
        if error is not None:
            return JSON(error.body(), error.status, {**usage.headers(), **error.headers()})
        headers = usage.headers()
        count = getattr(request.state, "order_count", None)
        if count is not None:
            headers[ORDER_COUNT_HEADER] = str(count)
        return JSON(body, status, headers)

    async def count_order(self, request: Request, user_id: int) -> None:
        """Binance's per-account ORDERS limit (-1015), shared by every gateway."""
        count, error = await self.orders.hit(user_id, now_ms())
        request.state.order_count = count
        if error is not None:
            raise error

    def guarded(
        self, answer: Callable[[Request], Awaitable[Any]], weight: int
    ) -> Callable[[Request], Awaitable[Response]]:
        """An endpoint that turns every failure into Binance's error body, never a 500."""

        async def endpoint(request: Request) -> Response:
            try:
                body = await answer(request)
            except ApiError as exc:
                return await self._error(request, exc, weight)
            except Exception:
                log.exception("%s %s failed", request.method, request.url.path)
                return await self._error(request, errors.unknown(), weight)
            return await self._respond(request, weight, body)

        return endpoint

    def public(self, handler: Handler, weight: int = 1) -> Callable[[Request], Awaitable[Response]]:
        async def answer(request: Request) -> Any:
            return await handler(request, Params(request.url.query.encode(), await request.body()))

        return self.guarded(answer, weight)

    def signed(
        self, handler: SignedHandler, needed: str, weight: int = 1
    ) -> Callable[[Request], Awaitable[Response]]:
        async def answer(request: Request) -> Any:
            raw_query = request.scope.get("query_string", b"")
            raw_body = await request.body()
            params = Params(raw_query, raw_body)
            payload, signature = signed_payload(raw_query, raw_body)
            key = self.g.keys.signed(
                request.headers.get("x-mbx-apikey"), payload, signature, _ip(request), needed
            )
            check_timestamp(params.values, now_ms())
            return await handler(request, params, key)

        return self.guarded(answer, weight)

    def keyed(
        self, handler: SignedHandler, weight: int = 2
    ) -> Callable[[Request], Awaitable[Response]]:
        """USER_STREAM endpoints: an API key, no signature."""

        async def answer(request: Request) -> Any:
            params = Params(request.scope.get("query_string", b""), await request.body())
            key = self.g.keys.unsigned(request.headers.get("x-mbx-apikey"), _ip(request))
            return await handler(request, params, key)

        return self.guarded(answer, weight)

    async def _error(self, request: Request, exc: ApiError, weight: int) -> Response:
        usage = await self.limiter.hit(_ip(request), weight, now_ms())
        return JSON(exc.body(), exc.status, {**usage.headers(), **exc.headers()})

    # --- public ---------------------------------------------------------------

    async def ping(self, request: Request, p: Params) -> Any:
        return {}

    async def time(self, request: Request, p: Params) -> Any:
        return {"serverTime": now_ms()}

    async def exchange_info(self, request: Request, p: Params) -> Any:
        return self.g.exchange_info(p, self._rate_limits)

    async def _shared(self, symbol: str) -> dict[str, Any] | None:
        """The shared snapshot of ``symbol`` (gateway mode), else None: answer locally."""
        return None if self.shared is None else await self.shared.read(symbol)

    async def depth(self, request: Request, p: Params) -> Any:
        symbol = p.need("symbol")
        ins = self.g.instrument(symbol)
        limit = p.limit(100, 5000)
        snap = await self._shared(symbol) if limit <= LEVELS else None
        if snap is not None:
            d = snap["depth"]
            return d | {"bids": d["bids"][:limit], "asks": d["asks"][:limit]}
        update_id, bids, asks = self.g.market.depth(symbol, limit)
        return {
            "lastUpdateId": update_id,
            "bids": views.levels(ins, bids),
            "asks": views.levels(ins, asks),
        }

    async def trades(self, request: Request, p: Params) -> Any:
        symbol = p.need("symbol")
        ins = self.g.instrument(symbol)
        ticks = self.g.market.trades(symbol, p.limit(500, 1000), p.integer("fromId"))
        return [views.trade(ins, t) for t in ticks]

    async def agg_trades(self, request: Request, p: Params) -> Any:
        symbol = p.need("symbol")
        ins = self.g.instrument(symbol)
        start, end = p.integer("startTime"), p.integer("endTime")
        if start is not None and end is not None and end - start > 3_600_000:
            raise errors.more_than_hours(1)
        ticks = self.g.market.agg_trades(
            symbol, p.integer("fromId"), start, end, p.limit(500, 1000)
        )
        return [views.agg_trade(ins, t) for t in ticks]

    async def klines(self, request: Request, p: Params) -> Any:
        symbol = p.need("symbol")
        ins = self.g.instrument(symbol)
        interval = p.need("interval")
        if interval not in KLINE_INTERVALS:
            raise errors.invalid_interval()
        candles = self.g.market.klines(
            symbol,
            interval,
            p.integer("startTime"),
            p.integer("endTime"),
            p.limit(500, 1000),
            now_ms=now_ms(),
        )
        return [views.kline(ins, c) for c in candles]

    def _symbols(self, p: Params) -> tuple[list[str], bool]:
        one = p.get("symbol")
        many = p.symbols()
        if one is not None and many is not None:
            raise errors.bad_param_combo()
        if one is not None:
            self.g.instrument(one)
            return [one], True
        names = many if many is not None else self.g.market.symbols()
        for s in names:
            self.g.instrument(s)
        return names, False

    async def _tickers(self, p: Params, kind: str) -> Any:
        names, single = self._symbols(p)
        now = now_ms()
        out = []
        for s in names:
            snap = await self._shared(s)
            if snap is not None:
                out.append(snap[kind])
                continue
            out.append(ticker_view(self.g.market, self.g.instrument(s), kind, now))
        return out[0] if single else out

    async def ticker_24h(self, request: Request, p: Params) -> Any:
        return await self._tickers(p, "ticker")

    async def ticker_price(self, request: Request, p: Params) -> Any:
        return await self._tickers(p, "price")

    async def book_ticker(self, request: Request, p: Params) -> Any:
        return await self._tickers(p, "book")

    async def avg_price(self, request: Request, p: Params) -> Any:
        return self.g.avg_price(p.need("symbol"))

    # --- signed -----------------------------------------------------------------

    async def account(self, request: Request, p: Params, key: ApiKey) -> Any:
        return self.g.account(key, p)

    async def new_order(self, request: Request, p: Params, key: ApiKey) -> Any:
        await self.count_order(request, key.user_id)
        return await self.g.place(key.user_id, p)

    async def cancel_replace(self, request: Request, p: Params, key: ApiKey) -> Any:
        await self.count_order(request, key.user_id)
        return await self.g.cancel_replace(key.user_id, p)

    async def test_order(self, request: Request, p: Params, key: ApiKey) -> Any:
        return await self.g.place(key.user_id, p, test=True)

    async def order(self, request: Request, p: Params, key: ApiKey) -> Any:
        if request.method == "DELETE":
            return await self.g.cancel(key.user_id, p)
        return await self.g.get_order(key.user_id, p)

    async def open_orders(self, request: Request, p: Params, key: ApiKey) -> Any:
        if request.method == "DELETE":
            return await self.g.cancel_all(key.user_id, p)
        return await self.g.open_orders(key.user_id, p)

    async def all_orders(self, request: Request, p: Params, key: ApiKey) -> Any:
        return await self.g.all_orders(key.user_id, p)

    async def my_trades(self, request: Request, p: Params, key: ApiKey) -> Any:
        return await self.g.my_trades(key.user_id, p)

    async def user_data_stream(self, request: Request, p: Params, key: ApiKey) -> Any:
        users = self.userdata
        if users is None:
            raise errors.invalid_listen_key()
        return await users.listen_key_request(request.method, key.user_id, p)

    async def empty_list(self, request: Request, p: Params, key: ApiKey) -> Any:
        return []

    async def openapi(self, request: Request, p: Params) -> Any:
        return self._openapi

    async def futures_info(self, request: Request, p: Params) -> Any:
        return {
            "timezone": "UTC",
            "serverTime": now_ms(),
            "rateLimits": [],
            "exchangeFilters": [],
            "symbols": [],
        }


def create_app(
    gateway: Gateway,
    hub: Hub | None = None,
    limits: Limits | None = None,
    shared: SharedMarket | None = None,
    sessions: SessionStore | None = None,
    throttle: Throttle | None = None,
) -> Starlette:
    userdata = hub.userdata if hub is not None else None
    api = Api(gateway, limits or Limits.in_memory(), userdata, shared)
    pub, sig = api.public, api.signed
    routes: list[BaseRoute] = [
        Route(e.path, _endpoint(api, e), methods=[e.method.upper()]) for e in openapi.ENDPOINTS
    ]
    routes += [
        # What ccxt's load_markets asks for beyond spot: valid, empty answers.
        Route("/sapi/v1/capital/config/getall", sig(api.empty_list, "read")),
        Route("/sapi/v1/margin/allPairs", sig(api.empty_list, "read")),
        Route("/sapi/v1/margin/isolated/allPairs", sig(api.empty_list, "read")),
        Route("/openapi.json", pub(api.openapi)),
        Route("/fapi/v1/exchangeInfo", pub(api.futures_info)),
        Route("/dapi/v1/exchangeInfo", pub(api.futures_info)),
    ]
    people = People(gateway, sessions or Sessions(), throttle or Throttle(MemoryStore()), api)
    routes += people.routes()
    if hub is not None:
        routes += _stream_routes(hub)
    routes += webapp.routes()  # last: the web terminal at /
    app = Starlette(routes=routes)

    async def not_found(request: Request, exc: Exception) -> Response:
        return JSON(errors.unknown().body(), 404)

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return JSON(errors.unknown().body(), 405)

    app.add_exception_handler(404, not_found)
    app.add_exception_handler(405, not_allowed)
    return app


def _endpoint(api: Api, e: openapi.Endpoint) -> Callable[[Request], Awaitable[Response]]:
    handler = getattr(api, e.handler)
    if e.security == "signed":
        return api.signed(handler, e.permission, e.weight)
    if e.security == "key":
        return api.keyed(handler, e.weight)
    return api.public(handler, e.weight)


def _stream_routes(hub: Hub) -> list[BaseRoute]:
    async def raw(ws: WebSocket) -> None:
        names = ws.path_params.get("streams", "")
        await hub.serve(ws, [n for n in names.split("/") if n], combined=False)

    async def combined(ws: WebSocket) -> None:
        names = ws.query_params.get("streams", "")
        await hub.serve(ws, [n for n in names.split("/") if n], combined=True)

    return [
        WebSocketRoute("/ws-api/v3", WsApi(hub).serve),
        WebSocketRoute("/ws", raw),
        WebSocketRoute("/ws/{streams:path}", raw),
        WebSocketRoute("/stream", combined),
    ]
