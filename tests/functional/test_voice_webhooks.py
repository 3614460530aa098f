"""The voice webhooks through the Chalice test client: golden TwiML per branch, and the edges.

Set UPDATE_GOLDEN=1 to rewrite the golden files after a deliberate change to the call flow (then review the
diff); the estimator's figures are placeholders in them (`pin_figures`), so estimator tuning changes none."""
from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlencode

import boto3
import pytest
from chalice.test import Client

from app import app
from chalicelib import bootstrap
from chalicelib.adapters.dynamo import TicketItem
from chalicelib.domain.model import AgentStatus
from chalicelib.domain.prompts import TEXTS
from tests.conftest import AUTH_TOKEN, PUBLIC_URL
from chalicelib.adapters.memory import FixedClock
from tests.helpers import event, signed

GOLDEN = Path(__file__).with_name("golden")
QUEUES = str(Path(__file__).with_name("queues.json"))
MONDAY_10_PST = datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc)  # the recorded caller may be called
MONDAY_NIGHT_KYIV = datetime(2026, 11, 23, 20, 0, tzinfo=timezone.utc)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(MONDAY_10_PST)


@pytest.fixture
def container(settings, clock, serve):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    built = bootstrap.build_aws(replace(settings, queues_file=QUEUES), clock=clock)
    serve(built)
    return built


@pytest.fixture
def staffed(container) -> None:  # type: ignore[no-untyped-def]
    """One agent signed in (busy, so nobody takes a caller): estimates come from real staffing."""
    container.stores.agents.record_agent_status("alice", AgentStatus.BUSY, MONDAY_10_PST, "client:alice",
                                                ("support", "kyiv", "moscow"), None)


@pytest.fixture
def client(container):  # type: ignore[no-untyped-def]
    with Client(app, stage_name="local") as c:
        yield c


def post(client: Client, step: str, params: dict[str, str], query: dict[str, str] | None = None,
         signature: str | None = None):  # type: ignore[no-untyped-def]
    path = f"/voice/twilio/{step}" + (f"?{urlencode(query)}" if query else "")
    body, headers = signed(AUTH_TOKEN, PUBLIC_URL + path, params)
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    return client.http.post(path, headers=headers, body=body)


# What the estimator says (its figures) is the estimator's to test (tests/unit/test_estimator*.py,
# bench/ewt.py): a golden holds the call flow's markup with the figures as placeholders, so tuning the
# estimator never rewrites a call flow's golden. The figures are still checked here for sense.
_FIGURES = ("mean", "low", "high")


def _figure_pattern(template: str) -> "re.Pattern[str]":
    pattern = re.escape(template)
    for name in _FIGURES:
        pattern = pattern.replace(re.escape("{" + name + "}"), f"(?P<{name}>[^.,<]+?)")
    return re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?:[^<]+?)", pattern))  # other fields stay as said


# each language's sentences that carry the estimator's figures, compiled once
_FIGURE_PATTERNS = [_figure_pattern(texts[key]) for texts in TEXTS.values()
                    for key in ("wait", "wait_upto", "callback_confirmed")]


def pin_figures(text: str) -> str:
    """The markup with the estimator's figures as `{mean}`, `{low}`, `{high}`, after checking that each
    names a number of minutes and that low <= mean <= high."""
    for pattern in _FIGURE_PATTERNS:
        def placeholder(match: "re.Match[str]") -> str:
            said = {k: v for k, v in match.groupdict().items() if v is not None}
            minutes = {k: int(re.search(r"\d+", v).group()) for k, v in said.items()}  # type: ignore[union-attr]
            assert all(m >= 1 for m in minutes.values()), said
            assert minutes.get("low", 0) <= minutes.get("mean", minutes.get("low", 0)) <= minutes.get("high", 10**9), said
            out = match.group(0)
            for name, value in sorted(said.items(), key=lambda kv: -match.start(kv[0])):
                start, end = match.start(name) - match.start(0), match.end(name) - match.start(0)
                out = out[:start] + "{" + name + "}" + out[end:]
            return out
        text = pattern.sub(placeholder, text)
    return text


def golden(name: str, body: bytes) -> None:
    text = body.decode()
    ET.fromstring(text)  # well-formed XML, always
    text = pin_figures(text)
    path = GOLDEN / f"{name}.xml"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text + "\n", encoding="utf-8")
    assert text + "\n" == path.read_text(encoding="utf-8")


def tickets() -> list[TicketItem]:
    return [t for t in TicketItem.scan() if t.sk.startswith("TICKET#")]


@pytest.mark.usefixtures("staffed")
def test_incoming_short_wait(client: Client) -> None:
    reply = post(client, "incoming", event("incoming"))
    assert reply.status_code == 200 and reply.headers["Content-Type"] == "text/xml; charset=utf-8"
    golden("incoming_short_wait", reply.body)


@pytest.mark.usefixtures("staffed")
def test_incoming_long_wait_offers_callback(client: Client) -> None:
    for n in range(3):
        post(client, "incoming", event("incoming", CallSid=f"CA{n:032d}", From=f"+1415555{n:04d}"))
    golden("incoming_long_wait", post(client, "incoming", event("incoming")).body)


def test_incoming_after_hours(client: Client, clock: FixedClock) -> None:
    clock.current = MONDAY_NIGHT_KYIV
    golden("incoming_after_hours_uk", post(client, "incoming", event("incoming", To="+380445550100")).body)


@pytest.mark.usefixtures("staffed")
def test_incoming_in_russian(client: Client) -> None:
    golden("incoming_ru", post(client, "incoming", event("incoming", To="+74955550100")).body)


@pytest.mark.usefixtures("staffed")
def test_press_1_confirm_and_book(client: Client) -> None:
    post(client, "incoming", event("incoming"))
    golden("offer_press_1", post(client, "offer", event("gather_digits_1"), {"t": "support-1"}).body)
    golden("confirm_booked", post(client, "confirm", event("gather_digits_1"), {"t": "support-1"}).body)
    [ticket] = tickets()
    assert ticket.kind == "CALLBACK" and ticket.execution_id.endswith(":support-1-1")


def test_withheld_caller_is_asked_for_a_number(client: Client) -> None:
    post(client, "incoming", event("incoming_withheld"))
    golden("offer_withheld", post(client, "offer", event("gather_digits_1"), {"t": "support-1"}).body)
    reply = post(client, "number", event("gather_number"), {"t": "support-1", "tries": "0"})
    golden("number_read_back", reply.body)


@pytest.mark.usefixtures("staffed")
def test_wait_url_announces_and_reoffers(client: Client) -> None:
    for n in range(3):
        post(client, "incoming", event("incoming", CallSid=f"CA{n:032d}", From=f"+1415555{n:04d}"))
    golden("wait_announcement", post(client, "wait", event("enqueue_wait", CallSid=f"CA{2:032d}"),
                                     {"t": "support-3"}).body)


@pytest.mark.usefixtures("staffed")
def test_first_wait_poll_plays_music_and_later_polls_announce_over_music(client: Client) -> None:
    post(client, "incoming", event("incoming"))
    golden("wait_first_poll", post(client, "wait", event("enqueue_wait", QueueTime="0"), {"t": "support-1"}).body)
    later = post(client, "wait", event("enqueue_wait", QueueTime="200"), {"t": "support-1"}).body
    golden("wait_announcement_short", later)
    root = ET.fromstring(later)
    assert [c.tag for c in root] == ["Gather"] and root[0][-1].tag == "Play" and root[0].get("timeout") == "1"


def test_no_agent_signed_in_offers_the_callback_without_an_estimate(client: Client) -> None:
    golden("incoming_nobody_signed_in", post(client, "incoming", event("incoming")).body)


def test_after_hours_wrong_key_gets_a_second_chance(client: Client, clock: FixedClock) -> None:
    clock.current = MONDAY_NIGHT_KYIV
    post(client, "incoming", event("incoming", To="+380445550100", From="+380441234567"))
    golden("after_hours_wrong_key_uk", post(client, "offer", event("gather_digits_1", Digits="7"),
                                            {"t": "kyiv-1"}).body)


def test_after_hours_closed_over_a_week_says_the_date_in_words(client: Client, clock: FixedClock) -> None:
    clock.current = datetime(2026, 11, 24, 16, 0, tzinfo=timezone.utc)  # Tuesday 18:00 in Kyiv: Monday is a holiday
    reply = post(client, "incoming", event("incoming", To="+380445550100", From="+380441234567")).body
    golden("incoming_after_hours_next_week_uk", reply)
    assert "у вівторок, 1 грудня о 09:00" in reply.decode()


def test_refused_typed_number_is_told_why(client: Client) -> None:
    post(client, "incoming", event("incoming_withheld"))
    reply = post(client, "number", event("gather_number", Digits="19005551234"), {"t": "support-1", "tries": "0"})
    golden("number_refused_premium", reply.body)


def test_hangup_in_queue_marks_abandoned(client: Client, clock: FixedClock) -> None:
    post(client, "incoming", event("incoming"))
    clock.advance(95)
    reply = post(client, "queue-exit", event("enqueue_action_hangup"), {"t": "support-1"})
    golden("queue_exit_hangup", reply.body)
    [ticket] = tickets()
    assert ticket.lost_cause == "abandoned" and float(ticket.wait_seconds) == 95
    assert ticket.kind == "CALLBACK" and ticket.number == 1  # recovery keeps the place


def test_status_callback_on_the_same_url_marks_abandoned(client: Client, clock: FixedClock) -> None:
    post(client, "incoming", event("incoming"))
    clock.advance(40)
    assert post(client, "incoming", event("status_completed")).status_code == 200
    [ticket] = tickets()
    assert ticket.lost_cause == "abandoned" and float(ticket.wait_seconds) == 40


def test_admin_query_parameter_is_part_of_the_signed_url(client: Client) -> None:
    reply = post(client, "incoming", event("incoming"), {"queue": "moscow"})
    assert reply.status_code == 200 and b"ru-RU" in reply.body


@pytest.mark.parametrize("signature", ["", "forged==", "RSOYDt4T1cUTdK1PDd93/VVr8B8="])
def test_forged_or_missing_signature_is_403_and_writes_nothing(client: Client, signature: str) -> None:
    reply = post(client, "incoming", event("incoming"), signature=signature)
    assert reply.status_code == 403
    assert list(TicketItem.scan()) == []


def test_signature_for_another_host_is_rejected(client: Client) -> None:
    params = event("incoming")
    body, headers = signed(AUTH_TOKEN, "https://attacker.example.com/voice/twilio/incoming", params)
    assert client.http.post("/voice/twilio/incoming", headers=headers, body=body).status_code == 403


@pytest.mark.parametrize("body", [b"\xff\xfe\x00garbage", b"a=1&&&b", b"CallStatus=ringing"])
def test_malformed_body_is_400_and_writes_nothing(client: Client, body: bytes) -> None:
    from twilio.request_validator import RequestValidator
    from urllib.parse import parse_qsl
    try:
        params = dict(parse_qsl(body.decode(), keep_blank_values=True))
    except UnicodeDecodeError:
        params = {}
    sig = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + "/voice/twilio/incoming", params)
    reply = client.http.post("/voice/twilio/incoming", body=body, headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sig})
    assert reply.status_code == 400
    assert list(TicketItem.scan()) == []


def test_unknown_provider_or_step_is_404(client: Client) -> None:
    assert post(client, "teleport", event("incoming")).status_code == 404
    path = "/voice/nokia/incoming"
    body, headers = signed(AUTH_TOKEN, PUBLIC_URL + path, event("incoming"))
    assert client.http.post(path, headers=headers, body=body).status_code == 404


def test_internal_failure_still_answers_valid_twiml(client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    boto3.client("dynamodb", region_name="us-east-1").delete_table(TableName=settings.table_name)
    reply = post(client, "incoming", event("incoming"))
    assert reply.status_code == 200
    golden("apology", reply.body)


def test_unknown_ticket_on_a_step_apologises_and_keeps_caller_queued(client: Client) -> None:
    reply = post(client, "offer", event("gather_digits_1"), {"t": "support-404"})
    assert reply.status_code == 200
    root = ET.fromstring(reply.body)
    assert [c.tag for c in root] == ["Say", "Enqueue"] and root[1].text == "support"


def test_broken_configuration_still_answers_valid_twiml(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HOLDFAST_QUEUES_FILE", "/nonexistent/queues.json")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    monkeypatch.setenv("HOLDFAST_PUBLIC_URL", PUBLIC_URL)
    bootstrap.reset()
    try:
        with Client(app, stage_name="local") as c:
            reply = post(c, "incoming", event("incoming"))
    finally:
        bootstrap.reset()  # the next test builds its own app, whatever happened here
    assert reply.status_code == 200
    root = ET.fromstring(reply.body)
    assert [c.tag for c in root] == ["Say", "Enqueue"]


# --- issue 9: status callbacks, the apology's way back ------------------------------------------------

@pytest.mark.parametrize("status", ["initiated", "ringing", "in-progress"])
def test_a_non_final_status_callback_for_an_unknown_call_opens_no_ticket(client: Client, status: str) -> None:
    params = event("status_completed", CallStatus=status)
    params.pop("CallDuration")
    reply = post(client, "incoming", params)
    assert reply.status_code == 200 and ET.fromstring(reply.body).tag == "Response" and len(ET.fromstring(reply.body)) == 0
    assert tickets() == []


def _fail_once(monkeypatch, target: object, name: str) -> None:  # type: ignore[no-untyped-def]
    from chalicelib.domain.errors import StoreUnavailableError

    original = getattr(target, name)
    calls = {"n": 0}

    def failing(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:
            raise StoreUnavailableError("injected: the store is down")
        return original(*args, **kwargs)

    monkeypatch.setattr(target, name, failing)


def test_the_apology_keeps_a_way_back_into_the_line(client: Client, container, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _fail_once(monkeypatch, container.stores.line, "arrival")  # the store is down from the call's first read
    root = ET.fromstring(post(client, "incoming", event("incoming")).body)
    enqueue = root.find("Enqueue")
    assert enqueue is not None and tickets() == []
    assert "/voice/twilio/rescue-wait?queue=support" in enqueue.get("waitUrl", "")
    assert "/voice/twilio/rescue-exit?queue=support" in enqueue.get("action", "")
    # the store is still down when the wait URL is polled: music (no Enqueue inside a wait document)
    _fail_once(monkeypatch, container.stores.tickets, "find_by_call")
    wait = ET.fromstring(post(client, "rescue-wait", event("enqueue_wait"), {"queue": "support"}).body)
    assert [c.tag for c in wait] == ["Play"]
    # back: the caller leaves the provider's queue and the exit action opens their ticket
    wait = ET.fromstring(post(client, "rescue-wait", event("enqueue_wait"), {"queue": "support"}).body)
    assert [c.tag for c in wait] == ["Leave"]
    back = ET.fromstring(post(client, "rescue-exit", event("enqueue_action_leave"), {"queue": "support"}).body)
    [ticket] = tickets()
    assert ticket.status == "WAITING" and ticket.call_id == event("incoming")["CallSid"]
    assert "t=support-1" in back.find(".//Enqueue").get("waitUrl", "")


def test_a_caller_who_hangs_up_in_the_apology_queue_is_a_recorded_lost_call(client: Client, container,  # type: ignore[no-untyped-def]
                                                                           monkeypatch) -> None:
    _fail_once(monkeypatch, container.stores.tickets, "open_ticket")
    post(client, "incoming", event("incoming"))
    assert post(client, "rescue-exit", event("enqueue_action_hangup"), {"queue": "support"}).status_code == 200
    [ticket] = tickets()
    assert ticket.lost_cause == "abandoned" and float(ticket.wait_seconds) == 95
    assert post(client, "incoming", event("status_completed")).status_code == 200  # its status: nothing twice
    assert len(container.stores.lost.lost_calls("support").items) == 1


def test_a_wait_step_that_fails_keeps_the_caller_holding(client: Client) -> None:
    reply = post(client, "wait", event("enqueue_wait"), {"t": "support-404"})
    assert [c.tag for c in ET.fromstring(reply.body)] == ["Play"]
