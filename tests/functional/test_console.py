"""The operations console through the Chalice test client, on moto: sign-in, session cookie, CSRF,
credentials kept apart, the live monitor, the lost-call work list, and reports kept from the table's
stream that agree with the raw tickets."""
from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from chalice.test import Client

from chalicelib import bootstrap
from chalicelib.edges import workers
from chalicelib.domain.model import AgentStatus, CallEvent, CallStatus, Ticket, TicketKind, TicketStatus
from devstack.pollers import StreamPoller, deployed_filters
from tests.conftest import AUTH_TOKEN
from tests.helpers import event, lose_calls, signed
from chalicelib.adapters.memory import FakeDialer, FixedClock

ADMIN = "admin-secret"
AGENT = "agent-secret"
QUEUES = str(Path(__file__).with_name("queues.json"))
NOW = datetime(2025, 11, 17, 18, 0, tzinfo=timezone.utc)


class Stream:
    """The table's stream, drained on demand into the same worker AWS runs; records kept for replay."""

    def __init__(self, table: str) -> None:
        self.poller = StreamPoller(table, self._handle, filters=deployed_filters())
        self.records: list[tuple[Any, Any]] = []

    def _handle(self, new: Any, old: Any) -> None:
        self.records.append((new, old))
        workers.on_table_change(new, old)

    def drain(self) -> None:
        while self.poller.poll_once():
            pass


@pytest.fixture
def c(settings, serve):  # type: ignore[no-untyped-def]
    built = bootstrap.build_aws(replace(settings, queues_file=QUEUES, admin_token=ADMIN, agent_token=AGENT,
                                    public_base_url="http://127.0.0.1:8000", metrics_enabled=False),
                            clock=FixedClock(NOW), dialer=FakeDialer())
    serve(built)
    return built


@pytest.fixture
def stream(c, settings) -> Stream:  # type: ignore[no-untyped-def]
    return Stream(settings.table_name)


def sign_in(client: Client, token: str = ADMIN) -> tuple[Any, dict[str, str]]:
    reply = client.http.post("/console/api/session", headers={"Content-Type": "application/json"},
                             body=json.dumps({"token": token}))
    if reply.status_code != 200:
        return reply, {}
    cookie = reply.headers["Set-Cookie"].split(";")[0]
    return reply, {"Cookie": cookie, "X-CSRF-Token": json.loads(reply.body)["csrf"],
                   "Content-Type": "application/json"}


def get(client: Client, name: str, headers: dict[str, str], query: str = "") -> Any:
    reply = client.http.get(f"/console/api/{name}{query}", headers=headers)
    assert reply.status_code == 200, reply.body
    return json.loads(reply.body) if name != "report.csv" else reply.body.decode()


def ring(c, sid: str, caller: str) -> str:  # type: ignore[no-untyped-def]
    c.flow.incoming(CallEvent(sid, CallStatus.RINGING, caller, "+18005550100"))
    return c.stores.tickets.find_by_call(sid).id


def hang_up(c, sid: str, caller: str) -> None:  # type: ignore[no-untyped-def]
    c.flow.incoming(CallEvent(sid, CallStatus.COMPLETED, caller, "+18005550100"))


# --- sign-in, cookie, CSRF, credentials ---------------------------------------------------------

def test_sign_in_sets_a_strict_httponly_expiring_cookie_and_wrong_tokens_are_refused(client: Client) -> None:
    assert sign_in(client, "nope")[0].status_code == 401
    assert sign_in(client, AGENT)[0].status_code == 401  # the agents' credential opens nothing here
    reply, headers = sign_in(client)
    cookie = reply.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Max-Age=28800" in cookie
    assert "Path=/console" in cookie and "Secure" not in cookie  # local URL: http, so no Secure flag
    assert ADMIN not in cookie
    assert get(client, "me", headers)["queues"][0]["id"] == "support"
    assert client.http.get("/console/api/monitor").status_code == 401
    forged = dict(headers, Cookie=headers["Cookie"][:-4] + "0000")
    assert client.http.get("/console/api/monitor", headers=forged).status_code == 401


def test_each_queue_says_its_own_today_by_holdfasts_clock_on_both_sides_of_midnight(c, client: Client) -> None:  # type: ignore[no-untyped-def]
    """The pages' default day comes from here, not from the browser's clock."""
    _, headers = sign_in(client)
    days = {q["id"]: q["today"] for q in get(client, "me", headers)["queues"]}
    assert days["support"] == days["kyiv"] == "2025-11-17"  # 10:00 in San Francisco, 20:00 in Kyiv
    c.flow.clock.advance(5 * 3600 + 30 * 60)  # 23:30 UTC: 15:30 in San Francisco, 01:30 next day in Kyiv
    days = {q["id"]: q["today"] for q in get(client, "me", headers)["queues"]}
    assert (days["support"], days["kyiv"]) == ("2025-11-17", "2025-11-18")


def test_cookie_is_secure_outside_local_and_sessions_expire(c) -> None:  # type: ignore[no-untyped-def]
    from chalicelib.adapters.memory import MemoryConsoleSessions, MemoryThrottle
    from chalicelib.edges.sessions import Sessions

    clock = FixedClock(NOW)
    sessions = Sessions(ADMIN, clock, "https://abc.execute-api.us-east-1.amazonaws.com/api", MemoryConsoleSessions(),
                        MemoryThrottle())
    value = sessions.sign_in(ADMIN, "10.0.0.1").session
    assert value is not None
    assert sessions.cookie(value, 60).endswith("SameSite=Strict; Secure")
    assert "Path=/api/console" in sessions.cookie(value, 60)
    assert sessions.valid(value)
    clock.advance(8 * 3600 + 1)
    assert not sessions.valid(value)
    nobody = Sessions("", clock, "http://localhost", MemoryConsoleSessions(), MemoryThrottle())
    assert not nobody.token_ok("") and nobody.sign_in("", "10.0.0.1").session is None  # no admin token: nobody


def test_every_action_needs_the_csrf_token(client: Client, c) -> None:  # type: ignore[no-untyped-def]
    ring(c, "CA1", "+14155550100")
    c.flow.clock.advance(60)
    hang_up(c, "CA1", "+14155550100")
    _, headers = sign_in(client)
    body = json.dumps({"ticket": "support-1"})
    for bad in ({k: v for k, v in headers.items() if k != "X-CSRF-Token"}, dict(headers, **{"X-CSRF-Token": "x"})):
        assert client.http.post("/console/api/reveal", headers=bad, body=body).status_code == 403
        assert client.http.post("/console/api/opt-out", headers=bad, body=body).status_code == 403
        assert client.http.post("/console/api/stop-calling", headers=bad, body=body).status_code == 403
        assert client.http.post("/console/api/call-back-now", headers=bad, body=body).status_code == 403
    assert c.stores.tickets.get("support-1").status in (TicketStatus.SCHEDULED, TicketStatus.WAITING)
    assert not c.stores.bookings.is_opted_out("+14155550100")
    # another session's CSRF token does not fit this session
    _, other = sign_in(client)
    crossed = dict(headers, **{"X-CSRF-Token": other["X-CSRF-Token"]})
    assert client.http.post("/console/api/reveal", headers=crossed, body=body).status_code == 403


def test_agent_and_admin_credentials_are_separate(client: Client) -> None:
    status = {"status": "available", "contact": "client:ann", "queues": ["support"]}

    def agent_status(token: str) -> int:
        return client.http.post("/agents/ann/status", body=json.dumps(status), headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json"}).status_code

    def lost_calls(token: str) -> int:
        return client.http.get("/admin/lost-calls", headers={"Authorization": f"Bearer {token}"}).status_code

    assert lost_calls(AGENT) == 401  # an agent integration cannot read lost callers' numbers
    assert agent_status(ADMIN) == 401
    assert (lost_calls(ADMIN), agent_status(AGENT)) == (200, 200)


def test_console_pages_are_served_by_the_app_with_a_strict_policy(client: Client) -> None:
    page = client.http.get("/console")
    assert page.status_code == 200 and b'src="console/app.js"' in page.body
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert client.http.get("/console/app.js").headers["Content-Type"].startswith("text/javascript")
    assert client.http.get("/console/app.css").status_code == 200
    assert client.http.get("/console/..%2Fsettings.py").status_code == 404
    assert client.http.get("/console/nope.js").status_code == 404


# --- monitor and lost-call work list -----------------------------------------------------------

def test_monitor_shows_callers_agents_and_todays_counters(client: Client, c, stream: Stream) -> None:  # type: ignore[no-untyped-def]
    _, headers = sign_in(client)
    # ann is signed in but busy with other work: the callers are told an estimate
    c.dispatcher.agent_event("ann", AgentStatus.BUSY, contact="client:ann", queues=("support",))
    ring(c, "CA1", "+14155550101")
    c.flow.clock.advance(5)
    ring(c, "CA2", "+14155550102")
    stream.drain()
    m = get(client, "monitor", headers, "?queue=support")
    assert [(w["ticket"], w["position"], w["caller"]) for w in m["waiting"]] == [
        ("support-1", 1, "***01"), ("support-2", 2, "***02")]
    assert m["waiting"][0]["waited_seconds"] == 5 and m["waiting"][0]["told_seconds"]
    assert m["today"]["offered"] == 2
    assert "+14155550101" not in json.dumps(m)
    c.flow.clock.advance(1)
    c.dispatcher.agent_event("ann", AgentStatus.AVAILABLE, contact="client:ann", queues=("support",))
    stream.drain()
    m = get(client, "monitor", headers)
    assert [(a["id"], a["state"], a["ticket"], a["with"], a["seconds_in_state"]) for a in m["agents"]] == [
        ("ann", "connecting", "support-1", "***01", 0)]
    # out of the line, with its agent; the one behind is first now
    assert [(w["ticket"], w["position"]) for w in m["waiting"]] == [("support-2", 1)]
    assert [(o["ticket"], o["agent"], o["state"], o["waited_seconds"]) for o in m["on_calls"]] == [
        ("support-1", "ann", "connecting", 6)]
    c.flow.clock.advance(120)  # they talk 120 s: answered 6 s after calling
    c.dispatcher.bridge_result("support-1", "ann", answered=True, talk_seconds=120)  # call over, ann free
    stream.drain()
    m = get(client, "monitor", headers)
    assert [w["ticket"] for w in m["waiting"]] == ["support-2"] or m["agents"][0]["ticket"] == "support-2"
    assert m["today"]["answered_live"] == 1 and m["today"]["service_level"] == 0.5


def test_lost_call_work_list_masks_numbers_reveals_with_a_log_and_opts_out(
        client: Client, c, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    ring(c, "CA1", "+14155550100")
    c.flow.clock.advance(60)
    hang_up(c, "CA1", "+14155550100")
    _, headers = sign_in(client)
    listed = get(client, "lost-calls", headers, "?queue=support")["lost_calls"]
    assert [(x["ticket"], x["number"], x["cause"], x["waited_seconds"]) for x in listed] == [
        ("support-1", "***00", "abandoned", 60)]
    assert listed[0]["callback"] in ("scheduled", "waiting for an agent")  # moto parks it when it parks it
    assert "+14155550100" not in json.dumps(listed)
    caplog.set_level(logging.INFO)
    reply = client.http.post("/console/api/reveal", headers=headers, body=json.dumps({"ticket": "support-1"}))
    assert json.loads(reply.body) == {"number": "+14155550100"}
    revealed = [r for r in caplog.records if r.getMessage() == "number revealed"]
    assert len(revealed) == 1 and revealed[0].ticket == "support-1" and revealed[0].session
    reply = client.http.post("/console/api/opt-out", headers=headers, body=json.dumps({"ticket": "support-1"}))
    assert reply.status_code == 200 and c.stores.bookings.is_opted_out("+14155550100")
    assert client.http.post("/console/api/reveal", headers=headers,
                            body=json.dumps({"ticket": "support-99"})).status_code == 404
    assert client.http.post("/console/api/reveal", headers=headers, body=b"[]").status_code == 400


# --- reports: kept from the stream, agreeing with the raw tickets ----------------------------------

def raw_counts(tickets: list[Ticket], target: float, short: float) -> dict[str, int]:
    """The measures counted straight from the tickets as they ended (DESIGN.md "Measures")."""
    live_answered = [t for t in tickets if t.status is TicketStatus.SERVED and t.kind is TicketKind.LIVE
                     and t.lost_at is None and t.not_before is None]
    waits = [(t.answered_at - t.created_at).total_seconds() for t in live_answered]  # type: ignore[operator]  # to the bridge
    abandoned = [t for t in tickets if t.wait_seconds is not None]
    recovered = [t for t in tickets if t.recovered_at is not None
                 or (t.status is TicketStatus.SERVED and t.kind is TicketKind.CALLBACK)
                 or (t.status is TicketStatus.SERVED and t not in live_answered)]
    return {"offered": len(tickets), "answered_live": len(live_answered),
            "within": sum(w <= target for w in waits),
            "abandoned_short": sum(t.wait_seconds < short for t in abandoned),  # type: ignore[operator]
            "abandoned_long": sum(t.wait_seconds >= short for t in abandoned),  # type: ignore[operator]
            "lost": sum(t.lost_cause is not None for t in tickets),
            "callbacks_booked": sum(t.kind is TicketKind.CALLBACK or t.not_before is not None for t in tickets),
            "recovered": len(recovered), "unrecovered": len(tickets) - len(live_answered) - len(recovered)}


def test_the_work_list_comes_in_pages_and_refuses_a_bad_page_with_400(client: Client, c) -> None:  # type: ignore[no-untyped-def]
    ids = lose_calls(c.stores, "support", 103, NOW)
    _, headers = sign_in(client)
    first = get(client, "lost-calls", headers, "?queue=support")
    assert [x["ticket"] for x in first["lost_calls"]] == ids[:100] and first["next"]
    rest = get(client, "lost-calls", headers, f"?queue=support&next={first['next']}")
    assert [x["ticket"] for x in rest["lost_calls"]] == ids[100:] and rest["next"] is None
    assert len(get(client, "lost-calls", headers, "?queue=support&limit=7")["lost_calls"]) == 7
    for bad in ("limit=0", "limit=501", "limit=x", "next=%21%21", f"queue=kyiv&next={first['next']}"):
        reply = client.http.get(f"/console/api/lost-calls?{bad}", headers=headers)
        assert reply.status_code == 400 and "bad request" in json.loads(reply.body)["error"]


def test_reports_from_the_stream_agree_with_the_raw_tickets_and_survive_redelivery(
        client: Client, c, stream: Stream) -> None:  # type: ignore[no-untyped-def]
    clock = c.flow.clock
    # zed is signed in all along, busy with other work: callers are told an estimate (with nobody
    # signed in they are told none, and there would be no wait-estimate accuracy to report)
    c.dispatcher.agent_event("zed", AgentStatus.BUSY, contact="client:zed", queues=("support",))
    ring(c, "CA1", "+14155550101")  # answered after 15 s: inside the 20 s target; they talk 100 s
    clock.advance(15)
    c.dispatcher.agent_event("ann", AgentStatus.AVAILABLE, contact="client:ann", queues=("support",))
    clock.advance(100)
    c.dispatcher.bridge_result("support-1", "ann", answered=True, talk_seconds=100)
    c.dispatcher.agent_event("ann", AgentStatus.OFFLINE)
    ring(c, "CA2", "+14155550102")  # answered after 40 s: outside the target
    clock.advance(40)
    c.dispatcher.agent_event("bob", AgentStatus.AVAILABLE, contact="client:bob", queues=("support",))
    clock.advance(100)
    c.dispatcher.bridge_result("support-2", "bob", answered=True, talk_seconds=100)
    c.dispatcher.agent_event("bob", AgentStatus.OFFLINE)
    ring(c, "CA3", "+14155550103")  # hangs up after 3 s: a short abandon, no callback
    clock.advance(3)
    hang_up(c, "CA3", "+14155550103")
    ring(c, "CA4", "+14155550104")  # hangs up after 90 s: lost, recovery callback booked
    clock.advance(90)
    hang_up(c, "CA4", "+14155550104")
    ring(c, "CA5", "+14155550105")  # waits 30 s and hangs up: lost, another callback booked
    clock.advance(30)
    hang_up(c, "CA5", "+14155550105")
    # The CA4 caller calls again, rejoins their pending callback's place and is served: recovered.
    ring(c, "CA6", "+14155550104")
    clock.advance(5)
    c.dispatcher.agent_event("ann", AgentStatus.AVAILABLE, contact="client:ann", queues=("support",))
    clock.advance(100)
    c.dispatcher.bridge_result("support-4", "ann", answered=True, talk_seconds=100)
    stream.drain()

    tickets = [c.stores.tickets.get(f"support-{n}") for n in range(1, 6)]
    raw = raw_counts(tickets, 20, 10)
    _, headers = sign_in(client)
    report = get(client, "report", headers, "?queue=support&from=2025-11-17&to=2025-11-17")
    total = report["total"]
    assert {k: total[k] for k in raw if k != "within"} == {k: v for k, v in raw.items() if k != "within"}
    assert total["service_level"] == round(raw["within"] / raw["offered"], 4) == 0.2
    assert raw == {"offered": 5, "answered_live": 2, "within": 1, "abandoned_short": 1, "abandoned_long": 2,
                   "lost": 3, "callbacks_booked": 2, "recovered": 1, "unrecovered": 2}
    assert total["recovered_by_calling_again"] == 1 and total["asa_seconds"] == 27.5
    assert c.stores.tickets.find_by_call("CA6").id == "support-4"  # rejoined: no ticket of its own
    assert total["ewt_inside_range"] is not None
    csv_text = get(client, "report.csv", headers, "?queue=support&from=2025-11-17&to=2025-11-17")
    assert csv_text.splitlines()[-1].startswith("total,UTC,5,0,2,0.2,27.5,1,2,3,3,")

    # Every stream record delivered again (a Lambda retry): nothing is counted twice.
    for new, old in stream.records:
        workers.on_table_change(new, old)
    again = get(client, "report", headers, "?queue=support&from=2025-11-17&to=2025-11-17")
    assert again["total"] == total

    # No scan at read time: the report reads its day's partition(s) and nothing else.
    calls: list[str] = []
    ddb = c.operations.oplog.ddb
    ddb.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))
    get(client, "report", headers, "?queue=support&from=2025-11-17&to=2025-11-17")
    assert calls and set(calls) == {"Query"}


def test_staffing_looks_ahead_from_the_queues_history(client: Client, c) -> None:  # type: ignore[no-untyped-def]
    """Monday 18:00 (the queue's clock is UTC). History, as the stream records it: 10 calls on the
    Monday a week ago at 18:30 and 20 two weeks ago (its first day), 7 a week ago at 19:00. The method's
    weights, 0.4 and 0.3 (weeks 3 and 4 are before the history began): 18:30 forecasts
    (0.4*10 + 0.3*20)/0.7 = 14.3 calls; 19:00 (0.4*7 + 0.3*0)/0.7 = 4.0."""
    log = c.operations.oplog
    for weeks, slot, calls in ((1, "18:30", 10), (2, "18:30", 20), (1, "19:00", 7)):
        day = (NOW - timedelta(weeks=weeks)).date().isoformat()
        for n in range(calls):
            log.record(f"hist-{weeks}-{slot}-{n}#offered", "support", f"{day}T{slot}", {"offered": 1})
    _, headers = sign_in(client)
    advice = get(client, "staffing", headers, "?queue=support")
    rows = {r["start"]: r for r in advice["rows"]}
    assert advice["rows"][0]["start"] == "2025-11-17T18:00:00+00:00" and advice["rows"][0]["now"]
    assert advice["rows"][-1]["start"] == "2025-11-18T23:30:00+00:00" and len(advice["rows"]) == 12 + 48
    assert rows["2025-11-17T18:30:00+00:00"]["arrivals"] == 14.3
    assert rows["2025-11-17T19:00:00+00:00"]["arrivals"] == 4.0
    # 14.3 calls of 100 s in half an hour is 0.79 erlangs: one agent answers well under 80% within
    # 20 s; two answer 82% by Erlang C (C(2, 0.79) = 0.226; 1 - 0.226 * e^(-1.21 * 20/100)); with
    # patience, Erlang A agrees.
    assert (rows["2025-11-17T18:30:00+00:00"]["erlang_c_agents"], rows["2025-11-17T18:30:00+00:00"]["erlang_a_agents"]) == (2, 2)
    assert advice["rows"][0]["signed_in"] == 0 and rows["2025-11-17T18:30:00+00:00"]["signed_in"] is None
    assert "4 weeks" in advice["method"] and advice["history_from"] == "2025-11-03T00:00:00+00:00"
    # Its error against what happened: the half hours of the last week it could forecast (from
    # 2025-11-10 on). 18:30 a week ago: forecast 20 (only week 2 known), came 10: +10; 19:00 a week
    # ago: forecast 0, came 7: -7. Mean error +1.5, mean absolute 8.5, 17 off of 17 that came.
    assert advice["error"]["half_hours"] == 2 and advice["error"]["bias"] == 1.5
    assert advice["error"]["mean_absolute"] == 8.5 and advice["error"]["weighted_percent"] == 1.0
    assert client.http.get("/console/api/staffing?target=0", headers=headers).status_code == 400


def test_stop_calling_cancels_the_pending_callback_and_its_workflow(client: Client, c, settings) -> None:  # type: ignore[no-untyped-def]
    ring(c, "CA1", "+14155550100")
    c.flow.clock.advance(60)
    hang_up(c, "CA1", "+14155550100")
    import time
    until = time.monotonic() + 60  # parked, waiting for an agent (moto cannot stop a just-started execution)
    while not c.stores.tickets.get("support-1").task_token and time.monotonic() < until:
        time.sleep(0.05)
    _, headers = sign_in(client)
    [listed] = get(client, "lost-calls", headers)["lost_calls"]
    assert listed["can_stop"] and listed["callback"] == "waiting for an agent"
    body = json.dumps({"ticket": "support-1"})
    assert client.http.post("/console/api/stop-calling", headers=headers, body=body).status_code == 200
    ticket = c.stores.tickets.get("support-1")
    assert ticket.status is TicketStatus.CANCELLED and ticket.lost_cause == "abandoned"
    [listed] = get(client, "lost-calls", headers)["lost_calls"]  # still unrecovered: still listed
    assert (listed["callback"], listed["can_stop"]) == ("cancelled", False)
    assert client.http.post("/console/api/stop-calling", headers=headers, body=body).status_code == 409
    # (moto's interpreter may keep a parked execution RUNNING after StopExecution; AWS aborts it. Either
    # way the ticket is out of the line, so no agent is sent to it and nothing is dialed.)
    c.dispatcher.agent_event("ann", AgentStatus.AVAILABLE, contact="client:ann", queues=("support",))
    assert c.stores.tickets.get("support-1").status is TicketStatus.CANCELLED  # out of the line: nobody is sent to it
    assert c.stores.agents.get_agent("ann").ticket_id is None and not c.dispatcher.dialer.calls


# --- call back now ---------------------------------------------------------------------------------

def test_call_back_now_moves_a_scheduled_callback_to_now_once_inside_the_rules(
        client: Client, settings, serve, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import threading
    import time

    import boto3

    from devstack.pollers import SqsPoller

    # Retries a lifetime apart: after one unanswered attempt the callback sits in the workflow's Wait
    # (moto waits in real time; the test's clock is in the past, so "now" never waits).
    queues = tmp_path / "queues.json"
    config = json.loads(Path(QUEUES).read_text())
    config["queues"][0]["retry_delays_seconds"] = [0, 1_000_000_000]
    config["queues"][0]["recovery_horizon_seconds"] = 0  # no horizon: the far attempt stays booked (issue 22)
    queues.write_text(json.dumps(config))
    clock, dialer = FixedClock(NOW), FakeDialer()
    c = bootstrap.build_aws(replace(settings, queues_file=str(queues), admin_token=ADMIN, agent_token=AGENT,
                                public_base_url="http://127.0.0.1:8000", metrics_enabled=False),
                        clock=clock, dialer=dialer)
    serve(c)
    pollers = [SqsPoller(settings.dial_queue_url, workers.on_dial_message),
               StreamPoller(settings.table_name, workers.on_table_change, filters=deployed_filters())]
    sfn = boto3.client("stepfunctions", region_name="us-east-1")

    def pump_until(done: Any) -> None:
        until = time.monotonic() + 60
        while not done():
            assert time.monotonic() < until, "timed out waiting for the workflow"
            for poller in pollers:
                poller.poll_once()
            time.sleep(0.05)

    def answer(dial_status: str) -> None:
        did = c.stores.tickets.get("support-1").dial_id
        c.callbacks.answered("support-1", did, CallEvent("CAout", CallStatus.IN_PROGRESS))
        c.callbacks.dialed("support-1", did, CallEvent("CAout", CallStatus.IN_PROGRESS,
                                                        dial_status=CallStatus(dial_status)))
        c.callbacks.call_status("support-1", did, CallEvent("CAout", CallStatus.COMPLETED))

    def status(execution_id: str | None) -> str:
        return sfn.describe_execution(executionArn=execution_id)["status"]

    ring(c, "CA1", "+14155550100")
    clock.advance(60)
    hang_up(c, "CA1", "+14155550100")
    c.dispatcher.agent_event("ann", AgentStatus.AVAILABLE, contact="client:ann", queues=("support",))
    pump_until(lambda: dialer.calls)
    answer("no-answer")  # attempt 1 unanswered: the next one is decades away
    pump_until(lambda: c.stores.tickets.get("support-1").status is TicketStatus.SCHEDULED
               and c.stores.agents.get_agent("ann").status is AgentStatus.AVAILABLE)
    before = c.stores.tickets.get("support-1")
    assert before.next_attempt_at and before.next_attempt_at.year > 2050 and status(before.execution_id) == "RUNNING"
    body = json.dumps({"ticket": "support-1"})

    # 21:00 in San Francisco: outside the callee's calling window. Refused, saying when; nothing changes.
    clock.advance(11 * 3600 - 60)
    _, headers = sign_in(client)
    reply = client.http.post("/console/api/call-back-now", headers=headers, body=body)
    refused = json.loads(reply.body)
    assert reply.status_code == 409 and refused["reason"] == "calling_window"
    assert refused["when"] == before.next_attempt_at.isoformat() and "it will be called at" in refused["error"]
    assert c.stores.tickets.get("support-1") == before and status(before.execution_id) == "RUNNING"

    # 09:00 the next morning: two admins click at once; one new execution, due now.
    clock.advance(12 * 3600)
    _, headers = sign_in(client)  # a session lasts 8 hours
    replies: list[Any] = []
    barrier = threading.Barrier(2)

    def click() -> None:
        barrier.wait()
        replies.append(client.http.post("/console/api/call-back-now", headers=headers, body=body))

    clicks = [threading.Thread(target=click) for _ in range(2)]
    for t in clicks:
        t.start()
    for t in clicks:
        t.join()
    assert [r.status_code for r in replies] == [200, 200]
    assert sorted(json.loads(r.body)["result"] for r in replies) == ["already_due", "due_now"]
    names = [e["name"] for e in sfn.list_executions(stateMachineArn=settings.state_machine_arn)["executions"]]
    assert sorted(n for n in names if n.startswith("support-1-")) == ["support-1-1", "support-1-2"]
    after = c.stores.tickets.get("support-1")
    assert after.execution_id != before.execution_id and after.execution_id.endswith(":support-1-2")
    pump_until(lambda: len(dialer.calls) == 2)  # parked at once and dialed, not in decades
    assert status(before.execution_id) == "ABORTED"
    assert [x["ticket"] for x in get(client, "lost-calls", headers)["lost_calls"]] == ["support-1"]
    answer("completed")
    pump_until(lambda: status(c.stores.tickets.get("support-1").execution_id) == "SUCCEEDED")
    assert c.stores.tickets.get("support-1").status is TicketStatus.SERVED
    assert get(client, "lost-calls", headers)["lost_calls"] == []  # recovered: off the work list


def test_the_stores_expedite_is_one_conditional_write_that_one_of_many_wins(c) -> None:  # type: ignore[no-untyped-def]
    import threading

    # A scheduled callback straight in the store (no workflow running to move it meanwhile).
    c.stores.tickets.create_callback("support-7", "+14155550100", datetime(2030, 1, 1, tzinfo=timezone.utc), NOW, "en")
    c.stores.tickets.set_execution("support-7", "arn:run-1")
    barrier, won = threading.Barrier(6), []

    def click() -> None:
        barrier.wait()
        won.append(c.stores.dialing.expedite_callback("support-7", "arn:run-1", NOW))

    clicks = [threading.Thread(target=click) for _ in range(6)]
    for t in clicks:
        t.start()
    for t in clicks:
        t.join()
    assert sorted(won, key=str) == [2, None, None, None, None, None]  # booking 1 started arn:run-1
    after = c.stores.tickets.get("support-7")
    assert (after.not_before, after.execution_id, after.status) == (NOW, None, TicketStatus.SCHEDULED)
    assert c.stores.dialing.expedite_callback("support-7", "arn:run-1", NOW) is None  # that run is gone
    assert c.stores.dialing.expedite_callback("support-7", None, NOW) == 3  # its successor never started: again
    assert c.stores.dialing.cancel_callback("support-7", NOW)
    assert c.stores.dialing.expedite_callback("support-7", None, NOW) is None  # only a scheduled callback moves


def test_call_back_now_books_a_lost_call_that_had_none_and_a_failed_start_is_503_then_retried(
        client: Client, c) -> None:  # type: ignore[no-untyped-def]
    from chalicelib.domain.errors import OrchestratorError

    ring(c, "CA1", "+14155550100")
    c.flow.clock.advance(3)
    hang_up(c, "CA1", "+14155550100")  # a short abandon: listed, no callback booked
    _, headers = sign_in(client)
    [listed] = get(client, "lost-calls", headers)["lost_calls"]
    assert (listed["callback"], listed["can_call_back"]) == ("no callback", True)
    body = json.dumps({"ticket": "support-1"})
    orchestrator = c.operations.orchestrator

    def down(name: str, payload: Any) -> str:
        raise OrchestratorError("ServiceUnavailable")

    orchestrator.start = down  # Step Functions down for a moment
    reply = client.http.post("/console/api/call-back-now", headers=headers, body=body)
    assert reply.status_code == 503 and "try again" in json.loads(reply.body)["error"]
    del orchestrator.start  # back
    c.flow.clock.advance(61)  # the failed start is not under way any more
    reply = client.http.post("/console/api/call-back-now", headers=headers, body=body)
    assert reply.status_code == 200 and json.loads(reply.body)["ticket"] == "support-1"
    ticket = c.stores.tickets.get("support-1")
    assert ticket.kind is TicketKind.CALLBACK and ticket.execution_id.endswith(":support-1-2")
    c.stores.bookings.set_opt_out("+14155550100", True, NOW)  # an opt-out holds against the admin's click
    reply = client.http.post("/console/api/call-back-now", headers=headers, body=body)
    assert reply.status_code == 409 and json.loads(reply.body)["reason"] == "opted_out"


def leg_event(client: Client, ticket: str, agent: str, status: str, signature: str | None = None) -> Any:
    """A signed Twilio status callback for the bridge's agent leg, as the bridge's Dial asked for it."""
    path = f"/voice/twilio/bridge-leg?{urlencode({'agent': agent, 't': ticket})}"
    body, headers = signed(AUTH_TOKEN, "http://127.0.0.1:8000" + path, event("dial_leg_ringing", CallStatus=status))
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    return client.http.post(path, headers=headers, body=body)


def test_monitor_shows_the_bridged_agent_ringing_then_talking_with_since_when(
        client: Client, c, stream: Stream) -> None:  # type: ignore[no-untyped-def]
    _, headers = sign_in(client)
    ring(c, "CA1", "+14155550101")
    c.flow.clock.advance(3)
    c.dispatcher.agent_event("ann", AgentStatus.AVAILABLE, contact="client:ann", queues=("support",))
    stream.drain()

    def ann() -> tuple[str, str | None, str | None]:
        [agent] = get(client, "monitor", headers, "?queue=support")["agents"]
        return agent["state"], agent["since"], agent["with"]

    assert ann() == ("connecting", NOW.replace(second=3).isoformat(), "***01")  # put through, no leg event yet
    assert leg_event(client, "support-1", "ann", "ringing", signature="forged").status_code == 403
    stream.drain()
    assert ann()[0] == "connecting"  # an unsigned event changes nothing
    c.flow.clock.advance(2)
    assert leg_event(client, "support-1", "ann", "ringing").status_code == 200
    stream.drain()
    rang = (NOW.replace(second=5)).isoformat()
    assert ann() == ("ringing", rang, "***01")
    c.flow.clock.advance(4)
    leg_event(client, "support-1", "ann", "in-progress")
    stream.drain()
    talking = ("talking", NOW.replace(second=9).isoformat(), "***01")
    assert ann() == talking
    c.flow.clock.advance(1)
    leg_event(client, "support-1", "ann", "ringing")  # late and repeated events change nothing
    leg_event(client, "support-1", "ann", "in-progress")
    stream.drain()
    assert ann() == talking
    c.dispatcher.bridge_result("support-1", "ann", answered=True, talk_seconds=60)  # the bridge ended
    leg_event(client, "support-1", "ann", "in-progress")
    stream.drain()
    assert ann()[0] == "available" and c.stores.tickets.get("support-1").leg_at == NOW.replace(second=9)


def test_agents_time_from_the_stream_gives_aht_and_occupancy_today(
        client: Client, c, stream: Stream) -> None:  # type: ignore[no-untyped-def]
    """Ann: available at 18:00; takes a caller at 18:01 (Holdfast reserves her); the call ends at
    18:02:40; wrap-up from 18:02:50; available again at 18:03:20; on a break from 18:04:00, read at
    18:05:00. Handling 100 s, wrap-up 30 s, available 60 + 10 + 40 = 110 s, away 60 s (not in
    occupancy): AHT 130 s, occupancy 130 / 240."""
    _, headers = sign_in(client)
    c.dispatcher.agent_event("ann", AgentStatus.AVAILABLE, contact="client:ann", queues=("support",))
    stream.drain()
    c.flow.clock.advance(60)
    ring(c, "CA1", "+14155550101")  # taken at once
    stream.drain()
    c.flow.clock.advance(100)
    c.dispatcher.bridge_result("support-1", "ann", answered=True, talk_seconds=100)
    stream.drain()
    for seconds, status, reason in ((10, AgentStatus.WRAP_UP, None), (30, AgentStatus.AVAILABLE, None),
                                    (40, AgentStatus.AWAY, "break")):
        c.flow.clock.advance(seconds)
        c.dispatcher.agent_event("ann", status, reason=reason)
        stream.drain()
    c.flow.clock.advance(60)
    m = get(client, "monitor", headers, "?queue=support")
    [ann] = m["agents"]
    assert (ann["state"], ann["reason"], ann["seconds_in_state"]) == ("away", "break", 60)
    assert ann["seconds"] == {"handling": 100, "busy": 0, "wrap_up": 30, "available": 110, "away": 60}
    assert (ann["handled"], ann["aht_seconds"], ann["occupancy"]) == (1, 130, round(130 / 240, 4))
    assert m["team_today"]["aht_seconds"] == 130 and m["agent_counts"] == {"available": 0, "busy": 0, "away": 1}
    # offline: still listed
    c.dispatcher.agent_event("ann", AgentStatus.OFFLINE)
    stream.drain()
    assert [(a["id"], a["state"]) for a in get(client, "monitor", headers)["agents"]] == [("ann", "offline")]
