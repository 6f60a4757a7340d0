"""Operator commands, as small JSON objects, carried out against a running node.

The same operations serve the ``rialto`` CLI on a stopped data directory (it opens the
node itself) and on a running exchange (through the admin socket in the data
directory). Every change goes through the journal like any request.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from rialto.domain import requests as req
from rialto.domain.assets import Asset
from rialto.domain.instruments import Instrument
from rialto.domain.numbers import NumberFormatError
from rialto.domain.orders import MarketStatus
from rialto.domain.rejects import BINANCE_ERRORS, FilterError
from rialto.domain.risk import MarketRisk
from rialto.domain.users import PERMISSIONS
from rialto.runtime.core import Core
from rialto.runtime.keyring import ed25519_public_key, new_token
from rialto.runtime.node import Node, RequestError

log = logging.getLogger(__name__)
SOCKET_NAME = "admin.sock"


class AdminError(ValueError):
    """An operator command that cannot be carried out; its message is for the operator."""


async def execute(node: Core, op: dict[str, Any]) -> dict[str, Any]:
    """Carry out one operator command and return its JSON-able result."""
    try:
        return await _execute(node, op)
    except (KeyError, TypeError) as exc:
        raise AdminError(f"malformed command: {exc}") from exc
    except (NumberFormatError, FilterError, RequestError) as exc:
        raise AdminError(str(exc)) from exc


async def _execute(node: Core, op: dict[str, Any]) -> dict[str, Any]:
    kind = op["op"]
    ex = node.exchange
    if kind == "users.create":
        email = str(op["email"]).strip().lower()
        if "@" not in email or len(email) > 254 or not email.isprintable() or " " in email:
            raise AdminError(f"not an e-mail address: {op['email']!r}")
        if ex.users.find(email) is not None:
            raise AdminError(f"a user with e-mail {email} already exists")
        out = await node.submit(req.CreateUser(email, str(op["password_hash"])))
        _check(out.reject)
        return {"user_id": out.user_id, "email": email}
    if kind == "assets.add":
        asset = Asset(str(op["symbol"]).upper(), int(op["decimals"]))
        known = ex.accounts[0].assets.get(asset.symbol)
        if known is not None and known != asset:
            raise AdminError(f"asset {asset.symbol} exists with {known.decimals} decimals")
        if known is None:
            await node.submit(req.AddAsset(asset.symbol, asset.decimals))
        return {"symbol": asset.symbol, "decimals": asset.decimals}
    if kind == "markets.add":
        spec = {k: v for k, v in op["spec"].items() if v is not None}
        try:
            instrument = Instrument(**spec)
        except (ValueError, TypeError) as exc:
            raise AdminError(f"bad market: {exc}") from exc
        for symbol in (instrument.base_asset, instrument.quote_asset):
            if symbol not in ex.accounts[0].assets:
                raise AdminError(f"unknown asset {symbol}: add it first (rialto assets add)")
        if instrument.symbol in ex.engines:
            raise AdminError(f"market {instrument.symbol} exists")
        await node.submit(req.AddMarket.of(instrument))
        return {"symbol": instrument.symbol}
    if kind == "markets.status":
        symbol = str(op["symbol"]).upper()
        if symbol not in ex.engines:
            raise AdminError(f"unknown market {symbol}")
        status = MarketStatus(op["status"])
        if status is MarketStatus.BREAK:
            raise AdminError("BREAK is the circuit breaker's status: halt with HALT")
        await node.submit(req.SetMarketStatus(symbol, status))
        return {"symbol": symbol, "status": status.value}
    if kind == "markets.risk":
        return await _set_risk(node, op)
    if kind == "deposit":
        user = _user(node, op["email"])
        asset = _asset(node, op["asset"])
        amount = asset.parse(str(op["amount"]))
        if amount <= 0:
            raise AdminError("a deposit must be positive")
        await node.submit(req.Deposit(user, asset.symbol, amount))
        return _balances(node, user)
    if kind == "balances":
        return _balances(node, _user(node, op["email"]))
    if kind == "fees.tier":
        name = str(op["name"])
        if not name or not name.isprintable() or len(name) > 64:
            raise AdminError(f"not a tier name: {name!r}")
        await node.submit(req.SetFeeTier(name, str(op["maker_fee"]), str(op["taker_fee"])))
        return {"tier": name, "maker_fee": op["maker_fee"], "taker_fee": op["taker_fee"]}
    if kind == "fees.assign":
        user = _user(node, op["email"])
        tier = str(op.get("tier") or "")
        await node.submit(req.AssignFeeTier(user, tier))
        return {"email": op["email"], "tier": tier or None}
    if kind == "apikeys.create":
        return await _create_key(node, op)
    if kind == "apikeys.revoke":
        user = _user(node, op["email"])
        out = await node.submit(req.RevokeApiKey(user, str(op["api_key"])))
        _check(out.reject)
        return {"api_key": op["api_key"], "revoked": True}
    if kind == "apikeys.list":
        user = _user(node, op["email"])
        keys = [k for k in node.exchange.users.keys.values() if k.user_id == user]
        return {
            "keys": [
                {
                    "api_key": k.api_key,
                    "type": k.kind,
                    "permissions": list(k.permissions),
                    "ips": list(k.ips),
                    "revoked": bool(k.revoked_ts),
                }
                for k in keys
            ]
        }
    raise AdminError(f"unknown command {kind!r}")


async def _set_risk(node: Core, op: dict[str, Any]) -> dict[str, Any]:
    """Set a market's price band and circuit breaker; options left out keep their value."""
    symbol = str(op["symbol"]).upper()
    engine = node.exchange.engines.get(symbol)
    if engine is None:
        raise AdminError(f"unknown market {symbol}")
    old = engine.risk
    risk = MarketRisk(
        _bps(op.get("band_pct"), old.band_bps),
        _bps(op.get("breaker_pct"), old.breaker_bps),
        _ms(op.get("window_s"), old.window_ms),
        _ms(op.get("cool_s"), old.cooling_ms),
    )
    try:
        risk.check()
    except ValueError as exc:
        raise AdminError(str(exc)) from exc
    if risk != old:
        await node.submit(req.SetMarketRisk(symbol, *risk))
    return {"symbol": symbol, **risk_view(engine.risk)}


def risk_view(risk: MarketRisk) -> dict[str, Any]:
    """A market's risk settings as the operator gives them: percentages and seconds."""
    return {
        "band_pct": _pct(risk.band_bps),
        "breaker_pct": _pct(risk.breaker_bps),
        "window_s": _seconds(risk.window_ms),
        "cool_s": _seconds(risk.cooling_ms),
    }


def _scaled(value: object, default: int, scale: int, what: str) -> int:
    """A non-negative decimal times ``scale``, exactly (no more decimals than that allows);
    None: ``default``."""
    if value is None:
        return default
    try:
        d = Decimal(str(value)) * scale
    except InvalidOperation as exc:
        raise AdminError(f"not {what}: {value!r}") from exc
    if not d.is_finite() or d != d.to_integral_value() or d < 0:
        decimals = len(str(scale)) - 1
        raise AdminError(f"{what} must be positive with at most {decimals} decimals: {value!r}")
    return int(d)


def _bps(value: object, default: int) -> int:
    """A percentage with at most two decimals ("2.5") in basis points."""
    return _scaled(value, default, 100, "a percentage")


def _ms(value: object, default: int) -> int:
    """Seconds with at most three decimals in milliseconds."""
    return _scaled(value, default, 1000, "a number of seconds")


def _pct(bps: int) -> str:
    return str(Decimal(bps) / 100)


def _seconds(ms: int) -> str:
    return str(Decimal(ms) / 1000)


async def _create_key(node: Core, op: dict[str, Any]) -> dict[str, Any]:
    user = _user(node, op["email"])
    perms = op["permissions"]
    perms = [p.strip() for p in (perms.split(",") if isinstance(perms, str) else perms)]
    if not perms or set(perms) - set(PERMISSIONS):
        raise AdminError(f"permissions are a comma-separated subset of {','.join(PERMISSIONS)}")
    ips = tuple(str(ip) for ip in op.get("ips") or ())
    for ip in ips:
        try:
            ipaddress.ip_network(ip, strict=False)
        except ValueError as exc:
            raise AdminError(f"not an IP address or network: {ip!r}") from exc
    api_key = new_token()
    result: dict[str, Any] = {"api_key": api_key}
    if op.get("public_key"):
        kind, verifier = "ED25519", ed25519_public_key(str(op["public_key"]))
    else:
        secret = new_token()
        kind, verifier = "HMAC", node.secret_box().seal(secret, api_key)
        result["secret"] = secret
    request = req.CreateApiKey(user, api_key, kind, verifier, tuple(sorted(set(perms))), ips)
    await node.submit(request)
    return result | {"type": kind, "permissions": sorted(set(perms)), "ips": list(ips)}


def _check(reject: object) -> None:
    if reject is not None:
        raise AdminError(BINANCE_ERRORS[reject][1])  # type: ignore[index]


def _user(node: Core, email: object) -> int:
    user = node.exchange.users.find(str(email))
    if user is None:
        raise AdminError(f"no user with e-mail {email!r}")
    return user.user_id


def _asset(node: Core, symbol: object) -> Asset:
    asset = node.exchange.accounts[0].assets.get(str(symbol).upper())
    if asset is None:
        raise AdminError(f"unknown asset {symbol!r}")
    return asset


def _balances(node: Core, user_id: int) -> dict[str, Any]:
    accounts = node.exchange.shard(user_id)
    out = []
    for symbol in sorted(accounts.assets):
        free, locked = accounts.balance(user_id, symbol)
        asset = accounts.assets[symbol]
        out.append({"asset": symbol, "free": asset.format(free), "locked": asset.format(locked)})
    user = node.exchange.users.by_id[user_id]
    return {"user_id": user_id, "email": user.email, "balances": out}


# --- the admin socket ------------------------------------------------------


async def serve(node: Node, data_dir: Path) -> asyncio.Server:
    """Listen for operator commands on ``<data_dir>/admin.sock`` (one JSON object a line)."""
    path = data_dir / SOCKET_NAME
    path.unlink(missing_ok=True)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    reply = {"ok": True, "result": await execute(node, json.loads(line))}
                except (AdminError, ValueError) as exc:
                    reply = {"ok": False, "error": str(exc)}
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_unix_server(handle, path=str(path))
    path.chmod(0o600)
    return server


async def call(data_dir: Path, op: dict[str, Any]) -> dict[str, Any] | None:
    """Send ``op`` to a running exchange; None when none is running on ``data_dir``."""
    path = data_dir / SOCKET_NAME
    if not path.exists():
        return None
    try:
        reader, writer = await asyncio.open_unix_connection(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        return None
    try:
        writer.write(json.dumps(op).encode() + b"\n")
        await writer.drain()
        reply = json.loads(await reader.readline())
    finally:
        writer.close()
    if not reply.get("ok"):
        raise AdminError(reply.get("error", "the exchange refused the command"))
    result: dict[str, Any] = reply["result"]
    return result


async def run_op(data_dir: Path, op: dict[str, Any]) -> dict[str, Any]:
    """Carry out ``op`` on the exchange of ``data_dir``, running or stopped."""
    result = await call(data_dir, op)
    if result is not None:
        return result
    node = await Node.open(data_dir)
    try:
        return await execute(node, op)
    finally:
        await node.close()
