"""The console as a supervisor runs a floor from it, in a real browser (the system Chromium, driven by
Playwright) against the Chalice app served in-process over moto, on a fixed clock: Monday 18:00 UTC,
10:00 in Los Angeles (the support queue) and 20:00 in Kyiv (closed).

The scenario: Bob takes the first caller (being put through: the board shows him with it); the
second caller hangs up after a minute and their recovery callback parks at their place in line; three
more callers hold. Kyiv has an after-hours caller whose callback waits for the morning. The work
list holds two more lost calls, one of them a number the queue may not dial. History: 12 calls came
at 10:30 on each of the last two Mondays.

Checked: the wallboard (every queue, colours from thresholds, opening one queue), the monitor (one
clock with its zone, the line with the parked callback in its place, the caller with their agent),
the health banner when the app cannot be reached, the lost-call actions and their lasting results,
the reports' and staffing's charts (two axes, tooltips) and formatted figures, widths at 1440 px and
on a 390 px phone, and an automated accessibility pass (axe-core, vendored under tests/browser/vendor)
on every view."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from chalicelib import bootstrap
from chalicelib.adapters.memory import FakeDialer, FixedClock
from chalicelib.domain.model import AgentStatus, CallEvent, CallStatus, Ticket, TicketKind, TicketStatus
from chalicelib.edges import workers
from devstack.pollers import SqsPoller, StreamPoller
from tests.browser.local_app import served_locally
from tests.browser.test_console_browser import CHROMIUM, CHROMIUM_ARGS, DOCS, rows
from tests.e2e.test_local_stack import free_port
from tests.e2e.test_sim_network import until
from tests.helpers import StandIn, lose_calls

ADMIN = "browser-admin-token-0123456789abcdef"
NOW = datetime(2025, 11, 17, 18, 0, tzinfo=timezone.utc)  # Monday
AXE = Path(__file__).with_name("vendor") / "axe.min.js"
pytestmark = pytest.mark.e2e


class Floor:
    def __init__(self, base: str, built: Any, clock: FixedClock, settings: Any, slack: StandIn) -> None:
        self.base, self.built, self.clock, self.slack = base, built, clock, slack
        self.stream = StreamPoller(settings.table_name, workers.on_table_change)
        self.notify = SqsPoller(settings.notify_queue_url, workers.on_notify_message)

    def drain(self) -> None:
        while self.stream.poll_once():
            pass

    def ring(self, sid: str, caller: str, called: str = "+18005550100") -> str:
        self.built.flow.incoming(CallEvent(sid, CallStatus.RINGING, caller, called))
        return self.built.stores.tickets.find_by_call(sid).id

    def hang_up(self, sid: str, caller: str, called: str = "+18005550100") -> None:
        self.built.flow.incoming(CallEvent(sid, CallStatus.COMPLETED, caller, called))


@pytest.fixture
def floor(settings, serve, monkeypatch) -> Iterator[Floor]:  # type: ignore[no-untyped-def]
    if not Path(CHROMIUM).exists():
        pytest.fail("no /usr/bin/chromium: `make test` installs it (make chromium)")
    slack = StandIn()
    monkeypatch.setenv("FLOOR_SLACK_URL", slack.url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    clock = FixedClock(NOW - timedelta(minutes=10))
    built = bootstrap.build_aws(replace(settings, queues_file=str(Path(__file__).with_name("floor_queues.json")),
                                    admin_token=ADMIN, public_base_url=base, metrics_enabled=False),
                            clock=clock, dialer=FakeDialer())
    serve(built)
    f = Floor(base, built, clock, settings, slack)
    try:
        with served_locally(port):
            scenario(f)
            yield f
    finally:
        slack.close()


def scenario(f: Floor) -> None:
    b, clock = f.built, f.clock
    log = b.operations.oplog
    for weeks in (1, 2):  # history, as the stream records it: 12 calls at 10:30 PST on the last two Mondays
        day = (NOW - timedelta(weeks=weeks)).date().isoformat()
        for n in range(12):
            log.record(f"hist-{weeks}-{n}#offered", "support", f"{day}T18:30", {"offered": 1})
    b.dispatcher.agent_event("bob", AgentStatus.BUSY, contact="client:bob", queues=("support",))  # 17:50
    b.dispatcher.agent_event("cat", AgentStatus.AWAY, contact="client:cat", queues=("support",), reason="lunch")
    b.dispatcher.agent_event("dee", AgentStatus.AVAILABLE, contact="client:dee", queues=("kyiv",))
    b.dispatcher.agent_event("dee", AgentStatus.OFFLINE)
    f.ring("CA1", "+14155550101")  # support-1
    clock.advance(60)
    f.ring("CA2", "+14155550102")  # support-2: hangs up after a minute; its recovery parks at its place
    clock.advance(60)
    f.hang_up("CA2", "+14155550102")
    clock.advance(60)
    for n in (3, 4, 5):  # three more hold, from 17:53, 17:54, 17:55
        f.ring(f"CA{n}", f"+1415555010{n}")
        clock.advance(60)
    until(lambda: b.stores.tickets.get("support-2").status is TicketStatus.WAITING)  # the workflow parked it
    clock.current = NOW - timedelta(minutes=2)
    b.dispatcher.agent_event("eve", AgentStatus.WRAP_UP, contact="client:eve", queues=("support",))
    clock.current = NOW - timedelta(minutes=1)
    b.dispatcher.agent_event("bob", AgentStatus.AVAILABLE, contact="client:bob", queues=("support",))
    # Kyiv, closed at 20:00: a lost call with no callback pending (as a short abandon leaves one)
    b.stores.lost.mark_lost(b.stores.tickets.open_ticket(Ticket(
        "kyiv", 0, TicketKind.LIVE, TicketStatus.ABANDONED, NOW - timedelta(minutes=2), call_id="CK1",
        caller="+380445551234", wait_seconds=30.0)).id, "abandoned", NOW - timedelta(minutes=1))
    lose_calls(b.stores, "support", 1, NOW - timedelta(minutes=30))  # support-6, +14155550000
    b.stores.lost.mark_lost(b.stores.tickets.open_ticket(
        b.stores.tickets.get("support-6").evolve(number=0, call_id="CA-uk", caller="+442071234567")).id,
        "abandoned", NOW - timedelta(minutes=20))  # support-7: a number the queue may not dial
    clock.current = NOW
    f.drain()


def sign_in(page: Any, base: str) -> None:
    page.goto(base + "/console")
    page.fill("#token", ADMIN)
    page.click("#sign-in button[type=submit]")
    page.wait_for_selector("#tabs:not([hidden])")


def axe(page: Any, where: str) -> None:
    """axe-core's WCAG A/AA rules on what the page shows now: no violations."""
    page.evaluate(AXE.read_text(encoding="utf-8"))  # evaluate, not a script tag: the page's CSP allows only 'self'
    found = page.evaluate("""async () => (await axe.run(document, {runOnly: {type: 'tag',
        values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})).violations
        .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))""")
    assert found == [], f"{where}: {json.dumps(found, indent=1)}"


def cells(page: Any, table: str) -> list[list[str]]:
    """A table's rows, cell by cell (their text, whatever the layout at the moment it is read)."""
    return page.eval_on_selector_all(f"#{table} tbody tr:not(:has(td.empty))",
                                     "rows => rows.map(r => [...r.cells].map(c => c.textContent.trim()))")


def chart_of(page: Any, canvas: str) -> dict:
    return page.evaluate("""(id) => { const c = Chart.getChart(document.getElementById(id));
        return {axes: Object.fromEntries(Object.entries(c.scales).map(([k, s]) => [k, {position: s.position,
            title: s.options.title.text, ticks: s.ticks.map(t => String(s.getLabelForValue ? t.label : t.value))}])),
            datasets: c.data.datasets.map(d => d.label), labels: c.data.labels}; }""", canvas)


def test_a_supervisor_runs_the_floor(floor: Floor) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 900}, timezone_id="Asia/Tokyo")
        page = context.new_page()  # the browser's own zone is Tokyo: every time must still be the queue's
        sign_in(page, floor.base)

        # --- the wallboard: every queue at once, coloured by its thresholds ---------------------------
        page.click("#tabs button[data-tab=wallboard]")
        page.wait_for_selector(".tile[data-queue=kyiv]")
        support = page.locator(".tile[data-queue=support]")
        figures = {support.locator(".figure").nth(i).get_attribute("data-measure"):
                   support.locator(".figure").nth(i).inner_text() for i in range(support.locator(".figure").count())}
        # 3 holding (from 17:53, 17:54, 17:55): alert at 3; the longest has held 7 min (warn from 60 s)
        assert figures["waiting"].startswith("3") and "(alert)" in figures["waiting"]
        assert figures["longest_wait_seconds"].startswith("7 min 0 s") and "(warn)" in figures["longest_wait_seconds"]
        assert figures["agents"].startswith("0 / 2 / 1")  # bob on the first caller, eve in wrap-up; cat at lunch
        assert figures["callbacks_due_next_hour"].startswith("1")  # the parked recovery, due now
        assert "level-alert" in support.get_attribute("class") and "ALERT" in support.inner_text()
        kyiv = page.locator(".tile[data-queue=kyiv]")
        assert "level-ok" in kyiv.get_attribute("class")
        assert kyiv.locator(".figure[data-measure=agents] b").inner_text() == "0 / 0 / 0"  # dee signed off
        axe(page, "wallboard")
        page.screenshot(path=str(DOCS / "console-wallboard.png"), full_page=True)

        # Past its alert level for its set time (120 s), the queue's channel hears once.
        floor.built.operations.watch()
        floor.clock.advance(120)
        assert floor.built.operations.watch() == 1 and floor.built.operations.watch() == 0
        until(lambda: floor.notify.poll_once() or floor.slack.requests)
        until(lambda: floor.slack.requests)
        assert [r[1]["text"] for r in floor.slack.requests] == [
            "*Holdfast: callers waiting in Support*\ncallers waiting is 3 (alert at 3) since 10:00 PST "
            "(America/Los_Angeles). Wallboard: the console, queue support."]
        floor.clock.current = NOW

        page.click(".tile[data-queue=support] button[data-open=support]")
        page.wait_for_selector("#monitor:not([hidden])")

        # --- the monitor: one clock, the line as dispatched, the caller with their agent --------------
        until(lambda: len(cells(page, "waiting")) == 4)
        assert [r[0] for r in cells(page, "agents")] == ["bob", "cat", "eve"]
        assert page.inner_text("#zone") == "Times: America/Los_Angeles (PST)"
        line = cells(page, "waiting")
        assert [(r[0], r[1], r[2]) for r in line] == [("1", "support-2", "callback (parked)"), ("2", "support-3", "caller"),
                                                     ("3", "support-4", "caller"), ("4", "support-5", "caller")]
        assert line[1][4] == "09:53:00 PST" and line[1][5] == "7 min 0 s"  # since, waited: the queue's clock
        on_call = cells(page, "on-calls")[0]
        assert on_call[0] == "support-1" and on_call[3] == "bob" and on_call[4].startswith("connecting")
        agents = {r[0]: r for r in cells(page, "agents")}
        assert agents["bob"][1:4] == ["connecting", "1 min 0 s (since 09:59 PST)", "***01"]
        assert agents["cat"][1:3] == ["away (lunch)", "10 min 0 s (since 09:50 PST)"]
        assert agents["eve"][1:3] == ["wrap-up", "2 min 0 s (since 09:58 PST)"]
        # bob: 9 min on a call of his own (17:50-17:59), then on Holdfast's call; his AHT waits for a call to end
        assert agents["bob"][4:7] == ["0", "–", "100%"]
        axe(page, "monitor")
        page.screenshot(path=str(DOCS / "console-monitor.png"), full_page=True)

        # The app unreachable: said at once, and said to be gone when it answers again.
        page.route("**/console/api/monitor*", lambda route: route.abort())
        page.wait_for_selector("#health:not([hidden])")
        assert "Not updating: the app cannot be reached" in page.inner_text("#health")
        assert "Showing data from 10:00:00 PST" in page.inner_text("#health")
        page.unroute("**/console/api/monitor*")
        page.wait_for_selector("#health", state="hidden")

        # --- the work list: actions with visible, lasting results ------------------------------------
        page.click("#tabs button[data-tab=lost]")
        until(lambda: len(rows(page, "lost-calls")) == 3)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 1440
        uk = page.locator("#lost-calls tbody tr[data-ticket='support-7']")
        assert uk.locator("button[data-action=call-back-now]").count() == 0 and "not dialable" in uk.inner_text()
        lost = page.locator("#lost-calls tbody tr[data-ticket='support-6']")
        lost.locator("button[data-action=reveal]").click()
        page.wait_for_selector("#lost-calls tr[data-ticket='support-6'] .revealed")
        page.wait_for_timeout(3500)  # a refresh later, still revealed
        assert lost.locator(".revealed").inner_text() == "+14155550000"
        page.on("dialog", lambda dialog: dialog.accept())
        lost.locator("button[data-action=opt-out]").click()
        until(lambda: "opted out: never called back automatically" in lost.inner_text())
        page.wait_for_timeout(3500)
        assert lost.locator("button").count() == 0 and "opted out" in lost.inner_text()
        axe(page, "lost calls")
        page.screenshot(path=str(DOCS / "console-lost-calls.png"), full_page=True)

        # Kyiv is closed: "call back now" is refused and says when instead, on Kyiv's clock (09:00 Tuesday).
        page.select_option("#queue", "kyiv")
        until(lambda: page.locator("#lost-calls tbody tr[data-ticket='kyiv-1']").count())
        assert page.inner_text("#zone") == "Times: Europe/Kyiv (GMT+2)"
        kyiv_row = page.locator("#lost-calls tbody tr[data-ticket='kyiv-1']")
        kyiv_row.locator("button[data-action=call-back-now]").click()
        until(lambda: "nothing was booked; the earliest is Tue 18 Nov 09:00 EET" in kyiv_row.inner_text())
        page.wait_for_timeout(3500)
        assert "not now: we are closed now" in kyiv_row.locator(".action-result").inner_text()
        page.select_option("#queue", "support")

        # --- reports: a real chart (two axes, tooltips), formatted figures ----------------------------
        page.click("#tabs button[data-tab=reports]")
        page.wait_for_selector("#report-table tbody tr")
        chart = chart_of(page, "report-chart")
        assert chart["axes"]["calls"]["title"] == "calls" and chart["axes"]["pct"]["position"] == "right"
        assert chart["axes"]["pct"]["ticks"][-1] == "100%" and len(chart["axes"]["calls"]["ticks"]) > 2
        assert chart["labels"] == ["09:30"]  # today's calls all came in the 09:30 half hour (PST)
        box = page.locator("#report-chart").bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)
        until(lambda: page.evaluate("Chart.getChart(document.getElementById('report-chart')).tooltip.getActiveElements().length") > 0, 5)
        columns = [th.get_attribute("data-column") for th in page.locator("#report-table thead th").all()]
        total = dict(zip(columns, cells(page, "report-table")[-1]))
        # 7 offered in hours, none answered yet: 0%, no ASA; formatted, not raw fractions
        assert (total["period"], total["offered"], total["service_level"], total["asa_seconds"]) == ("total", "7", "0%", "–")
        assert "positive = callers waited less than they were told" in page.inner_text("#report-note")
        axe(page, "reports")
        page.screenshot(path=str(DOCS / "console-reports.png"), full_page=True)

        # --- staffing: the rest of today and tomorrow, from the history --------------------------------
        page.click("#tabs button[data-tab=staffing]")
        page.wait_for_selector("#staffing-table tbody tr")
        first = cells(page, "staffing-table")[0]
        assert first[0] == "10:00 PST (now)"
        half_past = cells(page, "staffing-table")[1]
        # (0.4 * 12 + 0.3 * 12) / 0.7 = 12 calls forecast at 10:30; rostered 3 from 08:00
        assert half_past[0] == "10:30 PST" and half_past[1] == "12" and half_past[4] == "3"
        staffing = chart_of(page, "staffing-chart")
        assert staffing["axes"]["agents"]["position"] == "right" and staffing["axes"]["calls"]["title"] == "calls per half hour"
        assert "same weekday and half hour" in page.inner_text("#staffing-note")
        axe(page, "staffing")
        page.screenshot(path=str(DOCS / "console-staffing.png"), full_page=True)
        context.close()

        # --- a 390 px phone: no sideways scrolling, readable charts -------------------------------------
        phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True)
        page = phone.new_page()
        sign_in(page, floor.base)
        for tab in ("wallboard", "monitor", "lost", "reports", "staffing"):
            page.click(f"#tabs button[data-tab={tab}]")
            page.wait_for_selector(f"#{tab}:not([hidden])")
            page.wait_for_timeout(400)
            assert page.evaluate("document.documentElement.scrollWidth") <= 390, tab
        until(lambda: page.evaluate("Chart.getChart(document.getElementById('staffing-chart')) !== undefined"))
        assert page.evaluate("Chart.getChart(document.getElementById('staffing-chart')).options.plugins.legend.labels.boxWidth") >= 12
        page.click("#tabs button[data-tab=lost]")
        page.wait_for_selector("#lost-calls tbody tr[data-ticket]")
        page.screenshot(path=str(DOCS / "console-phone.png"), full_page=True)
        browser.close()
