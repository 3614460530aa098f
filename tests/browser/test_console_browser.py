"""The console in a real browser (the system Chromium, driven by Playwright) against the local stack
(`python -m devstack`, what `make run` runs) with its simulated phone network.

Sign in; an agent goes busy and free; a simulated caller appears in the live monitor and leaves; the
lost call appears in the work list and disappears when its callback connects; the report's CSV
download matches the counts. The README's screenshots come from test_console_floor.py, into docs/
only when asked (`HOLDFAST_SCREENSHOTS=1`, `make screenshots`): a test run leaves the tracked files alone."""
from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from tests.e2e.devstack_process import devstack
from tests.e2e.test_local_stack import CALLER, CLOCKS, free_port
from tests.e2e.test_sim_network import until

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" if os.environ.get("HOLDFAST_SCREENSHOTS") else Path(tempfile.mkdtemp(prefix="holdfast-shots-"))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
pytestmark = pytest.mark.e2e


class Local:
    def __init__(self, port: int, network_port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.net = f"http://127.0.0.1:{network_port}"

    def sim(self, path: str, body: dict | None = None) -> dict:
        return requests.post(self.net + path, json=body or {}, timeout=15).json()


@pytest.fixture(scope="module")
def local() -> Iterator[Local]:
    if not Path(CHROMIUM).exists():
        pytest.fail("no /usr/bin/chromium: `make test` installs it (make chromium)")
    port, moto_port, network_port = free_port(), free_port(), free_port()
    # the caller's day (their callback may be dialed at once), whatever the real hour
    with devstack(port, moto_port, "--network-port", str(network_port), "--pace", "0.05",
                  "--clock", CLOCKS["caller's day"], queues=Path(__file__).with_name("queues.json")):
        yield Local(port, network_port)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def rows(page: Any, table: str) -> list[str]:
    return [r for r in page.locator(f"#{table} tbody tr").all_inner_texts() if r.strip() != "none"]


def test_the_console_end_to_end(local: Local, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, accept_downloads=True)
    page = context.new_page()
    page.clock.set_fixed_time("2031-02-03T04:05:06Z")  # the browser's own clock says another day
    page.goto(local.base + "/console")
    page.fill("#token", "wrong")
    page.click("#sign-in button[type=submit]")
    page.wait_for_selector("text=Wrong token.")
    from devstack.stack import LOCAL_ADMIN_TOKEN
    page.fill("#token", LOCAL_ADMIN_TOKEN)
    page.click("#sign-in button[type=submit]")
    page.wait_for_selector("#monitor:not([hidden])")
    cookie = next(c for c in context.cookies() if c["name"] == "holdfast_console")
    # a session cookie that outlives the page's load, by the browser's own (fixed, 2031) clock's standard
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["expires"] > 0
    assert LOCAL_ADMIN_TOKEN not in page.url

    # An agent goes busy, then free, then signs off (and stays listed, offline).
    local.sim("/sim/agents/bob", {"status": "busy"})
    until(lambda: any("bob" in r and "own call" in r for r in rows(page, "agents")), 15)  # busy: a call of their own
    local.sim("/sim/agents/bob", {"status": "available"})
    until(lambda: any("bob" in r and "available" in r for r in rows(page, "agents")), 15)
    local.sim("/sim/agents/bob", {"status": "offline"})
    until(lambda: any("bob" in r and "offline" in r for r in rows(page, "agents")), 15)

    # A caller appears in the live monitor, masked, and leaves after holding past the short-abandon time.
    caller = CALLER
    sid = local.sim("/sim/call", {"from": caller})["sid"]
    until(lambda: any("support-1" in r for r in rows(page, "waiting")), 20)
    waiting = rows(page, "waiting")[0]
    assert caller not in waiting and "***" + caller[-2:] in waiting
    until(lambda: "offered" in page.locator("#counters").inner_text(), 10)
    # held past the queue's short-abandon time (1 s), as the monitor itself shows it
    until(lambda: any(re.search(r"\t([2-9]|[1-5]\d) s\b", r) for r in rows(page, "waiting")), 20)
    local.sim(f"/sim/calls/{sid}/hangup")
    # no longer holding (its recovery callback may park at its place: the line shows that as a callback)
    until(lambda: not any("support-1\tcaller" in r for r in rows(page, "waiting")), 20)

    # The lost call is on the work list, masked; revealing it shows the number to this admin.
    page.click("#tabs button[data-tab=lost]")
    until(lambda: any("support-1" in r for r in rows(page, "lost-calls")), 20)
    row = page.locator("#lost-calls tbody tr[data-ticket='support-1']")
    assert caller not in row.inner_text() and "abandoned" in row.inner_text()
    row.locator("button[data-action=reveal]").click()
    page.wait_for_selector("#lost-calls .revealed")
    assert page.locator("#lost-calls .revealed").inner_text() == caller
    # Call back now: its recovery callback is already due, waiting for an agent; the page says so.
    row.locator("button[data-action=call-back-now]").click()
    until(lambda: "already due" in row.locator(".action-result").inner_text(), 10)

    # An agent comes on: the recovery callback connects and the lost call leaves the list.
    local.sim("/sim/agents/alice", {"status": "available", "handle_seconds": 20})
    until(lambda: not any("support-1" in r for r in rows(page, "lost-calls")), 60)

    # Reports: the page's totals and the downloaded CSV both say what happened.
    page.click("#tabs button[data-tab=reports]")
    # The default day is the queue's today by Holdfast's clock (18:00 UTC: 10:00 in San Francisco).
    assert page.input_value("#report-from") == page.input_value("#report-to") == CLOCKS["caller's day"][:10]

    def report_total() -> dict[str, str] | None:
        page.click("#report-form button[type=submit]")
        page.wait_for_timeout(500)
        with page.expect_download() as info:
            page.click("#report-csv")
        text = Path(info.value.path()).read_text(encoding="utf-8")
        total = list(csv.DictReader(io.StringIO(text)))[-1]
        return total if total["recovered_by_callback"] == "1" else None

    total = until(report_total, 30)
    assert total["period"] == "total"
    assert (total["offered"], total["answered_live"], total["lost"], total["lost_abandoned"],
            total["abandoned_long"], total["callbacks_booked"], total["callbacks_connected"], total["unrecovered"]) == (
        "1", "0", "1", "1", "1", "1", "1", "0")
    keys = ("offered", "lost", "recovered_by_callback", "unrecovered")

    def page_total() -> dict[str, str] | None:
        # the table renders after its own fetch: read it until it has caught up with the CSV's totals
        shown = page.locator("#report-table tbody tr").last.inner_text().split("\t")
        header = [th.get_attribute("data-column") for th in page.locator("#report-table thead th").all()]
        on_page = dict(zip(header, [s.strip() for s in shown]))
        if all(on_page.get(k) == total[k] for k in keys):
            return on_page
        page.click("#report-form button[type=submit]")
        page.wait_for_timeout(500)
        return None

    until(page_total, 15)
    assert page.evaluate("Chart.getChart(document.getElementById('report-chart')).data.datasets.length") == 4

    page.click("#tabs button[data-tab=staffing]")
    page.wait_for_selector("#staffing-table tbody tr")
    until(lambda: "Goals:" in page.locator("#staffing-note").inner_text(), 10)

    # Signing out ends the session: the API refuses the old cookie's holder from now on.
    page.click("#sign-out")
    page.wait_for_selector("#sign-in-view:not([hidden])")
    assert page.evaluate("fetch('console/api/monitor').then(r => r.status)") == 401
    context.close()


def test_the_console_fits_a_phone_screen(local: Local, browser: Any) -> None:
    from devstack.stack import LOCAL_ADMIN_TOKEN

    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True)
    page = context.new_page()
    page.goto(local.base + "/console")
    page.fill("#token", LOCAL_ADMIN_TOKEN)
    page.click("#sign-in button[type=submit]")
    page.wait_for_selector("#monitor:not([hidden])")

    def nobody_on() -> bool:  # whatever another test left on (mid-call, say): this caller must wait
        for agent in ("alice", "bob"):
            local.sim(f"/sim/agents/{agent}", {"status": "offline"})
        return all("offline" in r for r in rows(page, "agents"))

    until(nobody_on, 30)
    local.sim("/sim/call", {"from": "+14155550177"})
    until(lambda: rows(page, "waiting"), 20)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # no sideways scrolling: tables become stacked cards
    context.close()
