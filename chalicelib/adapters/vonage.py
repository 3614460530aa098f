"""Vonage Voice API: signed-webhook JWTs (HS256 with `payload_hash`), JSON webhooks, NCCO markup,
and the Voice API (adapters/vonage_rest.py: its application JWT, RS256) for outbound calls and transfers.

Vonage has no hold queue, no redirect verb and an input that always calls its eventUrl, so:
Enqueue and Redirect become `notify` (its reply NCCO replaces the rest), Leave goes to its exit step
with result=leave, and a Gather's no-input step rides in the input's eventUrl (the edge runs it)."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
from typing import Any, Mapping

import jwt
import requests

from ..domain.errors import BadWebhookError, CallGoneError, TelephonyError
from ..domain.model import AnsweredBy, CallEvent, CallStatus, QueueResult
from ..domain.script import (LEG_PARAM, NO_INPUT_PARAM, Dial, Enqueue, Gather, Hangup, Leave, Pause, Play, Redirect, Say,
                             Script, Step, Verb)
from ..domain.speech import voice_for
from ..ports import Capabilities, Clock, Dialer, SystemClock, Telephony, WebhookRequest
from .rest import refuse_undialable
from .twiml_family import call_id, seconds, whole
from .vonage_rest import DEFAULT_API_BASE_URL, VoiceApi
from .webhook_urls import step_url

# Vonage picks the voice from the language (and a style); every language Holdfast speaks is in its list.
VOICES = {"en-US": "en-US", "ru-RU": "ru-RU", "uk-UA": "uk-UA"}
CAPABILITIES = Capabilities(native_queue=False, gather_falls_through=False, inline_redirect=True,
                            contact_kinds=frozenset({"tel", "sip"}), voices=VOICES)
IAT_WINDOW_SECONDS = 300
MAX_INPUT_TIMEOUT = 10  # input.dtmf.timeOut: 0-10 s
URL_TOKEN = "k"  # the query parameter carrying the per-stage URL secret
_QUEUE_RESULTS = {r.value: r for r in QueueResult}  # our own exit redirect says why (result=leave)

_STATUSES = {"started": CallStatus.QUEUED, "ringing": CallStatus.RINGING, "answered": CallStatus.IN_PROGRESS,
             "human": CallStatus.IN_PROGRESS, "machine": CallStatus.IN_PROGRESS,
             "completed": CallStatus.COMPLETED, "disconnected": CallStatus.COMPLETED, "busy": CallStatus.BUSY,
             "cancelled": CallStatus.CANCELED, "failed": CallStatus.FAILED, "rejected": CallStatus.FAILED,
             "timeout": CallStatus.NO_ANSWER, "unanswered": CallStatus.NO_ANSWER}


def url(base_url: str, step: Step, url_token: str = "", **more: str) -> str:
    """Our webhook URL as Vonage is given it: with the URL secret when one is configured."""
    return step_url(base_url, "vonage", step, **more, **({URL_TOKEN: url_token} if url_token else {}))


def e164(number: Any) -> str:
    """Vonage writes numbers without the '+'."""
    text = str(number or "")
    return f"+{text}" if text.isdigit() else text


class VonageTelephony(Telephony):
    name = "vonage"
    content_type = "application/json"
    capabilities = CAPABILITIES

    def __init__(self, signature_secret: str, clock: Clock | None = None, url_token: str = "") -> None:
        self._secret = signature_secret
        # For events Vonage does not sign: a per-stage secret in every URL Holdfast gives it.
        self._url_token = url_token
        self._clock = clock or SystemClock()
        self._seen: dict[str, float] = {}  # jti -> iat, for the window (per container)
        self._lock = threading.Lock()

    def verify(self, request: WebhookRequest) -> bool:
        """`Authorization: Bearer <HS256 JWT>` signed with the signature secret, whose `payload_hash`
        is the SHA-256 of the raw body, issued within 300 s of now, its `jti` not seen before."""
        token = request.header("authorization").removeprefix("Bearer ").strip()
        if not token and self._url_token:  # unsigned: only with our URL secret (compared in constant time)
            return hmac.compare_digest(request.query.get(URL_TOKEN, "").encode(), self._url_token.encode())
        if not self._secret or not token:
            return False
        try:
            claims = jwt.decode(token, self._secret, algorithms=["HS256"],
                                options={"verify_iat": False, "verify_exp": False, "verify_nbf": False,
                                         "verify_aud": False, "require": ["iat", "payload_hash"]})
        except jwt.PyJWTError:
            return False
        now = self._clock.now().timestamp()
        iat = claims.get("iat")
        if not isinstance(iat, (int, float)) or abs(now - iat) > IAT_WINDOW_SECONDS:
            return False
        if isinstance(claims.get("exp"), (int, float)) and claims["exp"] < now:
            return False
        body_hash = hashlib.sha256(request.body).hexdigest()
        if not hmac.compare_digest(str(claims["payload_hash"]), body_hash):
            return False
        return self._first_use(str(claims.get("jti") or ""), float(iat), now)

    def _first_use(self, jti: str, iat: float, now: float) -> bool:
        if not jti:
            return True  # nothing to remember it by; the window and the body hash still hold
        with self._lock:
            for old in [k for k, at in self._seen.items() if now - at > IAT_WINDOW_SECONDS]:
                del self._seen[old]
            if jti in self._seen:
                return False
            self._seen[jti] = iat
            return True

    def parse(self, params: Mapping[str, Any], query: Mapping[str, str]) -> CallEvent:
        """The answer webhook (to, from, uuid), events (status…), input (dtmf) and our notify."""
        status_text = params.get("status")
        status = _STATUSES.get(status_text) if status_text else CallStatus.IN_PROGRESS
        if status is None:
            raise BadWebhookError(f"unknown status {status_text!r}")
        dtmf = params.get("dtmf")
        digits = dtmf.get("digits") if isinstance(dtmf, dict) else None
        if digits is not None and not isinstance(digits, str):
            raise BadWebhookError("dtmf.digits is not text")
        verdict = {"human": AnsweredBy.HUMAN, "machine": AnsweredBy.MACHINE}.get(status_text or "")
        result = query.get("result")
        return CallEvent(
            call_id=call_id(params.get("uuid") or params.get("conversation_uuid")), status=status,
            caller=e164(params.get("from")), called=e164(params.get("to")), digits=digits or None,
            queue_result=_QUEUE_RESULTS.get(result or ""),
            duration_seconds=whole(params.get("duration")),
            progress=status_text is not None and dtmf is None,
            answered_by=verdict,
            # on a connect's eventUrl the status is the dialled leg's: the dial's outcome
            dial_status=status if status_text is not None and dtmf is None else None,
            dial_seconds=seconds(params.get("duration")))

    def render(self, script: Script, base_url: str) -> str:
        ncco: list[dict[str, Any]] = []
        for verb in script.verbs:
            if isinstance(verb, Hangup):
                break  # the call ends with its NCCO
            ncco.extend(self._actions(verb, base_url))
        return json.dumps(ncco)

    def _url(self, base_url: str, step: Step, **more: str) -> list[str]:
        return [url(base_url, step, self._url_token, **more)]

    def _notify(self, base_url: str, step: Step, **more: str) -> dict[str, Any]:
        return {"action": "notify", "payload": {"step": step.name}, "eventUrl": self._url(base_url, step, **more),
                "eventMethod": "POST"}

    def _actions(self, verb: Verb, base_url: str, barge_in: bool = False) -> list[dict[str, Any]]:
        if isinstance(verb, Say):
            talk: dict[str, Any] = {"action": "talk", "text": verb.text, "language": voice_for(VOICES, verb.language)[1]}
            return [talk | {"bargeIn": True}] if barge_in else [talk]
        if isinstance(verb, Play):
            stream: dict[str, Any] = {"action": "stream", "streamUrl": [verb.url], "loop": verb.loop}
            return [stream | {"bargeIn": True}] if barge_in else [stream]
        if isinstance(verb, Pause):
            return [{"action": "talk", "text": f'<speak><break time="{verb.seconds}s"/></speak>'}]
        if isinstance(verb, Gather):
            prompts = [a for p in verb.prompts for a in self._actions(p, base_url, barge_in=True)]
            more = {NO_INPUT_PARAM: verb.no_input.encode()} if verb.no_input else {}
            dtmf: dict[str, Any] = {"maxDigits": verb.num_digits or 20,
                                    "timeOut": min(verb.timeout_seconds, MAX_INPUT_TIMEOUT),
                                    "submitOnHash": verb.num_digits is None or verb.finish_on_key == "#"}
            return [*prompts, {"action": "input", "type": ["dtmf"], "dtmf": dtmf,
                               "eventUrl": self._url(base_url, verb.action, **more), "eventMethod": "POST"}]
        if isinstance(verb, Enqueue):
            if verb.wait is not None:  # no queue of its own: the caller holds in our wait loop
                return [self._notify(base_url, verb.wait)]
            hold: dict[str, Any] = {"action": "conversation", "name": verb.queue_name}
            return [hold | {"musicOnHoldUrl": [verb.wait_url]}] if verb.wait_url else [hold]
        if isinstance(verb, Redirect):
            return [self._notify(base_url, verb.step)]
        if isinstance(verb, Leave):
            return [self._notify(base_url, verb.exit, result="leave")] if verb.exit else []
        if isinstance(verb, Dial):
            endpoint = ({"type": "sip", "uri": verb.target} if verb.target.startswith("sip:")
                        else {"type": "phone", "number": verb.target.lstrip("+")})
            connect: dict[str, Any] = {"action": "connect", "endpoint": [endpoint], "timeout": verb.timeout_seconds}
            if verb.caller_id:
                connect["from"] = verb.caller_id.lstrip("+")
            if verb.action:
                # one eventUrl gets the connect's events (ringing, answered, then how it ended): the
                # status step rides along in the action's query, and the voice webhook runs it
                action = verb.action if verb.status is None else Step(
                    verb.action.name, verb.action.params + ((LEG_PARAM, verb.status.encode()),))
                connect |= {"eventType": "synchronous", "eventUrl": self._url(base_url, action),
                            "eventMethod": "POST"}
            return [connect]
        raise TypeError(f"cannot render {verb!r}")  # pragma: no cover - the Verb union is closed


def transfer_ncco(ncco: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Our NCCO as a transfer sends it: a connect without our caller id lets Vonage pick one of the
    application's numbers (`randomFromNumber`), as Vonage's own library insists on one or the other."""
    return [action | {"randomFromNumber": True} if action["action"] == "connect" and "from" not in action else action
            for action in ncco]


def create_call_body(to: str, caller_id: str, answer_url: str, event_url: str, machine_detection: bool,
                     timeout_seconds: int) -> dict[str, Any]:
    """POST /v1/calls, field for field what Vonage's library sends for the same call."""
    body: dict[str, Any] = {
        "to": [{"type": "sip", "uri": to} if to.startswith("sip:") else {"type": "phone", "number": to.lstrip("+")}],
        "from": {"type": "phone", "number": caller_id.lstrip("+")},
        "answer_url": [answer_url], "answer_method": "POST", "event_url": [event_url], "event_method": "POST",
        "ringing_timer": max(1, min(timeout_seconds, 120))}
    if machine_detection:  # the verdict arrives as an event (status human/machine) on event_url
        body["advanced_machine_detection"] = {"behavior": "continue", "mode": "detect"}
    return body


class VonageDialer(Dialer):
    """Outbound calls and transfers through Vonage's Voice API, authorised by the application JWT
    (RS256, the application's private key)."""

    name = "vonage"

    def __init__(self, application_id: str, private_key: str, public_base_url: str,
                 api_base_url: str | None = None, session: requests.Session | None = None,
                 clock: Clock | None = None, url_token: str = "") -> None:
        self._url_token = url_token
        self._base_url = public_base_url
        self._markup = VonageTelephony("", url_token=url_token)
        self._api: VoiceApi | None = None
        self._unusable = "VONAGE_APPLICATION_ID and VONAGE_PRIVATE_KEY are not configured"
        if not (application_id and private_key):
            return
        try:
            self._api = VoiceApi(application_id, private_key, clock or SystemClock(), api_base_url, session)
        except ValueError:  # fail on use, not at startup: the other providers keep working
            self._unusable = "VONAGE_PRIVATE_KEY is not an RSA private key"

    def _voice(self) -> VoiceApi:
        if self._api is None:
            raise TelephonyError(self._unusable)
        return self._api

    def place_call(self, to: str, caller_id: str, answer: Step, status: Step, machine_detection: bool,
                   timeout_seconds: int) -> str:
        refuse_undialable(CAPABILITIES, to)
        return self._voice().create_call(create_call_body(
            to, caller_id, url(self._base_url, answer, self._url_token), url(self._base_url, status, self._url_token),
            machine_detection, timeout_seconds))

    def redirect(self, call_id: str, script: Script) -> None:
        for verb in script.verbs:
            if isinstance(verb, Dial):
                refuse_undialable(CAPABILITIES, verb.target)
        ncco = transfer_ncco(json.loads(self._markup.render(script, self._base_url)))
        self._voice().transfer(call_id, {"type": "ncco", "ncco": ncco})

    def redirect_to(self, call_id: str, step: Step) -> None:
        self._voice().transfer(call_id, {"type": "ncco", "url": [url(self._base_url, step, self._url_token)]})
