"""The public web callback endpoint through the Chalice test client on moto: the wait first, then a
request that books a callback in the same line and workflow, its origin checked, its input bounded,
clear errors; and the widget script served from the app itself."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from chalice.test import Client

from chalicelib.adapters.memory import FixedClock
from chalicelib.domain.model import TicketKind, TicketStatus
from tests.helpers import built_with_queues

SHOP = "https://shop.example.com"
NOW = datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc)  # Monday 13:00 in New York
QUEUES = {"default": "web", "queues": [
    {"id": "web", "numbers": ["+18005550100"], "assumed_agents": 1, "average_handle_seconds": 300,
     "hours": {"timezone": "America/New_York", **{d: ["09:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")}},
     "web_callbacks": {"allowed_origins": [SHOP], "per_client_per_hour": 2}},
    {"id": "phone", "numbers": ["+18005550101"]}]}


@pytest.fixture
def c(settings, serve, tmp_path: Path):  # type: ignore[no-untyped-def]
    built = built_with_queues(settings, tmp_path, QUEUES, FixedClock(NOW))
    serve(built)
    return built


def post(client: Client, body: object, origin: str = SHOP, queue: str = "web"):  # type: ignore[no-untyped-def]
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.http.post(f"/web/{queue}/callback", body=raw,
                            headers={"Content-Type": "application/json", "Origin": origin})


def test_the_wait_first_then_a_request_books_a_callback_in_the_line(client: Client, c) -> None:  # type: ignore[no-untyped-def]
    wait = client.http.get("/web/web/wait", headers={"Origin": SHOP})
    assert wait.status_code == 200
    assert wait.headers["Access-Control-Allow-Origin"] == SHOP
    shown = json.loads(wait.body)
    assert (shown["queue"], shown["open"], shown["place"]) == ("web", True, 1)

    reply = post(client, {"number": "(212) 555-0101"})
    assert reply.status_code == 200, reply.body
    booked = json.loads(reply.body)
    assert (booked["place"], booked["already_booked"]) == (1, False)
    ticket = c.stores.bookings.open_callback_for("web", "+12125550101")
    assert ticket is not None
    assert (ticket.kind, ticket.origin, ticket.status) == (TicketKind.CALLBACK, "web", TicketStatus.SCHEDULED)
    assert ticket.execution_id  # its workflow started, named after the ticket
    assert "+1212" not in ticket.execution_id

    again = json.loads(post(client, {"number": "+12125550101"}).body)
    assert again["already_booked"] is True


def test_other_origins_unknown_queues_and_bad_bodies_are_refused_clearly(client: Client, c) -> None:  # type: ignore[no-untyped-def]
    refused = post(client, {"number": "+12125550101"}, origin="https://evil.example.net")
    assert refused.status_code == 403 and "Access-Control-Allow-Origin" not in refused.headers
    assert post(client, {"number": "+12125550101"}, queue="phone").status_code == 404
    assert post(client, {"number": "+12125550101"}, queue="nope").status_code == 404
    assert post(client, b"not json").status_code == 400
    assert post(client, {"number": "+12125550101", "extra": 1}).status_code == 400
    assert post(client, {"number": "x" * 2000}).status_code == 413
    withheld = post(client, {"number": "anonymous"})
    assert withheld.status_code == 400 and "cannot be called back" in json.loads(withheld.body)["error"]
    assert c.stores.bookings.open_callback_for("web", "+12125550101") is None  # nothing was booked


def test_one_address_gets_its_quota_then_429(client: Client) -> None:
    assert post(client, {"number": "+12125550111"}).status_code == 200
    assert post(client, {"number": "+12125550112"}).status_code == 200
    too_many = post(client, {"number": "+12125550113"})
    assert too_many.status_code == 429 and "too many" in json.loads(too_many.body)["error"]


def test_the_preflight_and_the_widget(client: Client) -> None:
    pre = client.http.request("OPTIONS", "/web/web/callback",
                              headers={"Origin": SHOP, "Access-Control-Request-Method": "POST"})
    assert pre.status_code == 204
    assert pre.headers["Access-Control-Allow-Origin"] == SHOP and "POST" in pre.headers["Access-Control-Allow-Methods"]
    widget = client.http.get("/web/widget.js")
    assert widget.status_code == 200 and widget.headers["Content-Type"] == "text/javascript"
    assert "/web/" in widget.body.decode() and "http" not in widget.body.decode().split("*/", 1)[1]
