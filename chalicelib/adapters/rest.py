"""One JSON request to a provider's REST API, its failures as Holdfast's telephony errors."""
from __future__ import annotations

from typing import Any, Collection, Mapping

import requests

from ..domain.errors import CallGoneError, TelephonyError
from ..ports import Capabilities


def refuse_undialable(capabilities: Capabilities, contact: str) -> None:
    """A contact this provider cannot reach (a Twilio `client:` elsewhere) fails before any request."""
    if not capabilities.can_dial(contact):
        raise TelephonyError("this provider cannot dial that kind of contact")


def call_api(session: requests.Session, method: str, url: str, headers: Mapping[str, str],
             body: Mapping[str, Any], what: str, gone: Collection[int] = ()) -> dict[str, Any]:
    """The reply's JSON object ({} if none). A status in `gone` means the live call has ended."""
    try:
        reply = session.request(method, url, json=dict(body), headers=dict(headers), timeout=10)
    except requests.RequestException as exc:
        raise TelephonyError(f"{what} failed: {type(exc).__name__}") from exc
    if reply.status_code in gone:
        raise CallGoneError("the call has ended")
    if reply.status_code >= 400:
        raise TelephonyError(f"{what} failed: HTTP {reply.status_code}")
    try:
        found = reply.json() if reply.content else {}
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}
