"""Sign-up, login, logout, sessions, brute-force protection and API keys for people."""

from __future__ import annotations

from collections.abc import Iterator

import ccxt
import httpx
import pytest
from test_api_ccxt import point_at

from rialto.runtime.local_exchange import Rialto, start, stop


@pytest.fixture(scope="module")
def rialto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rialto]:
    r = start(tmp_path_factory.mktemp("people"))
    try:
        yield r
    finally:
        stop(r)


def test_sign_up_log_in_keys_log_out(rialto: Rialto) -> None:
    with httpx.Client(base_url=rialto.url) as web:
        signup = web.post(
            "/api/rialto/signup", json={"email": "Carol@Web.test", "password": "correct horse"}
        )
        assert signup.status_code == 201 and signup.json()["email"] == "carol@web.test"
        cookie = signup.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        me = web.get("/api/rialto/me").json()
        assert me["email"] == "carol@web.test" and {b["asset"] for b in me["balances"]} >= {"USDT"}
        created = web.post("/api/rialto/apikeys", json={"permissions": ["read"]})
        assert created.status_code == 201
        key = created.json()
        assert len(key["secret"]) == 64 and key["permissions"] == ["read"]
        listed = web.get("/api/rialto/apikeys").json()["keys"]
        assert [k["api_key"] for k in listed] == [key["api_key"]] and "secret" not in listed[0]
        # The key works with an unmodified client, then stops working once revoked.
        credentials = {"apiKey": key["api_key"], "secret": key["secret"]}
        ex = point_at(ccxt.binance(credentials), rialto.url)
        ex.load_markets()
        assert "USDT" in ex.fetch_balance()["total"]
        assert (
            web.request(
                "DELETE", "/api/rialto/apikeys", json={"api_key": key["api_key"]}
            ).status_code
            == 200
        )
        fresh = point_at(
            ccxt.binance({"apiKey": key["api_key"], "secret": key["secret"]}), rialto.url
        )
        fresh.markets, fresh.markets_by_id = ex.markets, ex.markets_by_id
        with pytest.raises(ccxt.AuthenticationError):
            fresh.fetch_balance()
        assert web.post("/api/rialto/logout").status_code == 200
        assert web.get("/api/rialto/me").status_code == 401
    with httpx.Client(base_url=rialto.url) as web:
        again = web.post(
            "/api/rialto/login", json={"email": "carol@web.test", "password": "correct horse"}
        )
        assert again.status_code == 200 and web.get("/api/rialto/me").status_code == 200


def test_bad_sign_ups_and_logins_are_refused_cleanly(rialto: Rialto) -> None:
    with httpx.Client(base_url=rialto.url) as web:
        for body in (
            {"email": "dave@web.test", "password": "short"},
            {"email": "not an address", "password": "long enough pw"},
            {"email": "alice@api.test", "password": "long enough pw"},  # taken
            {"email": 5, "password": "long enough pw"},
            {},
        ):
            r = web.post("/api/rialto/signup", json=body)
            assert r.status_code == 400 and r.json()["code"] < 0, (body, r.text)
        assert web.post("/api/rialto/signup", content=b"{not json").status_code == 400
        assert web.post("/api/rialto/signup", content=b"[1]").status_code == 400
        assert web.get("/api/rialto/apikeys").status_code == 401


def test_repeated_failed_logins_are_locked_out(rialto: Rialto) -> None:
    with httpx.Client(base_url=rialto.url) as web:
        web.post(
            "/api/rialto/signup", json={"email": "erin@web.test", "password": "erin's password"}
        )
        bad = {"email": "erin@web.test", "password": "guess"}
        for _ in range(5):
            assert web.post("/api/rialto/login", json=bad).status_code == 401
        locked = web.post(
            "/api/rialto/login", json={"email": "erin@web.test", "password": "erin's password"}
        )
        assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
        assert locked.json()["code"] == -1003
