"""Asterisk's queue_log (app_queue): one line per event, `|`-separated.

Source: Asterisk documentation, "Queue Logs" (docs.asterisk.org/Operation/Logging/Queue-Logs/, the
asterisk/documentation repository's docs/Operation/Logging/Queue-Logs.md). A line is

    UNIX timestamp | call's unique id (or NONE/REALTIME) | queue name | queue member channel | event | params...

and the events read here, with their documented parameters:

    ENTERQUEUE(url|callerid|origposition[|calleridname])  a call joined the queue
    CONNECT(holdtime|bridgedchanneluniqueid|ringtime)      put through to the member (holdtime: its wait, s)
    COMPLETEAGENT(holdtime|calltime|origposition)         the member hung up (calltime: talk, s)
    COMPLETECALLER(holdtime|calltime|origposition)        the caller hung up
    TRANSFER(extension|context|holdtime|calltime|origposition), BLINDTRANSFER(the same),
    ATTENDEDTRANSFER(method|method-data|holdtime|calltime|origposition)   the member transferred the call
    ABANDON(position|origposition|waittime)               the caller hung up while waiting
    EXITWITHTIMEOUT(position|origposition|waittime)       the queue's timeout put the caller out
    EXITEMPTY(position|origposition|waittime)             no reachable member: put out
    EXITWITHKEY(key|position|origposition|waittime)       the caller left with a menu key (older versions
                                                          log key|position only: the wait is then the time
                                                          since ENTERQUEUE)
    RINGNOANSWER(ringtime)                                a member did not answer within ringtime ms
    ADDMEMBER / REMOVEMEMBER                              a member joined / left the queue
    AGENTLOGIN(channel), AGENTLOGOFF(channel|logintime),
    AGENTCALLBACKLOGIN(exten@context), AGENTCALLBACKLOGOFF(exten@context|logintime|reason)
    PAUSE(reason) / UNPAUSE(reason), PAUSEALL / UNPAUSEALL  (app_queue.c; queue NONE: every queue)

Other documented events (QUEUESTART, CONFIGRELOAD, RINGCANCELED, SYSCOMPAT, AGENTDUMP) and events of
other tools' making (FreePBX's DID, INFO) carry nothing the replay needs: they are counted and skipped.
A call whose ENTERQUEUE came before the log starts, or whose end comes after it, is counted incomplete
and left out (a log cut at both ends loses those few calls, not its sense)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from .records import BadLine, Call, FieldError, Outcome, Presence, Record, Report, seconds

CALL_EVENTS = {"ENTERQUEUE", "CONNECT", "COMPLETEAGENT", "COMPLETECALLER", "TRANSFER", "BLINDTRANSFER",
               "ATTENDEDTRANSFER", "ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY", "EXITWITHKEY", "RINGNOANSWER"}
PRESENCE_EVENTS = {"ADDMEMBER": (True, None), "REMOVEMEMBER": (False, None), "AGENTLOGIN": (True, None),
                   "AGENTLOGOFF": (False, None), "AGENTCALLBACKLOGIN": (True, None),
                   "AGENTCALLBACKLOGOFF": (False, None), "PAUSE": (None, True), "UNPAUSE": (None, False),
                   "PAUSEALL": (None, True), "UNPAUSEALL": (None, False)}
IGNORED = {"QUEUESTART", "CONFIGRELOAD", "RINGCANCELED", "SYSCOMPAT", "AGENTDUMP", "DID", "INFO"}
# where each terminal event keeps the wait and the talk time (indexes into its parameters)
ENDS = {"COMPLETEAGENT": (0, 1), "COMPLETECALLER": (0, 1), "TRANSFER": (2, 3), "BLINDTRANSFER": (2, 3),
        "ATTENDEDTRANSFER": (2, 3)}
LEAVES = {"ABANDON": (Outcome.ABANDONED, 2), "EXITWITHTIMEOUT": (Outcome.TIMEOUT, 2),
          "EXITEMPTY": (Outcome.EMPTY, 2), "EXITWITHKEY": (Outcome.KEY, 3)}
NO_CALL = {"NONE", "REALTIME", ""}


@dataclass
class _Open:
    arrived: float
    caller: str
    connected: float | None = None
    wait: float | None = None
    agent: str = ""


@dataclass
class Summary:
    """What the import saw besides the records: for the report's notes."""

    incomplete: int = 0  # began before the log or ended after it
    ignored: Counter = field(default_factory=Counter)
    queues: Counter = field(default_factory=Counter)


def read(paths: list[Path], bad: Report, summary: Summary | None = None) -> Iterator[Record]:
    summary = summary if summary is not None else Summary()
    open_calls: dict[tuple[str, str], _Open] = {}
    members: dict[tuple[str, str], list[bool]] = {}  # (queue, agent) -> [signed in, paused]
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as f:
            for number, raw in enumerate(f, 1):
                line = raw.rstrip("\r\n")
                if not line.strip():
                    continue
                try:
                    yield from _event(line, open_calls, members, summary)
                except FieldError as exc:
                    bad(BadLine(path.name, number, exc.expected, exc.got))
    summary.incomplete += len(open_calls)


def _event(line: str, open_calls: dict[tuple[str, str], _Open], members: dict[tuple[str, str], list[bool]],
           summary: Summary) -> Iterator[Record]:
    f = line.split("|")
    if len(f) < 5:
        raise FieldError("timestamp|callid|queue|agent|event|params... (5 fields at least)", line)
    at = _timestamp(f[0])
    callid, queue, agent, event, params = f[1], f[2], f[3], f[4].strip().upper(), f[5:]
    if event in PRESENCE_EVENTS:
        yield from _presence(at, queue, agent, event, members)
        return
    if event not in CALL_EVENTS:
        summary.ignored[event or "(empty)"] += 1
        return
    if callid in NO_CALL:
        raise FieldError(f"{event}: the call's unique id in the second field", callid)
    key = (callid, queue)
    if event == "ENTERQUEUE":
        caller = params[1].strip() if len(params) > 1 else ""
        open_calls[key] = _Open(at, caller)
        summary.queues[queue] += 1
        return
    if event == "RINGNOANSWER":
        _param(params, 0, "RINGNOANSWER(ringtime)", "ringtime (ms)")
        return
    call = open_calls.get(key)
    if event == "CONNECT":
        wait = _param(params, 0, "CONNECT(holdtime|bridgedchanneluniqueid|ringtime)", "holdtime")
        if call is not None:
            call.connected, call.wait, call.agent = at, wait, agent
        return
    if event in ENDS:
        w, t = ENDS[event]
        form = {"ATTENDEDTRANSFER": "ATTENDEDTRANSFER(method|method-data|holdtime|calltime|origposition)",
                "TRANSFER": "TRANSFER(extension|context|holdtime|calltime|origposition)",
                "BLINDTRANSFER": "BLINDTRANSFER(extension|context|holdtime|calltime|origposition)"}.get(
                    event, f"{event}(holdtime|calltime|origposition)")
        wait, talk = _param(params, w, form, "holdtime"), _param(params, t, form, "calltime")
        if call is None:
            summary.incomplete += 1
            return
        del open_calls[key]
        yield Call(callid, queue, call.caller, call.arrived, Outcome.ANSWERED, call.wait if call.wait is not None
                   else wait, talk, call.agent or agent)
        return
    outcome, index = LEAVES[event]
    form = "EXITWITHKEY(key|position|origposition|waittime)" if event == "EXITWITHKEY" \
        else f"{event}(position|origposition|waittime)"
    if event == "EXITWITHKEY" and len(params) <= index:
        wait = None  # older Asterisk: key|position only
    else:
        wait = _param(params, index, form, "waittime")
    if call is None:
        summary.incomplete += 1
        return
    del open_calls[key]
    yield Call(callid, queue, call.caller, call.arrived, outcome, max(0.0, at - call.arrived) if wait is None else wait)


def _presence(at: float, queue: str, agent: str, event: str, members: dict[tuple[str, str], list[bool]]
              ) -> Iterator[Presence]:
    if not agent.strip() or agent == "NONE":
        raise FieldError(f"{event}: the member in the fourth field", agent)
    queue = "" if queue in NO_CALL else queue
    signed, paused = PRESENCE_EVENTS[event]
    state = members.setdefault((queue, agent), [False, False])
    was = state[0] and not state[1]
    if signed is not None:
        state[0] = signed
        if not signed:
            state[1] = False
    if paused is not None:
        state[1] = paused
        if signed is None and not state[0] and not paused:
            state[0] = True  # an unpause from a static member: they are there
    now = state[0] and not state[1]
    if now != was or signed is not None:
        yield Presence(at, queue, agent, now)


def _timestamp(text: str) -> float:
    value = text.strip()
    try:
        at = float(value)
    except ValueError:
        raise FieldError("a UNIX timestamp (seconds since 1970) in the first field", value) from None
    if not 0 < at < 1e11:
        raise FieldError("a UNIX timestamp (seconds since 1970) in the first field", value)
    return at


def _param(params: list[str], index: int, form: str, name: str) -> float:
    if len(params) <= index or params[index].strip() == "":
        raise FieldError(f"{form}: {name} missing", "|".join(params))
    try:
        return seconds(params[index].strip(), name)
    except FieldError as exc:
        raise FieldError(f"{form}: {exc.expected}", exc.got) from None
