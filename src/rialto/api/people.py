"""Sign-up, login and API key management for people, under ``/api/rialto`` (JSON).

What the web terminal uses; everything else it does goes through the public API. Errors
have the API's ``{"code", "msg"}`` form. Creating users and keys goes through the same
operator commands as the CLI (:mod:`rialto.runtime.admin`), so the rules are the same.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from rialto.api import errors
from rialto.api.errors import ApiError
from rialto.api.gateway import Gateway, now_ms
from rialto.api.sessions import SESSION_COOKIE, SESSION_MS, Session, Sessions, Throttle
from rialto.runtime.admin import AdminError, execute

log = logging.getLogger("rialto.api")
MIN_PASSWORD = 8
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


class People:
    def __init__(self, gateway: Gateway, sessions: Sessions, throttle: Throttle) -> None:
        self.g = gateway
        self.sessions = sessions
        self.throttle = throttle

    def routes(self) -> list[BaseRoute]:
        h = self._handler
        return [
            Route("/api/rialto/signup", h(self.signup), methods=["POST"]),
            Route("/api/rialto/login", h(self.login), methods=["POST"]),
            Route("/api/rialto/logout", h(self.logout), methods=["POST"]),
            Route("/api/rialto/me", h(self.me), methods=["GET"]),
            Route("/api/rialto/apikeys", h(self.api_keys), methods=["GET", "POST", "DELETE"]),
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

    def _session(self, request: Request) -> tuple[str, Session]:
        token = request.cookies.get(SESSION_COOKIE, "")
        session = self.sessions.get(token, now_ms())
        if session is None:
            raise ApiError(-1002, "You are not authorized to execute this request.", 401)
        return token, session

    def _logged_in(self, user_id: int, email: str, status: int = 200) -> Response:
        token = self.sessions.open(user_id, email, now_ms())
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
        return self._logged_in(int(created["user_id"]), str(created["email"]), 201)

    async def login(self, request: Request, body: dict[str, Any]) -> Response:
        email, password = self._credentials(body)
        ip = request.client.host if request.client else ""
        keys, now = [f"email:{email}", f"ip:{ip}"], now_ms()
        wait = self.throttle.blocked_for(keys, now)
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
            self.throttle.failed(keys, now)
            raise ApiError(-1002, "Wrong e-mail address or password.", 401)
        self.throttle.succeeded([f"email:{email}"])
        return self._logged_in(user.user_id, user.email)

    async def logout(self, request: Request, body: dict[str, Any]) -> Response:
        self.sessions.close(request.cookies.get(SESSION_COOKIE))
        response = _json({})
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def me(self, request: Request, body: dict[str, Any]) -> Response:
        _, session = self._session(request)
        return _json(await execute(self.g.node, {"op": "balances", "email": session.email}))

    async def api_keys(self, request: Request, body: dict[str, Any]) -> Response:
        _, session = self._session(request)
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
