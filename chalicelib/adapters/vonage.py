"""Vonage Voice API: signed-webhook JWTs (HS256 with `payload_hash`), JSON webhooks, NCCO markup,
and the Voice API through the `vonage` library (its application JWT, RS256) for outbound calls and transfers.

Vonage has no hold queue, no redirect verb and an input that always calls its eventUrl, so:
Enqueue and Redirect become `notify` (its reply NCCO replaces the rest), Leave goes to its exit step
with result=leave, and a Gather's no-input step rides in the input's eventUrl (the edge runs it)."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
from contextlib import contextmanager
from typing import Any, Iterator, Mapping
from urllib.parse import urlsplit

import jwt
import requests
from requests.adapters import HTTPAdapter
from vonage_http_client import Auth, HttpClient, HttpClientOptions
from vonage_http_client.errors import HttpRequestError
from vonage_utils.errors import VonageError
from vonage_voice import Voice
from vonage_voice.models import ncco as ncco_models
from vonage_voice.models.common import AdvancedMachineDetection, Phone, Sip
from vonage_voice.models.requests import CreateCallRequest, ToPhone

from ..domain.errors import BadWebhookError, CallGoneError, TelephonyError
from ..domain.model import AnsweredBy, CallEvent, CallStatus, QueueResult
from ..domain.script import (LEG_PARAM, NO_INPUT_PARAM, Dial, Enqueue, Gather, Hangup, Leave, Pause, Play, Redirect, Say,
                             Script, Step, Verb)
from ..domain.speech import voice_for
from ..ports import Capabilities, Clock, Dialer, SystemClock, Telephony, WebhookRequest
from .rest import refuse_undialable
from .twiml_family import call_id, seconds, whole
from .webhook_urls import step_url

# Vonage picks the voice from the language (and a style); every language Holdfast speaks is in its list.
VOICES = {"en-US": "en-US", "ru-RU": "ru-RU", "uk-UA": "uk-UA"}
CAPABILITIES = Capabilities(native_queue=False, gather_falls_through=False, inline_redirect=True,
                            contact_kinds=frozenset({"tel", "sip"}), voices=VOICES)
IAT_WINDOW_SECONDS = 300
MAX_INPUT_TIMEOUT = 10  # input.dtmf.timeOut: 0-10 s
DEFAULT_API_BASE_URL = "https://api.nexmo.com"
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


class _ClockedAuth(Auth):
    """The library's application JWT (RS256 from the application id and private key), issued at our
    clock's time and valid for a minute rather than the library's fifteen."""

    def __init__(self, application_id: str, private_key: str, clock: Clock) -> None:
        super().__init__(application_id=application_id, private_key=private_key)
        self._clock = clock

    def create_jwt_auth_string(self) -> bytes:
        now = int(self._clock.now().timestamp())
        return b"Bearer " + self.generate_application_jwt({"iat": now, "exp": now + 60})


class _PlainHttp(HTTPAdapter):
    """The library always calls https://<api_host>; a local stand-in for the API (the simulated
    network) speaks plain HTTP, so requests for its host are sent over http://."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        request.url = "http://" + (request.url or "").removeprefix("https://")
        return super().send(request, *args, **kwargs)


_NCCO_MODELS: dict[str, type[ncco_models.NccoAction]] = {
    "talk": ncco_models.Talk, "stream": ncco_models.Stream, "input": ncco_models.Input,
    "notify": ncco_models.Notify, "connect": ncco_models.Connect, "conversation": ncco_models.Conversation}


def typed_ncco(ncco: list[dict[str, Any]]) -> list[ncco_models.NccoAction]:
    """Our NCCO as the library's action models (it sends only what they hold)."""
    actions: list[ncco_models.NccoAction] = []
    for action in ncco:
        fields = {("from_" if k == "from" else k): v for k, v in action.items()}
        if action["action"] == "connect" and "from" not in action:
            fields["randomFromNumber"] = True  # the library insists on one; Vonage picks an application number
        actions.append(_NCCO_MODELS[action["action"]].model_validate(fields))
    return actions


class VonageDialer(Dialer):
    """Outbound calls and transfers through the `vonage` library's Voice API client, authorised by
    the application JWT (RS256, the application's private key) the library signs."""

    name = "vonage"

    def __init__(self, application_id: str, private_key: str, public_base_url: str,
                 api_base_url: str | None = None, session: requests.Session | None = None,
                 clock: Clock | None = None, url_token: str = "") -> None:
        self._url_token = url_token
        self._base_url = public_base_url
        self._markup = VonageTelephony("", url_token=url_token)
        self._voice: Voice | None = None
        self._unusable = "VONAGE_APPLICATION_ID and VONAGE_PRIVATE_KEY are not configured"
        if not (application_id and private_key):
            return
        try:
            auth = _ClockedAuth(application_id, private_key, clock or SystemClock())
        except VonageError:  # fail on use, not at startup: the other providers keep working
            self._unusable = "VONAGE_PRIVATE_KEY is not an RSA private key"
            return
        api = urlsplit(api_base_url or DEFAULT_API_BASE_URL)
        client = HttpClient(auth, HttpClientOptions(api_host=api.netloc, timeout=10, max_retries=0))
        if session is not None:
            client._session = session  # noqa: SLF001 - the library takes no session of its own
        if api.scheme == "http":
            client._session.mount(f"https://{api.netloc}/", _PlainHttp())  # noqa: SLF001
        self._voice = Voice(client)

    @contextmanager
    def _calling(self, what: str, gone: bool = False) -> Iterator[Voice]:
        """The library's failures as Holdfast's: a transfer refused with 400/404 means the call has ended."""
        if self._voice is None:
            raise TelephonyError(self._unusable)
        try:
            yield self._voice
        except HttpRequestError as exc:
            if gone and exc.response.status_code in (400, 404):
                raise CallGoneError("the call has ended") from exc
            raise TelephonyError(f"vonage {what} failed: HTTP {exc.response.status_code}") from exc
        except (jwt.PyJWTError, ValueError, TypeError) as exc:  # an unusable private key; a model refused
            raise TelephonyError(f"vonage {what} failed: {type(exc).__name__}") from exc
        except (VonageError, requests.RequestException) as exc:
            raise TelephonyError(f"vonage {what} failed: {type(exc).__name__}") from exc

    def place_call(self, to: str, caller_id: str, answer: Step, status: Step, machine_detection: bool,
                   timeout_seconds: int) -> str:
        refuse_undialable(CAPABILITIES, to)
        with self._calling("call") as voice:
            request = CreateCallRequest(
                to=[Sip(uri=to) if to.startswith("sip:") else ToPhone(number=to.lstrip("+"))],
                from_=Phone(number=caller_id.lstrip("+")),
                answer_url=[url(self._base_url, answer, self._url_token)], answer_method="POST",
                event_url=[url(self._base_url, status, self._url_token)], event_method="POST",
                ringing_timer=max(1, min(timeout_seconds, 120)),
                # the verdict arrives as an event (status human/machine) on event_url
                advanced_machine_detection=(AdvancedMachineDetection(behavior="continue", mode="detect")
                                            if machine_detection else None))
            return voice.create_call(request).uuid

    def redirect(self, call_id: str, script: Script) -> None:
        for verb in script.verbs:
            if isinstance(verb, Dial):
                refuse_undialable(CAPABILITIES, verb.target)
        with self._calling("transfer", gone=True) as voice:
            voice.transfer_call_ncco(call_id, typed_ncco(json.loads(self._markup.render(script, self._base_url))))

    def redirect_to(self, call_id: str, step: Step) -> None:
        with self._calling("transfer", gone=True) as voice:
            voice.transfer_call_answer_url(call_id, url(self._base_url, step, self._url_token))
