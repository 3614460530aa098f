"""The console's lost-call work list in a real browser (the system Chromium, driven by Playwright):
the first 100 oldest lost calls, then "Show more" loads the rest. The app is served in-process by
`chalice local`'s server over moto, with the lost calls written through the store."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from chalicelib import bootstrap
from chalicelib.adapters.memory import FakeDialer, FixedClock
from tests.browser.local_app import served_locally
from tests.browser.test_console_browser import CHROMIUM, CHROMIUM_ARGS, rows
from tests.e2e.test_local_stack import free_port
from tests.helpers import lose_calls

ADMIN = "browser-admin-token-0123456789abcdef"
NOW = datetime(2025, 11, 17, 18, 0, tzinfo=timezone.utc)
pytestmark = pytest.mark.e2e


@pytest.fixture
def served(settings, serve) -> Iterator[tuple[str, Any]]:  # type: ignore[no-untyped-def]
    if not Path(CHROMIUM).exists():
        pytest.fail("no /usr/bin/chromium: `make test` installs it (make chromium)")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    built = bootstrap.build_aws(replace(settings, queues_file=str(Path(__file__).with_name("queues.json")),
                                    admin_token=ADMIN, public_base_url=base, metrics_enabled=False),
                            clock=FixedClock(NOW), dialer=FakeDialer())
    serve(built)
    with served_locally(port):
        yield base, built


def test_the_work_list_shows_100_then_more(served: tuple[str, Any]) -> None:
    from playwright.sync_api import sync_playwright

    base, built = served
    ids = lose_calls(built.stores, "support", 130, NOW)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(base + "/console")
        page.fill("#token", ADMIN)
        page.click("#sign-in button[type=submit]")
        page.wait_for_selector("#monitor:not([hidden])")
        page.click("#tabs button[data-tab=lost]")
        page.wait_for_selector("#lost-more:not([hidden])")
        assert len(rows(page, "lost-calls")) == 100 and page.inner_text("#lost-count") == "100+"
        assert page.locator("#lost-calls tbody tr").first.get_attribute("data-ticket") == ids[0]  # oldest first
        page.click("#lost-more")
        page.wait_for_selector("#lost-more", state="hidden")
        shown = [page.locator("#lost-calls tbody tr").nth(i).get_attribute("data-ticket") for i in range(130)]
        assert shown == ids and page.inner_text("#lost-count") == "130"
        browser.close()
