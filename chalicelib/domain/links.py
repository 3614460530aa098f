"""Signed links to a caller's own page (issue 27): the link in a text names the callback and when it
expires, signed with a secret; without the whole link nothing can be seen or changed, and an expired or
altered one is refused. Links are never logged (only the ticket they resolve to)."""
from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timezone

from .errors import HoldfastError

MAC_BYTES = 16
MIN_SECRET = 16


class LinkError(HoldfastError):
    """A caller link that is malformed, altered or expired (the edge answers 404: nothing revealed)."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, payload: bytes) -> bytes:
    return hmac.new(secret.encode(), b"holdfast-caller-link|" + payload, hashlib.sha256).digest()[:MAC_BYTES]


def sign(ticket_id: str, expires: datetime, secret: str) -> str:
    if len(secret) < MIN_SECRET:
        raise LinkError("the link secret is too short")  # fail closed: never a link signed with a weak key
    payload = f"{ticket_id}|{int(expires.timestamp())}".encode()
    return f"{_b64(payload)}.{_b64(_mac(secret, payload))}"


def verify(token: str, secret: str, now: datetime) -> str:
    """The ticket a link names, if it is ours, whole and not expired; else LinkError."""
    if len(secret) < MIN_SECRET or not isinstance(token, str) or token.count(".") != 1 or len(token) > 200:
        raise LinkError("not a caller link")
    body, mac = token.split(".")
    try:
        payload, given = _unb64(body), _unb64(mac)
    except (ValueError, TypeError) as exc:
        raise LinkError("not a caller link") from exc
    if not hmac.compare_digest(given, _mac(secret, payload)):
        raise LinkError("not a caller link")
    ticket_id, _, expires = payload.decode(errors="replace").rpartition("|")
    if not ticket_id or not expires.isdigit() or datetime.fromtimestamp(int(expires), timezone.utc) <= now:
        raise LinkError("the link has expired")
    return ticket_id


class UnsignedStatusUrlError(HoldfastError):
    """A delivery report whose status URL's queue and half hour are not the ones Holdfast signed (the
    edge answers 403 and counts nothing). Telnyx and Vonage sign the body, not the URL it is posted to."""


def _status_mac(secret: str, queue_id: str, bucket: str) -> str:
    payload = f"{queue_id}|{bucket}".encode()
    return _b64(hmac.new(secret.encode(), b"holdfast-status-url|" + payload, hashlib.sha256).digest()[:MAC_BYTES])


def sign_status(queue_id: str, bucket: str, secret: str) -> str:
    """The MAC a text's status URL carries beside its queue and half hour (`s=`)."""
    if len(secret) < MIN_SECRET:
        raise LinkError("the link secret is too short")  # fail closed, as for links
    return _status_mac(secret, queue_id, bucket)


def verify_status(queue_id: str, bucket: str, mac: str, secret: str) -> None:
    """UnsignedStatusUrlError unless `mac` is Holdfast's for this queue and half hour."""
    if len(secret) < MIN_SECRET or not isinstance(mac, str) or not mac or len(mac) > 64 or \
            not hmac.compare_digest(mac.encode(), _status_mac(secret, queue_id, bucket).encode()):
        raise UnsignedStatusUrlError("the status URL is not one Holdfast signed")
