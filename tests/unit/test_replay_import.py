"""Importing call logs (replay/): each format's records on small logs written here, the expected values
read off each log by hand; a bad line named with its line and what was expected, and nothing imported."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from replay import jsonstream
from replay.extsort import ExternalSort
from replay.load import ChooseQueueError, load
from replay.records import Call, LogError, Outcome, Presence

T0 = 1767621600  # 2026-01-05 09:00 New York (a Monday)
NY = "America/New_York"

QUEUE_LOG = f"""\
{T0}|NONE|support|SIP/101|ADDMEMBER|
{T0}|NONE|support|SIP/102|ADDMEMBER|
{T0 + 100}|c1|support|NONE|ENTERQUEUE||+14155550101|1
{T0 + 100}|NONE|support|SIP/102|PAUSE|lunch
{T0 + 112}|c1|support|SIP/101|CONNECT|12|c1.2|3
{T0 + 200}|c2|support|NONE|ENTERQUEUE||+14155550102|1
{T0 + 245}|c2|support|NONE|ABANDON|1|1|45
{T0 + 300}|c3|support|NONE|ENTERQUEUE||anonymous|1
{T0 + 310}|c3|support|SIP/102|RINGNOANSWER|15000
{T0 + 400}|NONE|support|SIP/102|UNPAUSE|
{T0 + 402}|c3|support|SIP/102|CONNECT|102|c3.2|2
{T0 + 412}|c1|support|SIP/101|COMPLETECALLER|12|300|1
{T0 + 500}|c4|support|NONE|ENTERQUEUE||+14155550104|1
{T0 + 530}|c4|support|NONE|EXITWITHKEY|1|1|1|30
{T0 + 600}|c5|support|NONE|ENTERQUEUE||+14155550105|1
{T0 + 900}|c5|support|NONE|EXITWITHTIMEOUT|1|1|300
{T0 + 642}|c3|support|SIP/102|BLINDTRANSFER|200|sales|102|240|1
{T0 + 700}|c6|support|NONE|ENTERQUEUE||+14155550106|1
{T0 + 700}|c6|support|NONE|EXITEMPTY|1|1|0
{T0 + 800}|c7|support|NONE|ENTERQUEUE||+14155550107|1
{T0 + 900}|NONE|NONE|NONE|QUEUESTART|
{T0 + 950}|c0|support|SIP/101|COMPLETEAGENT|5|60|1
{T0 + 3600}|NONE|support|SIP/101|REMOVEMEMBER|
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def records(path: Path, fmt: str, **kw) -> tuple[list[Call], list[Presence], dict]:  # type: ignore[no-untyped-def]
    log = load(path, fmt, tz=NY, **kw)
    try:
        recs = list(log.records())
        return [r for r in recs if isinstance(r, Call)], [r for r in recs if isinstance(r, Presence)], log.notes
    finally:
        log.close()


def test_queue_log_calls_and_presence_known_answer(tmp_path: Path) -> None:
    calls, presence, notes = records(write(tmp_path, "queue_log", QUEUE_LOG), "queue_log")
    got = {c.id: (c.outcome, c.arrived - T0, c.wait, c.talk, c.agent, c.caller) for c in calls}
    assert got == {
        "c1": (Outcome.ANSWERED, 100, 12, 300, "SIP/101", "+14155550101"),
        "c2": (Outcome.ABANDONED, 200, 45, 0, "", "+14155550102"),
        "c3": (Outcome.ANSWERED, 300, 102, 240, "SIP/102", "anonymous"),  # transferred after 240 s of talk
        "c4": (Outcome.KEY, 500, 30, 0, "", "+14155550104"),
        "c5": (Outcome.TIMEOUT, 600, 300, 0, "", "+14155550105"),
        "c6": (Outcome.EMPTY, 700, 0, 0, "", "+14155550106"),
    }
    assert [c.id for c in calls] == ["c1", "c2", "c3", "c4", "c5", "c6"]  # by arrival
    # c7 never ended and c0 began before the log: both incomplete; QUEUESTART counted and skipped
    assert notes["incomplete"] == 2 and notes["ignored"] == {"QUEUESTART": 1}
    assert [(p.at - T0, p.agent, p.on) for p in presence] == [
        (0, "SIP/101", True), (0, "SIP/102", True), (100, "SIP/102", False), (400, "SIP/102", True),
        (3600, "SIP/101", False)]


def test_a_bad_line_is_named_and_nothing_is_imported(tmp_path: Path) -> None:
    text = QUEUE_LOG.replace(f"{T0 + 245}|c2|support|NONE|ABANDON|1|1|45", f"{T0 + 245}|c2|support|NONE|ABANDON|1|1|soon")
    text = text.replace(f"{T0 + 700}|c6|support|NONE|EXITEMPTY|1|1|0", "yesterday|c6|support|NONE|EXITEMPTY|1|1|0")
    path = write(tmp_path, "queue_log", text)
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(LogError) as caught:
        load(path, "queue_log", tz=NY, workdir=work)
    message = str(caught.value)
    assert caught.value.total == 2
    assert "queue_log:7: expected ABANDON(position|origposition|waittime): waittime: a number (got 'soon')" in message
    assert "queue_log:19: expected a UNIX timestamp (seconds since 1970) in the first field (got 'yesterday')" in message
    assert "nothing was imported" in message
    assert list(work.iterdir()) == []  # no half-written import left behind


def test_a_log_with_several_queues_asks_which(tmp_path: Path) -> None:
    text = QUEUE_LOG + f"{T0 + 1000}|s1|sales|NONE|ENTERQUEUE||+14155550199|1\n{T0 + 1010}|s1|sales|NONE|ABANDON|1|1|10\n"
    path = write(tmp_path, "queue_log", text)
    with pytest.raises(ChooseQueueError, match="'support' \\(7 calls\\), 'sales' \\(1 calls\\)"):
        load(path, "queue_log", tz=NY)
    calls, _, _ = records(path, "queue_log", queue="sales")
    assert [(c.id, c.outcome, c.wait) for c in calls] == [("s1", Outcome.ABANDONED, 10)]


# --- Twilio ---------------------------------------------------------------------------------------

TWILIO_CSV = """\
Sid,ParentCallSid,DateCreated,StartTime,EndTime,Duration,From,To,Direction,Status
CA01,,"Mon, 05 Jan 2026 14:00:00 +0000","Mon, 05 Jan 2026 14:00:00 +0000","Mon, 05 Jan 2026 14:06:00 +0000",360,+14155550101,+18005550100,inbound,completed
CA02,CA01,"Mon, 05 Jan 2026 14:00:40 +0000","Mon, 05 Jan 2026 14:00:40 +0000","Mon, 05 Jan 2026 14:06:00 +0000",320,+18005550100,client:ann,outbound-dial,completed
CA03,,"Mon, 05 Jan 2026 14:10:00 +0000","Mon, 05 Jan 2026 14:10:00 +0000","Mon, 05 Jan 2026 14:11:30 +0000",90,+14155550102,+18005550100,inbound,completed
CA04,CA03,"Mon, 05 Jan 2026 14:10:05 +0000","Mon, 05 Jan 2026 14:10:05 +0000",,,+18005550100,client:bob,outbound-dial,no-answer
CA05,,"Mon, 05 Jan 2026 14:20:00 +0000",,,,+14155550103,+18005550100,inbound,busy
CA06,,"Mon, 05 Jan 2026 14:30:00 +0000","Mon, 05 Jan 2026 14:30:00 +0000","Mon, 05 Jan 2026 14:31:00 +0000",60,+14155550104,+18005550100,inbound,completed
"""


def test_twilio_csv_with_dial_legs_known_answer(tmp_path: Path) -> None:
    calls, _, notes = records(write(tmp_path, "calls.csv", TWILIO_CSV), "twilio")
    assert [(c.id, c.outcome, c.wait, c.talk, c.agent) for c in calls] == [
        ("CA01", Outcome.ANSWERED, 40, 320, "client:ann"),  # the leg began 40 s in and talked 320 s
        ("CA03", Outcome.ABANDONED, 90, 0, ""),  # its only leg rang out; the caller hung up at 90 s
    ]
    assert notes["never_answered"] == 1 and notes["no_queue_outcome"] == 1  # CA05 busy; CA06 no queue story


def test_twilio_json_pages_with_enqueue_and_taskrouter_events(tmp_path: Path) -> None:
    page = {"calls": [
        {"sid": "CA11", "parent_call_sid": None, "start_time": "Mon, 05 Jan 2026 15:00:00 +0000", "duration": "400",
         "from": "+14155550111", "to": "+18005550100", "direction": "inbound", "status": "completed"},
        {"sid": "CA12", "parent_call_sid": None, "start_time": "Mon, 05 Jan 2026 15:05:00 +0000", "duration": "100",
         "from": "+14155550112", "to": "+18005550100", "direction": "inbound", "status": "completed"},
        {"sid": "CA13", "parent_call_sid": None, "start_time": "Mon, 05 Jan 2026 15:10:00 +0000", "duration": "700",
         "from": "+14155550113", "to": "+18005550100", "direction": "inbound", "status": "completed"}],
        "next_page_uri": None, "page": 0}
    calls_path = write(tmp_path, "calls.json", json.dumps(page, indent=1))
    events = tmp_path / "events"
    events.mkdir()
    # <Enqueue action> requests the app logged: CA11 bridged after 50 s, CA12 hung up after 80 s
    write(events, "enqueue.csv", "CallSid,QueueResult,QueueTime,QueueSid,Timestamp\n"
                                 "CA11,bridged,50,QU1,1767625260\nCA12,hangup,80,QU1,\n")
    created = 1767625800  # 15:10:00 UTC
    task = {"task_attributes": json.dumps({"call_sid": "CA13"}), "task_queue_name": "Support"}
    tr = [{"event_type": "task.created", "event_date": "2026-01-05T15:10:10Z", "event_data": task},
          {"event_type": "reservation.accepted", "event_date_ms": (created + 70) * 1000,
           "event_data": {**task, "worker_name": "ann"}},
          {"event_type": "task.wrapup", "event_date": "2026-01-05T15:19:40Z", "event_data": task},
          {"event_type": "task.completed", "event_date": "2026-01-05T15:20:10Z", "event_data": task},
          {"event_type": "worker.activity.update", "event_date": "2026-01-05T15:00:00Z",
           "event_data": {"worker_name": "ann", "worker_activity_name": "Available"}},
          {"event_type": "worker.activity.update", "event_date": "2026-01-05T16:00:00Z",
           "event_data": {"worker_name": "ann", "worker_activity_name": "Break"}}]
    write(events, "taskrouter.json", json.dumps({"events": tr, "meta": {"page": 0}}))
    log = load(calls_path, "twilio", tz=NY, events=events, queue="Support")
    try:
        got = [r for r in log.records()]
    finally:
        log.close()
    calls = [r for r in got if isinstance(r, Call)]
    assert [(c.id, c.outcome, c.arrived - created, c.wait, c.talk, c.wrap, c.agent) for c in calls] == [
        ("CA13", Outcome.ANSWERED, 10, 60, 510, 30, "ann")]  # created 15:10:10, accepted 15:11:10, wrap-up 15:19:40
    assert [(p.agent, p.on, p.at - created) for p in got if isinstance(p, Presence)] == [
        ("ann", True, -600), ("ann", False, 3000)]
    log = load(calls_path, "twilio", tz=NY, events=events, queue="QU1")
    try:
        calls = [r for r in log.records() if isinstance(r, Call)]
    finally:
        log.close()
    assert [(c.id, c.outcome, c.arrived, c.wait, c.talk) for c in calls] == [
        # arrived 50 s before the request (15:00:10), put through at 15:01:00, talked to the call's end (15:06:40)
        ("CA11", Outcome.ANSWERED, 1767625260 - 50, 50, 340),
        ("CA12", Outcome.ABANDONED, created - 300, 80, 0)]  # no timestamp: the call's start


def test_twilio_bad_rows_are_named(tmp_path: Path) -> None:
    bad = TWILIO_CSV.replace("inbound,busy", "inbound,ringing-ish").replace(
        '"Mon, 05 Jan 2026 14:30:00 +0000","Mon, 05 Jan 2026 14:30:00 +0000"', '"the 5th","the 5th"')
    with pytest.raises(LogError) as caught:
        load(write(tmp_path, "calls.csv", bad), "twilio", tz=NY)
    text = str(caught.value)
    assert "calls.csv:6: expected status: one of" in text and "(got 'ringing-ish')" in text
    assert "calls.csv:7: expected starttime: an RFC 2822 date like 'Tue, 31 Aug 2010 20:36:28 +0000' (got 'the 5th')" in text


# --- Amazon Connect ---------------------------------------------------------------------------------

def ctr(contact: str, method: str, initiated: str, **extra) -> dict:  # type: ignore[no-untyped-def]
    return {"AWSContactTraceRecordFormatVersion": "2017-03-10", "ContactId": contact, "Channel": "VOICE",
            "InitiationMethod": method, "InitiationTimestamp": initiated,
            "CustomerEndpoint": {"Address": "+14155550121", "Type": "TELEPHONE_NUMBER"}, **extra}


def test_connect_contacts_and_callback_legs_known_answer(tmp_path: Path) -> None:
    q = {"Name": "Support"}
    records_ = [
        ctr("k1", "INBOUND", "2026-01-05T16:00:00Z", LastUpdateTimestamp="2026-01-05T16:10:00Z",
            Queue={**q, "EnqueueTimestamp": "2026-01-05T16:00:20Z", "DequeueTimestamp": "2026-01-05T16:01:00Z"},
            Agent={"Username": "ann", "ConnectedToAgentTimestamp": "2026-01-05T16:01:00Z",
                   "AgentInteractionDuration": 280, "CustomerHoldDuration": 20, "AfterContactWorkDuration": 45}),
        ctr("k2", "INBOUND", "2026-01-05T16:05:00Z", DisconnectReason="CUSTOMER_DISCONNECT",
            Queue={**q, "EnqueueTimestamp": "2026-01-05T16:05:10Z", "DequeueTimestamp": "2026-01-05T16:07:10Z"}),
        ctr("k3", "INBOUND", "2026-01-05T16:10:00Z",
            Queue={**q, "EnqueueTimestamp": "2026-01-05T16:10:00Z", "DequeueTimestamp": "2026-01-05T16:13:00Z"}),
        # k3 chose a callback: the first attempt was not answered, the second (PreviousContactId only) was
        ctr("k3cb1", "CALLBACK", "2026-01-05T16:13:00Z", InitialContactId="k3",
            Agent={"Username": "bob", "ConnectedToAgentTimestamp": "2026-01-05T16:30:00Z", "AgentInteractionDuration": 0}),
        ctr("k3cb2", "CALLBACK", "2026-01-05T16:40:00Z", PreviousContactId="k3",
            Agent={"Username": "bob", "ConnectedToAgentTimestamp": "2026-01-05T16:50:00Z", "AgentInteractionDuration": 200}),
        ctr("k4", "INBOUND", "2026-01-05T16:20:00Z"),  # self-service: never queued
        {**ctr("chat1", "INBOUND", "2026-01-05T16:25:00Z"), "Channel": "CHAT"},
        ctr("k5", "INBOUND", "2026-01-05T16:30:00Z", DisconnectReason="CONTACT_FLOW_DISCONNECT",
            Queue={**q, "EnqueueTimestamp": "2026-01-05T16:30:00Z", "DequeueTimestamp": "2026-01-05T16:40:00Z"}),
        # a second delivery of k1, older: the copy with the later LastUpdateTimestamp stands
        ctr("k1", "INBOUND", "2026-01-05T16:00:00Z", LastUpdateTimestamp="2026-01-05T16:02:00Z",
            Queue={**q, "EnqueueTimestamp": "2026-01-05T16:00:20Z"}),
    ]
    path = write(tmp_path, "ctr.json", "".join(json.dumps(r) for r in records_))  # as the stream lands them in S3
    calls, _, notes = records(path, "connect")
    at = lambda s: __import__("datetime").datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()  # noqa: E731
    assert [(c.id, c.outcome, c.arrived, c.wait, c.talk, c.wrap, c.agent, c.callback_at) for c in calls] == [
        ("k1", Outcome.ANSWERED, at("2026-01-05T16:00:20Z"), 40, 300, 45, "ann", -1),
        ("k2", Outcome.ABANDONED, at("2026-01-05T16:05:10Z"), 120, 0, -1, "", -1),
        ("k3", Outcome.CALLBACK, at("2026-01-05T16:10:00Z"), 180, 0, -1, "", at("2026-01-05T16:50:00Z")),
        ("k5", Outcome.TIMEOUT, at("2026-01-05T16:30:00Z"), 600, 0, -1, "", -1)]
    assert notes["not_queued"] == 1 and notes["other_channels"] == 1 and notes["duplicates"] == 1


def test_connect_bad_record_is_named(tmp_path: Path) -> None:
    good = json.dumps(ctr("k1", "INBOUND", "2026-01-05T16:00:00Z"))
    bad = json.dumps(ctr("k2", "INBOUND", "16:00 on Monday"))
    path = write(tmp_path, "ctr.jsonl", good + "\n" + good + "\n" + bad + "\n" + '{"ContactId": "k9", "Channel"')
    with pytest.raises(LogError) as caught:
        load(path, "connect", tz=NY)
    text = str(caught.value)
    assert "ctr.jsonl:3: expected InitiationTimestamp: an ISO 8601 time like 2025-03-15T14:30:00Z (got '16:00 on Monday')" in text
    assert "ctr.jsonl:4: expected ':' after an object key" in text


# --- streamed, memory bounded ----------------------------------------------------------------------

def test_external_sort_spills_runs_and_merges_them_in_order(tmp_path: Path) -> None:
    s: ExternalSort[tuple[int, str]] = ExternalSort(key=lambda x: x[0], chunk=3, workdir=str(tmp_path))
    for x in [5, 1, 4, 1, 5, 9, 2, 6, 5, 3]:
        s.add((x, f"v{x}"))
    assert len(s.files) == 3 and len(s.run) == 1  # three runs of three spilled, one item in memory
    assert [x for x, _ in s] == [1, 1, 2, 3, 4, 5, 5, 5, 6, 9]
    assert list(tmp_path.iterdir()) == []  # runs removed once merged


def test_json_records_across_chunk_boundaries_keep_their_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonstream, "CHUNK", 7)  # every record straddles reads
    path = write(tmp_path, "x.json", '{"calls": [\n {"a": 12345},\n {"a": [1, 2,\n 3]},\n {"a": "x y"}\n], "end": 1}\n'
                                     '{"calls": [{"a": 4}]}')
    assert list(jsonstream.records(path, "calls")) == [(2, {"a": 12345}), (3, {"a": [1, 2, 3]}), (5, {"a": "x y"}),
                                                      (7, {"a": 4})]
