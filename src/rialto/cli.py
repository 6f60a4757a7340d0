"""Command-line entry point: ``rialto ...``."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rialto import __version__

Handler = Callable[[argparse.Namespace], int]


def _cmd_version(args: argparse.Namespace) -> int:
    print(f"rialto {__version__}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rialto",
        description="Rialto: a self-hosted, Binance-Spot-compatible spot crypto exchange.",
    )
    parser.add_argument("--version", action="version", version=f"rialto {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p_version = sub.add_parser("version", help="print the version and exit")
    p_version.set_defaults(handler=_cmd_version)

    _add_runtime_commands(sub)
    return parser


def _data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir",
        type=Path,
        default=Path("data"),
        metavar="DIR",
        help="the exchange's data directory (default: ./data)",
    )


def _add_runtime_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("up", help="run the whole exchange in one process (embedded adapters)")
    _data_dir(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--demo", action="store_true", help="demo markets, users and liquidity")
    p.add_argument("--db", default=None, help="SQL read model URL (default: SQLite in DIR)")
    p.add_argument(
        "--bus", default=None, metavar="NATS_URL",
        help="publish the journal and take requests for `rialto serve gateway` processes",
    )  # fmt: skip
    p.add_argument(
        "--redis", default=None, metavar="URL",
        help="keep rate limits, listen keys and sessions in Redis (shared with gateways)",
    )  # fmt: skip
    p.set_defaults(handler=_cmd_up)

    p = sub.add_parser(
        "serve", help="run services as one member of a distributed deployment (NATS JetStream)"
    )
    p.add_argument(
        "services",
        nargs="+",
        choices=["accounts", "matching", "gateway", "marketmaker"],
        metavar="SERVICE",
    )
    p.add_argument(
        "--config", type=Path, default=None, metavar="FILE",
        help="marketmaker: its TOML or JSON configuration (docs/marketmaker.md)",
    )  # fmt: skip
    _data_dir(p)
    p.add_argument(
        "--nats",
        default=os.environ.get("RIALTO_NATS_URL", "nats://127.0.0.1:4222"),
        help="NATS server URL (default: $RIALTO_NATS_URL or nats://127.0.0.1:4222)",
    )
    p.add_argument("--member", default=None, help="this member's name (default: host-pid)")
    p.add_argument("--user-shards", type=int, default=None, help="set when creating a cluster")
    p.add_argument("--ttl", type=float, default=2.0, help="lease and heartbeat TTL, seconds")
    gw = p.add_argument_group(
        "gateway", "for `rialto serve gateway` (in front of `rialto up --bus`)"
    )
    gw.add_argument("--host", default="127.0.0.1")
    gw.add_argument("--port", type=int, default=8000)
    gw.add_argument("--db", default=None, help="the core's SQL read model URL")
    gw.add_argument(
        "--redis", default=os.environ.get("RIALTO_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    gw.add_argument("--reuse-port", action="store_true", help="share the port with other gateways")
    gw.add_argument(
        "--trusted-proxies", default=None, metavar="IPS",
        help="load balancers whose X-Forwarded-For is believed (comma-separated)",
    )  # fmt: skip
    p.set_defaults(handler=_cmd_serve)

    users = sub.add_parser("users", help="manage users").add_subparsers(
        dest="users_command", metavar="COMMAND", required=True
    )
    p = users.add_parser("create", help="create a user")
    _data_dir(p)
    p.add_argument("--email", required=True)
    p.add_argument("--password", required=True)
    p.set_defaults(handler=_cmd_users_create)

    keys = sub.add_parser("apikeys", help="manage API keys").add_subparsers(
        dest="apikeys_command", metavar="COMMAND", required=True
    )
    p = keys.add_parser("create", help="create an API key; prints its secret once, as JSON")
    _data_dir(p)
    p.add_argument("--email", required=True)
    p.add_argument("--permissions", required=True, help="read,trade[,withdraw]")
    p.add_argument("--ip", action="append", default=[], help="allowed address (repeatable)")
    p.add_argument(
        "--public-key", default=None, help="an Ed25519 public key (PEM or base64): no secret"
    )
    p.set_defaults(handler=_cmd_apikeys_create)
    p = keys.add_parser("revoke", help="revoke an API key")
    _data_dir(p)
    p.add_argument("--email", required=True)
    p.add_argument("--api-key", required=True)
    p.set_defaults(handler=lambda a: _op(a, {"op": "apikeys.revoke", **_pick(a, "email api_key")}))
    p = keys.add_parser("list", help="list a user's API keys (never their secrets)")
    _data_dir(p)
    p.add_argument("--email", required=True)
    p.set_defaults(handler=lambda a: _op(a, {"op": "apikeys.list", "email": a.email}))

    adm = sub.add_parser("admin", help="operator actions").add_subparsers(
        dest="admin_command", metavar="COMMAND", required=True
    )
    p = adm.add_parser("deposit", help="credit a deposit to a user")
    _data_dir(p)
    p.add_argument("--email", required=True)
    p.add_argument("--asset", required=True)
    p.add_argument("--amount", required=True)
    p.set_defaults(handler=lambda a: _op(a, {"op": "deposit", **_pick(a, "email asset amount")}))

    fees = sub.add_parser("fees", help="fee tiers").add_subparsers(
        dest="fees_command", metavar="COMMAND", required=True
    )
    p = fees.add_parser("tier", help="create or change a fee tier (rates as decimals: 0.0002)")
    _data_dir(p)
    p.add_argument("name")
    p.add_argument("--maker", required=True, help="maker rate; negative for a rebate")
    p.add_argument("--taker", required=True, help="taker rate")
    p.set_defaults(
        handler=lambda a: _op(
            a, {"op": "fees.tier", "name": a.name, "maker_fee": a.maker, "taker_fee": a.taker}
        )
    )
    p = fees.add_parser(
        "assign", help="put a user on a fee tier (--tier '' for the markets' rates)"
    )
    _data_dir(p)
    p.add_argument("--email", required=True)
    p.add_argument("--tier", required=True)
    p.set_defaults(handler=lambda a: _op(a, {"op": "fees.assign", **_pick(a, "email tier")}))

    p = sub.add_parser("balances", help="print a user's balances as JSON")
    _data_dir(p)
    p.add_argument("--email", required=True)
    p.set_defaults(handler=lambda a: _op(a, {"op": "balances", "email": a.email}))

    assets = sub.add_parser("assets", help="manage assets").add_subparsers(
        dest="assets_command", metavar="COMMAND", required=True
    )
    p = assets.add_parser("add", help="add an asset")
    _data_dir(p)
    p.add_argument("symbol")
    p.add_argument("--decimals", type=int, required=True)
    p.set_defaults(handler=lambda a: _op(a, {"op": "assets.add", **_pick(a, "symbol decimals")}))

    markets = sub.add_parser("markets", help="manage markets").add_subparsers(
        dest="markets_command", metavar="COMMAND", required=True
    )
    p = markets.add_parser("add", help="add a market at run time")
    _data_dir(p)
    p.add_argument("symbol")
    p.add_argument("--base", required=True)
    p.add_argument("--quote", required=True)
    p.add_argument("--tick", required=True)
    p.add_argument("--step", required=True)
    p.add_argument("--min-notional", default="0")
    p.add_argument("--maker-fee", default=None)
    p.add_argument("--taker-fee", default=None)
    p.set_defaults(handler=_cmd_markets_add)
    for name, status in (("halt", "HALT"), ("resume", "TRADING")):
        p = markets.add_parser(name, help=f"{name} a market")
        _data_dir(p)
        p.add_argument("symbol")
        p.set_defaults(
            handler=lambda a, s=status: _op(
                a, {"op": "markets.status", "symbol": a.symbol, "status": s}
            )
        )
    p = markets.add_parser(
        "risk",
        help="set a market's price band and circuit breaker (0 turns one off; "
        "options left out are kept; none: show them)",
    )
    _data_dir(p)
    p.add_argument("symbol")
    p.add_argument("--band-pct", help="refuse orders priced more than this %% from the last trade")
    p.add_argument("--breaker-pct", help="halt when the price moves more than this %% ...")
    p.add_argument("--window-s", help="... within this many seconds")
    p.add_argument("--cool-s", help="for this many seconds (status BREAK), then resume")
    p.set_defaults(
        handler=lambda a: _op(
            a, {"op": "markets.risk", **_pick(a, "symbol band_pct breaker_pct window_s cool_s")}
        )
    )


def _pick(args: argparse.Namespace, names: str) -> dict[str, Any]:
    return {n: getattr(args, n) for n in names.split()}


def _op(args: argparse.Namespace, op: dict[str, Any]) -> int:
    from rialto.runtime.admin import run_op

    result = asyncio.run(run_op(args.data_dir, op))
    print(json.dumps(result, indent=2))
    return 0


def _cmd_users_create(args: argparse.Namespace) -> int:
    from argon2 import PasswordHasher

    if len(args.password) < 8:
        raise ValueError("a password has at least 8 characters")
    op = {
        "op": "users.create",
        "email": args.email,
        "password_hash": PasswordHasher().hash(args.password),
    }
    return _op(args, op)


def _cmd_apikeys_create(args: argparse.Namespace) -> int:
    public_key = args.public_key
    if public_key and Path(public_key).is_file():
        public_key = Path(public_key).read_text()
    op = {
        "op": "apikeys.create",
        "email": args.email,
        "permissions": args.permissions,
        "ips": args.ip,
        "public_key": public_key,
    }
    return _op(args, op)


def _cmd_markets_add(args: argparse.Namespace) -> int:
    spec = {
        "symbol": args.symbol.upper(),
        "base_asset": args.base.upper(),
        "quote_asset": args.quote.upper(),
        "tick_size": args.tick,
        "step_size": args.step,
        "min_notional": args.min_notional,
        "maker_fee": args.maker_fee,
        "taker_fee": args.taker_fee,
    }
    return _op(args, {"op": "markets.add", "spec": spec})


def _cmd_up(args: argparse.Namespace) -> int:
    from rialto.runtime.up import Options, up

    opts = Options(args.data_dir, args.host, args.port, args.demo, args.db, args.bus, args.redis)
    return asyncio.run(up(opts))


def _cmd_serve(args: argparse.Namespace) -> int:
    from rialto.runtime.serve import serve

    services = tuple(dict.fromkeys(args.services))
    if "marketmaker" in services:
        if services != ("marketmaker",) or args.config is None:
            raise ValueError("rialto serve marketmaker --config FILE runs on its own")
        from rialto.marketmaker.service import main as serve_marketmaker

        return serve_marketmaker(args.config)
    if "gateway" in services:
        return _serve_gateway(args, services)
    return asyncio.run(
        serve(services, args.nats, args.data_dir, args.member, args.user_shards, args.ttl)
    )


def _serve_gateway(args: argparse.Namespace, services: tuple[str, ...]) -> int:
    from rialto.runtime.gateway_serve import GatewayOptions, serve_gateway

    if services != ("gateway",):
        print(
            "rialto serve: error: a gateway runs alone (one process per gateway)", file=sys.stderr
        )
        return 2
    if args.db is None:
        print("rialto serve gateway: error: --db (the core's SQL read model) is required",
              file=sys.stderr)  # fmt: skip
        return 2
    opts = GatewayOptions(
        args.nats, args.db, args.redis, args.data_dir, args.host, args.port, args.reuse_port,
        args.trusted_proxies,
    )  # fmt: skip
    return asyncio.run(serve_gateway(opts))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit code. Bad arguments exit 2 via argparse."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except (ValueError, RuntimeError, OSError) as exc:  # admin, journal, recovery errors
        print(f"rialto: error: {exc}", file=sys.stderr)
        return 2 if type(exc) is ValueError else 1
    except KeyboardInterrupt:
        print("rialto: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
