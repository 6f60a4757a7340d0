"""``rialto serve marketmaker --config FILE``: the market maker as its own process.

SIGINT/SIGTERM stop it (every order of the bot is canceled on the way out); SIGUSR1 is the
operator's resume after the kill switch, as is creating the file ``resume`` in the
configured ``control_dir`` (which also holds ``status.json``).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

from rialto.marketmaker import config
from rialto.marketmaker.bot import MarketMaker


def main(config_path: Path) -> int:
    """Run :func:`serve` on uvloop when it is installed (it is with uvicorn[standard])."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(serve(config_path))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(serve(config_path))


async def serve(config_path: Path) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    cfg = config.load(config_path)
    bot = MarketMaker(cfg)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, bot.resume)
    await bot.start()
    symbols = ", ".join(m.symbol for m in cfg.markets)
    print(f"rialto serve marketmaker: {cfg.name} quoting {symbols} on {cfg.url}", flush=True)
    try:
        await stop.wait()
    finally:
        await bot.stop()
    print(f"rialto serve marketmaker: {cfg.name} stopped; its orders are canceled", flush=True)
    return 0
