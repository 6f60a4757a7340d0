"""End-to-end fixtures: a real ``rialto up --demo`` and Debian's Chromium driven by Playwright.

The web terminal is built first (``make web``: does nothing when ``web/dist`` is up to
date). Chromium must be at ``/usr/bin/chromium`` (``RIALTO_CHROMIUM`` names another):
without it the tests fail, they never skip. ``make test`` installs it with apt-get.
Screenshots go to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from e2e_support import CHROMIUM, CHROMIUM_ARGS, DESKTOP, ROOT, Exchange, Terminal
from playwright.sync_api import Browser, ConsoleMessage, Playwright, sync_playwright

from rialto.runtime.local_exchange import RIALTO, halt, launch


def _quoted(url: str, symbol: str) -> bool:
    book = httpx.get(f"{url}/api/v3/depth", params={"symbol": symbol}).json()
    return bool(book["bids"]) and bool(book["asks"])


# Per module: a demo exchange's bots must not go on trading through the rest of the suite.
@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    built = subprocess.run(["make", "-s", "web"], cwd=ROOT, capture_output=True, text=True)
    assert built.returncode == 0, f"make web failed:\n{built.stdout}\n{built.stderr}"
    data_dir = tmp_path_factory.mktemp("e2e")
    proc, url = launch(data_dir, [*RIALTO, "up", "--demo"])
    try:
        log = data_dir / "up.log"
        deadline = time.monotonic() + 30
        while "demo login" not in log.read_text(errors="replace"):
            assert time.monotonic() < deadline, "rialto up --demo did not seed its demo"
            time.sleep(0.1)
        while not all(_quoted(url, s) for s in ("BTCUSDT", "ETHUSDT", "ETHBTC")):
            assert time.monotonic() < deadline, "the demo liquidity did not quote"
            time.sleep(0.2)
        yield Exchange(url, data_dir)
    finally:
        halt(proc)


# Module-scoped, not session-scoped: Playwright's sync API keeps an asyncio loop running in
# the main thread while it is open, and the tests after these call asyncio.run().
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: install Debian's chromium (apt-get install chromium; "
            "`make test` does) or set RIALTO_CHROMIUM",
            pytrace=False,
        )
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield b
    b.close()


def open_terminal(browser: Browser, url: str, **context: object) -> Iterator[Terminal]:
    ctx = browser.new_context(**context)  # type: ignore[arg-type]
    page = ctx.new_page()
    t = Terminal(page, url)

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error":
            t.errors.append(f"{msg.text} ({msg.location.get('url', '')})")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: t.errors.append(f"uncaught: {exc}"))
    page.set_default_timeout(15_000)
    page.goto(url)
    page.locator("#book-bids .book-row").first.wait_for()
    try:
        yield t
    finally:
        ctx.close()
    assert t.unexpected() == [], "console errors"


@pytest.fixture
def terminal(browser: Browser, exchange: Exchange) -> Iterator[Terminal]:
    yield from open_terminal(browser, exchange.url, viewport=DESKTOP)


@pytest.fixture
def phone(browser: Browser, exchange: Exchange) -> Iterator[Terminal]:
    yield from open_terminal(
        browser,
        exchange.url,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
