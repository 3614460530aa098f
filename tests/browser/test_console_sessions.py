"""A signed-out cookie no longer opens the console (issue 21 item 6), in a real browser (the system
Chromium, driven by Playwright): sign in, keep a copy of the session cookie, sign out; a second browser
given the copy is shown the sign-in form and the API refuses it. Served in-process by `chalice local`'s
server over moto."""
from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.test_console_browser import CHROMIUM, CHROMIUM_ARGS
from tests.browser.test_console_lost_pages import ADMIN, served  # noqa: F401 - the served app, as a fixture

pytestmark = pytest.mark.e2e


def test_a_signed_out_cookie_no_longer_opens_the_console(served: tuple[str, Any]) -> None:  # noqa: F811
    from playwright.sync_api import sync_playwright

    base, _ = served
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        first = browser.new_context(viewport={"width": 1280, "height": 860})
        page = first.new_page()
        page.goto(base + "/console")
        page.fill("#token", ADMIN)
        page.click("#sign-in button[type=submit]")
        page.wait_for_selector("#monitor:not([hidden])")
        kept = [c for c in first.cookies() if c["name"] == "holdfast_console"]
        assert len(kept) == 1 and kept[0]["value"]

        page.click("#sign-out")
        page.wait_for_selector("#sign-in-view:not([hidden])")
        assert page.evaluate("fetch('console/api/monitor').then(r => r.status)") == 401

        # Whoever kept a copy of the cookie (another browser, a stolen one) is shown the sign-in form.
        second = browser.new_context(viewport={"width": 1280, "height": 860})
        second.add_cookies(kept)
        other = second.new_page()
        other.goto(base + "/console")
        other.wait_for_selector("#sign-in-view:not([hidden])")
        assert other.locator("#monitor").is_hidden()
        assert other.evaluate("fetch('console/api/me').then(r => r.status)") == 401
        assert [c["value"] for c in second.cookies() if c["name"] == "holdfast_console"] == [kept[0]["value"]]
        browser.close()


def test_past_the_sign_in_limit_the_form_says_how_long_to_wait(served: tuple[str, Any]) -> None:  # noqa: F811
    """Ten wrong tokens from one client (the limit per five minutes): the eleventh try, the right token
    this time, is refused with the app's own words (how long to wait), not 'Wrong token.'."""
    from playwright.sync_api import expect, sync_playwright

    from chalicelib.edges.sessions import CLIENT_ATTEMPTS

    base, _ = served
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(base + "/console")
        for _ in range(CLIENT_ATTEMPTS):
            page.fill("#token", "not-the-admin-token")
            page.click("#sign-in button[type=submit]")
            expect(page.locator("#sign-in-error")).to_have_text("Wrong token.")
            page.evaluate("document.querySelector('#sign-in-error').textContent = ''")
        page.fill("#token", ADMIN)
        page.click("#sign-in button[type=submit]")
        expect(page.locator("#sign-in-error")).to_have_text(re.compile(r"^too many sign-in attempts; try again in \d+ s$"))
        assert page.locator("#monitor").is_hidden()
        browser.close()
