"""Notification channels against local stand-ins: an HTTP server for Slack and Telegram, moto's SES,
and the real twilio library (recorded requests) for SMS. Then the use case across channels."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Iterator

import boto3
import pytest

from chalicelib.adapters.notify import EmailNotifier, SlackNotifier, SmsNotifier, TelegramNotifier
from chalicelib.adapters.twilio_provider import TwilioDialer
from chalicelib.domain.errors import NotifyError
from chalicelib.domain.model import Ticket, TicketKind, TicketStatus
from chalicelib.domain.notifications import Notifications, compose
from chalicelib.domain.queues import QueueDirectory
from tests.contract.test_twilio import RecordingHttpClient
from chalicelib.adapters.memory import memory_stores, MemoryStores
from tests.helpers import StandIn

NOW = datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc)


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    server = StandIn()
    yield server
    server.close()


def test_slack_posts_to_the_incoming_webhook(stand_in: StandIn) -> None:
    assert SlackNotifier().send({"slack_webhook_url": stand_in.url + "/services/T/B/X"}, "Lost", "details")
    assert stand_in.requests == [("/services/T/B/X", {"text": "*Lost*\ndetails"})]
    assert not SlackNotifier().send({}, "Lost", "details")  # not configured: nothing sent


def test_telegram_posts_send_message(stand_in: StandIn) -> None:
    bot = TelegramNotifier(api_base_url=stand_in.url)
    assert bot.send({"telegram_bot_token": "123:ABC", "telegram_chat_id": "-100"}, "Lost", "details")
    assert stand_in.requests == [("/bot123:ABC/sendMessage", {"chat_id": "-100", "text": "Lost\ndetails"})]


def test_http_failures_are_notify_errors() -> None:
    failing = StandIn(status=500)
    try:
        with pytest.raises(NotifyError):
            SlackNotifier().send({"slack_webhook_url": failing.url}, "s", "t")
    finally:
        failing.close()
    with pytest.raises(NotifyError):  # nobody listening
        SlackNotifier().send({"slack_webhook_url": "http://127.0.0.1:9/hook"}, "s", "t")


def test_email_through_ses(aws) -> None:  # type: ignore[no-untyped-def]
    ses = boto3.client("ses", region_name="us-east-1")
    ses.verify_email_identity(EmailAddress="holdfast@example.com")
    assert EmailNotifier(ses).send({"email_from": "holdfast@example.com", "email_to": ["lead@example.com"]},
                                   "Lost", "details")
    assert ses.get_send_quota()["SentLast24Hours"] == 1
    with pytest.raises(NotifyError):  # unverified sender: SES refuses
        EmailNotifier(ses).send({"email_from": "nobody@example.org", "email_to": ["lead@example.com"]}, "s", "t")


def test_sms_through_the_provider() -> None:
    http = RecordingHttpClient()
    sms = SmsNotifier(TwilioDialer("AC" + "0" * 32, "token", "https://h/api", http_client=http).send_sms)  # type: ignore[arg-type]
    assert sms.send({"sms_from": "+18005550100", "sms_to": ["+14155550111", "+14155550112"]}, "Lost", "details")
    assert [r["data"]["To"] for r in http.requests] == ["+14155550111", "+14155550112"]
    assert http.requests[0]["url"].endswith("/Messages.json") and http.requests[0]["data"]["Body"] == "Lost: details"


def lost_ticket(stores: MemoryStores) -> Ticket:
    t = Ticket("support", 7, TicketKind.CALLBACK, TicketStatus.LOST, NOW, caller="+14158675309",
               callback_number="+14158675309", attempts=4, last_outcome="no-answer", lost_cause="abandoned")
    return stores.tickets.open_ticket(t)


def test_messages_mask_the_number() -> None:
    queue = QueueDirectory.from_config({"queues": [{"id": "support", "name": "Acme"}]}).get("support")
    t = lost_ticket(memory_stores())
    subject, text = compose("callback_lost", t, queue, {})
    assert subject == "Holdfast: callback failed in Acme"
    assert "***09" in text and "8675309" not in text and "4 attempt(s)" in text and "no-answer" in text
    _, text = compose("lost_call", t, queue, {"cause": "abandoned", "recovery": "short_abandon"})
    assert "no callback (short abandon)" in text


def test_every_configured_channel_is_tried_and_one_failure_stops_none(stand_in: StandIn) -> None:
    stores = memory_stores()
    t = lost_ticket(stores)
    queues = QueueDirectory.from_config({"queues": [{"id": "support", "notify": {
        "on_lost_call": True, "slack_webhook_url": "http://127.0.0.1:9/down",
        "telegram_bot_token": "1:A", "telegram_chat_id": "42"}}]})
    notifications = Notifications(stores.tickets, queues, [SlackNotifier(), TelegramNotifier(stand_in.url)])
    assert notifications.handle({"event": "callback_lost", "ticket_id": t.id}) == {"slack": "failed",
                                                                                   "telegram": "sent"}
    assert notifications.handle({"event": "lost_call", "ticket_id": t.id, "cause": "abandoned"})["telegram"] == "sent"
    quiet = Notifications(stores.tickets, QueueDirectory.from_config({"queues": [{"id": "support", "notify": {
        "slack_webhook_url": stand_in.url}}]}), [SlackNotifier()])
    assert quiet.handle({"event": "lost_call", "ticket_id": t.id}) == {}  # on_lost_call defaults to off
    assert quiet.handle({"event": "callback_lost", "ticket_id": t.id}) == {"slack": "sent"}
