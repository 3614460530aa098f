"""Texts Holdfast sends through the network's messaging APIs (Twilio's Messages.json form, Telnyx's
POST /v2/messages JSON, Vonage's Messages API POST /v1/messages JSON), kept in one shape for the demo
page: who it went to, from, what it says, and the caller's link in it (which opens on the local stack)."""
from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING

from .calls import new_sid

if TYPE_CHECKING:
    from .core import SimNetwork

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
    return message_id
