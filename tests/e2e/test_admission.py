"""The local stack's front door (devstack/admission.py, issue 21 item 7), over real HTTP: past its
places and its queue a request is refused at once with 503 and Retry-After; one that waits too long
for a place is refused the same way; callers' voice webhooks have places of their own. A small app
whose routes hold until the test lets them go stands behind `chalice local`'s server."""
from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterator

import pytest
import requests
from chalice import Chalice
from chalice.config import Config

from devstack.admission import Limits, admitted_server
from tests.e2e.test_local_stack import free_port


def until(done: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


class Held:
    """A Chalice app whose routes hold their requests until `release`, behind the gate."""

    def __init__(self, limits: Limits) -> None:
        self.go = threading.Event()
        self.app = app = Chalice(app_name="held")

        @app.route("/agents/{agent}/status", methods=["POST"])
        def agent(agent: str) -> dict[str, str]:
            self.go.wait(30)
            return {"agent": agent}

        @app.route("/voice/{provider}/{step}", methods=["POST"])
        def voice(provider: str, step: str) -> dict[str, str]:
            self.go.wait(30)
            return {"step": step}

        self.port = free_port()
        self.server = admitted_server(app, Config.create(chalice_stage="local"), "127.0.0.1", self.port, limits)
        self.gates = self.server.server.admission  # type: ignore[attr-defined]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.pool = ThreadPoolExecutor(16)

    def post(self, path: str) -> Future:
        return self.pool.submit(requests.post, f"http://127.0.0.1:{self.port}{path}", json={"status": "available"},
                                timeout=30)

    def close(self) -> None:
        self.go.set()
        self.pool.shutdown()
        self.server.shutdown()


@pytest.fixture
def held() -> Iterator[Callable[[Limits], Held]]:
    made: list[Held] = []
    yield lambda limits: made.append(Held(limits)) or made[-1]
    for h in made:
        h.close()


def test_past_its_places_and_queue_a_request_is_refused_at_once_with_503(held) -> None:  # type: ignore[no-untyped-def]
    h = held(Limits(limit=2, queue=1, max_wait=30))
    inside = [h.post(f"/agents/a{i}/status") for i in range(2)]
    until(lambda: h.gates.other.admitted == 2)
    queued = h.post("/agents/a2/status")
    until(lambda: h.gates.other.waiting == 1)
    refused = requests.post(f"http://127.0.0.1:{h.port}/agents/a3/status", json={"status": "available"}, timeout=30)
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
    assert refused.json()["error"] == "the local stack is at capacity (2 requests at once, 1 waiting); try again in 1 s"
    assert not queued.done()  # it waits for a place, the refusal did not
    h.go.set()
    assert [f.result().status_code for f in (*inside, queued)] == [200, 200, 200]
    assert h.gates.counts()["other"] == {"admitted": 3, "refused_full": 1, "refused_late": 0}


def test_a_request_that_waits_past_max_wait_is_refused_with_503(held) -> None:  # type: ignore[no-untyped-def]
    h = held(Limits(limit=1, queue=4, max_wait=0.2))
    inside = h.post("/agents/a0/status")
    until(lambda: h.gates.other.admitted == 1)
    late = requests.post(f"http://127.0.0.1:{h.port}/agents/a1/status", json={}, timeout=30)
    assert late.status_code == 503 and late.headers["Retry-After"] == "1"
    assert h.gates.counts()["other"]["refused_late"] == 1
    h.go.set()
    assert inside.result().status_code == 200


def test_voice_webhooks_keep_their_own_places_when_the_rest_is_full(held) -> None:  # type: ignore[no-untyped-def]
    h = held(Limits(limit=1, queue=0, max_wait=30))
    agent = h.post("/agents/a0/status")
    until(lambda: h.gates.other.admitted == 1)
    assert requests.post(f"http://127.0.0.1:{h.port}/agents/a1/status", json={}, timeout=30).status_code == 503
    call = h.post("/voice/twilio/incoming")
    until(lambda: h.gates.voice.admitted == 1)
    h.go.set()
    assert (agent.result().status_code, call.result().status_code) == (200, 200)


def test_a_burst_of_connections_all_get_an_answer(held) -> None:  # type: ignore[no-untyped-def]
    """http.server's backlog of 5 reset most of a burst's connections before the gate saw them."""
    h = held(Limits(limit=1, queue=0, max_wait=30))
    inside = h.post("/agents/a0/status")
    until(lambda: h.gates.other.admitted == 1)
    replies: list[object] = [None] * 80
    start = threading.Barrier(81)

    def knock(i: int) -> None:
        start.wait()
        try:
            replies[i] = requests.post(f"http://127.0.0.1:{h.port}/agents/b{i}/status", json={}, timeout=60).status_code
        except requests.RequestException as exc:
            replies[i] = type(exc).__name__

    threads = [threading.Thread(target=knock, args=(i,)) for i in range(80)]
    for t in threads:
        t.start()
    start.wait()
    for t in threads:
        t.join()
    assert replies == [503] * 80
    counts = h.gates.counts()
    assert counts["door"]["refused"] + counts["other"]["refused_full"] == 80
    h.go.set()
    assert inside.result().status_code == 200


def test_past_the_connections_both_lanes_hold_a_request_is_answered_at_the_door(held) -> None:  # type: ignore[no-untyped-def]
    """No thread of its own for it: the accepting thread answers 503, and the request is read before
    the connection closes, so the client gets the answer rather than a reset."""
    h = held(Limits(limit=1, queue=0, max_wait=30))  # both lanes hold 2 connections between them
    agent, call = h.post("/agents/a0/status"), h.post("/voice/twilio/incoming")
    until(lambda: h.gates.other.admitted == 1 and h.gates.voice.admitted == 1)
    for body in (b"", b"x" * 200_000):
        refused = requests.post(f"http://127.0.0.1:{h.port}/agents/a1/status", data=body, timeout=30)
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
        assert refused.json()["error"] == "the local stack is at capacity (1 requests at once, 0 waiting); try again in 1 s"
    assert h.gates.counts()["door"]["refused"] == 2
    h.go.set()
    assert (agent.result().status_code, call.result().status_code) == (200, 200)


def test_a_request_whose_wait_would_pass_max_wait_is_refused_without_waiting() -> None:
    """By the app's recent pace (2 s a request, one place), a second request would wait 2 s for a place:
    past max_wait (1 s), so it is refused at once rather than after a second of waiting."""
    from devstack.admission import Gate

    gate = Gate(Limits(limit=1, queue=10, max_wait=1.0))
    assert gate.enter()
    gate.leave(2.0)
    assert gate.enter()  # the place is taken again
    assert gate.enter() is False
    assert (gate.refused_full, gate.refused_late, gate.waiting) == (1, 0, 0)
    gate.leave(2.0)
