"""Twilio: webhook signatures, webhook parsing, and TwiML rendering."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Mapping
from urllib.parse import urlencode

from requests import RequestException
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.voice_response import Dial as TwDial
from twilio.twiml.voice_response import Gather as TwGather
from twilio.twiml.voice_response import VoiceResponse

from ..domain.errors import BadWebhookError, CallGoneError, NotifyError, TelephonyError
from ..domain.model import AgentEvent, AgentStatus, CallEvent
from ..domain.script import (Dial, Enqueue, Gather, Hangup, Leave, Pause, Play, Redirect, Say, Script,
                             Step, Verb)
from ..domain.speech import voice_for
from ..ports import Capabilities, Dialer, InboundText, Messenger, Telephony, TextStatus, WebhookRequest, decode_body
from .twiml_family import form_fields, parse_fields
from .webhook_urls import step_url

VOICES = {"en-US": "Polly.Joanna", "ru-RU": "Polly.Tatyana", "uk-UA": "Google.uk-UA-Standard-A"}

CALL_NOT_IN_PROGRESS = 21220  # Twilio: "Call is not in-progress. Cannot redirect."
CAPABILITIES = Capabilities(native_queue=True, gather_falls_through=True, inline_redirect=True,
                            contact_kinds=frozenset({"tel", "sip", "client"}), voices=VOICES)


def signed_urls(url: str, query: Mapping[str, str]) -> list[str]:
    """The URL the provider signed: our configured public URL, with the query as sent or as we sort it."""
    if not query:
        return [url]
    orders = [list(query.items()), sorted(query.items())]
    return list(dict.fromkeys(f"{url}?{urlencode(o)}" for o in orders))


# TaskRouter activity names (a workspace's defaults, and the usual additions; case, '-' and '_' ignored)
# -> an agent's status and, when away, why. docs/agents.md lists them.
ACTIVITIES: dict[str, tuple[AgentStatus, str | None]] = {
    "available": (AgentStatus.AVAILABLE, None), "idle": (AgentStatus.AVAILABLE, None),
    "offline": (AgentStatus.OFFLINE, None),
    "busy": (AgentStatus.BUSY, None), "reserved": (AgentStatus.BUSY, None), "on a call": (AgentStatus.BUSY, None),
    "outbound": (AgentStatus.BUSY, None),
    "wrap up": (AgentStatus.WRAP_UP, None), "wrapup": (AgentStatus.WRAP_UP, None),
    "wrapping": (AgentStatus.WRAP_UP, None), "after call work": (AgentStatus.WRAP_UP, None),
    "unavailable": (AgentStatus.AWAY, "unavailable"), "break": (AgentStatus.AWAY, "break"),
    "lunch": (AgentStatus.AWAY, "lunch"), "training": (AgentStatus.AWAY, "training"),
    "meeting": (AgentStatus.AWAY, "meeting"), "coaching": (AgentStatus.AWAY, "coaching"),
    "personal": (AgentStatus.AWAY, "personal"),
}


class TwilioTelephony(Telephony):
    name = "twilio"
    content_type = "text/xml; charset=utf-8"
    capabilities = CAPABILITIES

    def __init__(self, auth_token: str) -> None:
        self._validator = RequestValidator(auth_token)

    def verify(self, request: WebhookRequest) -> bool:
        """HMAC-SHA1 over our URL and the sorted form fields (Twilio signs parsed fields, not bytes)."""
        signature = request.header("x-twilio-signature")
        if not signature:
            return False
        try:
            params = decode_body(request)
        except BadWebhookError:
            return False
        if not all(isinstance(v, str) for v in params.values()):
            return False  # Twilio signs form fields: a JSON body with objects in it was never one of its
        return any(self._validator.validate(u, params, signature) for u in signed_urls(request.url, request.query))

    def parse(self, params: Mapping[str, Any], query: Mapping[str, str]) -> CallEvent:
        return parse_fields(params, query)

    def parse_agent_event(self, params: Mapping[str, str]) -> AgentEvent | None:
        """TaskRouter event callbacks: worker.activity.update moves an agent; others are not ours."""
        params = form_fields(params)
        if params.get("EventType") != "worker.activity.update":
            return None
        try:
            attributes = json.loads(params.get("WorkerAttributes") or "{}")
            stamp = params.get("Timestamp")
            at = datetime.fromtimestamp(int(stamp), timezone.utc) if stamp else None
        except (ValueError, TypeError, RecursionError, OverflowError, OSError) as exc:
            raise BadWebhookError("WorkerAttributes or Timestamp malformed") from exc
        if not isinstance(attributes, dict):
            raise BadWebhookError("WorkerAttributes is not an object")
        agent_id = str(attributes.get("agent_id") or params.get("WorkerName") or params.get("WorkerSid") or "")
        if not agent_id:
            raise BadWebhookError("no worker named")
        activity = " ".join((params.get("WorkerActivityName") or "").lower().replace("-", " ").replace("_", " ").split())
        if activity not in ACTIVITIES:
            # never guessed (an unknown activity read as busy hid an agent on break as serving): refused
            raise BadWebhookError(f"unknown TaskRouter activity {activity[:40]!r}; known: {', '.join(sorted(ACTIVITIES))}")
        status, reason = ACTIVITIES[activity]
        contact, queues = attributes.get("contact_uri"), attributes.get("holdfast_queues")
        if contact is not None and not isinstance(contact, str):
            raise BadWebhookError("WorkerAttributes.contact_uri is not text")
        if queues is not None and not (isinstance(queues, list) and all(isinstance(q, str) for q in queues)):
            raise BadWebhookError("WorkerAttributes.holdfast_queues is not a list of queue ids")
        return AgentEvent(agent_id=agent_id, status=status, at=at, contact=contact,
                          queues=tuple(queues) if queues is not None else None,
                          event_id=params.get("Sid") or params.get("EventSid"), reason=reason)

    def render(self, script: Script, base_url: str) -> str:
        response = VoiceResponse()
        for verb in script.verbs:
            self._add(response, verb, base_url)
        return str(response)

    def _url(self, base_url: str, step: Step) -> str:
        return step_url(base_url, self.name, step)

    def _add(self, parent: VoiceResponse | TwGather, verb: Verb, base_url: str) -> None:
        if isinstance(verb, Say):
            language, voice = voice_for(VOICES, verb.language)
            parent.say(verb.text, language=language, voice=voice)
        elif isinstance(verb, Play):
            parent.play(verb.url, loop=verb.loop if verb.loop != 1 else None)
        elif isinstance(verb, Pause):
            parent.pause(length=verb.seconds)
        elif isinstance(verb, Gather):
            gather = TwGather(action=self._url(base_url, verb.action), method="POST",
                              num_digits=verb.num_digits, timeout=verb.timeout_seconds,
                              finish_on_key=verb.finish_on_key)
            for prompt in verb.prompts:
                self._add(gather, prompt, base_url)
            parent.append(gather)
        elif isinstance(verb, Enqueue):
            wait_url = self._url(base_url, verb.wait) if verb.wait else verb.wait_url
            parent.enqueue(verb.queue_name, wait_url=wait_url, wait_url_method="POST" if wait_url else None,
                           action=self._url(base_url, verb.action) if verb.action else None,
                           method="POST" if verb.action else None)
        elif isinstance(verb, Redirect):
            parent.redirect(self._url(base_url, verb.step), method="POST")
        elif isinstance(verb, Leave):
            parent.leave()
        elif isinstance(verb, Hangup):
            parent.hangup()
        elif isinstance(verb, Dial):
            dial = TwDial(caller_id=verb.caller_id, timeout=verb.timeout_seconds,
                          action=self._url(base_url, verb.action) if verb.action else None)
            # the dialled leg's progress (ringing, answered, completed) goes to the Dial's status step
            leg: dict[str, Any] = {} if verb.status is None else {
                "status_callback": self._url(base_url, verb.status), "status_callback_method": "POST",
                "status_callback_event": "ringing answered completed"}
            if verb.target.startswith("sip:"):
                dial.sip(verb.target, **leg)
            elif verb.target.startswith("client:"):
                dial.client(verb.target.removeprefix("client:"), **leg)
            else:
                dial.number(verb.target, **leg)
            parent.append(dial)
        else:  # pragma: no cover - the Verb union is closed
            raise TypeError(f"cannot render {verb!r}")


class _RebasedHttpClient(TwilioHttpClient):
    """Sends the twilio library's requests to another base URL (the simulated network, a test stand-in)."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self._base = base_url.rstrip("/")

    def request(self, method, url, *args, **kwargs):  # type: ignore[no-untyped-def,override]
        for host in ("https://api.twilio.com", "https://api.us1.twilio.com"):
            if url.startswith(host):
                url = self._base + url[len(host):]
        return super().request(method, url, *args, **kwargs)


class TwilioDialer(Dialer):
    """Outbound calls and live-call redirects through Twilio's REST API (the twilio library)."""

    name = "twilio"

    def __init__(self, account_sid: str, auth_token: str, public_base_url: str, api_base_url: str | None = None,
                 http_client: TwilioHttpClient | None = None) -> None:
        self._credentials = (account_sid, auth_token)
        self._http = http_client or (_RebasedHttpClient(api_base_url) if api_base_url else None)
        self._rest: Client | None = None
        self._base_url = public_base_url
        self._markup = TwilioTelephony(auth_token)

    @property
    def _client(self) -> Client:
        # Built on first use, so an app without outbound credentials still answers inbound calls.
        if self._rest is None:
            if not all(self._credentials):
                raise TelephonyError("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are not configured")
            self._rest = Client(*self._credentials, http_client=self._http)
        return self._rest

    def place_call(self, to: str, caller_id: str, answer: Step, status: Step, machine_detection: bool,
                   timeout_seconds: int, verdict: Step | None = None) -> str:
        extra = {"machine_detection": "Enable"} if machine_detection else {}
        try:
            call = self._client.calls.create(
                to=to, from_=caller_id, url=step_url(self._base_url, "twilio", answer), method="POST",
                status_callback=step_url(self._base_url, "twilio", status), status_callback_method="POST",
                timeout=timeout_seconds, **extra)
        except (TwilioException, RequestException) as exc:
            raise TelephonyError(f"calls.create failed: {type(exc).__name__}") from exc
        return str(call.sid)

    def send_sms(self, to: str, sender: str, body: str) -> None:
        """Used by the SMS notification channel."""
        try:
            self._client.messages.create(to=to, from_=sender, body=body)
        except (TwilioException, RequestException) as exc:
            raise NotifyError(f"messages.create failed: {type(exc).__name__}") from exc
        except TelephonyError as exc:
            raise NotifyError(str(exc)) from exc

    def redirect(self, call_id: str, script: Script) -> None:
        self._update(call_id, twiml=self._markup.render(script, self._base_url))

    def redirect_to(self, call_id: str, step: Step) -> None:
        self._update(call_id, url=step_url(self._base_url, "twilio", step), method="POST")

    def _update(self, call_id: str, **change: str) -> None:
        try:
            self._client.calls(call_id).update(**change)
        except TwilioRestException as exc:
            if exc.code == CALL_NOT_IN_PROGRESS or exc.status == 404:
                raise CallGoneError(f"call {call_id} has ended") from exc
            raise TelephonyError(f"calls.update failed: {exc.code}") from exc
        except (TwilioException, RequestException) as exc:
            raise TelephonyError(f"calls.update failed: {type(exc).__name__}") from exc


TWILIO_TEXT_STATES = {"sent": "sent", "delivered": "delivered", "undelivered": "failed", "failed": "failed"}


class TwilioMessenger(Messenger):
    """Texts through Twilio's Messaging API (the twilio library, the dialer's client), and its inbound
    message webhook: From, Body, and OptOutType (Twilio's own handling of STOP)."""

    name = "twilio"

    def __init__(self, dialer: TwilioDialer) -> None:
        self._dialer = dialer

    def send_text(self, to: str, sender: str, body: str, status_url: str | None = None) -> str:
        extra = {"status_callback": status_url} if status_url else {}
        try:
            message = self._dialer._client.messages.create(to=to, from_=sender, body=body, **extra)
        except (TwilioException, RequestException) as exc:
            raise NotifyError(f"messages.create failed: {type(exc).__name__}") from exc
        except TelephonyError as exc:
            raise NotifyError(str(exc)) from exc
        return str(message.sid)

    def parse_inbound(self, request: WebhookRequest) -> InboundText | None:
        form = decode_body(request)
        sender, body = form.get("From"), form.get("Body")
        if not isinstance(sender, str) or not sender.startswith("+"):
            return None
        if form.get("MessageStatus", "received") != "received":
            return None  # a delivery report for a text we sent, not a caller's
        return InboundText(sender, str(body or ""), opt_out=str(form.get("OptOutType", "")).upper() == "STOP",
                           message_id=str(form.get("MessageSid") or ""), recipient=str(form.get("To") or ""))

    def parse_status(self, request: WebhookRequest) -> TextStatus | None:
        """The Messages StatusCallback: MessageSid and MessageStatus (queued, sending, sent, delivered,
        undelivered, failed, read...); undelivered and failed are both a text that did not arrive."""
        form = decode_body(request)
        sid, status = form.get("MessageSid"), form.get("MessageStatus")
        state = TWILIO_TEXT_STATES.get(str(status or ""))
        if not isinstance(sid, str) or not sid or state is None:
            return None
        return TextStatus(sid, state)
