"""Vonage Voice API: signed-webhook JWTs (HS256 with `payload_hash`), JSON webhooks, NCCO markup,
and the Voice API (adapters/vonage_rest.py: its application JWT, RS256) for outbound calls and transfers;
texts through its Messages API (SMS channel), same JWT, and its inbound-message webhook.

Vonage has no hold queue, no redirect verb and an input that always calls its eventUrl, so:
Enqueue and Redirect become `notify` (its reply NCCO replaces the rest), Leave goes to its exit step
with result=leave, and a Gather's no-input step rides in the input's eventUrl (the edge runs it)."""
from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping
from urllib.parse import urlencode

import jwt
import requests

from ..domain.errors import BadWebhookError, NotifyError, TelephonyError
from ..domain.model import AnsweredBy, CallEvent, CallStatus, QueueResult
from ..domain.script import (LEG_PARAM, NO_INPUT_PARAM, Dial, Enqueue, Gather, Hangup, Leave, Pause, Play, Redirect, Say,
                             Script, Step, Verb, joining)
from ..domain.speech import voice_for
from ..ports import (Capabilities, Clock, Dialer, InboundText, Messenger, SystemClock, Telephony, TextStatus,
                     WebhookRequest,
                     decode_body)
from .rest import refuse_undialable
from .twiml_family import call_id, seconds, whole
from .vonage_rest import VoiceApi
from .webhook_urls import step_url

# Vonage picks the voice from the language (and a style); every language Holdfast speaks is in its list.
VOICES = {"en-US": "en-US", "ru-RU": "ru-RU", "uk-UA": "uk-UA"}
CAPABILITIES = Capabilities(native_queue=False, gather_falls_through=False, inline_redirect=True,
                            contact_kinds=frozenset({"tel", "sip"}), voices=VOICES)
IAT_WINDOW_SECONDS = 300
MAX_INPUT_TIMEOUT = 10  # input.dtmf.timeOut: 0-10 s
URL_TOKEN = "k"  # the query parameter carrying a URL's own MAC (url_mac), never the URL secret itself
_QUEUE_RESULTS = {r.value: r for r in QueueResult}  # our own exit redirect says why (result=leave)

_STATUSES = {"started": CallStatus.QUEUED, "ringing": CallStatus.RINGING, "answered": CallStatus.IN_PROGRESS,
             "human": CallStatus.IN_PROGRESS, "machine": CallStatus.IN_PROGRESS,
             "completed": CallStatus.COMPLETED, "disconnected": CallStatus.COMPLETED, "busy": CallStatus.BUSY,
             "cancelled": CallStatus.CANCELED, "failed": CallStatus.FAILED, "rejected": CallStatus.FAILED,
             "timeout": CallStatus.NO_ANSWER, "unanswered": CallStatus.NO_ANSWER}


def url_mac(url_secret: str, step: str, params: Iterable[tuple[str, str]]) -> str:
    """The MAC of one URL Holdfast puts in an NCCO (an input's, a notify's or a connect's eventUrl, which
    Vonage's documentation does not promise to sign): HMAC-SHA256 under VONAGE_URL_TOKEN of the step and
    every parameter of the URL, so a URL seen in a log opens that step, for that ticket and attempt, and
    no other; the secret itself is never in a URL."""
    canonical = step + "?" + urlencode(sorted((k, v) for k, v in params if k != URL_TOKEN))
    return hmac.new(url_secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()[:32]


def url(base_url: str, step: Step, url_secret: str = "", **more: str) -> str:
    """An NCCO's eventUrl: with the URL's own MAC when a URL secret is configured. (The answer and event
    URLs of a call are plain step URLs: Vonage signs those webhooks.)"""
    mac = {URL_TOKEN: url_mac(url_secret, step.name, [*step.params, *more.items()])} if url_secret else {}
    return step_url(base_url, "vonage", step, **more, **mac)


def e164(number: Any) -> str:
    """Vonage writes numbers without the '+'."""
    if isinstance(number, bool) or not isinstance(number, (str, int, type(None))):
        raise BadWebhookError("a number that is not one")
    text = str(number or "")
    return f"+{text}" if text.isdigit() else text


class VonageTelephony(Telephony):
    name = "vonage"
    content_type = "application/json"
    capabilities = CAPABILITIES

    def __init__(self, signature_secret: str, clock: Clock | None = None, url_token: str = "") -> None:
        self._secret = signature_secret
        # For the NCCO eventUrls Vonage may not sign: the key of each URL's own MAC (url_mac).
        self._url_token = url_token
        self._clock = clock or SystemClock()

    def verify(self, request: WebhookRequest) -> bool:
        """`Authorization: Bearer <HS256 JWT>` signed with the signature secret, whose `payload_hash`
        is the SHA-256 of the raw body, issued within 300 s of now (a replay within them is the edge's
        to refuse: `replay_key`). Without a JWT, only an NCCO eventUrl carrying its own MAC: the answer
        and event webhooks, which Vonage signs, never are given one."""
        token = self._token(request)
        if not token:
            return self._url_mac_ok(request)
        return self._claims(request, token) is not None

    @staticmethod
    def _token(request: WebhookRequest) -> str:
        return request.header("authorization").removeprefix("Bearer ").strip()

    def _url_mac_ok(self, request: WebhookRequest) -> bool:
        given = request.query.get(URL_TOKEN, "")
        if not (self._url_token and given):
            return False
        step = request.url.rstrip("/").rsplit("/", 1)[-1]
        return hmac.compare_digest(given.encode(), url_mac(self._url_token, step, request.query.items()).encode())

    def _claims(self, request: WebhookRequest, token: str) -> dict[str, Any] | None:
        if not self._secret:
            return None
        try:
            claims = jwt.decode(token, self._secret, algorithms=["HS256"],
                                options={"verify_iat": False, "verify_exp": False, "verify_nbf": False,
                                         "verify_aud": False, "require": ["iat", "payload_hash"]})
        except jwt.PyJWTError:
            return None
        now = self._clock.now().timestamp()
        iat = claims.get("iat")
        try:
            fresh = not isinstance(iat, bool) and isinstance(iat, (int, float)) and abs(now - iat) <= IAT_WINDOW_SECONDS
        except OverflowError:  # an int past any float
            fresh = False
        if not fresh:
            return None
        if isinstance(claims.get("exp"), (int, float)) and claims["exp"] < now:
            return None
        body_hash = hashlib.sha256(request.body).hexdigest()
        if not hmac.compare_digest(str(claims["payload_hash"]), body_hash):
            return None
        return claims

    def replay_key(self, request: WebhookRequest) -> tuple[str, datetime] | None:
        """The JWT (a digest of it, `jti` or not), spent until its `iat` leaves the window. A URL's own
        MAC carries no time: it is bound to its step and ticket instead."""
        token = self._token(request)
        claims = self._claims(request, token) if token else None
        if claims is None:
            return None
        until = datetime.fromtimestamp(float(claims["iat"]) + IAT_WINDOW_SECONDS, timezone.utc)
        return hashlib.sha256(token.encode()).hexdigest(), until

    def parse(self, params: Mapping[str, Any], query: Mapping[str, str]) -> CallEvent:
        """The answer webhook (to, from, uuid), events (status…), input (dtmf) and our notify."""
        status_text = params.get("status")
        if status_text is not None and not isinstance(status_text, str):
            raise BadWebhookError("status is not text")
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

    def _actions(self, verb: Verb, base_url: str) -> list[dict[str, Any]]:
        if isinstance(verb, Say):
            return [{"action": "talk", "text": verb.text, "language": voice_for(VOICES, verb.language)[1]}]
        if isinstance(verb, Play):
            return [{"action": "stream", "streamUrl": [verb.url], "loop": verb.loop}]
        if isinstance(verb, Pause):
            return [{"action": "talk", "text": f'<speak><break time="{verb.seconds}s"/></speak>'}]
        if isinstance(verb, Gather):
            prompts = _barge_in([a for p in verb.prompts for a in self._actions(p, base_url)])
            more = {NO_INPUT_PARAM: verb.no_input.encode()} if verb.no_input else {}
            dtmf: dict[str, Any] = {"maxDigits": verb.num_digits or 20,
                                    "timeOut": min(verb.timeout_seconds, MAX_INPUT_TIMEOUT),
                                    "submitOnHash": verb.num_digits is None or verb.finish_on_key == "#"}
            return [*prompts, {"action": "input", "type": ["dtmf"], "dtmf": dtmf,
                               "eventUrl": self._url(base_url, verb.action, **more), "eventMethod": "POST"}]
        if isinstance(verb, Enqueue):
            if verb.wait is not None:  # no queue of its own: the caller holds in our wait loop
                return [self._notify(base_url, joining(verb.wait))]
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
            # a phone endpoint needs a caller id: ours, else one of the application's numbers
            connect |= {"from": verb.caller_id.lstrip("+")} if verb.caller_id else {"randomFromNumber": True}
            if verb.action:
                # one eventUrl gets the connect's events (ringing, answered, then how it ended): the
                # status step rides along in the action's query, and the voice webhook runs it
                action = verb.action if verb.status is None else Step(
                    verb.action.name, verb.action.params + ((LEG_PARAM, verb.status.encode()),))
                connect |= {"eventType": "synchronous", "eventUrl": self._url(base_url, action),
                            "eventMethod": "POST"}
            return [connect]
        raise TypeError(f"cannot render {verb!r}")  # pragma: no cover - the Verb union is closed


def _barge_in(prompts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A Gather's prompts before its input. A key may cut short the prompts of the last run of one kind
    (talks, or streams): Vonage requires the next action after a barge-in talk that is not a talk (a stream,
    one not a stream) to be the input, so the music after an announcement takes the keys, not the words."""
    last = prompts[-1]["action"] if prompts else None
    run = len(prompts)
    while run and prompts[run - 1]["action"] == last:
        run -= 1
    return prompts[:run] + [p | {"bargeIn": True} for p in prompts[run:]]


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


def api_or_reason(application_id: str, private_key: str, api_base_url: str | None,
                  session: requests.Session | None, clock: Clock | None) -> tuple[VoiceApi | None, str]:
    """The application's API client, or why there is none: it fails on use, not at startup, so the
    other providers keep working."""
    if not (application_id and private_key):
        return None, "VONAGE_APPLICATION_ID and VONAGE_PRIVATE_KEY are not configured"
    try:
        return VoiceApi(application_id, private_key, clock or SystemClock(), api_base_url, session), ""
    except ValueError:
        return None, "VONAGE_PRIVATE_KEY is not an RSA private key"


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
        self._api, self._unusable = api_or_reason(application_id, private_key, api_base_url, session, clock)

    def _voice(self) -> VoiceApi:
        if self._api is None:
            raise TelephonyError(self._unusable)
        return self._api

    def place_call(self, to: str, caller_id: str, answer: Step, status: Step, machine_detection: bool,
                   timeout_seconds: int, verdict: Step | None = None) -> str:
        refuse_undialable(CAPABILITIES, to)
        # the answer and event webhooks are signed by Vonage: their URLs carry no MAC
        return self._voice().create_call(create_call_body(
            to, caller_id, url(self._base_url, answer), url(self._base_url, status), machine_detection, timeout_seconds))

    def redirect(self, call_id: str, script: Script) -> None:
        for verb in script.verbs:
            if isinstance(verb, Dial):
                refuse_undialable(CAPABILITIES, verb.target)
        ncco = json.loads(self._markup.render(script, self._base_url))
        if not ncco:  # nothing left to do but end the call (an NCCO cannot be empty)
            self._voice().hangup(call_id)
        else:
            self._voice().transfer(call_id, {"type": "ncco", "ncco": ncco})

    def redirect_to(self, call_id: str, step: Step) -> None:
        # an answer webhook (Vonage signs it): no MAC
        self._voice().transfer(call_id, {"type": "ncco", "url": [url(self._base_url, step)]})


def sms_body(to: str, sender: str, text: str, status_url: str | None = None) -> dict[str, Any]:
    """A Messages API SMS, as Vonage's library writes its `Sms` model (numbers without the '+'); its
    `webhook_url` takes this message's status webhooks (vonage_messages models/base_message.py)."""
    return {"to": to.lstrip("+"), "from": sender.lstrip("+"), "text": text, "channel": "sms", "message_type": "text",
            **({"webhook_url": status_url} if status_url else {})}


# The Messages API status webhook's `status`: submitted (to the carrier), delivered, rejected (by
# Vonage), undeliverable (by the carrier); read is not an SMS state.
VONAGE_TEXT_STATES = {"submitted": "sent", "delivered": "delivered", "rejected": "failed", "undeliverable": "failed"}


class VonageMessenger(Messenger):
    """Texts through Vonage's Messages API (POST /v1/messages, SMS channel, the application JWT), and
    its inbound-message webhook (signed like the voice webhooks: an HS256 JWT with `payload_hash`)."""

    name = "vonage"

    def __init__(self, application_id: str, private_key: str, api_base_url: str | None = None,
                 session: requests.Session | None = None, clock: Clock | None = None) -> None:
        self._api, self._unusable = api_or_reason(application_id, private_key, api_base_url, session, clock)

    def send_text(self, to: str, sender: str, body: str, status_url: str | None = None) -> str:
        if self._api is None:
            raise NotifyError(self._unusable)
        try:
            return self._api.send_message(sms_body(to, sender, body, status_url))
        except TelephonyError as exc:
            raise NotifyError(str(exc)) from exc

    def parse_inbound(self, request: WebhookRequest) -> InboundText | None:
        data = decode_body(request)
        if data.get("channel") != "sms" or data.get("message_type") != "text":
            return None  # a status webhook, or another channel
        try:
            sender = e164(data.get("from"))
        except BadWebhookError:
            return None
        if not sender.startswith("+"):
            return None
        try:
            recipient = e164(data.get("to"))
        except BadWebhookError:
            recipient = ""
        return InboundText(sender, str(data.get("text") or ""), message_id=str(data.get("message_uuid") or ""),
                           recipient=recipient)

    def parse_status(self, request: WebhookRequest) -> TextStatus | None:
        data = decode_body(request)
        message_id, state = data.get("message_uuid"), VONAGE_TEXT_STATES.get(str(data.get("status") or ""))
        if data.get("channel") != "sms" or not isinstance(message_id, str) or not message_id or state is None:
            return None
        return TextStatus(message_id, state)
