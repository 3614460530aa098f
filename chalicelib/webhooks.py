"""The voice webhook edge: verify, parse, call a use case, render. Errors mapped here, by type."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Mapping
from urllib.parse import parse_qsl, urlencode

from .domain.callbacks import Callbacks
from .domain.callflow import CallFlow
from .domain.dispatch import Dispatcher
from .domain.errors import BadWebhookError, HoldfastError, TicketNotFoundError, UnknownQueueError
from .domain.model import CallEvent, split_ticket_id
from .domain.queues import QueueConfig
from .domain.prompts import LANGUAGES, TEXTS
from .domain.script import Enqueue, Say, Script
from .ports import Telephony

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HttpReply:
    status: int
    body: str
    content_type: str = "text/plain"


@dataclass(frozen=True)
class UseCases:
    flow: CallFlow
    dispatcher: Dispatcher
    callbacks: Callbacks


Handler = Callable[[UseCases, CallEvent, Mapping[str, str]], Script]


def _param(query: Mapping[str, str], name: str) -> str:
    value = query.get(name)
    if not value:
        raise BadWebhookError(f"missing {name}")
    return value


def _ticket(query: Mapping[str, str]) -> str:
    return _param(query, "t")


def _answered(event: CallEvent) -> bool:
    return event.extra.get("DialCallStatus") in ("completed", "answered")


def _status(u: UseCases, event: CallEvent, query: Mapping[str, str]) -> Script:
    u.callbacks.call_status(_ticket(query), _param(query, "d"), event)
    return Script()


def _tries(query: Mapping[str, str]) -> int:
    try:
        return max(0, int(query.get("tries", "0")))
    except ValueError:
        raise BadWebhookError("tries must be a number") from None


STEPS: dict[str, Handler] = {
    # the caller's side
    "incoming": lambda u, ev, q: u.flow.incoming(ev, q.get("queue")),
    "offer": lambda u, ev, q: u.flow.offer(_ticket(q), ev),
    "wait": lambda u, ev, q: u.flow.wait(_ticket(q), ev),
    "wait-offer": lambda u, ev, q: u.flow.wait_offer(_ticket(q), ev),
    "queue-exit": lambda u, ev, q: u.flow.queue_exit(_ticket(q), ev),
    "confirm": lambda u, ev, q: u.flow.confirm(_ticket(q), ev),
    "number": lambda u, ev, q: u.flow.number(_ticket(q), ev, _tries(q)),
    "bye": lambda u, ev, q: u.flow.bye(_ticket(q), ev),
    # a caller apologised to while something was failing: their way back into the line
    "rescue-wait": lambda u, ev, q: u.flow.rescue_wait(_param(q, "queue"), ev),
    "rescue-exit": lambda u, ev, q: u.flow.rescue_exit(_param(q, "queue"), ev),
    # a holding caller bridged to an agent
    "bridge-result": lambda u, ev, q: u.dispatcher.bridge_result(_ticket(q), _param(q, "agent"), _answered(ev),
                                                                 ev.dial_seconds),
    # callback attempts (outbound legs)
    "cb-answer": lambda u, ev, q: u.callbacks.answered(_ticket(q), _param(q, "d"), ev),
    "cb-dialed": lambda u, ev, q: u.callbacks.dialed(_ticket(q), _param(q, "d"), ev),
    "cb-status": _status,
}

# Steps that answer a provider queue's wait URL: their markup may not hold a caller (no Enqueue).
WAIT_STEPS = frozenset({"wait", "rescue-wait"})

# What a caller hears when even the configuration cannot be loaded.
LAST_RESORT = Script.of(Say(TEXTS["en"]["error"], LANGUAGES["en"]), Enqueue("holdfast", wait=None, action=None))


def parse_form(raw_body: bytes | None) -> dict[str, str]:
    try:
        text = (raw_body or b"").decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadWebhookError("body is not a form") from exc
    return dict(pairs)


def signed_urls(url: str, query: Mapping[str, str]) -> list[str]:
    """The URL the provider signed: our configured public URL, with the query as sent or as we sort it."""
    if not query:
        return [url]
    orders = [list(query.items()), sorted(query.items())]
    return list(dict.fromkeys(f"{url}?{urlencode(o)}" for o in orders))


def verified_form(provider: Telephony, url: str, raw_body: bytes | None, query: Mapping[str, str],
                  headers: Mapping[str, str]) -> dict[str, str] | HttpReply:
    """The webhook's form parameters if its signature verifies against `url`; else the reply to send."""
    try:
        params = parse_form(raw_body)
    except BadWebhookError as exc:
        return HttpReply(400, f"{exc}\n")
    if not any(provider.verify(u, params, headers) for u in signed_urls(url, query)):
        log.warning("webhook signature rejected", extra={"provider": provider.name})
        return HttpReply(403, "signature does not verify\n")
    return params


class VoiceWebhooks:
    def __init__(self, use_cases: UseCases | None, providers: Mapping[str, Telephony], public_base_url: str) -> None:
        self.use_cases = use_cases
        self.providers = providers
        self.base_url = public_base_url.rstrip("/")

    def handle(self, provider_name: str, step: str, raw_body: bytes | None,
               query: Mapping[str, str] | None, headers: Mapping[str, str]) -> HttpReply:
        provider = self.providers.get(provider_name)
        handler = STEPS.get(step)
        if provider is None or handler is None:
            return HttpReply(404, f"no such webhook: {provider_name}/{step}\n")
        query = dict(query or {})
        params = verified_form(provider, f"{self.base_url}/voice/{provider_name}/{step}", raw_body, query, headers)
        if isinstance(params, HttpReply):
            return params
        try:
            event = provider.parse(params, query)
        except BadWebhookError as exc:
            return HttpReply(400, f"{exc}\n")
        return HttpReply(200, provider.render(self._run(handler, event, query, step), self.base_url),
                         provider.content_type)

    def _run(self, handler: Handler, event: CallEvent, query: Mapping[str, str], step: str) -> Script:
        """A caller is on the line: whatever fails inside, they hear valid markup."""
        if self.use_cases is None:
            return LAST_RESORT
        try:
            return handler(self.use_cases, event, query)
        except Exception as exc:  # noqa: BLE001 - domain errors and bugs alike
            level = logging.WARNING if isinstance(exc, HoldfastError) else logging.ERROR
            log.log(level, "webhook step failed; apologising", exc_info=not isinstance(exc, HoldfastError),
                    extra={"step": step, "error": type(exc).__name__})
            queue = self._queue_of(query)
            if step in WAIT_STEPS:  # already held in the provider's queue: keep them there
                return self.use_cases.flow.still_holding(queue)
            return self.use_cases.flow.apology(queue)

    def _queue_of(self, query: Mapping[str, str]) -> QueueConfig | None:
        assert self.use_cases is not None
        try:
            queue_id = query.get("queue") or split_ticket_id(query.get("t", ""))[0]
            return self.use_cases.flow.queues.get(queue_id)
        except (TicketNotFoundError, UnknownQueueError):
            return None
