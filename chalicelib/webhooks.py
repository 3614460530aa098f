"""The voice webhook edge: verify, parse, call a use case, render. Errors mapped here, by type."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Mapping
from urllib.parse import parse_qsl, urlencode

from .domain.callflow import CallFlow
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


Handler = Callable[[CallFlow, CallEvent, Mapping[str, str]], Script]


def _ticket(query: Mapping[str, str]) -> str:
    ticket_id = query.get("t")
    if not ticket_id:
        raise BadWebhookError("missing ticket")
    return ticket_id


def _tries(query: Mapping[str, str]) -> int:
    try:
        return max(0, int(query.get("tries", "0")))
    except ValueError:
        raise BadWebhookError("tries must be a number") from None


STEPS: dict[str, Handler] = {
    "incoming": lambda flow, ev, q: flow.incoming(ev, q.get("queue")),
    "offer": lambda flow, ev, q: flow.offer(_ticket(q), ev),
    "wait": lambda flow, ev, q: flow.wait(_ticket(q), ev),
    "wait-offer": lambda flow, ev, q: flow.wait_offer(_ticket(q), ev),
    "queue-exit": lambda flow, ev, q: flow.queue_exit(_ticket(q), ev),
    "confirm": lambda flow, ev, q: flow.confirm(_ticket(q), ev),
    "number": lambda flow, ev, q: flow.number(_ticket(q), ev, _tries(q)),
    "bye": lambda flow, ev, q: flow.bye(_ticket(q), ev),
}

# What a caller hears when even the configuration cannot be loaded.
LAST_RESORT = Script.of(Say(TEXTS["en"]["error"], LANGUAGES["en"]), Enqueue("holdfast", wait=None, action=None))


def parse_form(raw_body: bytes | None) -> dict[str, str]:
    try:
        text = (raw_body or b"").decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadWebhookError("body is not a form") from exc
    return dict(pairs)


class VoiceWebhooks:
    def __init__(self, flow: CallFlow | None, providers: Mapping[str, Telephony], public_base_url: str) -> None:
        self.flow = flow
        self.providers = providers
        self.base_url = public_base_url.rstrip("/")

    def signed_urls(self, provider: str, step: str, query: Mapping[str, str]) -> list[str]:
        """The URL the provider signed: our configured public URL, with the query as sent or as we sort it."""
        url = f"{self.base_url}/voice/{provider}/{step}"
        if not query:
            return [url]
        orders = [list(query.items()), sorted(query.items())]
        return list(dict.fromkeys(f"{url}?{urlencode(o)}" for o in orders))

    def handle(self, provider_name: str, step: str, raw_body: bytes | None,
               query: Mapping[str, str] | None, headers: Mapping[str, str]) -> HttpReply:
        provider = self.providers.get(provider_name)
        handler = STEPS.get(step)
        if provider is None or handler is None:
            return HttpReply(404, f"no such webhook: {provider_name}/{step}\n")
        query = dict(query or {})
        try:
            params = parse_form(raw_body)
        except BadWebhookError as exc:
            return HttpReply(400, f"{exc}\n")
        if not any(provider.verify(u, params, headers) for u in self.signed_urls(provider_name, step, query)):
            log.warning("webhook signature rejected", extra={"provider": provider_name, "step": step})
            return HttpReply(403, "signature does not verify\n")
        try:
            event = provider.parse(params, query)
        except BadWebhookError as exc:
            return HttpReply(400, f"{exc}\n")
        return HttpReply(200, provider.render(self._run(handler, event, query, step), self.base_url),
                         provider.content_type)

    def _run(self, handler: Handler, event: CallEvent, query: Mapping[str, str], step: str) -> Script:
        """A caller is on the line: whatever fails inside, they hear valid markup."""
        if self.flow is None:
            return LAST_RESORT
        try:
            return handler(self.flow, event, query)
        except Exception as exc:  # noqa: BLE001 - domain errors and bugs alike
            level = logging.WARNING if isinstance(exc, HoldfastError) else logging.ERROR
            log.log(level, "webhook step failed; apologising", exc_info=not isinstance(exc, HoldfastError),
                    extra={"step": step, "error": type(exc).__name__})
            return self.flow.apology(self._queue_of(query))

    def _queue_of(self, query: Mapping[str, str]) -> QueueConfig | None:
        assert self.flow is not None
        try:
            queue_id = query.get("queue") or split_ticket_id(query.get("t", ""))[0]
            return self.flow.queues.get(queue_id)
        except (TicketNotFoundError, UnknownQueueError):
            return None
