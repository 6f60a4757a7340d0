"""The web trading terminal in a real headless Chromium against a running ``rialto up --demo``.

Sign-up and login, a moving book, a resting limit order in the book and in open orders, its
cancellation, a crossing order seen in the tape, the chart and the balances, Binance's message
on a rejected order, API keys, keyboard use, the phone-width layout. The fixtures fail a test
whose page logs a console error it did not expect.
"""

from __future__ import annotations

import re
import time
import uuid
from decimal import Decimal

import httpx
from e2e_support import DEMO, Exchange, Terminal
from playwright.sync_api import Page, expect

TICK = Decimal("0.01")


def log_in(page: Page, email: str, password: str) -> None:
    page.click("#open-login")
    page.fill("#auth-email", email)
    page.fill("#auth-password", password)
    page.click("#auth-submit")
    expect(page.locator("#user-email")).to_have_text(email)


def depth(exchange: Exchange, symbol: str = "BTCUSDT") -> dict[str, list[list[str]]]:
    """The book, with both sides quoted (the demo's quoting bot replaces its orders)."""
    for _ in range(100):
        r = httpx.get(f"{exchange.url}/api/v3/depth", params={"symbol": symbol, "limit": 20})
        book: dict[str, list[list[str]]] = r.json()
        if book["bids"] and book["asks"]:
            return book
        time.sleep(0.05)
    raise AssertionError(f"no two-sided book on {symbol}")


def free(page: Page, asset: str) -> Decimal:
    page.click("#tab-balances")
    cell = page.locator(f'#balances tr[data-asset="{asset}"] td.free')
    return Decimal(cell.inner_text())


def order_id(page: Page) -> int:
    message = page.locator("#order-message")
    expect(message).to_have_attribute("data-order-id", re.compile(r"\d+"))
    return int(message.get_attribute("data-order-id") or 0)


def test_sign_up_log_out_log_in(terminal: Terminal) -> None:
    page = terminal.page
    email = f"e2e-{uuid.uuid4().hex[:8]}@web.test"
    page.click("#open-signup")
    expect(page.locator("#auth-title")).to_have_text("Create an account")
    page.fill("#auth-email", email)
    page.fill("#auth-password", "a long password")
    terminal.shot("signup-dialog")
    page.click("#auth-submit")
    expect(page.locator("#user-email")).to_have_text(email)
    page.click("#tab-balances")
    expect(page.locator('#balances tr[data-asset="USDT"] td.free')).to_have_text(
        re.compile(r"^0(\.0+)?$")
    )
    page.click("#logout")
    expect(page.locator("#open-login")).to_be_visible()
    expect(page.locator("#balances")).to_contain_text("Log in")
    # A wrong password: the API's message, and the browser logs the 401.
    terminal.allow(r"status of 401")
    page.click("#open-login")
    page.fill("#auth-email", email)
    page.fill("#auth-password", "not the password")
    page.click("#auth-submit")
    expect(page.locator("#auth-error")).to_have_text("Wrong e-mail address or password.")
    page.fill("#auth-password", "a long password")
    page.click("#auth-submit")
    expect(page.locator("#user-email")).to_have_text(email)


def test_the_book_and_the_tape_move(terminal: Terminal) -> None:
    page = terminal.page
    before = page.locator("#book").inner_text()
    first = page.locator("#tape-list li").first.get_attribute("data-trade-id")
    page.wait_for_function(
        """([book, first]) => document.querySelector('#book').innerText !== book
            && document.querySelector('#tape-list li').dataset.tradeId !== first""",
        arg=[before, first],
        timeout=20_000,
    )
    expect(page.locator("#markets")).to_contain_text("ETH/BTC")
    expect(page.locator("#chart-legend")).to_contain_text("C ")
    terminal.shot("market")
    # Grouped by a coarser price step: every level is a multiple of it.
    page.select_option("#book-step", "10")
    expect(page.locator("#book-bids .book-row").first).to_have_attribute(
        "data-price", re.compile(r"^\d+0$")
    )
    prices = page.locator("#book .book-row[data-price]").evaluate_all(
        "rows => rows.map(r => r.dataset.price)"
    )
    assert prices and all(int(p) % 10 == 0 for p in prices), prices
    page.click("#tab-depth")
    expect(page.locator(".depth-caption")).to_contain_text("Bids")
    expect(page.locator("#depth-chart")).to_be_visible()
    terminal.shot("depth-chart")


def test_limit_order_in_book_and_open_orders_then_canceled(
    terminal: Terminal, exchange: Exchange
) -> None:
    page = terminal.page
    log_in(page, *DEMO)
    bids = depth(exchange)["bids"][:9]
    price = f"{Decimal(bids[-1][0]) - 5 * TICK:.2f}"  # within the 10 levels the book shows
    page.fill("#price", price)
    page.fill("#amount", "0.0010")
    expect(page.locator("#fee")).to_contain_text("Fee ≈ 0.00000100 BTC")  # before submitting
    page.click("#submit-order")
    expect(page.locator("#order-message")).to_contain_text(": NEW")
    oid = order_id(page)
    row = page.locator(f'#open-orders tr[data-order-id="{oid}"]')
    expect(row).to_contain_text(price)
    level = page.locator(f'#book-bids [data-price="{price}"]')
    expect(level).to_be_visible()
    terminal.shot("open-order")
    row.locator("button.cancel").click()
    expect(row).to_have_count(0)
    expect(page.locator("#account-message")).to_have_text(f"Canceled #{oid}")
    expect(level).to_have_count(0)
    page.click("#tab-history")
    expect(page.locator(f'#order-history tr[data-order-id="{oid}"]')).to_contain_text("CANCELED")


def test_cancel_all(terminal: Terminal, exchange: Exchange) -> None:
    page = terminal.page
    log_in(page, *DEMO)
    low = Decimal(depth(exchange)["bids"][-1][0])
    placed = []
    for step in (30, 40):
        page.fill("#price", f"{low - step * TICK:.2f}")
        page.fill("#amount", "0.0002")
        page.click("#submit-order")
        expect(page.locator("#order-message")).to_contain_text(": NEW")
        placed.append(order_id(page))
    rows = [page.locator(f'#open-orders tr[data-order-id="{oid}"]') for oid in placed]
    for row in rows:
        expect(row).to_be_visible()
    page.click("#cancel-all")
    expect(page.locator("#account-message")).to_have_text(
        re.compile(r"^Canceled \d+ orders on BTCUSDT$")
    )
    for row in rows:
        expect(row).to_have_count(0)
    expect(page.locator("#cancel-all")).to_be_disabled()


def test_crossing_order_in_tape_chart_and_balances(terminal: Terminal, exchange: Exchange) -> None:
    page = terminal.page
    log_in(page, *DEMO)
    page.click('#charts [data-interval="1d"]')
    btc, usdt = free(page, "BTC"), free(page, "USDT")
    ask = Decimal(depth(exchange)["asks"][0][0])
    page.fill("#price", f"{ask * Decimal('1.01'):.2f}")  # crosses the best ask
    page.fill("#amount", "0.0002")
    page.click("#submit-order")
    expect(page.locator("#order-message")).to_contain_text("FILLED")
    message = page.locator("#order-message")
    trade_ids = [int(t) for t in (message.get_attribute("data-trade-ids") or "").split(",")]
    assert trade_ids, "a crossing order trades"
    last = max(trade_ids)
    # The tape, the chart's current candle and the balances show it.
    expect(page.locator(f'#tape-list li[data-trade-id="{last}"]')).to_be_visible()
    page.wait_for_function(
        "id => Number(document.querySelector('#chart-legend').dataset.lastTrade) >= id",
        arg=last,
    )
    cell = page.locator('#balances tr[data-asset="BTC"] td.free')
    expect(cell).not_to_have_text(f"{btc}")
    # A buyer pays the fee in the base asset: 0.0002 less 0.1%.
    assert free(page, "BTC") == btc + Decimal("0.0002") - Decimal("0.0000002")
    assert free(page, "USDT") < usdt
    page.click("#tab-trades")
    expect(page.locator(f'#trade-history tr[data-trade-id="{last}"]')).to_contain_text("BUY")
    terminal.shot("terminal-desktop")


def test_market_and_stop_limit_orders(terminal: Terminal) -> None:
    page = terminal.page
    log_in(page, *DEMO)
    page.check('input[name="side"][value="SELL"]', force=True)
    page.check('input[name="kind"][value="market"]', force=True)
    page.select_option("#market-by", "total")
    page.fill("#total", "20")
    expect(page.locator("#fee")).to_contain_text("USDT")
    page.click("#submit-order")
    expect(page.locator("#order-message")).to_contain_text("SELL MARKET")
    expect(page.locator("#order-message")).to_contain_text("FILLED")
    # A sell stop-limit below the market: a stop-loss, resting until triggered.
    last = Decimal(page.locator("#last-price").inner_text())
    page.check('input[name="kind"][value="stop"]', force=True)
    page.fill("#stop-price", f"{last * Decimal('0.8'):.2f}")
    page.fill("#price", f"{last * Decimal('0.79'):.2f}")
    page.fill("#amount", "0.0010")
    page.click("#submit-order")
    expect(page.locator("#order-message")).to_contain_text("SELL STOP LOSS LIMIT")
    oid = order_id(page)
    expect(page.locator(f'#open-orders tr[data-order-id="{oid}"]')).to_contain_text("stop loss")


def test_rejected_order_shows_binance_message(terminal: Terminal, exchange: Exchange) -> None:
    page = terminal.page
    terminal.allow(r"status of 400")  # the browser logs the rejection's HTTP status
    log_in(page, *DEMO)
    page.fill("#price", depth(exchange)["bids"][0][0])
    page.fill("#amount", "1000")
    page.click('#order-form button[data-pct="25"]')  # 25% of 5,000,000 USDT: affordable
    page.fill("#amount", "1000")  # 1000 BTC: not
    page.click("#submit-order")
    message = page.locator("#order-message")
    expect(message).to_have_text("Account has insufficient balance for requested action. (-2010)")
    expect(message).to_have_attribute("role", "alert")
    terminal.shot("rejected-order")
    page.fill("#price", "65000.001")
    page.fill("#amount", "0.001")
    page.click("#submit-order")
    expect(message).to_have_text("Filter failure: PRICE_FILTER (-1013)")


def test_amount_by_percentage_of_balance(terminal: Terminal) -> None:
    page = terminal.page
    log_in(page, *DEMO)
    page.check('input[name="side"][value="SELL"]', force=True)
    btc = free(page, "BTC")
    page.click('#order-form button[data-pct="50"]')
    step = Decimal("0.0001")
    expect(page.locator("#amount")).to_have_value(f"{(btc / 2).quantize(step, 'ROUND_DOWN')}")


def test_api_keys(terminal: Terminal) -> None:
    page = terminal.page
    log_in(page, *DEMO)
    page.click("#open-keys")
    page.fill("#key-ips", "127.0.0.1, 10.0.0.0/8")
    page.click("#create-key")
    expect(page.locator("#new-secret")).to_have_text(re.compile(r"^[0-9A-Za-z]{64}$"))
    key = page.locator("#new-key").inner_text()
    item = page.locator(f'#key-list li[data-key="{key}"]')
    expect(item).to_contain_text("read, trade · 127.0.0.1, 10.0.0.0/8")
    terminal.shot("api-keys")
    item.locator("button.revoke").click()
    expect(item).to_have_count(0)
    expect(page.locator("#key-message")).to_contain_text(f"Revoked {key}")
    page.keyboard.press("Escape")
    expect(page.locator("#keys-dialog")).not_to_be_visible()
    # A revoked secret is never shown again.
    page.click("#open-keys")
    expect(page.locator("#new-secret")).to_have_count(0)


def test_keyboard(terminal: Terminal) -> None:
    page = terminal.page
    page.keyboard.press("Tab")
    expect(page.locator(".skip")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#entry")).to_be_focused()
    page.locator('#markets [data-symbol="ETHUSDT"]').focus()
    page.keyboard.press("Enter")
    expect(page.locator("#ticker h1")).to_have_text("ETH/USDT")
    page.locator("#tab-open").focus()
    page.keyboard.press("ArrowRight")
    expect(page.locator("#tab-history")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#tab-history")).to_be_focused()
    page.locator("#open-login").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#auth-email")).to_be_focused()
    page.keyboard.type(DEMO[0])
    page.keyboard.press("Tab")
    page.keyboard.type(DEMO[1])
    page.keyboard.press("Enter")
    expect(page.locator("#user-email")).to_have_text(DEMO[0])


def test_phone_width(phone: Terminal) -> None:
    page = phone.page
    log_in(page, *DEMO)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways at phone width ({width} px)"
    for panel in ("#markets", "#charts", "#entry", "#book", "#tape", "#account"):
        box = page.locator(panel).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, panel
    charts, entry = page.locator("#charts").bounding_box(), page.locator("#entry").bounding_box()
    assert charts is not None and entry is not None and entry["y"] > charts["y"], "one column"
    expect(page.locator("#submit-order")).to_be_visible()
    phone.shot("phone", full_page=True)
