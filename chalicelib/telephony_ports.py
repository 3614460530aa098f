"""Ports to the telephony providers (a part of chalicelib/ports.py, split by role): a webhook as it
arrived, the provider's markup and verification, outbound calls, text messages. `chalicelib.ports`
re-exports every name here."""
from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping
from urllib.parse import parse_qsl

from .domain.errors import BadWebhookError
from .domain.model import AgentEvent, CallEvent
from .domain.script import Script, Step


@dataclass(frozen=True)
class WebhookRequest:
    """A provider's webhook as it arrived. Signatures are checked over these bytes (Telnyx and Vonage
    sign the raw body), and only then is the body decoded."""

    method: str
    url: str  # our configured public URL of this webhook, without the query
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str:
        wanted = name.lower()
        return next((str(v) for k, v in self.headers.items() if k.lower() == wanted), "")

    @property
    def content_type(self) -> str:
        return self.header("content-type").split(";")[0].strip().lower()


@dataclass(frozen=True)
class Capabilities:
    """What one provider can do, so nothing outside its adapter has to know its name."""

    native_queue: bool  # holds a caller itself (Enqueue/Leave); else Holdfast loops a wait step
    gather_falls_through: bool  # no input runs the next verb; else the action is always called
    inline_redirect: bool  # a live call can be given markup; else only a URL
    contact_kinds: frozenset[str]  # "tel", "sip", "client", "user": what its Dial can reach
    voices: Mapping[str, str]  # BCP-47 language -> the voice it speaks it in (absent: recorded audio)
    # A caller holding in its queue can press keys (its wait document may gather); else the wait
    # document only speaks and plays, and the caller leaves the hold to be offered anything.
    hold_listens: bool = True

    def can_dial(self, contact: str) -> bool:
        return contact_kind(contact) in self.contact_kinds

    def speaks(self, language: str) -> bool:
        return language in self.voices


def contact_kind(contact: str) -> str:
    """"sip", "client" (a Twilio Client identity), "user" (a registered user of the provider's own
    SIP registrar: jambonz) or "tel"."""
    scheme = contact.split(":", 1)[0].lower() if ":" in contact else ""
    return scheme if scheme in ("sip", "client", "user") else "tel"


class Telephony(ABC):
    """One telephony provider: verifies, parses and answers its webhooks."""

    name: str
    content_type: str = "text/xml; charset=utf-8"
    capabilities: Capabilities

    @abstractmethod
    def verify(self, request: WebhookRequest) -> bool:
        """Whether the provider signed this request (method, URL, headers and raw body)."""

    def decode(self, request: WebhookRequest) -> dict[str, Any]:
        """The body's fields (form or JSON). Raise BadWebhookError for a body that is neither."""
        return decode_body(request)

    @abstractmethod
    def parse(self, params: Mapping[str, Any], query: Mapping[str, str]) -> CallEvent:
        """Raise BadWebhookError for a body that is not a call event."""

    @abstractmethod
    def render(self, script: Script, base_url: str) -> str: ...

    def replay_key(self, request: WebhookRequest) -> tuple[str, datetime] | None:
        """For a verified request whose signature covers a time: a digest of the signature to spend once
        (Replays) and when it stops verifying anyway. None when the provider signs no time."""
        return None

    def parse_agent_event(self, params: Mapping[str, Any]) -> AgentEvent | None:
        """The provider's agent presence event (None: an event Holdfast does not act on)."""
        raise BadWebhookError(f"{self.name} sends no agent events")


def decode_body(request: WebhookRequest) -> dict[str, Any]:
    """A webhook body as fields: JSON when it says so (or looks like it), else a form."""
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadWebhookError("body is not UTF-8") from exc
    if request.content_type == "application/json" or text.lstrip().startswith("{"):
        try:
            fields = json.loads(text or "{}")
        except (ValueError, RecursionError) as exc:  # nested past the parser's depth: not a webhook either
            raise BadWebhookError("body is not JSON") from exc
        if not isinstance(fields, dict):
            raise BadWebhookError("body is not a JSON object")
        return fields
    try:
        return dict(parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text)))
    except ValueError as exc:
        raise BadWebhookError("body is not a form") from exc


class Dialer(ABC):
    """Outbound calls and moving live calls, through one provider. Raises TelephonyError."""

    name: str = ""  # the provider it dials through: which of a queue's caller IDs its calls show
    # Whether `redirect` can hand a live call a script. When not (a provider whose live-call update
    # takes only a URL), a call is moved with `redirect_to` a step whose reply is that script.
    inline: bool = True
    # Whether `registered` answers (the provider runs a SIP registrar for agents' phones and reports it).
    reports_registrations: bool = False

    @abstractmethod
    def place_call(self, to: str, caller_id: str, answer: Step, status: Step, machine_detection: bool,
                   timeout_seconds: int, verdict: Step | None = None) -> str:
        """Dial `to`; the provider fetches `answer` when it is answered and posts `status` when it ends.
        `verdict`: where a provider whose detection reports after the answer, and may be answered with
        markup, posts the verdict (others deliver it with the answer or on `status`)."""

    @abstractmethod
    def redirect(self, call_id: str, script: Script) -> None:
        """Replace what a live call is doing with this script (bridge a holding caller to an agent)."""

    def redirect_to(self, call_id: str, step: Step) -> None:
        """Send a live call to one of our webhooks (what the call does next is that step's reply)."""
        raise NotImplementedError(f"{type(self).__name__} cannot redirect to a URL")

    def registered(self, contacts: list[str]) -> set[str] | None:
        """Which of these `user:` contacts (users of the provider's own SIP registrar) are registered
        now; None when the provider reports no registrations."""
        return None


@dataclass(frozen=True)
class InboundText:
    """A text a caller sent us, parsed by its provider's adapter: who, what, and whether the provider
    itself says they opted out (STOP handled by the carrier)."""

    sender: str
    body: str
    opt_out: bool = False
    message_id: str = ""  # the provider's id of this text: a duplicated webhook is counted once
    recipient: str = ""  # our number it was sent to: which queue's caller ID it answers


TEXT_STATES = ("sent", "delivered", "failed")


@dataclass(frozen=True)
class TextStatus:
    """A delivery report for a text we sent, parsed by its provider's adapter: the provider's message id
    and where it got to, in Holdfast's words (`TEXT_STATES`)."""

    message_id: str
    state: str


class Messenger(ABC):
    """Text messages through one provider's messaging API (issue 27). Raises NotifyError."""

    name: str = ""  # the provider: which of a queue's caller IDs its texts come from

    @abstractmethod
    def send_text(self, to: str, sender: str, body: str, status_url: str | None = None) -> str:
        """Send one text; the provider's message id. Its delivery reports go to `status_url` when given."""

    @abstractmethod
    def parse_inbound(self, request: "WebhookRequest") -> InboundText | None:
        """A caller's text (or the provider's opt-out callback) from its verified webhook; None if the
        webhook is not one."""

    @abstractmethod
    def parse_status(self, request: "WebhookRequest") -> TextStatus | None:
        """A delivery report from its verified webhook; None for a state Holdfast does not count (queued,
        accepted, read) or a webhook that is not one."""
