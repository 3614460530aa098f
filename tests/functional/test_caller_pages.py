"""A caller's page and inbound texts through the Chalice test client on moto: the link from the text
opens the page (the place, the time, the number the call comes from), cancels the callback once, and an
altered link is a 404 that reveals nothing; a signed STOP from Twilio opts the number out, an unsigned
one changes nothing."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from chalice.test import Client

from chalicelib.adapters.memory import FixedClock
from chalicelib.adapters.twilio_provider import TwilioDialer, TwilioMessenger
from chalicelib.domain.links import sign_status
from chalicelib.domain.model import TicketStatus
from tests.conftest import AUTH_TOKEN, PUBLIC_URL
from tests.helpers import built_with_queues, signed

NOW = datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc)  # Monday 13:00 in New York
NY = "+12125550123"
QUEUES = {"default": "web", "queues": [
    {"id": "web", "name": "Acme", "numbers": ["+18005550100"], "caller_id": "+18005550199", "assumed_agents": 1,
     "hours": {"timezone": "America/New_York", **{d: ["09:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")}},
     "sms_countries": ["US"], "web_callbacks": {}}]}


@pytest.fixture
def c(settings, serve, tmp_path: Path):  # type: ignore[no-untyped-def]
    built = built_with_queues(settings, tmp_path, QUEUES, FixedClock(NOW), admin_token="admin-secret-for-links")
    serve(built)
    return built


def book(client: Client, c):  # type: ignore[no-untyped-def]
    reply = client.http.post("/web/web/callback", body=json.dumps({"number": NY}),
                             headers={"Content-Type": "application/json"})
    assert reply.status_code == 200, reply.body
    ticket = c.stores.bookings.open_callback_for("web", NY)
    assert ticket is not None
    return ticket


def test_the_link_opens_the_page_and_cancels_once(client: Client, c) -> None:  # type: ignore[no-untyped-def]
    ticket = book(client, c)
    link = c.texts.link(ticket)
    path = link[len(PUBLIC_URL):]
    page = client.http.get(path)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    html = page.body.decode()
    assert 'id="place">1<' in html and "+18005550199" in html and "Cancel my callback" in html
    assert 'name="viewport"' in html  # made for a phone
    cancelled = client.http.post(f"{path}/cancel", body="", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert cancelled.status_code == 200 and "Your callback is cancelled." in cancelled.body.decode()
    assert c.stores.tickets.get(ticket.id).status is TicketStatus.CANCELLED
    again = client.http.post(f"{path}/cancel", body="", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert "could not be cancelled" in again.body.decode()
    altered = client.http.get(path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB"))
    assert altered.status_code == 404 and "Acme" not in altered.body.decode()


def test_a_signed_stop_opts_out_and_an_unsigned_one_is_refused(client: Client, c) -> None:  # type: ignore[no-untyped-def]
    # the messenger of a deployment with a Twilio account (these settings have none): nothing is sent here
    c.caller_pages.messenger = TwilioMessenger(TwilioDialer("AC0", AUTH_TOKEN, PUBLIC_URL))
    params = {"From": NY, "To": "+18005550199", "Body": "STOP", "OptOutType": "STOP"}
    url = f"{PUBLIC_URL}/sms/twilio/incoming"
    body, headers = signed(AUTH_TOKEN, url, params)
    forged = client.http.post("/sms/twilio/incoming", body=body,
                              headers={**headers, "X-Twilio-Signature": "bm90IGl0"})
    assert forged.status_code == 403 and not c.stores.bookings.is_opted_out(NY)
    reply = client.http.post("/sms/twilio/incoming", body=body, headers=headers)
    assert reply.status_code == 204
    assert c.stores.bookings.is_opted_out(NY)


def test_signed_delivery_reports_count_once_and_a_forged_one_is_refused(client: Client, c) -> None:  # type: ignore[no-untyped-def]
    c.caller_pages.messenger = TwilioMessenger(TwilioDialer("AC0", AUTH_TOKEN, PUBLIC_URL))
    mac = sign_status("web", "2026-11-23T18:00", c.texts.link_secret)
    path = f"/sms/twilio/status?q=web&b=2026-11-23T18%3A00&s={mac}"  # a text's from this queue at 13:00

    def post(status: str, forge: bool = False) -> int:
        params = {"MessageSid": "SM0123456789abcdef0123456789abcdef", "MessageStatus": status,
                  "From": "+18005550199", "To": NY, "AccountSid": "AC0"}
        body, headers = signed(AUTH_TOKEN, f"{PUBLIC_URL}{path}", params)
        if forge:
            headers = {**headers, "X-Twilio-Signature": "bm90IGl0"}
        return client.http.post(path, body=body, headers=headers).status_code

    assert post("delivered", forge=True) == 403
    assert [post("delivered"), post("sent"), post("delivered"), post("queued")] == [204, 204, 204, 204]
    rows = c.operations.oplog.rows("web", datetime(2026, 11, 23, tzinfo=timezone.utc),
                                   datetime(2026, 11, 24, tzinfo=timezone.utc))
    assert rows == {"2026-11-23T18:00": {"sms_sent": 1, "sms_delivered": 1}}
