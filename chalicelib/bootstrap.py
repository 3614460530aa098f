"""The composition root, the one place a world is built: `build_aws(settings)` builds the real adapters
from Settings (once per Lambda container, `container()`), `build_memory(...)` the in-memory world in
virtual time (tests, the day simulator, the benchmarks); both wire the same use cases (`use_cases`).
The in-memory adapters are imported only by `build_memory` (the Lambda package leaves them out)."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Iterator, Mapping

import boto3
from botocore.config import Config

from .adapters.dynamo import DynamoPace, DynamoStores, dynamo_stores, ticket_keys
from .adapters.dynamo.access import DynamoConsoleSessions, DynamoReplays, DynamoThrottle
from .adapters.sqs_bus import SqsAlarm, SqsEventBus
from .adapters.stepfunctions import StepFunctionsOrchestrator
from .adapters.twilio_provider import TwilioDialer, TwilioMessenger, TwilioTelephony
from .adapters.notify import EmailNotifier, SlackNotifier, SmsNotifier, TelegramNotifier
from .adapters.parameters import (ADMIN_TOKEN, AGENT_TOKEN, JAMBONZ_API_KEY, JAMBONZ_WEBHOOK_SECRET, PUBLIC_URL,
                                  TELNYX_API_KEY, TELNYX_PUBLIC_KEY,
                                  TWILIO_AUTH_TOKEN, VONAGE_PRIVATE_KEY, VONAGE_SIGNATURE_SECRET, VONAGE_URL_TOKEN,
                                  ParameterStore)
from .adapters.dynamo.operations import DynamoOperationsLog
from .adapters.jambonz import JambonzDialer, JambonzTelephony
from .adapters.telnyx import TelnyxDialer, TelnyxMessenger, TelnyxTelephony
from .adapters.vonage import VonageDialer, VonageMessenger, VonageTelephony
from .edges.admin_api import AdminApi
from .edges import metrics
from .edges.console import Console
from .edges.sessions import Sessions
from .domain import faults
from .domain.operations import Operations
from .edges.agents_api import AgentsApi
from .domain.callbacks import Callbacks, DialRequest
from .domain.callflow import CallFlow
from .domain.dispatch import HANG_UP_GRACE, Dispatcher
from .domain.pacing import Pacer
from .domain.notifications import Notifications
from .domain.model import AgentEvent, CallEvent, Ticket
from .domain.errors import ConfigError
from .domain.queues import QueueDirectory, caller_id_problems
from .domain.script import Script
from .domain.texts import CallbackTexts
from .domain.webrequest import WebRequests
from .edges.caller_pages import CallerPages
from .edges.web_api import WebApi
from .ports import (Clock, Dialer, EventBus, Messenger, OperationsLog, Orchestrator, Stores, SystemClock, Telephony,
                    WebhookRequest)
from . import logs
from .settings import Settings, SettingsError, expand_env, secret_problem
from .edges.webhooks import HttpReply, UseCases, VoiceWebhooks, unspoken

if TYPE_CHECKING:
    from .adapters.memory import FakeBus, MemoryOrchestrator, MemoryStores, VirtualClock

log = logging.getLogger(__name__)

DEFAULT_DAILY_BUDGET = 100_000  # the memory world's callback budget (a simulated day never runs short)
MEMORY_DIAL_RATE = 1.0  # the memory world's outbound pace, calls a second (HOLDFAST_DIAL_CALLS_PER_SECOND's default)


@dataclass
class Container:
    settings: Settings
    stores: DynamoStores
    flow: CallFlow
    dispatcher: Dispatcher
    callbacks: Callbacks
    webhooks: VoiceWebhooks
    agents: AgentsApi
    admin: AdminApi
    notifications: Notifications
    operations: Operations | None = None  # the operations console (issue 12)
    console: Console | None = None
    web: WebApi | None = None  # callbacks asked for from the web (issue 27)
    texts: CallbackTexts | None = None  # texts to callers and their page (issue 27)
    caller_pages: CallerPages | None = None


def load_queues(path: str) -> QueueDirectory:
    with open(path, encoding="utf-8") as fh:
        return QueueDirectory.from_config(json.loads(expand_env(fh.read())))


class OffsetClock(Clock):
    """The real clock moved by a fixed amount: the local stack's clock setting (any hour, on demand)."""

    def __init__(self, offset_seconds: float) -> None:
        self.offset = timedelta(seconds=offset_seconds)

    def now(self) -> datetime:
        return SystemClock().now() + self.offset


class Unverifiable(Telephony):
    """A provider whose signing key is unusable (empty, placeholder, too short): nothing it signed is
    believed, so every webhook is refused with 403 (fail closed); markup still renders."""

    def __init__(self, inner: Telephony) -> None:
        self.inner = inner
        self.name = inner.name
        self.content_type = inner.content_type
        self.capabilities = inner.capabilities

    def verify(self, request: WebhookRequest) -> bool:
        return False

    def parse(self, params: Mapping[str, Any], query: Mapping[str, str]) -> CallEvent:
        return self.inner.parse(params, query)

    def render(self, script: Script, base_url: str) -> str:
        return self.inner.render(script, base_url)

    def parse_agent_event(self, params: Mapping[str, Any]) -> AgentEvent | None:
        return self.inner.parse_agent_event(params)


def providers(settings: Settings, clock: Clock | None = None) -> dict[str, Telephony]:
    """Every enabled provider's webhooks; one whose key is unusable refuses them all (403)."""
    built = {"twilio": (TwilioTelephony(settings.twilio_auth_token), "TWILIO_AUTH_TOKEN", settings.twilio_auth_token)}
    if "telnyx" in settings.providers:
        built["telnyx"] = (TelnyxTelephony(settings.telnyx_public_key, clock), "TELNYX_PUBLIC_KEY",
                           settings.telnyx_public_key)
    if "vonage" in settings.providers:
        built["vonage"] = (VonageTelephony(settings.vonage_signature_secret, clock, vonage_url_token(settings)),
                           "VONAGE_SIGNATURE_SECRET", settings.vonage_signature_secret)
    if "jambonz" in settings.providers:
        built["jambonz"] = (JambonzTelephony(settings.jambonz_webhook_secret, clock), "JAMBONZ_WEBHOOK_SECRET",
                            settings.jambonz_webhook_secret)
    return {name: provider if secret_problem(key, secret) is None else Unverifiable(provider)
            for name, (provider, key, secret) in built.items()}


def vonage_url_token(settings: Settings) -> str:
    """The Vonage URL secret if it is usable; an unusable one is ignored (unsigned events are refused)."""
    token = settings.vonage_url_token
    return token if token and secret_problem("VONAGE_URL_TOKEN", token) is None else ""


def dialer_for(settings: Settings, twilio: TwilioDialer, clock: Clock) -> Dialer:
    """The provider that places callbacks and bridges callers (HOLDFAST_DIALING_PROVIDER)."""
    if settings.dialing_provider == "telnyx":
        return TelnyxDialer(settings.telnyx_api_key, settings.telnyx_account_sid, settings.telnyx_application_sid,
                            settings.public_base_url, settings.telnyx_api_base_url)
    if settings.dialing_provider == "vonage":
        return VonageDialer(settings.vonage_application_id, settings.vonage_private_key, settings.public_base_url,
                            settings.vonage_api_base_url, clock=clock, url_token=vonage_url_token(settings))
    if settings.dialing_provider == "jambonz":
        return JambonzDialer(settings.jambonz_api_key, settings.jambonz_account_sid, settings.public_base_url,
                             settings.jambonz_api_base_url)
    return twilio


def messenger_for(settings: Settings, twilio: TwilioDialer, clock: Clock | None = None) -> Messenger | None:
    """Texts go through the provider that dials (its numbers are the queue's caller IDs there); none
    while that provider's account is not configured."""
    if settings.dialing_provider == "telnyx":
        return TelnyxMessenger(settings.telnyx_api_key, settings.telnyx_api_base_url) if settings.telnyx_api_key else None
    if settings.dialing_provider == "vonage":
        return VonageMessenger(settings.vonage_application_id, settings.vonage_private_key,
                               settings.vonage_api_base_url, clock=clock) if settings.vonage_application_id else None
    if settings.dialing_provider == "twilio" and settings.twilio_account_sid:
        return TwilioMessenger(twilio)
    return None


def aws_session(settings: Settings) -> boto3.session.Session:
    """One boto3/botocore session for every client and every PynamoDB model (one credential chain,
    one loaded endpoint table: a cold start pays for it once)."""
    return boto3.session.Session(region_name=settings.region)


def client(session: boto3.session.Session, service: str, settings: Settings, **config: Any) -> Any:
    return session.client(service, endpoint_url=settings.aws_endpoint_url,
                          config=Config(**config) if config else None)


def optional(store: ParameterStore, name: str) -> str:
    """A parameter a stage may leave out: empty when absent (what it protects then stays refused)."""
    try:
        return store.get(name)
    except SettingsError:
        return ""


def resolve(settings: Settings, session: boto3.session.Session | None = None) -> Settings:
    """Settings with their secrets: from Parameter Store in AWS (Powertools, cached), else as given."""
    if not settings.parameters_path:
        return settings
    store = ParameterStore(settings.parameters_path, client(session or aws_session(settings), "ssm", settings),
                           settings.parameters_max_age)
    public_url = settings.public_base_url
    if public_url == Settings.public_base_url:  # not set: the stack wrote its API's URL
        public_url = store.get(PUBLIC_URL).rstrip("/") or public_url
    per_provider: dict[str, str] = {}
    if "telnyx" in settings.providers:
        per_provider |= {"telnyx_public_key": store.get(TELNYX_PUBLIC_KEY), "telnyx_api_key": store.get(TELNYX_API_KEY)}
    if "vonage" in settings.providers:
        per_provider |= {"vonage_signature_secret": store.get(VONAGE_SIGNATURE_SECRET),
                         "vonage_private_key": store.get(VONAGE_PRIVATE_KEY),
                         "vonage_url_token": optional(store, VONAGE_URL_TOKEN)}
    if "jambonz" in settings.providers:
        per_provider |= {"jambonz_webhook_secret": store.get(JAMBONZ_WEBHOOK_SECRET),
                         "jambonz_api_key": store.get(JAMBONZ_API_KEY)}
    return replace(settings, twilio_auth_token=store.get(TWILIO_AUTH_TOKEN), admin_token=store.get(ADMIN_TOKEN),
                   agent_token=store.get(AGENT_TOKEN),
                   public_base_url=public_url, **per_provider)


def use_cases(stores: Stores, orchestrator: Orchestrator, dialer: Dialer, clock: Clock, queues: QueueDirectory,
              bus: EventBus, daily_callback_budget: int, pacer: Pacer,
              sip_domains: tuple[str, ...] | None = None,
              hang_up_grace: timedelta = HANG_UP_GRACE) -> tuple[CallFlow, Dispatcher, Callbacks]:
    """The use cases over a world's adapters: the same wiring in AWS and in memory. Every dial goes
    through `pacer`, the dialing account's outbound pace; agents' sip: contacts may name only
    `sip_domains` (the deployment's; None, any, in a memory world)."""
    flow = CallFlow(stores, orchestrator, clock, queues, bus, daily_callback_budget)
    dispatcher = Dispatcher(stores, orchestrator, dialer, clock, queues, pacer, sip_domains, hang_up_grace)
    dispatcher.caller_gone = flow.recovery.caller_gone  # a claimed caller's loss: the one loss path
    callbacks = Callbacks(stores, orchestrator, dialer, clock, queues, dispatcher)
    return flow, dispatcher, callbacks


MEMORY_LINK_SECRET = "memory-world-caller-links-key"  # the memory world signs links too (no account)

def link_secret(admin_token: str) -> str:
    """The key caller links are signed with, derived from the admin token (a managed secret that fails
    closed): empty while that token is, so no link is ever signed with a weak key."""
    return hmac.new(admin_token.encode(), b"holdfast caller links", hashlib.sha256).hexdigest() if admin_token else ""


def callback_texts(flow: CallFlow, stores: Stores, clock: Clock, queues: QueueDirectory, messenger: Messenger | None,
                   secret: str, base_url: str, oplog: OperationsLog | None) -> CallbackTexts:
    return CallbackTexts(stores.tickets, stores.bookings, messenger, queues, clock, flow.changes, flow.place, secret,
                         base_url, stores.stats, oplog)


def web_requests(flow: CallFlow, stores: Stores, clock: Clock, queues: QueueDirectory,
                 texts: CallbackTexts) -> WebRequests:
    """Callbacks asked for from the web: the call flow's booking, estimate and slots, over the same roles;
    codes texted through the callers' texts, derived from the caller-link key."""
    return WebRequests(flow.booking, stores.bookings, stores.line, clock, queues, flow.estimate, flow.slots,
                       texts.send_code, texts.link_secret)


def build_aws(settings: Settings, clock: Clock | None = None, dialer: Dialer | None = None,
              session: boto3.session.Session | None = None) -> Container:
    logs.configure(settings.log_level)
    clock = clock or (OffsetClock(settings.clock_offset_seconds) if settings.clock_offset_seconds
                      else SystemClock())
    session = session or aws_session(settings)
    metrics.configure(settings.metrics_enabled)
    faults.FAULTS.subscribe(metrics.swallowed_failure)
    queues = load_queues(settings.queues_file)
    stores = dynamo_stores(settings.table_name, settings.region, settings.aws_endpoint_url,
                           client=client(session, "dynamodb", settings, parameter_validation=False))
    sfn = client(session, "stepfunctions", settings)
    orchestrator = StepFunctionsOrchestrator(sfn, settings.state_machine_arn, ticket_keys)
    twilio = TwilioDialer(settings.twilio_account_sid, settings.twilio_auth_token, settings.public_base_url,
                          settings.twilio_api_base_url)
    dialer = dialer or dialer_for(settings, twilio, clock)
    problems = caller_id_problems(queues, {dialer.name} - {""})
    if problems:  # a callback must show a number of the queue's own: refused at start, naming the queue
        raise ConfigError("; ".join(problems))
    sqs = client(session, "sqs", settings)
    bus = SqsEventBus(sqs, settings.notify_queue_url)
    pacer = Pacer(DynamoPace(settings.table_name, stores.table.client), SqsAlarm(sqs, settings.dial_queue_url, clock.now),
                  clock, settings.dialing_provider, settings.dial_calls_per_second)
    flow, dispatcher, callbacks = use_cases(stores, orchestrator, dialer, clock, queues, bus,
                                            settings.daily_callback_budget, pacer, settings.agent_sip_domains,
                                            timedelta(seconds=settings.bridge_result_grace_seconds))
    known = providers(settings, clock)
    for gap in unspoken(queues, known):
        log.warning("no voice: %s", gap)
    ses = client(session, "ses", settings)
    notifications = Notifications(stores.tickets, queues, [
        SlackNotifier(), TelegramNotifier(settings.telegram_api_base_url), EmailNotifier(ses),
        SmsNotifier(twilio.send_sms)])
    replays = DynamoReplays(stores.table)  # signatures spent, across every container of the stage
    built = Container(settings, stores, flow, dispatcher, callbacks,
                      VoiceWebhooks(UseCases(flow, dispatcher, callbacks), known, settings.public_base_url, replays),
                      AgentsApi(dispatcher, known, settings.agent_token, settings.public_base_url, replays),
                      AdminApi(stores.lost, stores.bookings, queues, clock, settings.admin_token), notifications)
    operations_log = DynamoOperationsLog(settings.table_name, settings.region, settings.aws_endpoint_url,
                                         client=client(session, "dynamodb", settings))
    built.operations = Operations(stores, operations_log, queues, clock, orchestrator, flow, pacer, bus)  # bus: alerts
    built.console = Console(built.operations, queues, Sessions(settings.admin_token, clock, settings.public_base_url,
                                                               DynamoConsoleSessions(stores.table),
                                                               DynamoThrottle(stores.table)))
    messenger = messenger_for(settings, twilio, clock)
    built.texts = callback_texts(flow, stores, clock, queues, messenger, link_secret(settings.admin_token),
                                 settings.public_base_url, operations_log)
    built.web = WebApi(web_requests(flow, stores, clock, queues, built.texts), settings.public_base_url)
    built.caller_pages = CallerPages(built.texts, known, messenger, settings.public_base_url)
    return built


@dataclass
class MemoryWorld:
    clock: VirtualClock
    stores: MemoryStores
    orchestrator: MemoryOrchestrator
    bus: FakeBus
    dialer: Dialer
    flow: CallFlow
    dispatcher: Dispatcher
    callbacks: Callbacks
    web: WebRequests | None = None  # callbacks asked for from the web
    texts: CallbackTexts | None = None  # texts to callers (FakeMessenger) and their page


def build_memory(queues: QueueDirectory, start: datetime, dialer: Dialer | None = None,
                 daily_callback_budget: int = DEFAULT_DAILY_BUDGET, sweep_seconds: float = 60.0,
                 dial_calls_per_second: float = MEMORY_DIAL_RATE) -> MemoryWorld:
    """Holdfast on the in-memory adapters, in virtual time: the same use cases the Lambda functions run,
    the workflow as MemoryOrchestrator, and the event sources AWS provides (the table's stream, the dial
    queue, the one-minute dispatch sweep) as scheduled work."""
    from .adapters.memory import (FakeBus, FakeDialer, FakeMessenger, MemoryAlarm, MemoryOperationsLog,
                                  MemoryOrchestrator, MemoryPace, VirtualClock, memory_stores)

    clock = VirtualClock(start)
    stores = memory_stores()  # every role over one in-memory table
    bus = FakeBus()
    orchestrator = MemoryOrchestrator(stores.table, clock, bus)
    dialer = dialer or FakeDialer()
    alarm = MemoryAlarm(clock.at)  # the dial worker's pace message: a drain at the next slot
    pacer = Pacer(MemoryPace(), alarm, clock, "memory", dial_calls_per_second)
    flow, dispatcher, callbacks = use_cases(stores, orchestrator, dialer, clock, queues, bus, daily_callback_budget,
                                            pacer)
    alarm.drain = lambda account: dispatcher.pace()

    def stream(new: Ticket, old: Ticket | None) -> None:  # workers.on_table_change, delivered after the write
        change = (new.queue_id, new.id, new.status, old.status if old else None, new.agent_id)

        def deliver() -> None:
            dispatcher.callback_promised(new, old)
            dispatcher.ticket_changed(*change)
            dispatcher.service_started(new, old)

        clock.after(0, deliver)

    stores.table.on_change = stream
    orchestrator.dial_worker = lambda body: callbacks.dial(DialRequest.from_message(body))  # workers.on_dial_message
    texts = callback_texts(flow, stores, clock, queues, FakeMessenger(), MEMORY_LINK_SECRET, "http://holdfast.invalid",
                           MemoryOperationsLog())
    if sweep_seconds > 0:
        def sweep() -> None:  # the scheduled dispatch sweep (workers.sweep), reminders included
            dispatcher.sweep()
            texts.remind()
            clock.after(sweep_seconds, sweep)

        clock.after(sweep_seconds, sweep)
    return MemoryWorld(clock, stores, orchestrator, bus, dialer, flow, dispatcher, callbacks,
                       web_requests(flow, stores, clock, queues, texts), texts)


_served: list[Container] = []  # containers handed in by `serving`, innermost last


@contextmanager
def serving(built: Container) -> Iterator[Container]:
    """Serve `built` to the app's routes and workers instead of the container built from the
    environment (a test's own world), until the block ends."""
    _served.append(built)
    try:
        yield built
    finally:
        _served.remove(built)


def container() -> Container:
    """The app: the container being served, else the one built once per Lambda container; refuses
    (SettingsError) when a secret is unusable."""
    return _served[-1] if _served else _from_env()


@lru_cache(maxsize=1)
def _from_env() -> Container:
    session = aws_session(Settings.from_env())
    settings = resolve(Settings.from_env(), session).require_safe()
    return build_aws(settings, session=session)


def _fallback_settings() -> Settings:
    try:
        return resolve(Settings.from_env())
    except SettingsError:
        return Settings.from_env()


def webhooks() -> VoiceWebhooks:
    """The voice webhooks; if the app cannot be built, webhooks that still apologise in markup, and
    that refuse (403) everything when the reason is an unusable signing key or admin token."""
    try:
        return container().webhooks
    except SettingsError as exc:
        log.error("refusing webhooks: %s", exc)
        settings = Settings(providers=Settings.from_env().providers)  # no key at all: nothing verifies
        return VoiceWebhooks(None, providers(settings), settings.public_base_url)
    except Exception:  # noqa: BLE001 - a caller is on the line: never dead air
        faults.swallowed("app.build", "the app could not be built; webhooks apologise", level=logging.ERROR)
        settings = _fallback_settings()
        return VoiceWebhooks(None, providers(settings), settings.public_base_url)


def refused(webhook: bool = False) -> HttpReply | None:
    """While a secret is unusable: 403 for a provider's webhook (nothing it signed is believed), 503
    with the reasons for our JSON APIs; None when the app builds."""
    try:
        container()
    except SettingsError as exc:
        if webhook:
            return HttpReply(403, "signing key unusable; see /health\n")
        return HttpReply(503, json.dumps({"error": "not configured", "problems": exc.problems}),
                         "application/json")
    return None


def health() -> tuple[int, dict[str, Any]]:
    """The health check: 200 when the app builds, else 503 with every reason (never a secret's value)."""
    try:
        container()
    except SettingsError as exc:
        return 503, {"status": "refusing", "problems": exc.problems}
    except Exception as exc:  # noqa: BLE001 - the check reports, it does not crash
        faults.swallowed("app.build", "the health check could not build the app", level=logging.ERROR)
        return 503, {"status": "error", "problems": [f"{type(exc).__name__}: {exc}"]}
    return 200, {"status": "ok"}


def check_at_start() -> None:
    """At import (a cold start): say plainly, once, why the app will refuse. Secrets kept in Parameter
    Store are checked on the first request instead (and reported by /health)."""
    settings = Settings.from_env()
    problems = [] if settings.parameters_path else settings.secret_problems()
    if problems:
        log.error("Holdfast refuses to start: %s", "; ".join(problems))


def reset() -> None:
    _from_env.cache_clear()
