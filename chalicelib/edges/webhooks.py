"""The voice webhook edge: verify, parse, call a use case, render. Errors mapped here, by type."""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Mapping

from ..domain.callbacks import Callbacks
from ..domain.callflow import CallFlow
from ..domain import faults
from ..domain.dispatch import Dispatcher
from ..domain.errors import (BadWebhookError, HoldfastError, StoreUnavailableError, TicketNotFoundError,
                             UnknownQueueError)
from ..domain.model import CallEvent, CallStatus, split_ticket_id
from ..domain.queues import QueueConfig
from ..domain.prompts import LANGUAGES, TEXTS
from ..domain.script import (JOINED_PARAM, LEG_PARAM, NO_INPUT_PARAM, Enqueue, Leave, Redirect, Say, Script, Step,
                             explicit_no_input)
from ..ports import Telephony, WebhookRequest
from ..ports_access import Replays

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
    return event.dial_status is CallStatus.COMPLETED


def _status(u: UseCases, event: CallEvent, query: Mapping[str, str]) -> Script:
    u.callbacks.call_status(_ticket(query), _param(query, "d"), event)
    return Script()


def _tries(query: Mapping[str, str]) -> int:
    try:
        return max(0, int(query.get("tries", "0")))
    except ValueError:
        raise BadWebhookError("tries must be a number") from None


def _leg(u: UseCases, event: CallEvent, query: Mapping[str, str]) -> Script:
    # the leg's own status (TwiML's status callback), or the dial's as an action reports it (Vonage)
    u.dispatcher.bridge_leg(_ticket(query), _param(query, "agent"), event.dial_status or event.status)
    return Script()


STEPS: dict[str, Handler] = {
    # the caller's side
    "incoming": lambda u, ev, q: u.flow.incoming(ev, q.get("queue")),
    "offer": lambda u, ev, q: u.flow.offer(_ticket(q), ev),
    "wait": lambda u, ev, q: u.flow.wait(_ticket(q), ev),
    "wait-offer": lambda u, ev, q: u.flow.wait_offer(_ticket(q), ev),
    "queue-exit": lambda u, ev, q: u.flow.queue_exit(_ticket(q), ev),
    "confirm": lambda u, ev, q: u.flow.confirm(_ticket(q), ev, q.get("c") == "1"),
    "number": lambda u, ev, q: u.flow.number(_ticket(q), ev, _tries(q), q.get("c") == "1"),
    "slot": lambda u, ev, q: u.flow.slot(_ticket(q), ev, _param(q, "o"), q.get("m") == "1"),
    "pending": lambda u, ev, q: u.flow.pending_choice(_ticket(q), ev),
    "bye": lambda u, ev, q: u.flow.bye(_ticket(q), ev),
    # a question passed with no key, where the provider asks what next (Vonage's input)
    "no-choice": lambda u, ev, q: u.flow.no_choice(_ticket(q), ev),
    # a caller apologised to while something was failing: their way back into the line
    "rescue-wait": lambda u, ev, q: u.flow.rescue_wait(_param(q, "queue"), ev),
    "rescue-exit": lambda u, ev, q: u.flow.rescue_exit(_param(q, "queue"), ev),
    # a holding caller bridged to an agent
    "bridge-result": lambda u, ev, q: u.dispatcher.bridge_result(_ticket(q), _param(q, "agent"), _answered(ev),
                                                                 ev.dial_seconds),
    # a holding caller moved by a redirect to a URL: put through to the agent that claimed them
    "bridge": lambda u, ev, q: u.dispatcher.bridge(_ticket(q), _param(q, "agent")),
    # the bridged agent's leg ringing or answered (its status events; the markup is not read)
    "bridge-leg": _leg,
    # callback attempts (outbound legs)
    "cb-answer": lambda u, ev, q: u.callbacks.answered(_ticket(q), _param(q, "d"), ev),
    "cb-verdict": lambda u, ev, q: u.callbacks.verdict(_ticket(q), _param(q, "d"), ev),
    "cb-dialed": lambda u, ev, q: u.callbacks.dialed(_ticket(q), _param(q, "d"), ev),
    "cb-status": _status,
}

# Steps that answer a provider queue's wait URL: their markup may not hold a caller (no Enqueue).
WAIT_STEPS = frozenset({"wait", "rescue-wait"})
# The same steps for a provider whose hold cannot hear keys (Capabilities.hold_listens false).
DEAF_HOLD_STEPS: dict[str, Handler] = {"wait": lambda u, ev, q: u.flow.wait(_ticket(q), ev, listening=False)}
# Steps that learn how a Dial ended.
DIAL_RESULT_STEPS = frozenset({"bridge-result", "cb-dialed"})
# Where a caller holding without a provider queue goes back to when a step's script runs out (a
# provider queue re-requests its wait URL by itself).
HOLD_LOOPS = {"wait": "wait", "wait-offer": "wait", "rescue-wait": "rescue-wait"}
# What a caller hears when even the configuration cannot be loaded.
LAST_RESORT = Script.of(Say(TEXTS["en"]["error"], LANGUAGES["en"]), Enqueue("holdfast", wait=None, action=None))


def verified(provider: Telephony, request: WebhookRequest) -> dict[str, Any] | HttpReply:
    """The webhook's fields if the provider signed it (over the raw request); else the reply to send:
    400 for a body that is not one at all, 403 for anything the provider did not sign."""
    try:
        fields = provider.decode(request)
    except BadWebhookError as exc:
        return HttpReply(400, f"{exc}\n")
    if not provider.verify(request):
        log.warning("webhook signature rejected", extra={"provider": provider.name})
        return HttpReply(403, "signature does not verify\n")
    return fields


def replayed(provider: Telephony, request: WebhookRequest, replays: Replays) -> HttpReply | None:
    """Spend a verified signature that covers a time (Telnyx, Vonage): None the first time; 403 when it
    comes again, whichever container it reaches, before anything is acted on. StoreUnavailableError
    when the store cannot say (the caller of this decides what that means)."""
    spent = provider.replay_key(request)
    if spent is None or replays.first_use(f"{provider.name}#{spent[0]}", spent[1]):
        return None
    log.warning("webhook replayed", extra={"provider": provider.name})
    return HttpReply(403, "replayed: this signature was used before\n")


def unspend(provider: Telephony, request: WebhookRequest, replays: Replays) -> None:
    """Release the signature `replayed` spent, when the request was then not acted on (a 503: the sender
    retries with the same signature). Best effort: if the store cannot say now, the retry is refused."""
    spent = provider.replay_key(request)
    if spent is None:
        return
    try:
        replays.release(f"{provider.name}#{spent[0]}")
    except StoreUnavailableError:
        log.warning("a spent signature could not be released", extra={"provider": provider.name})


def _store_down(u: UseCases, event: CallEvent, query: Mapping[str, str]) -> Script:
    raise StoreUnavailableError("the replay guard could not be read")


def unspoken(queues: Iterable[QueueConfig], providers: Mapping[str, Telephony]) -> list[str]:
    """Each queue language a provider has no voice for, where the queue has not recorded every prompt
    in it either (what callers there would hear read by a wrong voice, or not at all)."""
    gaps = []
    for queue in queues:
        recorded = all("audio" in queue.prompts.get(key, {}).get(queue.language, {}) for key in TEXTS[queue.language])
        for provider in providers.values():
            if not recorded and not provider.capabilities.speaks(LANGUAGES[queue.language]):
                gaps.append(f"{provider.name} has no voice for {LANGUAGES[queue.language]} (queue {queue.id}): "
                            "record its prompts (prompts.<key>.<lang>.audio)")
    return gaps


def _holding(script: Script, step: str, query: Mapping[str, str]) -> Script:
    """Without a provider queue, a wait step's script ends by asking for the wait step again."""
    if not script.verbs or isinstance(script.verbs[-1], (Leave, Redirect)):
        return script
    loop = {k: v for k, v in query.items() if k in ("t", "queue")}
    return Script(script.verbs + (Redirect(Step.of(HOLD_LOOPS[step], **loop)),))


class VoiceWebhooks:
    def __init__(self, use_cases: UseCases | None, providers: Mapping[str, Telephony], public_base_url: str,
                 replays: Replays | None = None) -> None:
        """`replays`: where signatures are spent; only an edge that cannot act (no use cases: the app could
        not be built, every caller hears the apology) goes without."""
        if use_cases is not None and replays is None:
            raise ValueError("voice webhooks that act need a replay guard")
        self.use_cases = use_cases
        self.providers = providers
        self.base_url = public_base_url.rstrip("/")
        self.replays = replays

    def handle(self, provider_name: str, step: str, raw_body: bytes | None,
               query: Mapping[str, str] | None, headers: Mapping[str, str], method: str = "POST") -> HttpReply:
        provider = self.providers.get(provider_name)
        handler = STEPS.get(step)
        if provider is None or handler is None:
            return HttpReply(404, f"no such webhook: {provider_name}/{step}\n")
        query = dict(query or {})
        request = WebhookRequest(method, f"{self.base_url}/voice/{provider_name}/{step}", query, headers,
                                 raw_body or b"")
        params = verified(provider, request)
        if isinstance(params, HttpReply):
            return params
        try:
            event = provider.parse(params, query)
        except BadWebhookError as exc:
            return HttpReply(400, f"{exc}\n")
        try:
            refused = replayed(provider, request, self.replays) if self.replays is not None else None
        except StoreUnavailableError:  # nothing acted on: the caller hears the apology
            return self._answer(provider, step, query, self._run(_store_down, event, query, step))
        if refused is not None:
            return refused
        if event.nothing_pressed and provider.capabilities.gather_falls_through:
            # the input called back with no key: an empty reply lets the script's next verbs run
            return HttpReply(200, provider.render(Script(), self.base_url), provider.content_type)
        if provider.capabilities.native_queue and not provider.capabilities.hold_listens:
            handler = DEAF_HOLD_STEPS.get(step, handler)
        if not event.digits and query.get(NO_INPUT_PARAM) and not event.progress:
            # nothing pressed, and the provider called the action anyway: the Gather's no-input step
            no_input = Step.decode(query[NO_INPUT_PARAM])
            step, query = no_input.name, dict(no_input.params)
            handler = STEPS.get(step)
            if handler is None:
                return HttpReply(400, f"no such no-input step: {step}\n")
        if query.get(JOINED_PARAM) and event.queue_seconds is None:
            event = replace(event, queue_seconds=0)  # our wait loop's first poll: just joined the hold
        if step in DIAL_RESULT_STEPS and event.progress and event.dial_status and not event.dial_status.ended:
            # the dialled leg is ringing or talking (Vonage reports each state): not over yet; the
            # Dial's status step, carried along, learns which
            leg = Step.decode(query[LEG_PARAM]) if query.get(LEG_PARAM) else None
            if leg is not None and leg.name == "bridge-leg":
                self._run(STEPS[leg.name], event, dict(leg.params), leg.name)
            script = Script()
        else:
            script = self._run(handler, event, query, step)
        return self._answer(provider, step, query, script)

    def _answer(self, provider: Telephony, step: str, query: Mapping[str, str], script: Script) -> HttpReply:
        if not provider.capabilities.native_queue and step in HOLD_LOOPS:
            script = _holding(script, step, query)
        if not provider.capabilities.gather_falls_through:
            script = explicit_no_input(script)
        return HttpReply(200, provider.render(script, self.base_url), provider.content_type)

    def _run(self, handler: Handler, event: CallEvent, query: Mapping[str, str], step: str) -> Script:
        """A caller is on the line: whatever fails inside, they hear valid markup."""
        if self.use_cases is None:
            return LAST_RESORT
        try:
            return handler(self.use_cases, event, query)
        except Exception as exc:  # noqa: BLE001 - domain errors and bugs alike
            known = isinstance(exc, HoldfastError)
            faults.swallowed("webhook.known_error" if known else "webhook.bug", "webhook step failed; apologising",
                             level=logging.WARNING if known else logging.ERROR, exc_info=not known,
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
