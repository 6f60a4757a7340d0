"""Sign-up, login, API key management and session trading for people, under ``/api/rialto``.

What the web terminal uses; market data it reads from the public API. Errors have the
API's ``{"code", "msg"}`` form. Creating users and keys goes through the same operator
commands as the CLI (:mod:`rialto.runtime.admin`), so the rules are the same.

Trading with the session cookie (``order``, ``openOrders``, ``allOrders``, ``myTrades``,
``account``, ``listenKey``) takes Binance's parameters (query string or form body) and
answers Binance's shapes and errors: the same :class:`Gateway` methods as ``/api/v3``, with
the session's user in place of an API key's.

Cross-site request forgery: the cookie is ``SameSite=Strict``; besides, every state-changing
request whose ``Origin`` is not this host is refused, and the session-trading requests that
change state must carry the header ``X-Rialto-CSRF: 1``, which a page of another site cannot
send without a CORS preflight that this server never grants.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

import orjson
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from rialto.api import errors
from rialto.api.errors import ApiError
from rialto.api.gateway import Gateway, now_ms
from rialto.api.params import Params
from rialto.api.sessions import SESSION_COOKIE, SESSION_MS, Session, SessionStore, Throttle
from rialto.api.userdata import UserData
from rialto.runtime.admin import AdminError, execute

log = logging.getLogger("rialto.api")
MIN_PASSWORD = 8
CSRF_HEADER = "x-rialto-csrf"
UNSAFE = frozenset({"POST", "PUT", "DELETE", "PATCH"})
TradeHandler = Callable[[Request, Params, int], Awaitable[Any]]


class Limited(Protocol):
    """What the trading endpoints borrow from the REST API (``rest.Api``)."""

    userdata: UserData | None

    def guarded(
        self, answer: Callable[[Request], Awaitable[Any]], weight: int
    ) -> Callable[[Request], Awaitable[Response]]: ...

    async def count_order(self, request: Request, user_id: int) -> None: ...


_HASHER = PasswordHasher()
# A hash of nothing anybody knows: an unknown address costs a login as much as a known one.
_DUMMY_HASH = _HASHER.hash("rialto: no such user")


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")


def _error(exc: ApiError) -> Response:
    return Response(
        orjson.dumps(exc.body()), exc.status, exc.headers(), media_type="application/json"
    )


def _bad(msg: str, status: int = 400) -> ApiError:
    return ApiError(-1102, msg, status)


def _forbidden() -> ApiError:
    return ApiError(-1002, "You are not authorized to execute this request.", 403)


def _check_origin(request: Request) -> None:
    """A state-changing request sent by a page of another site is refused."""
    origin = request.headers.get("origin")
    if request.method not in UNSAFE or origin is None:
        return
    host = request.headers.get("host", "")
    if origin == "null" or urlsplit(origin).netloc.lower() != host.lower():
        raise _forbidden()


class People:
    def __init__(
        self,
        gateway: Gateway,
        sessions: SessionStore,
        throttle: Throttle,
        api: Limited,
    ) -> None:
        self.g = gateway
        self.sessions = sessions
        self.throttle = throttle
        self.api = api
        self.userdata = api.userdata

    def routes(self) -> list[BaseRoute]:
        h = self._handler
        return [
            Route("/api/rialto/signup", h(self.signup), methods=["POST"]),
            Route("/api/rialto/login", h(self.login), methods=["POST"]),
            Route("/api/rialto/logout", h(self.logout), methods=["POST"]),
            Route("/api/rialto/me", h(self.me), methods=["GET"]),
            Route("/api/rialto/session", h(self.session), methods=["GET"]),
            Route("/api/rialto/apikeys", h(self.api_keys), methods=["GET", "POST", "DELETE"]),
            *self.trading_routes(),
        ]

    def trading_routes(self) -> list[BaseRoute]:
        t = self._trading
        base = "/api/rialto"
        return [
            Route(f"{base}/order", t(self.order), methods=["GET", "POST", "DELETE"]),
            Route(f"{base}/openOrders", t(self.open_orders), methods=["GET", "DELETE"]),
            Route(f"{base}/allOrders", t(self.all_orders), methods=["GET"]),
            Route(f"{base}/myTrades", t(self.my_trades), methods=["GET"]),
            Route(f"{base}/account", t(self.account), methods=["GET"]),
            Route(f"{base}/listenKey", t(self.listen_key), methods=["POST", "PUT", "DELETE"]),
        ]

    def _handler(
        self, fn: Callable[[Request, dict[str, Any]], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                raw = await request.body()
                body = orjson.loads(raw) if raw else {}
                if not isinstance(body, dict):
                    raise _bad("The body must be a JSON object.")
                _check_origin(request)
                return await fn(request, body)
            except orjson.JSONDecodeError:
                return _error(_bad("The body must be a JSON object."))
            except ApiError as exc:
                return _error(exc)
            except AdminError as exc:
                return _error(_bad(str(exc)))
            except Exception:  # as the REST API: logged, never a bare 500
                log.exception("%s %s failed", request.method, request.url.path)
                return _error(errors.unknown())

        return endpoint

    def _trading(self, fn: TradeHandler) -> Callable[[Request], Awaitable[Response]]:
        """A session-authenticated endpoint with Binance's parameters, answers, errors and
        limits (the client address's request weight, the account's new orders)."""

        async def answer(request: Request) -> Any:
            _check_origin(request)
            _, session = await self._session(request)
            if request.method in UNSAFE and request.headers.get(CSRF_HEADER) != "1":
                raise _forbidden()
            params = Params(request.scope.get("query_string", b""), await request.body())
            if request.method == "POST" and fn == self.order:
                await self.api.count_order(request, session.user_id)
            return await fn(request, params, session.user_id)

        return self.api.guarded(answer, 1)

    async def _session(self, request: Request) -> tuple[str, Session]:
        token = request.cookies.get(SESSION_COOKIE, "")
        session = await self.sessions.get(token, now_ms())
        if session is None:
            raise ApiError(-1002, "You are not authorized to execute this request.", 401)
        return token, session

    async def _logged_in(self, user_id: int, email: str, status: int = 200) -> Response:
        token = await self.sessions.open(user_id, email, now_ms())
        response = _json({"user_id": user_id, "email": email}, status)
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=SESSION_MS // 1000,
            httponly=True,
            samesite="strict",
            path="/",
        )
        return response

    @staticmethod
    def _credentials(body: dict[str, Any]) -> tuple[str, str]:
        email, password = body.get("email"), body.get("password")
        if not isinstance(email, str) or not isinstance(password, str):
            raise _bad("Mandatory parameters 'email' and 'password' were not sent as strings.")
        if len(email) > 254 or len(password) > 1024:
            raise _bad("The e-mail address or the password is too long.")
        return email.strip().lower(), password

    async def signup(self, request: Request, body: dict[str, Any]) -> Response:
        email, password = self._credentials(body)
        if len(password) < MIN_PASSWORD:
            raise _bad(f"A password has at least {MIN_PASSWORD} characters.")
        hashed = await asyncio.to_thread(_HASHER.hash, password)
        op = {"op": "users.create", "email": email, "password_hash": hashed}
        created = await execute(self.g.node, op)
        return await self._logged_in(int(created["user_id"]), str(created["email"]), 201)

    async def login(self, request: Request, body: dict[str, Any]) -> Response:
        email, password = self._credentials(body)
        ip = request.client.host if request.client else ""
        keys, now = [f"email:{email}", f"ip:{ip}"], now_ms()
        wait = await self.throttle.blocked_for(keys, now)
        if wait:
            seconds = -(-wait // 1000)
            raise ApiError(
                -1003, f"Too many failed logins; try again in {seconds} s.", 429, seconds
            )
        user = self.g.node.exchange.users.find(email)
        stored = user.password_hash if user is not None else _DUMMY_HASH
        ok: bool
        try:
            ok = await asyncio.to_thread(_HASHER.verify, stored, password)
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok or user is None:
            await self.throttle.failed(keys, now)
            raise ApiError(-1002, "Wrong e-mail address or password.", 401)
        await self.throttle.succeeded([f"email:{email}"])
        return await self._logged_in(user.user_id, user.email)

    async def logout(self, request: Request, body: dict[str, Any]) -> Response:
        await self.sessions.close(request.cookies.get(SESSION_COOKIE))
        response = _json({})
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def session(self, request: Request, body: dict[str, Any]) -> Response:
        """Who is logged in (``{"user": null}`` when nobody is): never a 401."""
        session = await self.sessions.get(request.cookies.get(SESSION_COOKIE), now_ms())
        if session is None:
            return _json({"user": None})
        return _json({"user": {"user_id": session.user_id, "email": session.email}})

    async def me(self, request: Request, body: dict[str, Any]) -> Response:
        _, session = await self._session(request)
        return _json(await execute(self.g.node, {"op": "balances", "email": session.email}))

    async def api_keys(self, request: Request, body: dict[str, Any]) -> Response:
        _, session = await self._session(request)
        email = session.email
        if request.method == "GET":
            return _json(await execute(self.g.node, {"op": "apikeys.list", "email": email}))
        if request.method == "DELETE":
            key = body.get("api_key")
            if not isinstance(key, str):
                raise _bad("Mandatory parameter 'api_key' was not sent.")
            op = {"op": "apikeys.revoke", "email": email, "api_key": key}
            return _json(await execute(self.g.node, op))
        permissions, ips = body.get("permissions", "read,trade"), body.get("ips", [])
        if not (
            isinstance(permissions, str)
            or (isinstance(permissions, list) and all(isinstance(p, str) for p in permissions))
        ) or not (isinstance(ips, list) and all(isinstance(ip, str) for ip in ips)):
            raise _bad("'permissions' is a list or a comma-separated string; 'ips' a list.")
        create: dict[str, Any] = {"op": "apikeys.create", "email": email}
        create |= {"permissions": permissions, "ips": ips}
        return _json(await execute(self.g.node, create), 201)

    # --- trading with the session ---------------------------------------------------

    async def order(self, request: Request, p: Params, user_id: int) -> Any:
        if request.method == "POST":
            return await self.g.place(user_id, p)
        if request.method == "DELETE":
            return await self.g.cancel(user_id, p)
        return await self.g.get_order(user_id, p)

    async def open_orders(self, request: Request, p: Params, user_id: int) -> Any:
        if request.method == "DELETE":
            return await self.g.cancel_all(user_id, p)
        return await self.g.open_orders(user_id, p)

    async def all_orders(self, request: Request, p: Params, user_id: int) -> Any:
        return await self.g.all_orders(user_id, p)

    async def my_trades(self, request: Request, p: Params, user_id: int) -> Any:
        return await self.g.my_trades(user_id, p)

    async def account(self, request: Request, p: Params, user_id: int) -> Any:
        """Balances, and each market's maker and taker fee rates (for the order form)."""
        ex = self.g.node.exchange
        accounts = ex.shard(user_id)
        balances = []
        for symbol in sorted(accounts.assets):
            free, locked = accounts.balance(user_id, symbol)
            asset = accounts.assets[symbol]
            balances.append(
                {"asset": symbol, "free": asset.format(free), "locked": asset.format(locked)}
            )
        fees = {
            symbol: {"maker": e.instrument.maker_fee, "taker": e.instrument.taker_fee}
            for symbol, e in sorted(ex.engines.items())
        }
        user = ex.users.by_id[user_id]
        return {"uid": user_id, "email": user.email, "balances": balances, "fees": fees}

    async def listen_key(self, request: Request, p: Params, user_id: int) -> Any:
        """A listenKey for ``/ws/<listenKey>``, as ``/api/v3/userDataStream`` but by session."""
        if self.userdata is None:
            raise errors.invalid_listen_key()
        return await self.userdata.listen_key_request(request.method, user_id, p)
