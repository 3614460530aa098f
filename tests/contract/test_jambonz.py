"""jambonz beyond the shared contract (tests/contract/test_providers.py runs it with the other three):
its signature's known answers and refusals, every verb against its published models, its native queue
ordered by priority (a returning caller keeps their place, and the caller jambonz bridges is the one
Holdfast chose), a hold that cannot hear keys, and its REST API (plain sync HTTP).

Facts relied on, and where they were checked: `Jambonz-Signature: t=…,v1=…` = HMAC-SHA256 hex of
`{t}.{raw body}`, 300 s tolerance (jambonz_sdk/_signature.py; feature-server lib/utils/base-requestor.js);
an enqueue's `priority` is a redis sorted-set score, lower dequeued first, ties in member order
(schema verbs/enqueue.schema.json "Lower numbers are higher priority and are dequeued first";
feature-server lib/tasks/enqueue.js `addToSortedSet`); a waitHook may answer say, play, pause, leave
only (enqueue.js `_playHook`); createCall/updateCall/RegisteredSipUsers bodies (jambonz-api-server
lib/routes/api/accounts.js)."""
from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import pytest
from chalice.test import Client

from app import app
from chalicelib import bootstrap
from chalicelib.adapters.jambonz import WAIT_VERBS, JambonzDialer, JambonzTelephony
from chalicelib.adapters.memory import FixedClock
from chalicelib.domain import learning
from chalicelib.domain.errors import CallGoneError, TelephonyError
from chalicelib.domain.model import AgentStatus, AnsweredBy, CallStatus, QueueResult
from chalicelib.domain.script import Dial, Enqueue, Gather, Hangup, Leave, Pause, Play, Redirect, Say, Script, Step
from chalicelib.ports import WebhookRequest
from tests.conftest import PUBLIC_URL
from tests.contract.conftest import jambonz_problems
from tests.contract.providers import JAMBONZ_SECRET, WIRES
from tests.contract.test_providers import (CALLER, MONDAY_10_PST, QUEUES, Caller, CallbackWorld, clock,  # noqa: F401
                                           container, staffed, tickets)
from tests.contract.test_telnyx_vonage import Recording

BASE = "https://h/api"
WIRE = WIRES["jambonz"]


def request(body: bytes, header: str | None) -> WebhookRequest:
    headers = {"Content-Type": "application/json"} | ({"Jambonz-Signature": header} if header is not None else {})
    return WebhookRequest("POST", "https://h/voice/jambonz/incoming", {}, headers, body)


def at(seconds: float) -> FixedClock:
    return FixedClock(datetime.fromtimestamp(seconds, timezone.utc))


# --- known answers (providers.md section 6, jambonz) and refusals -----------------------------------

KAT_1 = (b"test", "secret", "t=1000,v1=35468b1b2309e2858bb79488aa6ee03e62afebf2aa596b0ebccc2ec8975ad3bd")
KAT_2 = (b'{"call_sid":"abc123"}', "test-secret",
         "t=1700000000,v1=e9520db5a362abf024162c5dba1422b1ec1bb193247a16a7f07f7760c878d6e8")


@pytest.mark.parametrize("body, secret, header, now", [(*KAT_1, 1000 + 299), (*KAT_2, 1700000000 - 299)])
def test_known_answers_verify_inside_the_window(body: bytes, secret: str, header: str, now: int) -> None:
    assert JambonzTelephony(secret, at(now)).verify(request(body, header))


@pytest.mark.parametrize("case", ["tampered body", "wrong secret", "no t", "no v1", "t not a whole number",
                                  "301 s old", "301 s ahead", "huge t", "no header", "empty secret",
                                  "two timestamps", "v1 of another body"])
def test_refuses(case: str) -> None:
    body, secret, header = KAT_2
    now = {"301 s old": 1700000301, "301 s ahead": 1699999699}.get(case, 1700000010)
    body = b'{"call_sid":"abc124"}' if case == "tampered body" else body
    secret = {"wrong secret": "test-secret-2", "empty secret": ""}.get(case, secret)
    mac = header.split("v1=")[1]
    header = {"no t": f"v1={mac}", "no v1": "t=1700000000", "t not a whole number": f"t=1700000000.5,v1={mac}",
              "huge t": f"t=99999999999999999999,v1={mac}", "two timestamps": f"t=1700000000,t=1,v1={mac}",
              "v1 of another body": "t=1700000000,v1=" + KAT_1[2].split("v1=")[1]}.get(case, header)
    assert not JambonzTelephony(secret, at(now)).verify(request(body, None if case == "no header" else header))


def test_a_signature_is_spent_once_where_it_was_used() -> None:
    """Verified, then spent by the edge (Replays, shared by every container): the same request again is
    refused; the same body and signature at another of our hooks is another delivery (the URL is not signed)."""
    from chalicelib.adapters.memory import MemoryReplays
    from chalicelib.edges.webhooks import replayed

    body, secret, header = KAT_2
    jambonz, replays = JambonzTelephony(secret, at(1700000010)), MemoryReplays()
    first = request(body, header)
    assert jambonz.verify(first) and replayed(jambonz, first, replays) is None
    assert replayed(jambonz, request(body, header), replays).status == 403  # the same again
    elsewhere = replace(first, query={"hook": "status"})
    assert jambonz.verify(elsewhere) and replayed(jambonz, elsewhere, replays) is None
    assert jambonz.replay_key(first)[1] == datetime.fromtimestamp(1700000000 + 300, timezone.utc)


# --- every verb, against jambonz's published models -------------------------------------------------

HOLD = Enqueue("support", wait=Step.of("wait", t="support-7"), action=Step.of("queue-exit", t="support-7"),
               rank=9 * 10 ** 12 + 7)
EVERY_VERB = Script.of(Say("Hello", "en-US"), Play("https://m/a.mp3", loop=2), Pause(1),
                       Gather(Step.of("offer", t="support-7"), (Say("You are number 2.", "en-US"),
                                                                Say("Press 1.", "en-US"))),
                       Gather(Step.of("offer", t="support-7"), (Say("Press 1.", "en-US"), Play("https://m/h.mp3")),
                              timeout_seconds=1),
                       Gather(Step.of("number", t="support-7", tries=0), (Say("Enter it", "ru-RU"),), num_digits=None,
                              timeout_seconds=10, finish_on_key="#"),
                       Redirect(Step.of("bye", t="support-7")), HOLD, Leave(),
                       Dial("user:alice", caller_id="+18005550100", action=Step.of("bridge-result", t="support-7")),
                       Dial("sip:bob@pbx.example.com"), Dial("+14155550100"), Hangup())


def test_every_verb_renders_as_jambonz_reads_it() -> None:
    verbs = json.loads(JambonzTelephony("").render(EVERY_VERB, BASE))
    assert jambonz_problems(verbs) == []
    say, play, pause, offer, said_first, music, number, redirect, enqueue, leave, user, sip, phone, hangup = verbs
    assert say["synthesizer"] == {"vendor": "google", "language": "en-US", "voice": "en-US-Standard-C"}
    assert play == {"verb": "play", "url": "https://m/a.mp3", "loop": 2} and pause == {"verb": "pause", "length": 1}
    # one nested prompt: sentences in one voice said as one, and the gather's hook always called
    assert offer["say"]["text"] == "You are number 2. Press 1." and offer["numDigits"] == 1
    assert offer["actionHook"] == {"url": f"{BASE}/voice/jambonz/offer?t=support-7", "method": "POST"}
    # a sentence, then music to press a key through: the sentence first, the music in the gather
    assert said_first["text"] == "Press 1." and music["play"] == {"url": "https://m/h.mp3"}
    assert number.pop("say")["synthesizer"]["language"] == "ru-RU"
    assert number == {"verb": "gather", "input": ["digits"], "timeout": 10, "dtmfBargein": True, "minDigits": 1,
                      "maxDigits": 20, "interDigitTimeout": 10, "finishOnKey": "#",
                      "actionHook": {"url": f"{BASE}/voice/jambonz/number?t=support-7&tries=0", "method": "POST"}}
    assert redirect["actionHook"]["url"] == f"{BASE}/voice/jambonz/bye?t=support-7"
    assert enqueue == {"verb": "enqueue", "name": "support", "priority": 9 * 10 ** 12 + 7,
                       "waitHook": {"url": f"{BASE}/voice/jambonz/wait?t=support-7", "method": "POST"},
                       "actionHook": {"url": f"{BASE}/voice/jambonz/queue-exit?t=support-7", "method": "POST"}}
    assert leave == {"verb": "leave"} and hangup == {"verb": "hangup"}
    assert user["target"] == [{"type": "user", "name": "alice"}] and user["callerId"] == "+18005550100"
    assert sip["target"] == [{"type": "sip", "sipUri": "sip:bob@pbx.example.com"}]
    assert phone["target"] == [{"type": "phone", "number": "+14155550100"}]


def test_the_models_refuse_what_jambonz_would() -> None:
    """The check has teeth: a misspelt field, a verb jambonz lacks, a dial without targets."""
    assert jambonz_problems([{"verb": "say", "text": "hi", "voice": "x"}])
    assert jambonz_problems([{"verb": "queue", "name": "support"}])
    assert jambonz_problems([{"verb": "dial"}])


def test_capabilities_and_contacts() -> None:
    caps = JambonzTelephony("").capabilities
    assert caps.can_dial("user:alice") and caps.can_dial("sip:a@b.example") and caps.can_dial("+14155550100")
    assert not caps.can_dial("client:alice")
    assert caps.native_queue and not caps.hold_listens and not caps.inline_redirect and caps.gather_falls_through


def test_callbacks_parse_to_neutral_events() -> None:
    tel = JambonzTelephony(JAMBONZ_SECRET, FixedClock(MONDAY_10_PST))
    wait = tel.parse(WIRE.recorded("enqueue_wait"), {})
    assert (wait.status, wait.queue_seconds, wait.caller) == (CallStatus.IN_PROGRESS, 12, "")
    assert tel.parse(WIRE.recorded("incoming"), {}).status is CallStatus.IN_PROGRESS  # asked for verbs
    assert tel.parse(WIRE.recorded("incoming"), {"hook": "status"}).progress  # the same body as a report
    assert tel.parse(WIRE.recorded("enqueue_action_leave"), {}).queue_result is QueueResult.LEAVE
    assert tel.parse(WIRE.recorded("enqueue_action_hangup"), {}).queue_result is QueueResult.HANGUP
    assert tel.parse(WIRE.recorded("gather_timeout"), {}).nothing_pressed
    assert not tel.parse(WIRE.recorded("gather_digits_1"), {}).nothing_pressed
    answered = tel.parse(WIRE.recorded("outbound_answered"), {"amd": "1"})
    assert answered.verdict_pending and answered.answered_by is None
    machine = tel.parse(WIRE.recorded("amd_machine"), {"amd": "1"})
    assert machine.answered_by is AnsweredBy.MACHINE and not machine.verdict_pending and not machine.nothing_pressed
    stopped = tel.parse(WIRE.recorded("amd_stopped"), {})
    assert stopped.progress and stopped.answered_by is None
    assert tel.parse(WIRE.recorded("dial_busy"), {}).sip_code == 486


# --- the native queue: holding, a hold that cannot hear keys, the order kept -------------------------

@pytest.fixture
def client(container) -> Iterator[Client]:  # type: ignore[no-untyped-def]  # noqa: F811
    with Client(app, stage_name="local") as c:
        yield c


def verbs(markup: str) -> list[dict[str, Any]]:
    return json.loads(markup)


def enqueued(markup: str) -> dict[str, Any]:
    [enqueue] = [v for v in verbs(markup) if v["verb"] == "enqueue"]
    return enqueue


def jambonz_order(members: dict[str, int]) -> list[str]:
    """Who jambonz dequeues first: a redis sorted set, lowest score (priority) first, ties by member."""
    return sorted(members, key=lambda m: (members[m], m))


@pytest.mark.usefixtures("staffed")
def test_short_wait_holds_in_jambonzs_queue_speaking_and_playing_only(client: Client, clock: FixedClock) -> None:
    caller = Caller(client, WIRE, clock, call="jz-call-1")
    markup = caller.call()
    assert "number 1 in line" in markup and enqueued(markup)["priority"] == 9 * 10 ** 12 + 1
    caller.follow("wait", "wait")
    said = verbs(caller.markup)
    assert {v["verb"] for v in said} <= WAIT_VERBS and "hold.mp3" in caller.markup and said[-1]["verb"] == "play"
    [ticket] = tickets()
    assert ticket.status == "WAITING" and ticket.call_id == "jz-call-1"


@pytest.mark.usefixtures("staffed")
def test_a_long_wait_leaves_the_hold_to_be_offered_and_comes_back_at_its_place(client: Client, clock: FixedClock) -> None:
    for n in range(3):
        Caller(client, WIRE, clock, call=f"jz-early-{n}", caller=f"+1415555{n:04d}").call()
    caller = Caller(client, WIRE, clock, call="jz-call-4")
    enqueued_at_start = enqueued(caller.call())
    rank = enqueued_at_start["priority"]
    caller.follow("wait", "wait")  # the waitHook: where it is and how long, then leave to hear the offer
    said = verbs(caller.markup)
    assert {v["verb"] for v in said} <= WAIT_VERBS and said[-1] == {"verb": "leave"}
    exit_url = next(u for k, u in WIRE.next_urls(json.dumps([enqueued_at_start])) if k == "exit")
    caller.post(exit_url.removeprefix(PUBLIC_URL), "wait", queue_result="leave", queue_time=34)
    offered = verbs(caller.markup)
    assert "press 1" in caller.markup and offered[-1]["verb"] == "enqueue"
    assert enqueued(caller.markup)["priority"] == rank  # back at the very same place
    # nothing pressed: jambonz calls the hook anyway; an empty reply lets the enqueue run
    gather_path = WIRE.next_urls(caller.markup)[0][1].removeprefix(PUBLIC_URL)
    assert caller.post(gather_path, "no_input") == "[]"
    caller.post(gather_path, "press_1")  # pressed 1: the number read back
    assert "4 1 5, 8 6 7, 5 3 0 9" in caller.markup
    caller.follow("gather", "press_1")
    assert [t.kind for t in tickets() if t.call_id == "jz-call-4"] == ["CALLBACK"]


@pytest.fixture
def rest() -> Recording:
    return Recording(reply={"sid": "jz-out-1"})


@pytest.fixture
def dialing(settings, clock, serve, rest) -> Any:  # type: ignore[no-untyped-def]
    """Holdfast serving jambonz and dialing through it (its REST API a recording stand-in)."""
    built = bootstrap.build_aws(replace(settings, queues_file=QUEUES, providers=("twilio", "jambonz"),
                                        jambonz_webhook_secret=JAMBONZ_SECRET),
                                clock=clock, dialer=JambonzDialer("jz-key", "acct-1", PUBLIC_URL,
                                                                  "https://jambonz.test", rest))
    serve(built)
    return built


def test_a_returning_caller_keeps_their_place_and_is_the_one_bridged(dialing: Any, clock: FixedClock,
                                                                      rest: Recording) -> None:
    """A books a callback and hangs up; B holds; A calls again, presses 3 (hold on the line now) at the
    menu about their callback and rejoins their ticket: A's enqueue
    priority is below B's, so jambonz's queue orders them as Holdfast's line does, although B entered
    it first. An agent frees up: Holdfast redirects exactly A's call, and A's bridge dials the agent."""
    with Client(app, stage_name="local") as client:
        a = Caller(client, WIRE, clock, call="jz-a-1")
        a.call()  # nobody signed in: offered a callback at once
        a.follow("gather", "press_1")
        a.follow("gather", "press_1")
        assert "We will call you back" in a.markup
        a.post("/voice/jambonz/incoming?hook=status", "ended")
        clock.advance(30)
        b = Caller(client, WIRE, clock, call="jz-b-1", caller="+14155550123")
        in_queue = {"jz-b-1": enqueued(b.call())["priority"]}
        clock.advance(30)
        again = Caller(client, WIRE, clock, call="jz-a-2")
        assert "You have a callback booked. You are number 1 in line." in again.call()  # the menu (issue 27)
        in_queue["jz-a-2"] = enqueued(again.follow("gather", "press_1", digits="3"))["priority"]  # hold now
        assert jambonz_order(in_queue) == ["jz-a-2", "jz-b-1"]  # A's old place, ahead of B

        agent, ticket = dialing.dispatcher.agent_event("alice", AgentStatus.AVAILABLE, contact="user:alice",
                                                       queues=("support",))
        assert ticket is not None and ticket.call_id == "jz-a-2"
        [put] = [r for r in rest.sent if r.method == "PUT"]
        assert put.url == "https://jambonz.test/v1/Accounts/acct-1/Calls/jz-a-2"
        assert put.headers["Authorization"] == "Bearer jz-key"
        hook = json.loads(put.body or b"{}")["call_hook"]
        assert hook == {"url": f"{PUBLIC_URL}/voice/jambonz/bridge?agent=alice&t={ticket.id}", "method": "POST"}
        bridged = verbs(again.post(hook["url"].removeprefix(PUBLIC_URL), "incoming"))
        assert bridged[-1]["target"] == [{"type": "user", "name": "alice"}]
        # jambonz ends the replaced enqueue with queue_result "hangup" (its reply ignored): nothing changes
        again.post(f"/voice/jambonz/queue-exit?t={ticket.id}", "wait", queue_result="hangup", queue_time=20)
        assert dialing.stores.tickets.get(ticket.id).status.value == "CONNECTING"
        # the agent did not answer: back in jambonz's queue at the same priority, still ahead of B
        missed = again.post(f"/voice/jambonz/bridge-result?agent=alice&t={ticket.id}", "dial_busy")
        assert enqueued(missed)["priority"] == in_queue["jz-a-2"]


# --- detection's deliveries in any order, duplicated ------------------------------------------------

# (step, recorded kind, query, overrides): the answer fetch while detection listens; amd events (each
# may come more than once, signed anew); detection's news that decides nothing; and our own redirect
# after the answer's pause, which comes with no verdict.
ANSWER = ("cb-answer", "answer", "&amd=1", {})
STOPPED = ("cb-verdict", "human", "", {"type": "amd_stopped"})
NO_VERDICT = ("cb-verdict", "answer", "", {})
PERSON = [ANSWER, ("cb-verdict", "human", "", {}), ("cb-verdict", "human", "", {}), STOPPED, NO_VERDICT]
MACHINE = [ANSWER, ("cb-verdict", "machine", "", {}), ("cb-verdict", "machine", "", {"type": "amd_tone_detected"}),
           STOPPED]
SEEDS = range(12)


Delivery = tuple[str, str, str, dict[str, str]]


def delivered(w: CallbackWorld, deliveries: list[Delivery], seed: int) -> list[tuple[Delivery, list[dict[str, Any]]]]:
    """Every delivery, shuffled by the seed, each a second after the last; each with its reply."""
    order = list(deliveries)
    random.Random(seed).shuffle(order)
    replies = []
    for step, kind, query, fields in order:
        w.clock.advance(1)
        replies.append(((step, kind, query, fields), json.loads(w.post(step, kind, query=query, **fields))))
    return replies


def dials(replies: list[tuple[Delivery, list[dict[str, Any]]]]) -> int:
    return sum(verb["verb"] == "dial" for _, reply in replies for verb in reply)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_person_is_put_through_once_whatever_order_detection_reports_in(
        seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A person: the answer, two human verdicts, detection stopping and our own no-verdict redirect, in
    any order: the agent is dialed exactly once, and the attempt is decided by that dial alone."""
    with Client(app, stage_name="local") as client:
        w = CallbackWorld("jambonz", "customer_first", client, monkeypatch)
        replies = delivered(w, PERSON, seed)
        assert dials(replies) == 1
        assert [reply for delivery, reply in replies if delivery == STOPPED] == [[]]  # news decides nothing
        assert w.outcomes() == []  # nothing decided before the agent's dial ends
        w.clock.advance(1)
        w.post("cb-dialed", "dial_completed")
        assert [o["result"] for o in w.outcomes()] == ["connected"]


@pytest.mark.parametrize("seed", SEEDS)
def test_a_machine_is_never_put_through_whatever_order_detection_reports_in(
        seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine: the answer, two machine verdicts (a voice, then a beep) and detection stopping, in any
    order: no reply dials the agent, every verdict hangs up, the answer holds the callee only while no
    verdict has come, the attempt ends once as a machine and the agent is free again."""
    with Client(app, stage_name="local") as client:
        w = CallbackWorld("jambonz", "customer_first", client, monkeypatch)
        replies = delivered(w, MACHINE, seed)
        assert dials(replies) == 0
        verdicts = [reply for delivery, reply in replies if delivery in MACHINE[1:3]]
        assert verdicts == [[{"verb": "hangup"}]] * 2
        answer_at = next(i for i, (delivery, _) in enumerate(replies) if delivery == ANSWER)
        judged_before = any(delivery in MACHINE[1:3] for delivery, _ in replies[:answer_at])
        held = [verb["verb"] for verb in replies[answer_at][1]]
        assert held == (["hangup"] if judged_before else ["pause", "redirect"])
        assert [o["result"] for o in w.outcomes()] == ["machine"]
        assert w.stores.agents.get_agent("alice").status is AgentStatus.AVAILABLE


def test_the_agents_leg_reported_to_the_callbacks_status_hook_is_not_the_customers_call(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """jambonz posts the status of every leg a dial places to the call-status hook of the call that
    dialed it, with parent_call_sid (feature-server place-outdial.js). Customer first: the customer
    answered and is put through; the agent's leg rings out. Its no-answer on the callback's status hook
    is not the customer's: the attempt is the agent's miss (from the dial's actionHook), not a
    customer who did not answer."""
    with Client(app, stage_name="local") as client:
        w = CallbackWorld("jambonz", "customer_first", client, monkeypatch)
        w.post("cb-answer", "answer", query="&amd=1")
        w.clock.advance(1)
        assert [v["verb"] for v in json.loads(w.post("cb-verdict", "human"))][-1] == "dial"
        for state in ("ringing", "no-answer"):
            w.clock.advance(1)
            w.post("cb-status", "no_answer", query="&hook=status", call_sid="jz-agent-leg-1",
                   parent_call_sid="out-1", call_status=state)
        assert w.outcomes() == []
        w.clock.advance(1)
        w.post("cb-dialed", "dial_busy", dial_call_status="no-answer", dial_sip_status=487)
        assert [o["result"] for o in w.outcomes()] == ["agent-missed"]


def test_a_bridge_is_answered_when_the_agent_answers_and_its_talk_time_counted_from_then(
        dialing: Any, clock: FixedClock, rest: Recording) -> None:
    """jambonz's dial reports no talk time and sends no leg events to the dial: the dial's confirmHook,
    called when the agent answers and answered `[]` (bridge now), says when the caller was connected
    (answered means bridged, issue 20), and the talk time runs from then."""
    with Client(app, stage_name="local") as client:
        caller = Caller(client, WIRE, clock, call="jz-c-1")
        caller.call()
        clock.advance(40)
        _, ticket = dialing.dispatcher.agent_event("alice", AgentStatus.AVAILABLE, contact="user:alice",
                                                   queues=("support",))
        assert ticket is not None and ticket.call_id == "jz-c-1"
        hook = json.loads(next(r for r in rest.sent if r.method == "PUT").body or b"{}")["call_hook"]
        [dial] = [v for v in verbs(caller.post(hook["url"].removeprefix(PUBLIC_URL), "incoming")) if v["verb"] == "dial"]
        clock.advance(6)  # the agent's phone rings, then they answer
        answered_at = clock.now()
        confirm = caller.post(dial["confirmHook"]["url"].removeprefix(PUBLIC_URL), "incoming",
                              call_sid="jz-agent-leg-1", parent_call_sid="jz-c-1", direction="outbound")
        assert verbs(confirm) == []  # nothing to play the agent: bridged at once
        assert dialing.stores.tickets.get(ticket.id).answered_at == answered_at
        queue = dialing.dispatcher.queues.get("support")
        handle_before = 1 / learning.current(dialing.stores.stats, queue).mu
        clock.advance(95)
        caller.post(dial["actionHook"]["url"].removeprefix(PUBLIC_URL), "dial_completed")
        served = dialing.stores.tickets.get(ticket.id)
        assert (served.status.value, served.answered_at, served.ended_at) == (
            "SERVED", answered_at, answered_at + timedelta(seconds=95))
        # a 95 s conversation learned (the queue's handle time, configured longer, comes down)
        assert handle_before > 95 and 1 / learning.current(dialing.stores.stats, queue).mu < handle_before


def test_a_callback_is_reached_when_the_agent_answers_its_dial(monkeypatch: pytest.MonkeyPatch) -> None:
    """Customer first: the person is greeted and the agent dialed; the agent answers 8 s later (the
    confirmHook) and they talk 60 s: the callback was connected at the agent's answer."""
    with Client(app, stage_name="local") as client:
        w = CallbackWorld("jambonz", "customer_first", client, monkeypatch)
        w.post("cb-answer", "answer", query="&amd=1")
        w.clock.advance(1)
        [dial] = [v for v in json.loads(w.post("cb-verdict", "human")) if v["verb"] == "dial"]
        w.clock.advance(8)
        answered_at = w.clock.now()
        confirm = dial["confirmHook"]["url"].removeprefix(PUBLIC_URL)
        body, headers = w.wire.request(PUBLIC_URL + confirm, w.wire.event("answer", call="jz-agent-leg-2",
                                                                           parent_call_sid="out-1"), w.clock.now())
        assert w.client.http.post(confirm, headers=headers, body=body).body == b"[]"
        w.clock.advance(60)
        w.post("cb-dialed", "dial_completed")
        assert [o["result"] for o in w.outcomes()] == ["connected"]
        assert w.stores.tickets.get(w.ticket).answered_at == answered_at


# --- REST: plain sync HTTP ------------------------------------------------------------------------

def jambonz(session: Recording) -> JambonzDialer:
    return JambonzDialer("jz-key", "acct-1", BASE, "https://jambonz.test", session)


def test_places_a_call_with_its_own_hooks_and_detection() -> None:
    http = Recording(reply={"sid": "jz-out-9", "callId": "x@y"})
    sid = jambonz(http).place_call("+14155550100", "+18005550100", Step.of("cb-answer", t="s-1", d="x"),
                                   Step.of("cb-status", t="s-1", d="x"), True, 25,
                                   verdict=Step.of("cb-verdict", t="s-1", d="x"))
    sent = http.sent[0]
    assert sid == "jz-out-9" and sent.method == "POST"
    assert sent.url == "https://jambonz.test/v1/Accounts/acct-1/Calls" and sent.headers["Authorization"] == "Bearer jz-key"
    body = json.loads(sent.body or b"{}")
    assert body["to"] == {"type": "phone", "number": "+14155550100"} and body["from"] == "+18005550100"
    assert body["call_hook"] == {"url": f"{BASE}/voice/jambonz/cb-answer?d=x&t=s-1&amd=1", "method": "POST"}
    assert body["call_status_hook"]["url"] == f"{BASE}/voice/jambonz/cb-status?d=x&t=s-1&hook=status"
    assert body["amd"] == {"actionHook": {"url": f"{BASE}/voice/jambonz/cb-verdict?d=x&t=s-1", "method": "POST"}}
    assert "application_sid" not in body and body["speech_synthesis_vendor"] == "google" and body["timeout"] == 25
    agent_first = Recording(reply={"sid": "jz-out-10"})
    jambonz(agent_first).place_call("user:alice", "+18005550100", Step.of("cb-answer", t="s-1", d="y"),
                                    Step.of("cb-status", t="s-1", d="y"), False, 25)
    body = json.loads(agent_first.sent[0].body or b"{}")
    assert body["to"] == {"type": "user", "name": "alice"} and "amd" not in body and "amd=1" not in body["call_hook"]["url"]


def test_moves_a_live_call_by_url_only() -> None:
    http = Recording()
    jambonz(http).redirect_to("jz-a-1", Step.of("bridge", t="s-1", agent="alice"))
    assert http.sent[0].method == "PUT" and http.sent[0].url.endswith("/v1/Accounts/acct-1/Calls/jz-a-1")
    assert json.loads(http.sent[0].body or b"{}") == {
        "call_hook": {"url": f"{BASE}/voice/jambonz/bridge?agent=alice&t=s-1", "method": "POST"}}
    with pytest.raises(TelephonyError):
        jambonz(http).redirect("jz-a-1", Script.of(Hangup()))  # no verbs over updateCall
    with pytest.raises(CallGoneError):
        jambonz(Recording(status=404)).redirect_to("jz-gone", Step.of("bridge", t="s-1", agent="alice"))
    with pytest.raises(TelephonyError):
        JambonzDialer("", "", BASE).place_call("+1", "+1", Step.of("a"), Step.of("b"), False, 25)


class Registrations(Recording):
    """RegisteredSipUsers as the API server answers a POST of names (jambonz-api-server accounts.js)."""

    def __init__(self, active: set[str]) -> None:
        super().__init__()
        self.active = active

    def send(self, request: Any, **kwargs: Any) -> Any:
        response = super().send(request, **kwargs)
        names = json.loads(request.body or b"[]")
        response._content = json.dumps([{"name": n, "contact": None, "expiryTime": 0, "protocol": None,
                                         "registered_status": "active" if n in self.active else "inactive"}
                                        for n in names]).encode()
        return response


def test_reads_which_registered_users_are_registered() -> None:
    http = Registrations({"alice"})
    assert jambonz(http).registered(["user:alice@sip.example.com", "user:bob", "sip:carol@pbx"]) == {
        "user:alice@sip.example.com"}
    assert http.sent[0].url.endswith("/v1/Accounts/acct-1/RegisteredSipUsers")
    assert json.loads(http.sent[0].body or b"[]") == ["alice", "bob"]


def test_an_agent_whose_phone_unregisters_is_taken_offline_by_the_sweep(settings, clock, serve) -> None:  # type: ignore[no-untyped-def]
    http = Registrations({"alice", "bob"})
    built = bootstrap.build_aws(replace(settings, queues_file=QUEUES, providers=("twilio", "jambonz"),
                                        jambonz_webhook_secret=JAMBONZ_SECRET),
                                clock=clock, dialer=JambonzDialer("jz-key", "acct-1", PUBLIC_URL, "https://j.test", http))
    serve(built)
    for name in ("alice", "bob"):
        built.dispatcher.agent_event(name, AgentStatus.AVAILABLE, contact=f"user:{name}", queues=("support",))
    built.dispatcher.agent_event("dora", AgentStatus.AVAILABLE, contact="+14155550999", queues=("support",))
    built.dispatcher.sweep()
    assert {a.id for a in built.stores.agents.idle_agents("support")} == {"alice", "bob", "dora"}
    http.active.discard("bob")  # bob's phone sent REGISTER with Expires: 0
    clock.advance(60)
    built.dispatcher.sweep()
    assert built.stores.agents.get_agent("bob").status is AgentStatus.OFFLINE
    assert {a.id for a in built.stores.agents.idle_agents("support")} == {"alice", "dora"}


def test_agent_contacts_are_validated_like_any_other() -> None:
    from chalicelib.domain.errors import NumberNotAllowedError
    from chalicelib.domain.phone import NumberPolicy

    policy = NumberPolicy(("US",), "US")
    assert policy.accept_contact("user:alice") == "user:alice"
    assert policy.accept_contact("user:alice@sip.example.com") == "user:alice@sip.example.com"
    for refused in ("user:", "user:al ice", "user:alice@", "user:+19005550100", "users:alice"):
        with pytest.raises(NumberNotAllowedError):
            policy.accept_contact(refused)


def test_dials_go_at_the_jambonz_accounts_pace(settings, clock, serve) -> None:  # type: ignore[no-untyped-def]
    """jambonz has no calls-a-second limit of its own (the carrier's trunk has): 1 unless told the trunk's."""
    from chalicelib.settings import Settings

    assert Settings.from_env({"HOLDFAST_DIALING_PROVIDER": "jambonz"}).dial_calls_per_second == 1.0
    trunk = Settings.from_env({"HOLDFAST_DIALING_PROVIDER": "jambonz", "HOLDFAST_DIAL_CALLS_PER_SECOND": "5"})
    assert trunk.dial_calls_per_second == 5.0
    built = bootstrap.build_aws(replace(settings, queues_file=QUEUES, providers=("twilio", "jambonz"),
                                        jambonz_webhook_secret=JAMBONZ_SECRET, dialing_provider="jambonz",
                                        dial_calls_per_second=trunk.dial_calls_per_second),
                                clock=clock, dialer=JambonzDialer("jz-key", "acct-1", PUBLIC_URL, "https://j.test"))
    serve(built)
    assert (built.dispatcher.pacer.account, built.dispatcher.pacer.rate) == ("jambonz", 5.0)
