"""bench/costs.py and bench/capacity.py cannot rot: each call outcome of the issue's mix is driven through
the app with the real workflow running, every step is counted, and the report gives every target a
verdict. The dollars are checked as arithmetic on stated prices; no figure is asserted as a target."""
from __future__ import annotations

from pytest import approx

from bench import capacity, costs
from devstack.dynamo_meter import Call

# What each outcome's caller does (the scenario), step by step
LIVE = ["incoming", "wait poll", "wait poll", "wait poll", "agent -> live head", "queue-exit (bridged)",
        "bridge leg ringing", "bridge leg in-progress", "bridge result (served)", "bridge leg completed",
        "status callback (call ended)"]
CALLED_BACK = ["agent -> parked callback", "dial message", "callback answered", "callback dialed (talked)",
               "callback status (ended)"]
PRESSED = ["incoming", "offer (press 1)", "confirm (press 1: booked)", "status callback (call ended)", *CALLED_BACK]
RECOVERED = ["incoming", "wait poll", "wait poll", "wait poll", "hang-up in queue", "status callback (call ended)",
             *CALLED_BACK]


def test_dollars_are_counted_figures_times_stated_prices() -> None:
    prices = costs.Prices()
    step = costs.StepCost("x", transitions=4, api_requests=1)
    step.invocations.append(costs.Invocation("api_handler", cpu=0.0, calls=[
        Call("dynamodb", "GetItem", 0.0, read_units=1.0), Call("dynamodb", "PutItem", 0.0, write_units=3.0),
        Call("sqs", "SendMessage", 0.0, messages=1)], log_bytes=150))
    dollars = step.dollars(prices, {"api_handler": 1024})
    assert dollars["DynamoDB"] == approx(1.0 * 0.125e-6 + 3.0 * 0.625e-6)
    assert dollars["Step Functions"] == approx(4 * 0.025e-3) and dollars["API Gateway"] == approx(3.5e-6)
    assert dollars["SQS"] == approx(3 * 0.40e-6)  # sent, received, deleted
    billed_ms = costs.LATENCY_MS["dynamodb"] * 2 + costs.LATENCY_MS["sqs"]  # no CPU: the calls' latency
    assert dollars["Lambda"] == approx(0.20e-6 + billed_ms / 1000 * 1.0 * prices.lambda_gb_second)
    assert dollars["Logs"] == approx((150 + costs.PLATFORM_LOG_BYTES) / 1e9 * 0.50)


def test_every_outcome_is_driven_whole_and_every_target_gets_a_verdict() -> None:
    measured = costs.measure()
    assert [s.name for s in measured.outcomes["answered live"].steps] == LIVE
    assert [s.name for s in measured.outcomes["pressed 1"].steps] == PRESSED
    assert [s.name for s in measured.outcomes["hung up, recovered"].steps] == RECOVERED
    for name, outcome in measured.outcomes.items():
        whole = outcome.total()
        assert whole.dynamodb() and whole.invocations and whole.delivered <= whole.records, name
        assert all(s.api_requests == (s.name != "dial message") for s in outcome.steps), name
    # Schedule, Park (a choice: the ticket still stands in the line, or goes back into it), ParkInPlace or
    # ParkBack; Dial; Outcome, Recovered
    for name in ("pressed 1", "hung up, recovered"):
        assert measured.outcomes[name].total().transitions == 6, name
    assert measured.outcomes["answered live"].total().transitions == 0
    dial = next(s for s in measured.outcomes["pressed 1"].steps if s.name == "dial message")
    assert dial.own.function == "dial_worker" and dial.messages == 0
    parked = next(s for s in measured.outcomes["pressed 1"].steps if s.name == "agent -> parked callback")
    assert parked.messages == 1  # the workflow's Dial step put the dial message on the queue
    printed: list[str] = []
    costs.report(measured, printed.append)
    verdicts = [line for line in printed if line.endswith("MET")]
    assert len(verdicts) == len(costs.STEP_TARGETS) + len(costs.MIX) + 1  # steps, outcomes' records, the dollars
    limits = capacity.report(measured, out=printed.append)
    assert any(line.startswith("Binds first:") for line in printed) and limits[0].use >= limits[-1].use
