"""Command-line entry point: ``rialto ...``."""

from __future__ import annotations

import argparse
import importlib
import math
import sys
from collections.abc import Callable, Sequence

from rialto import __version__

Handler = Callable[[argparse.Namespace], int]


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of seconds: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"seconds must be a positive number, got {text!r}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid seed: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"seed must be >= 0, got {text!r}")
    return value


def _cmd_version(args: argparse.Namespace) -> int:
    print(f"rialto {__version__}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    # Imported lazily (and through importlib) so that `rialto version` never pays for, or depends
    # on, the engine, and so that this module type-checks before rialto.demo exists.
    try:
        module = importlib.import_module("rialto.demo")
    except ModuleNotFoundError as exc:
        if exc.name != "rialto.demo":
            raise
        print("rialto: error: the demo is not available in this build", file=sys.stderr)
        return 1
    run_demo: Callable[[float, int], int] = module.run_demo
    return run_demo(args.seconds, args.seed)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rialto",
        description="Rialto: a self-hosted, Binance-Spot-compatible spot crypto exchange.",
    )
    parser.add_argument("--version", action="version", version=f"rialto {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p_version = sub.add_parser("version", help="print the version and exit")
    p_version.set_defaults(handler=_cmd_version)

    p_demo = sub.add_parser(
        "demo", help="run a terminal demo of the matching engine on a demo BTCUSDT market"
    )
    p_demo.add_argument(
        "--seconds",
        type=_positive_seconds,
        default=10.0,
        metavar="N",
        help="how long to run, in seconds (default: %(default)s)",
    )
    p_demo.add_argument(
        "--seed",
        type=_seed,
        default=42,
        metavar="S",
        help="random seed for the simulated order flow (default: %(default)s)",
    )
    p_demo.set_defaults(handler=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit code. Bad arguments exit 2 via argparse."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except ValueError as exc:
        print(f"rialto: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rialto: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
