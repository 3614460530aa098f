"""Twilio: webhook signatures, webhook parsing, and TwiML rendering."""
from __future__ import annotations

from typing import Mapping
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Dial as TwDial
from twilio.twiml.voice_response import Gather as TwGather
from twilio.twiml.voice_response import VoiceResponse

from ..domain.errors import BadWebhookError
from ..domain.model import CallEvent, CallStatus, QueueResult
from ..domain.script import (Dial, Enqueue, Gather, Hangup, Leave, Pause, Play, Redirect, Say, Script,
                             Step, Verb)
from ..ports import Telephony

VOICES = {"en-US": "Polly.Joanna", "ru-RU": "Polly.Tatyana", "uk-UA": "Google.uk-UA-Standard-A"}

_STATUSES = {s.value: s for s in CallStatus} | {"initiated": CallStatus.QUEUED}
_QUEUE_RESULTS = {r.value: r for r in QueueResult} | {
    "bridging-in-process": QueueResult.BRIDGED, "system-error": QueueResult.ERROR}


def step_url(base_url: str, provider: str, step: Step) -> str:
    url = f"{base_url.rstrip('/')}/voice/{provider}/{step.name}"
    return f"{url}?{urlencode(step.params)}" if step.params else url


def _int(value: str | None) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise BadWebhookError(f"not a whole number: {value!r}") from None


class TwilioTelephony(Telephony):
    name = "twilio"
    content_type = "text/xml"

    def __init__(self, auth_token: str) -> None:
        self._validator = RequestValidator(auth_token)

    def verify(self, url: str, params: Mapping[str, str], headers: Mapping[str, str]) -> bool:
        signature = headers.get("x-twilio-signature") or headers.get("X-Twilio-Signature") or ""
        return bool(signature) and self._validator.validate(url, dict(params), signature)

    def parse(self, params: Mapping[str, str], query: Mapping[str, str]) -> CallEvent:
        call_id = params.get("CallSid", "")
        if not call_id.startswith("CA"):
            raise BadWebhookError("CallSid missing or malformed")
        status = _STATUSES.get(params.get("CallStatus", "in-progress"))
        if status is None:
            raise BadWebhookError(f"unknown CallStatus {params.get('CallStatus')!r}")
        queue_result = params.get("QueueResult")
        return CallEvent(
            call_id=call_id, status=status,
            caller=params.get("From", params.get("Caller", "")),
            called=params.get("To", params.get("Called", "")),
            digits=params.get("Digits"),
            queue_result=_QUEUE_RESULTS.get(queue_result, QueueResult.ERROR) if queue_result else None,
            queue_seconds=_int(params.get("QueueTime")),
            duration_seconds=_int(params.get("CallDuration")),
            extra={k: v for k, v in params.items() if k in ("AnsweredBy", "SipResponseCode")})

    def render(self, script: Script, base_url: str) -> str:
        response = VoiceResponse()
        for verb in script.verbs:
            self._add(response, verb, base_url)
        return str(response)

    def _url(self, base_url: str, step: Step) -> str:
        return step_url(base_url, self.name, step)

    def _add(self, parent: VoiceResponse | TwGather, verb: Verb, base_url: str) -> None:
        if isinstance(verb, Say):
            parent.say(verb.text, language=verb.language, voice=VOICES.get(verb.language))
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
            if verb.target.startswith("sip:"):
                dial.sip(verb.target)
            elif verb.target.startswith("client:"):
                dial.client(verb.target.removeprefix("client:"))
            else:
                dial.number(verb.target)
            parent.append(dial)
        else:  # pragma: no cover - the Verb union is closed
            raise TypeError(f"cannot render {verb!r}")
