"""Console sessions (issue 21 item 6), through the app's routes on moto: a signed-out cookie opens
nothing (on every container: sessions are in the table), sign-out needs the session and its CSRF
token, and sign-in is throttled per client and overall with a clear 429 and Retry-After."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib import bootstrap
from chalicelib.adapters.memory import FakeDialer, FixedClock
from chalicelib.edges.sessions import ALL_ATTEMPTS, ATTEMPT_WINDOW, CLIENT_ATTEMPTS

ADMIN = "console-admin-7f3a9c1e5b2d8046aa"
QUEUES = str(Path(__file__).with_name("queues.json"))
NOW = datetime(2025, 11, 17, 18, 0, tzinfo=timezone.utc)
JSON = {"Content-Type": "application/json"}


def build(settings: Any, clock: FixedClock) -> Any:
    return bootstrap.build_aws(replace(settings, queues_file=QUEUES, admin_token=ADMIN, metrics_enabled=False,
                                       public_base_url="http://127.0.0.1:8000"), clock=clock, dialer=FakeDialer())


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def c(settings, clock, serve):  # type: ignore[no-untyped-def]
    return serve(build(settings, clock))


def sign_in(client: Client, token: str = ADMIN) -> tuple[int, dict[str, str]]:
    reply = client.http.post("/console/api/session", headers=JSON, body=json.dumps({"token": token}))
    if reply.status_code != 200:
        return reply.status_code, dict(reply.headers)
    return 200, {"Cookie": reply.headers["Set-Cookie"].split(";")[0], "X-CSRF-Token": json.loads(reply.body)["csrf"],
                 **JSON}


def status(client: Client, name: str, headers: dict[str, str], post: bool = False) -> int:
    if post:
        return client.http.post(f"/console/api/{name}", headers=headers, body="{}").status_code
    return client.http.get(f"/console/api/{name}", headers=headers).status_code


def test_a_signed_out_cookie_opens_nothing(client: Client) -> None:
    _, kept = sign_in(client)  # what a copy of the cookie (a stolen one, a shared machine's) holds
    assert status(client, "monitor", kept) == 200
    assert status(client, "sign-out", kept, post=True) == 200
    for name in ("me", "monitor", "lost-calls"):
        assert status(client, name, kept) == 401
    assert status(client, "reveal", kept, post=True) == 401
    assert sign_in(client)[0] == 200  # signing in again opens a new session


def test_sign_out_needs_the_session_and_its_csrf_token(client: Client) -> None:
    assert status(client, "sign-out", JSON, post=True) == 401  # no session: nothing to sign out
    _, headers = sign_in(client)
    for bad in ({k: v for k, v in headers.items() if k != "X-CSRF-Token"}, dict(headers, **{"X-CSRF-Token": "x"}),
                dict(headers, **{"X-CSRF-Token": "é"})):
        assert status(client, "sign-out", bad, post=True) == 403  # a cross-site page cannot sign anyone out
    assert status(client, "monitor", headers) == 200  # still signed in
    assert status(client, "sign-out", headers, post=True) == 200


def test_a_session_signed_out_on_one_container_is_closed_on_every_other(settings, clock, serve) -> None:  # type: ignore[no-untyped-def]
    first, second = build(settings, clock), build(settings, clock)
    serve(first)
    with Client(app, stage_name="local") as client:
        _, headers = sign_in(client)
    serve(second)
    with Client(app, stage_name="local") as client:
        assert status(client, "monitor", headers) == 200
        assert status(client, "sign-out", headers, post=True) == 200
    serve(first)
    with Client(app, stage_name="local") as client:
        assert status(client, "monitor", headers) == 401


def test_wrong_tokens_from_one_client_are_throttled_and_the_right_one_waits_too(c, clock: FixedClock) -> None:  # type: ignore[no-untyped-def]
    """The issue's run: 300 wrong tokens, then the right one. Past the client's limit every attempt is a
    429 with Retry-After, the token unchecked; another client is not held up; the next window is open."""
    def attempt(token: str, client: str = "198.51.100.7") -> Any:
        return c.console.api("session", "POST", {}, JSON, json.dumps({"token": token}).encode(), client)

    replies = [attempt(f"guess-{i}") for i in range(300)]
    assert [r.status for r in replies[:CLIENT_ATTEMPTS]] == [401] * CLIENT_ATTEMPTS
    assert {r.status for r in replies[CLIENT_ATTEMPTS:]} == {429}
    right = attempt(ADMIN)
    window = int(ATTEMPT_WINDOW.total_seconds())
    assert right.status == 429 and right.headers["Retry-After"] == str(window)  # the window began at NOW
    assert json.loads(right.body)["error"] == f"too many sign-in attempts; try again in {window} s"
    assert attempt(ADMIN, "203.0.113.9").status == 200  # another client
    clock.advance(window)
    assert attempt(ADMIN).status == 200


def test_sign_in_is_throttled_overall_whatever_the_clients(c, clock: FixedClock) -> None:  # type: ignore[no-untyped-def]
    def attempt(token: str, client: str) -> Any:
        return c.console.api("session", "POST", {}, JSON, json.dumps({"token": token}).encode(), client)

    assert {attempt("wrong", f"10.0.{i // 250}.{i % 250}").status for i in range(ALL_ATTEMPTS)} == {401}
    refused = attempt(ADMIN, "192.0.2.1")  # a client never seen: the overall limit holds it
    assert refused.status == 429 and int(refused.headers["Retry-After"]) == ATTEMPT_WINDOW.total_seconds()
    clock.advance(ATTEMPT_WINDOW.total_seconds() + 1)
    assert attempt(ADMIN, "192.0.2.1").status == 200


def test_a_session_expires_server_side_too(client: Client, c, clock: FixedClock) -> None:  # type: ignore[no-untyped-def]
    _, headers = sign_in(client)
    clock.advance(timedelta(hours=8).total_seconds())
    assert status(client, "monitor", headers) == 401
