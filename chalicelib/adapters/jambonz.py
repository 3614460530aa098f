"""jambonz: any SIP carrier, trunk or PBX behind one open-source voice platform (hosted or
self-hosted). JSON webhooks signed with `Jambonz-Signature`, JSON verb arrays in reply, its native
queue (`enqueue` with a priority, `leave`), and its REST API (plain sync HTTP) for outbound calls,
live-call redirects and its report of registered SIP users.

Sources (checked, 2026-11): jambonz/schema and the official SDK (PyPI `jambonz-python-sdk`, module
`jambonz_sdk`, repository jambonz/python-sdk: `_signature.py`, `schema/verbs/*.schema.json`,
`schema/callbacks/*.schema.json`, `client/api.py`); jambonz/jambonz-feature-server 0.9.8
(`lib/utils/base-requestor.js` signs `{t}.{JSON body}` with the account's webhook secret;
`lib/tasks/enqueue.js`: a redis sorted set scored by `priority`, a waitHook answered only by say,
play, pause, leave (and tag); `lib/tasks/task.js`: an actionHook's empty reply lets the next verbs
run; `lib/tasks/rest_dial.js`: amd events posted to `amd.actionHook`, whose reply replaces the
application); jambonz/jambonz-api-server (`lib/routes/api/accounts.js`: createCall, updateCall,
RegisteredSipUsers).

What jambonz does, and how Holdfast meets it:
* The waitHook cannot gather (Capabilities.hold_listens false): the wait document speaks and plays,
  and to offer the callback the caller `leave`s, is offered it where a key is heard, and enqueues
  again at the same `priority` (the ticket's dispatch rank): the same place in jambonz's queue.
* A gather always calls its actionHook (`reason: timeout` with no key): Holdfast answers `[]`, so the
  script's next verbs run (Capabilities.gather_falls_through, CallEvent.nothing_pressed).
* A live call takes only a URL (`call_hook`): Dialer.inline is false; Holdfast redirects the caller it
  chose to its `bridge` step. jambonz then posts the enqueue's actionHook with queue_result `hangup`
  (feature-server enqueue.js: the state of a replaced enqueue) and ignores the reply: the ticket is
  claimed by then, and an abandon of a claimed ticket changes nothing.
* Answering-machine detection reports after the answer (amd events): the answer holds the callee in
  silence (CallEvent.verdict_pending) until the verdict's own webhook hangs up a machine at once or
  greets and puts a person through.
* The legs a dial places report their status to the call-status hook of the call that dialed them
  (with `parent_call_sid`): read as news that ends nothing, or the agent's leg not answering would
  pass for the customer's call not answered. The leg's answer comes instead from the dial's
  `confirmHook` (the Dial's status step, answered with `[]`: bridge now); the dial's actionHook gives
  no talk time, so the talk time is counted from that answer."""
from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping
from urllib.parse import urlencode

import requests

from ..domain.errors import BadWebhookError, TelephonyError
from ..domain.model import AnsweredBy, CallEvent, CallStatus, QueueResult
from ..domain.script import (Dial, Enqueue, Gather, Hangup, Leave, Pause, Play, Redirect, Say, Script, Step,
                             Verb)
from ..domain.speech import voice_for
from ..ports import Capabilities, Clock, Dialer, SystemClock, Telephony, WebhookRequest, contact_kind
from .rest import call_api, refuse_undialable
from .twiml_family import call_id, whole
from .webhook_urls import step_url

# Google's voices (jambonz speaks through the speech credentials of the account; Google has all three).
SPEECH_VENDOR = "google"
VOICES = {"en-US": "en-US-Standard-C", "ru-RU": "ru-RU-Standard-A", "uk-UA": "uk-UA-Standard-A"}
CAPABILITIES = Capabilities(native_queue=True, gather_falls_through=True, inline_redirect=False,
                            contact_kinds=frozenset({"tel", "sip", "user"}), voices=VOICES, hold_listens=False)
REPLAY_WINDOW_SECONDS = 300  # the SDK's DEFAULT_TOLERANCE
SIGNATURE_HEADER = "jambonz-signature"
DEFAULT_API_BASE_URL = "https://api.jambonz.cloud"
# Our own query parameters on the URLs we give jambonz (never seen past this module):
HOOK = "hook"  # hook=status: the call-status webhook (a report, not a request for verbs)
AMD = "amd"  # amd=1: the answer of a call placed with detection (its verdict comes apart)
MAX_DIGITS = 20
# A waitHook may answer only these (feature-server enqueue.js `_playHook`).
WAIT_VERBS = frozenset({"say", "play", "pause", "leave"})

_STATUSES = {"trying": CallStatus.QUEUED, "queued": CallStatus.QUEUED, "ringing": CallStatus.RINGING,
             "early-media": CallStatus.RINGING, "in-progress": CallStatus.IN_PROGRESS,
             "completed": CallStatus.COMPLETED, "failed": CallStatus.FAILED, "busy": CallStatus.BUSY,
             "no-answer": CallStatus.NO_ANSWER}
_QUEUE_RESULTS = {"bridged": QueueResult.BRIDGED, "hangup": QueueResult.HANGUP, "leave": QueueResult.LEAVE,
                  "error": QueueResult.ERROR}
# amd callback `type` (schema callbacks/amd): verdicts, and news that decides nothing.
_VERDICTS = {"amd_human_detected": AnsweredBy.HUMAN, "amd_machine_detected": AnsweredBy.MACHINE,
             "amd_machine_stopped_speaking": AnsweredBy.MACHINE, "amd_tone_detected": AnsweredBy.MACHINE,
             "amd_no_speech_detected": AnsweredBy.UNKNOWN, "amd_decision_timeout": AnsweredBy.UNKNOWN}
_AMD_NEWS = frozenset({"amd_error", "amd_stopped", "amd_tone_timeout"})


def signature(secret: str, stamp: int, body: bytes) -> str:
    """HMAC-SHA256 (hex) of `{t}.{raw body}` with the webhook secret."""
    return hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()


def _header_fields(header: str) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        fields.setdefault(key, []).append(value)
    return fields


def number(value: Any) -> str:
    """A caller or called party as jambonz gives it: a carrier's digits get their '+'."""
    text = str(value or "")
    return f"+{text}" if text.isdigit() and len(text) > 7 else text


def hook(base_url: str, step: Step, **more: str) -> dict[str, str]:
    return {"url": step_url(base_url, "jambonz", step, **more), "method": "POST"}


def target(contact: str) -> dict[str, str]:
    """A Dial target (schema components/target): a phone number, a SIP URI or a registered user."""
    kind = contact_kind(contact)
    if kind == "sip":
        return {"type": "sip", "sipUri": contact}
    if kind == "user":
        return {"type": "user", "name": contact.split(":", 1)[1]}
    return {"type": "phone", "number": contact}


class JambonzTelephony(Telephony):
    name = "jambonz"
    content_type = "application/json"
    capabilities = CAPABILITIES

    def __init__(self, webhook_secret: str, clock: Clock | None = None) -> None:
        self._secret = webhook_secret
        self._clock = clock or SystemClock()

    def verify(self, request: WebhookRequest) -> bool:
        """`Jambonz-Signature: t=<unix time>,v1=<hex>`: HMAC-SHA256 of `{t}.{raw body}` with the
        account's webhook secret, signed within 300 s of now (either way)."""
        fields = _header_fields(request.header(SIGNATURE_HEADER))
        stamps, signatures = fields.get("t", []), [s for s in fields.get("v1", []) if s]
        if not self._secret or len(stamps) != 1 or not signatures:
            return False
        stamp = stamps[0]
        if not stamp.isdigit() or len(stamp) > 12:  # a whole number of seconds, not a date far away
            return False
        if abs(self._clock.now().timestamp() - int(stamp)) > REPLAY_WINDOW_SECONDS:
            return False
        expected = signature(self._secret, int(stamp), request.body)
        return any(hmac.compare_digest(expected.encode(), s.strip().lower().encode()) for s in signatures)

    def replay_key(self, request: WebhookRequest) -> tuple[str, datetime] | None:
        """The signature where it was used (a digest of both), spent until its `t` leaves the window. As
        Telnyx's, it signs the time and the body but not the URL: one body sent to two of our hooks in one
        second is signed alike, and both are real deliveries."""
        stamp = _header_fields(request.header(SIGNATURE_HEADER)).get("t", [""])[0]
        if not stamp.isdigit():
            return None
        used = f"{request.url}?{urlencode(sorted(request.query.items()))}|{request.header(SIGNATURE_HEADER)}"
        until = datetime.fromtimestamp(int(stamp), timezone.utc) + timedelta(seconds=REPLAY_WINDOW_SECONDS)
        return hashlib.sha256(used.encode()).hexdigest(), until

    def parse(self, params: Mapping[str, Any], query: Mapping[str, str]) -> CallEvent:
        """Call hooks, the call-status hook (hook=status), gather, enqueue (actionHook and the sparse
        waitHook), dial and amd callbacks: schema callbacks/{base,call-status,gather,enqueue,
        enqueue-wait,dial,amd}."""
        kind = params.get("type")
        if kind is not None and (not isinstance(kind, str) or not kind.startswith("amd_")):
            raise BadWebhookError(f"unknown callback type {kind!r}")
        status_text = params.get("call_status")
        status = _STATUSES.get(status_text) if status_text else CallStatus.IN_PROGRESS
        if status is None:
            raise BadWebhookError(f"unknown call_status {status_text!r}")
        report = query.get(HOOK) == "status" or kind in _AMD_NEWS
        if report and params.get("parent_call_sid"):
            # A leg this call dialed, reported to the call-status hook of the call that dialed it
            # (feature-server place-outdial.js: a dial's legs notify their parent application's
            # call_status_hook): not this call's news. The dial's own hooks tell how that leg went.
            return CallEvent(call_id=call_id(params.get("call_sid")), status=CallStatus.IN_PROGRESS,
                             caller=number(params.get("from")), called=number(params.get("to")), progress=True)
        if not report and not status.ended:
            status = CallStatus.IN_PROGRESS  # a request for verbs: the call is up (inbound: "trying")
        digits = params.get("digits")
        if digits is not None and not isinstance(digits, str):
            raise BadWebhookError("digits is not text")
        queue_text = params.get("queue_result")
        queue_result = _QUEUE_RESULTS.get(queue_text) if queue_text else None
        if queue_text and queue_result is None:
            raise BadWebhookError(f"unknown queue_result {queue_text!r}")
        dial_text = params.get("dial_call_status")
        dial_status = _STATUSES.get(dial_text) if dial_text else None
        if dial_text and dial_status is None:
            raise BadWebhookError(f"unknown dial_call_status {dial_text!r}")
        verdict = _VERDICTS.get(kind or "")
        return CallEvent(
            call_id=call_id(params.get("call_sid")), status=status,
            caller=number(params.get("from")), called=number(params.get("to")), digits=digits or None,
            # our own exit redirect carries result=leave where jambonz sends none (never, with its queue)
            queue_result=queue_result or _QUEUE_RESULTS.get(query.get("result", "")),
            queue_seconds=whole(params.get("queue_time")),
            duration_seconds=whole(params.get("duration")),
            progress=report,
            answered_by=verdict,
            verdict_pending=query.get(AMD) == "1" and verdict is None and not report,
            nothing_pressed=kind is None and "reason" in params and not digits,  # (amd events have a reason too)
            dial_status=dial_status,
            sip_code=whole(params.get("dial_sip_status") or params.get("sip_status")))

    def render(self, script: Script, base_url: str) -> str:
        verbs: list[dict[str, Any]] = []
        for verb in script.verbs:
            verbs.extend(self._verbs(verb, base_url))
        return json.dumps(verbs)

    @staticmethod
    def _prompt(verb: Say | Play | Pause) -> dict[str, Any]:
        if isinstance(verb, Say):
            language, voice = voice_for(VOICES, verb.language)
            return {"verb": "say", "text": verb.text,
                    "synthesizer": {"vendor": SPEECH_VENDOR, "language": language, "voice": voice}}
        if isinstance(verb, Play):
            return {"verb": "play", "url": verb.url, **({"loop": verb.loop} if verb.loop != 1 else {})}
        return {"verb": "pause", "length": verb.seconds}

    def _gather(self, verb: Gather, base_url: str) -> list[dict[str, Any]]:
        """One nested prompt per gather (say or play): consecutive sentences in one language are said
        as one; what comes before the last prompt is said before the gather listens."""
        prompts: list[dict[str, Any]] = []
        for p in verb.prompts:
            rendered = self._prompt(p)
            last = prompts[-1] if prompts else None
            if (last is not None and rendered["verb"] == last["verb"] == "say"
                    and rendered["synthesizer"] == last["synthesizer"]):
                last["text"] = f"{last['text']} {rendered['text']}"
            else:
                prompts.append(rendered)
        before, nested = (prompts[:-1], prompts[-1]) if prompts and prompts[-1]["verb"] != "pause" else (prompts, None)
        gather: dict[str, Any] = {"verb": "gather", "input": ["digits"],
                                  "actionHook": hook(base_url, verb.action), "timeout": verb.timeout_seconds,
                                  "dtmfBargein": True}
        if verb.num_digits is not None:
            gather["numDigits"] = verb.num_digits
        else:
            gather |= {"minDigits": 1, "maxDigits": MAX_DIGITS, "interDigitTimeout": verb.timeout_seconds}
        if verb.finish_on_key:
            gather["finishOnKey"] = verb.finish_on_key
        if nested is not None:
            gather[nested.pop("verb")] = nested
        return [*before, gather]

    def _verbs(self, verb: Verb, base_url: str) -> list[dict[str, Any]]:
        if isinstance(verb, (Say, Play, Pause)):
            return [self._prompt(verb)]
        if isinstance(verb, Gather):
            return self._gather(verb, base_url)
        if isinstance(verb, Enqueue):
            enqueue: dict[str, Any] = {"verb": "enqueue", "name": verb.queue_name}
            if verb.wait is not None:
                enqueue["waitHook"] = hook(base_url, verb.wait)
            elif verb.wait_url:
                enqueue["waitHook"] = {"url": verb.wait_url, "method": "POST"}
            if verb.action is not None:
                enqueue["actionHook"] = hook(base_url, verb.action)
            if verb.rank is not None:
                enqueue["priority"] = verb.rank  # a redis sorted set's score: lower is dequeued first
            return [enqueue]
        if isinstance(verb, Redirect):
            return [{"verb": "redirect", "actionHook": hook(base_url, verb.step)}]
        if isinstance(verb, Leave):
            return [{"verb": "leave"}]  # the enqueue's actionHook then runs with queue_result=leave
        if isinstance(verb, Hangup):
            return [{"verb": "hangup"}]
        if isinstance(verb, Dial):
            dial: dict[str, Any] = {"verb": "dial", "target": [target(verb.target)], "timeout": verb.timeout_seconds,
                                    "answerOnBridge": True}
            if verb.caller_id:
                dial["callerId"] = verb.caller_id
            if verb.action is not None:
                dial["actionHook"] = hook(base_url, verb.action)
            if verb.status is not None:
                # called when the dialed party answers, before the bridge (place-outdial.js
                # _executeApp): the leg's answer, for when they were connected; our empty reply bridges
                dial["confirmHook"] = hook(base_url, verb.status)
            return [dial]
        raise TypeError(f"cannot render {verb!r}")  # pragma: no cover - the Verb union is closed


class JambonzDialer(Dialer):
    """Outbound calls, live-call redirects and registered users through jambonz's REST API (Bearer API
    key), plain sync HTTP: the official client is async-only (aiohttp)."""

    inline = False  # updateCall takes a call_hook URL, not verbs
    reports_registrations = True  # GET/POST RegisteredSipUsers

    def __init__(self, api_key: str, account_sid: str, public_base_url: str, api_base_url: str | None = None,
                 session: requests.Session | None = None) -> None:
        self._api_key = api_key
        self._account = account_sid
        self._base_url = public_base_url
        self._api = (api_base_url or DEFAULT_API_BASE_URL).rstrip("/")
        self._http = session or requests.Session()

    def _call(self, method: str, path: str, body: Mapping[str, Any], gone: tuple[int, ...] = ()) -> dict[str, Any]:
        if not (self._api_key and self._account):
            raise TelephonyError("JAMBONZ_API_KEY and JAMBONZ_ACCOUNT_SID are not configured")
        return call_api(self._http, method, f"{self._api}/v1/Accounts/{self._account}/{path}",
                        {"Authorization": f"Bearer {self._api_key}"}, body, f"jambonz {path.split('/')[0]}",
                        gone=gone)

    def place_call(self, to: str, caller_id: str, answer: Step, status: Step, machine_detection: bool,
                   timeout_seconds: int, verdict: Step | None = None) -> str:
        """createCall with our own hooks (no application_sid: the API server would replace per-call hooks
        with the application's), so the speech settings an application would give come along."""
        refuse_undialable(CAPABILITIES, to)
        detect = machine_detection and verdict is not None
        body: dict[str, Any] = {
            "from": caller_id, "to": target(to), "timeout": timeout_seconds,
            "call_hook": hook(self._base_url, answer, **({AMD: "1"} if detect else {})),
            "call_status_hook": hook(self._base_url, status, **{HOOK: "status"}),
            "speech_synthesis_vendor": SPEECH_VENDOR, "speech_synthesis_language": "en-US",
            "speech_synthesis_voice": VOICES["en-US"],
            "speech_recognizer_vendor": SPEECH_VENDOR, "speech_recognizer_language": "en-US"}
        if detect:
            assert verdict is not None
            body["amd"] = {"actionHook": hook(self._base_url, verdict)}
        found = self._call("POST", "Calls", body)
        return str(found.get("sid") or found.get("call_sid") or "")

    def redirect(self, call_id: str, script: Script) -> None:
        raise TelephonyError("jambonz moves a live call to a URL only (redirect_to)")

    def redirect_to(self, call_id: str, step: Step) -> None:
        self._call("PUT", f"Calls/{call_id}", {"call_hook": hook(self._base_url, step)}, gone=(404,))

    def registered(self, contacts: list[str]) -> set[str] | None:
        """Which of these `user:` contacts are registered now: one POST RegisteredSipUsers with their
        names (the API adds the account's SIP realm; each comes back registered_status active or
        inactive). None without credentials (nothing is known)."""
        names = {c: c.split(":", 1)[1].split("@", 1)[0] for c in contacts if contact_kind(c) == "user"}
        if not names:
            return set()
        if not (self._api_key and self._account):
            return None
        try:
            reply = self._http.post(f"{self._api}/v1/Accounts/{self._account}/RegisteredSipUsers",
                                    json=sorted(set(names.values())),
                                    headers={"Authorization": f"Bearer {self._api_key}"}, timeout=10)
        except requests.RequestException as exc:
            raise TelephonyError(f"jambonz RegisteredSipUsers failed: {type(exc).__name__}") from exc
        if reply.status_code >= 400:
            raise TelephonyError(f"jambonz RegisteredSipUsers failed: HTTP {reply.status_code}")
        try:
            found = reply.json()
        except ValueError as exc:
            raise TelephonyError("jambonz RegisteredSipUsers answered no JSON") from exc
        if not isinstance(found, list):
            raise TelephonyError("jambonz RegisteredSipUsers answered no list")
        active = {str(u.get("name")) for u in found if isinstance(u, dict) and u.get("registered_status") == "active"}
        return {c for c, name in names.items() if name in active}
