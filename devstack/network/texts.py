"""Texts Holdfast sends through the network's messaging APIs (Twilio's Messages.json form, Telnyx's
POST /v2/messages JSON, Vonage's Messages API POST /v1/messages JSON), kept in one shape for the demo
page: who it went to, from, what it says, and the caller's link in it (which opens on the local stack).
Each lands at once, and its delivery reports (sent, then delivered) go to the status URL it was sent
with, in that provider's shape and signed as it signs them: Twilio's StatusCallback form, Telnyx's
`message.sent`/`message.finalized` events, Vonage's Messages status webhook."""
from __future__ import annotations

import base64
import json
import logging
import re
import threading
import uuid
from typing import TYPE_CHECKING, Any

import requests

from .calls import new_sid

if TYPE_CHECKING:
    from .core import SimNetwork

log = logging.getLogger(__name__)

LINK = re.compile(r"https?://\S+/c/[A-Za-z0-9_.\-]+")


def plus(number: str) -> str:
    """Vonage writes numbers without the '+'."""
    return f"+{number}" if number.isdigit() else number


def take_text(net: SimNetwork, provider: str, to: str, frm: str, body: str, status_url: str = "") -> str:
    """A text handed to the network (it lands on the caller's phone at once); its message id."""
    message_id = new_sid("SM") if provider == "twilio" else str(uuid.uuid4())  # Telnyx's and Vonage's: UUIDs
    link = LINK.search(body)
    net.messages.append({"id": message_id, "provider": provider, "to": plus(to), "from": plus(frm), "body": body,
                         "link": link.group(0) if link else "", "status_url": status_url,
                         "at": net.now().isoformat()})
    if status_url:
        threading.Thread(target=report_delivery, args=(net, provider, message_id, plus(to), plus(frm), status_url),
                         daemon=True).start()  # after the API's reply, as a provider's reports come
    return message_id


def report(provider: str, net: SimNetwork, message_id: str, to: str, frm: str, state: str,
           url: str) -> tuple[bytes, dict[str, str]]:
    """One delivery report (state: sent or delivered), as `provider` posts and signs it."""
    from .twilio import Twilio
    from .vonage import Vonage

    if provider == "twilio":
        return Twilio.signed(net, url, {"AccountSid": net.account_sid, "ApiVersion": "2010-04-01",
                                        "MessageSid": message_id, "SmsSid": message_id, "MessageStatus": state,
                                        "SmsStatus": state, "From": frm, "To": to})
    if provider == "vonage":
        return Vonage.signed(net, url, {"message_uuid": message_id, "to": to.lstrip("+"), "from": frm.lstrip("+"),
                                        "timestamp": net.now().isoformat(), "channel": "sms",
                                        "status": "submitted" if state == "sent" else state})
    event: dict[str, Any] = {"data": {"record_type": "event", "id": str(uuid.uuid4()),
                                      "event_type": "message.sent" if state == "sent" else "message.finalized",
                                      "occurred_at": net.now().isoformat(),
                                      "payload": {"record_type": "message", "direction": "outbound", "id": message_id,
                                                  "type": "SMS", "from": {"phone_number": frm},
                                                  "to": [{"phone_number": to, "status": state}]}}}
    body = json.dumps(event).encode()
    stamp = str(int(net.now().timestamp()))
    signature = base64.b64encode(net.signing_key.sign(stamp.encode() + b"|" + body)).decode()
    return body, {"Content-Type": "application/json", "telnyx-timestamp": stamp,
                  "telnyx-signature-ed25519": signature}


def report_delivery(net: SimNetwork, provider: str, message_id: str, to: str, frm: str, url: str) -> None:
    for state in ("sent", "delivered"):
        body, headers = report(provider, net, message_id, to, frm, state, url)
        try:
            requests.post(url, data=body, headers=headers, timeout=30)  # its own connection: another thread
        except Exception:  # noqa: BLE001 - a report lost on the way, as a real network may lose one
            log.warning("a delivery report could not be posted")
