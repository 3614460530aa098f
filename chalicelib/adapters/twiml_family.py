"""Webhook fields shared by the TwiML family (Twilio, Telnyx TeXML, SignalWire cXML): the same
parameter names, parsed once into a neutral CallEvent. Markup and signatures stay per provider."""
from __future__ import annotations

import math
from typing import Any, Mapping

from ..domain.errors import BadWebhookError
from ..domain.model import AnsweredBy, CallEvent, CallStatus, QueueResult

STATUSES = {s.value: s for s in CallStatus} | {"initiated": CallStatus.QUEUED}
DIAL_STATUSES = STATUSES | {"answered": CallStatus.COMPLETED}
QUEUE_RESULTS = {r.value: r for r in QueueResult} | {
    "bridging-in-process": QueueResult.BRIDGED, "system-error": QueueResult.ERROR}


def whole(value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: a JSON 1e400 is an infinite float
        raise BadWebhookError(f"not a whole number: {value!r}") from None


def seconds(value: Any) -> float:
    try:
        found = float(value or 0)
    except (TypeError, ValueError):
        return 0.0
    return max(0.0, found) if math.isfinite(found) else 0.0


def answered_by(value: str | None) -> AnsweredBy | None:
    """AnsweredBy: human, machine_start, machine_end_beep/silence/other, fax, unknown."""
    if not value:
        return None
    if value.startswith("machine"):
        return AnsweredBy.MACHINE
    return {"human": AnsweredBy.HUMAN, "fax": AnsweredBy.FAX}.get(value, AnsweredBy.UNKNOWN)


def call_id(value: Any) -> str:
    """Any provider's call id (Twilio CA…, Telnyx v3:…, UUIDs): printable, bounded, present."""
    text = value if isinstance(value, str) else ""
    if not text or not text.isprintable() or len(text) > 128:
        raise BadWebhookError("call id missing or malformed")
    return text


def form_fields(params: Mapping[str, Any]) -> Mapping[str, str]:
    """The TwiML family posts forms: every field is text (a JSON body with objects in it is not one of theirs)."""
    if not all(isinstance(value, str) for value in params.values()):
        raise BadWebhookError("webhook fields must be form fields (text)")
    return params


def parse_fields(params: Mapping[str, Any], query: Mapping[str, str]) -> CallEvent:
    params = form_fields(params)
    status = STATUSES.get(params.get("CallStatus", "in-progress"))
    if status is None:
        raise BadWebhookError(f"unknown CallStatus {params.get('CallStatus')!r}")
    # A queue result from the provider, else the one our own exit redirect carries (result=leave).
    queue_result = params.get("QueueResult") or query.get("result")
    return CallEvent(
        call_id=call_id(params.get("CallSid")), status=status,
        caller=params.get("From", params.get("Caller", "")),
        called=params.get("To", params.get("Called", "")),
        digits=params.get("Digits") or None,
        queue_result=QUEUE_RESULTS.get(queue_result, QueueResult.ERROR) if queue_result else None,
        queue_seconds=whole(params.get("QueueTime")),
        duration_seconds=whole(params.get("CallDuration")),
        progress=params.get("CallbackSource") == "call-progress-events",
        answered_by=answered_by(params.get("AnsweredBy")),
        dial_status=DIAL_STATUSES.get(params.get("DialCallStatus", "")),
        dial_seconds=seconds(params.get("DialCallDuration")),
        sip_code=whole(params.get("SipResponseCode")))
