"""The calls bench/costs.py drives through the app, step by step, as the provider would post them: the
outcomes of the issue's mix (answered live after three polls; pressed 1; hung up and recovered) and the
minute sweep in a busy minute. Each step is measured by `CostWorld.step` until the world settles."""
from __future__ import annotations

import uuid
from typing import Callable

from bench.costs import AGENT, CostWorld, Outcome, StepCost


def _sid(n: int) -> str:
    return f"CA{uuid.uuid4().hex[:24]}{n:08d}"


def _agent_busy(w: CostWorld) -> None:
    w.unmeasured(lambda: w.agent_status("busy"))


def _callback_dialed(w: CostWorld, ticket_id: str, steps: list[StepCost]) -> None:
    """A parked callback: the agent becomes available and takes it; the dial worker dials the agent
    (agent first); the agent answers; the customer's leg is talked to the end; the call ends."""
    from tests.helpers import event

    before = len(w.dialer.calls)

    def parked() -> bool:
        t = w.c.stores.tickets.get(ticket_id)
        return t.status.value == "WAITING" and bool(t.task_token)

    w.settle(parked)
    queued = lambda: int(w.sqs.get_queue_attributes(  # noqa: E731
        QueueUrl=w.aws.dial_queue_url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
        "ApproximateNumberOfMessages"]) > 0
    steps.append(w.step("agent -> parked callback", "api_handler", lambda: w.agent_status("available"),
                        until=queued, dial=False))
    steps.append(w.step("dial message", None, w.dial_queue.poll_once, until=lambda: len(w.dialer.calls) > before,
                        api=False))
    call = w.dialer.calls[-1]
    out = f"CAout{len(w.dialer.calls):030d}"
    answer, status = dict(call["answer"].params), dict(call["status"].params)
    w.clock.advance(8)
    steps.append(w.step("callback answered", "api_handler", lambda: w.post(
        "cb-answer", event("outbound_answered_human", CallSid=out, To=f"client:{AGENT}"), answer)))
    w.clock.advance(90)
    ended = lambda: w.c.stores.tickets.get(ticket_id).status.value == "SERVED"  # noqa: E731
    steps.append(w.step("callback dialed (talked)", "api_handler", lambda: w.post(
        "cb-dialed", event("outbound_dial_busy", CallSid=out, DialCallStatus="completed", DialCallDuration="85"),
        answer), until=ended))
    steps.append(w.step("callback status (ended)", "api_handler", lambda: w.post(
        "cb-status", event("outbound_answered_human", CallSid=out, CallStatus="completed"), status)))


def _joins(w: CostWorld, n: int, area: str, polls: int) -> tuple[str, str, str, list[StepCost]]:
    """A caller rings (the agent busy: they wait) and holds through `polls` polls of the wait URL, 30 s
    apart: (call id, number, ticket id, the steps)."""
    from tests.helpers import event

    _agent_busy(w)
    sid, caller = _sid(n), f"+1{area}{n % 10_000:04d}"
    steps = [w.step("incoming", "api_handler", lambda: w.post("incoming", event("incoming", CallSid=sid, From=caller)))]
    ticket = w.c.stores.tickets.find_by_call(sid).id
    for i in range(polls):
        w.clock.advance(30)
        steps.append(w.step("wait poll", "api_handler", lambda: w.post(
            "wait", event("enqueue_wait", CallSid=sid, From=caller, QueueTime=str(30 * (i + 1))), {"t": ticket})))
    return sid, caller, ticket, steps


def answered_live(w: CostWorld, n: int) -> Outcome:
    """Holds, polls three times, an agent frees up and takes them, they talk, the call ends."""
    from tests.helpers import event

    sid, caller, ticket, steps = _joins(w, n, "415556", 3)
    steps.append(w.step("agent -> live head", "api_handler", lambda: w.agent_status("available")))
    steps.append(w.step("queue-exit (bridged)", "api_handler", lambda: w.post(
        "queue-exit", event("enqueue_action_leave", CallSid=sid, From=caller, QueueResult="redirected"), {"t": ticket})))
    leg = {"t": ticket, "agent": AGENT}
    for status in ("ringing", "in-progress"):
        steps.append(w.step(f"bridge leg {status}", "api_handler", lambda: w.post(
            "bridge-leg", event("dial_leg_ringing", ParentCallSid=sid, CallStatus=status), leg)))
    w.clock.advance(120)
    steps.append(w.step("bridge result (served)", "api_handler", lambda: w.post(
        "bridge-result", event("incoming", CallSid=sid, From=caller, DialCallStatus="completed",
                               DialCallDuration="120"), leg)))
    steps.append(w.step("bridge leg completed", "api_handler", lambda: w.post(
        "bridge-leg", event("dial_leg_ringing", ParentCallSid=sid, CallStatus="completed"), leg)))
    steps.append(w.step("status callback (call ended)", "api_handler", lambda: w.post(
        "incoming", event("status_completed", CallSid=sid, From=caller))))
    return Outcome("answered live", steps)


def _booked_then_called_back(w: CostWorld, sid: str, caller: str, ticket: str, steps: list[StepCost],
                             name: str, webhook: str, params: dict[str, str]) -> None:
    """The webhook that books the callback (its workflow parks it), the call's end, then the callback."""
    from tests.helpers import event

    parked = lambda: bool(w.c.stores.tickets.get(ticket).task_token)  # noqa: E731
    steps.append(w.step(name, "api_handler", lambda: w.post(webhook, params, {"t": ticket}), until=parked))
    steps.append(w.step("status callback (call ended)", "api_handler", lambda: w.post(
        "incoming", event("status_completed", CallSid=sid, From=caller))))
    w.clock.advance(60)
    _callback_dialed(w, ticket, steps)


def pressed_1(w: CostWorld, n: int) -> Outcome:
    """Hears the offer, presses 1, confirms the number read back, hangs up; called back later."""
    from tests.helpers import event

    sid, caller, ticket, steps = _joins(w, n, "415557", 0)
    w.clock.advance(10)
    steps.append(w.step("offer (press 1)", "api_handler", lambda: w.post(
        "offer", event("gather_digits_1", CallSid=sid, From=caller), {"t": ticket})))
    w.clock.advance(8)
    _booked_then_called_back(w, sid, caller, ticket, steps, "confirm (press 1: booked)", "confirm",
                             event("gather_digits_1", CallSid=sid, From=caller))
    return Outcome("pressed 1", steps)


def hung_up_recovered(w: CostWorld, n: int) -> Outcome:
    """Holds, polls three times, hangs up; recovered by the automatic callback."""
    from tests.helpers import event

    sid, caller, ticket, steps = _joins(w, n, "415558", 3)
    w.clock.advance(20)
    _booked_then_called_back(w, sid, caller, ticket, steps, "hang-up in queue", "queue-exit",
                             event("enqueue_action_hangup", CallSid=sid, From=caller))
    return Outcome("hung up, recovered", steps)


OUTCOMES: dict[str, Callable[[CostWorld, int], Outcome]] = {
    "answered live": answered_live, "pressed 1": pressed_1, "hung up, recovered": hung_up_recovered}


def sweep(w: CostWorld) -> StepCost:
    """The minute sweep in a busy minute: the agent on a call Holdfast put through, a caller waiting."""
    from chalicelib.edges import workers
    from tests.helpers import event

    _agent_busy(w)
    for n in (90_001, 90_002):
        w.unmeasured(lambda: w.post("incoming", event("incoming", CallSid=_sid(n), From=f"+1415559{n % 10_000:04d}")))
        if n == 90_001:
            w.unmeasured(lambda: w.agent_status("available"))  # takes the first: busy on a Holdfast call
    return w.step("minute sweep", "dispatch_sweep", workers.sweep, api=False)
