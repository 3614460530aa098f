"""Callbacks from the web and the caller's page in a real browser (the system Chromium, Playwright), the
app served in-process over moto: a shop's page embeds the widget with one script tag, sees the wait, asks
for a callback and is told its place; the link from the text opens the caller's page on a phone-sized
screen and cancels the callback."""
from __future__ import annotations

import contextlib
import http.server
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from chalicelib.adapters.memory import FixedClock
from chalicelib.domain.model import TicketStatus
from tests.browser.local_app import served_locally
from tests.browser.test_console_browser import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.test_local_stack import free_port
from tests.helpers import built_with_queues

SHOP_PORT = free_port()
# The shop's page, from a server of its own: another origin than the app's on the same loopback address
# space (Chromium lets no public page reach a loopback server: private network access)
SHOP = f"http://127.0.0.1:{SHOP_PORT}"
NOW = datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc)  # Monday 13:00 in New York
QUEUES = {"default": "web", "queues": [
    {"id": "web", "name": "Acme", "numbers": ["+18005550100"], "caller_id": "+18005550199", "assumed_agents": 1,
     "hours": {"timezone": "America/New_York", **{d: ["09:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")}},
     "sms_countries": ["US"], "web_callbacks": {"allowed_origins": [SHOP]}},
    {"id": "timed", "name": "Acme", "numbers": ["+18005550101"], "caller_id": "+18005550199", "assumed_agents": 2,
     "hours": {"timezone": "America/New_York", **{d: ["09:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")}},
     "sms_countries": ["US"], "scheduled_callbacks": {"slot_minutes": 30},
     "web_callbacks": {"allowed_origins": [SHOP], "sms_code": True}}]}
pytestmark = pytest.mark.e2e


@contextlib.contextmanager
def shop_serving(page: str) -> Iterator[None]:
    class Shop(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = page.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", SHOP_PORT), Shop)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield
    finally:
        server.shutdown()


@pytest.fixture
def served(settings, serve, tmp_path: Path) -> Iterator[tuple[str, Any]]:  # type: ignore[no-untyped-def]
    if not Path(CHROMIUM).exists():
        pytest.fail("no /usr/bin/chromium: `make test` installs it (make chromium)")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    built = built_with_queues(settings, tmp_path, QUEUES, FixedClock(NOW), admin_token="browser-admin-token-0123456789",
                              public_base_url=base, metrics_enabled=False)
    serve(built)
    with served_locally(port):
        yield base, built


def test_the_widget_shows_the_wait_and_books_and_the_link_cancels(served: tuple[str, Any]) -> None:
    from playwright.sync_api import sync_playwright

    base, built = served
    shop_page = (f'<!doctype html><html><body><h1>Shop</h1>'
                 f'<script src="{base}/web/widget.js" data-queue="web"></script></body></html>')
    loads: list[str] = []
    with shop_serving(shop_page), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.on("request", lambda r: loads.append(r.url))
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text))
        page.goto(f"{SHOP}/")
        assert page.locator(".holdfast-wait").count() == 1, (loads, errors)
        page.wait_for_function("(document.querySelector('.holdfast-wait')?.textContent || '').includes('number 1')")
        page.fill(".holdfast-callback input[type=tel]", "(212) 555-0123")
        page.click(".holdfast-callback button[type=submit]")
        page.wait_for_function("(document.querySelector('.holdfast-result')?.textContent || '').includes('Done')")
        assert "You are number 1 in line." in page.inner_text(".holdfast-result")
        assert all(u.startswith((SHOP, base)) for u in loads)  # nothing from anywhere else

        ticket = built.stores.bookings.open_callback_for("web", "+12125550123")
        assert ticket is not None and ticket.origin == "web"
        link = built.texts.link(ticket)
        phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
        phone.goto(link)
        assert phone.inner_text("#place") == "1" and "+18005550199" in phone.inner_text("body")
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390  # fits the phone: no sideways scrolling
        phone.click("text=Cancel my callback")
        phone.wait_for_selector("text=Your callback is cancelled.")
        assert built.stores.tickets.get(ticket.id).status is TicketStatus.CANCELLED
        browser.close()


def test_the_widget_offers_times_and_books_one_after_the_code_texted_to_the_number(served: tuple[str, Any]) -> None:
    from playwright.sync_api import sync_playwright

    from chalicelib.adapters.memory import FakeMessenger

    base, built = served
    texted = FakeMessenger()
    built.texts.messenger = texted  # the texts go to a recorder, not to a provider's account
    shop_page = (f'<!doctype html><html><body><h1>Shop</h1>'
                 f'<script src="{base}/web/widget.js" data-queue="timed"></script></body></html>')
    with shop_serving(shop_page), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.goto(f"{SHOP}/")
        # 13:00 in New York, slots of 30 minutes from at least 15 minutes ahead: 13:30, 14:00, 14:30
        page.wait_for_selector(".holdfast-callback select option[value='2026-11-23T19:00Z']", state="attached")
        page.fill(".holdfast-callback input[type=tel]", "(212) 555-0123")
        page.select_option(".holdfast-callback select", "2026-11-23T19:00Z")
        page.click(".holdfast-callback button[type=submit]")
        page.wait_for_function("(document.querySelector('.holdfast-result')?.textContent || '').includes('We texted')")
        assert built.stores.bookings.open_callback_for("timed", "+12125550123") is None  # nothing booked yet
        (text,) = texted.sent
        assert text["to"] == "+12125550123"
        page.fill(".holdfast-callback input[name=code]", text["body"].split("code is ", 1)[1][:6])
        page.click(".holdfast-callback button[type=submit]")
        page.wait_for_function("(document.querySelector('.holdfast-result')?.textContent || '').includes('Done')")
        browser.close()
    ticket = built.stores.bookings.open_callback_for("timed", "+12125550123")
    assert ticket is not None and built.stores.tickets.get(ticket.id).slot == "2026-11-23T19:00Z"


def test_the_console_lists_the_scheduled_callbacks_by_slot(served: tuple[str, Any]) -> None:
    from playwright.sync_api import expect, sync_playwright

    from chalicelib.domain.webcode import code_for

    base, built = served
    for n, slot in enumerate(("2026-11-23T19:00Z", "2026-11-23T19:00Z", "2026-11-23T19:30Z")):
        number = f"+1212555012{n}"
        built.web.requests.request("timed", number, f"198.51.100.{n}",
                                   code_for(built.texts.link_secret, "timed", number, NOW), slot)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(f"{base}/console")
        page.fill("#token", "browser-admin-token-0123456789")
        page.click("#sign-in button[type=submit]")
        page.wait_for_selector("#monitor:not([hidden])")
        page.select_option("#queue", "timed")
        expect(page.locator("#scheduled-count")).to_have_text("3", timeout=30_000)  # the console forbids eval
        shown = [r.split("\t") for r in page.locator("#scheduled tbody tr").all_inner_texts()]
        browser.close()
    # the slots in the queue's own time (New York), with the callbacks each holds
    assert [(row[0], row[1]) for row in shown] == [("14:00 EST", "2"), ("14:30 EST", "1")]
    assert all(int(row[2]) - int(row[1]) == int(row[3]) for row in shown)  # capacity, booked, left
