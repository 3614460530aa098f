"""The composition root: builds the real adapters from Settings, once per Lambda container."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Mapping

import boto3
from botocore.config import Config

from .adapters.dynamo import DynamoStores, dynamo_stores, ticket_keys
from .adapters.sqs_bus import SqsEventBus
from .adapters.stepfunctions import StepFunctionsOrchestrator
from .adapters.twilio_provider import TwilioDialer, TwilioTelephony
from .adapters.notify import EmailNotifier, SlackNotifier, SmsNotifier, TelegramNotifier
from .adapters.parameters import (ADMIN_TOKEN, AGENT_TOKEN, PUBLIC_URL, TELNYX_API_KEY, TELNYX_PUBLIC_KEY,
                                  TWILIO_AUTH_TOKEN, VONAGE_PRIVATE_KEY, VONAGE_SIGNATURE_SECRET, VONAGE_URL_TOKEN,
                                  ParameterStore)
from .adapters.dynamo.operations import DynamoOperationsLog
from .adapters.telnyx import TelnyxDialer, TelnyxTelephony
from .adapters.vonage import VonageDialer, VonageTelephony
from .edges.admin_api import AdminApi
from .edges import metrics
from .edges.console import Console, Sessions
from .domain.operations import Operations
from .edges.agents_api import AgentsApi
from .domain.callbacks import Callbacks
from .domain.callflow import CallFlow
from .domain.dispatch import Dispatcher
from .domain.notifications import Notifications
from .domain.model import AgentEvent, CallEvent
from .domain.queues import QueueDirectory
from .domain.script import Script
from .ports import Clock, Dialer, SystemClock, Telephony, WebhookRequest
from . import logs
from .settings import Settings, SettingsError, expand_env, secret_problem
from .edges.webhooks import HttpReply, UseCases, VoiceWebhooks, unspoken

log = logging.getLogger(__name__)


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
    return twilio


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
    return replace(settings, twilio_auth_token=store.get(TWILIO_AUTH_TOKEN), admin_token=store.get(ADMIN_TOKEN),
                   agent_token=store.get(AGENT_TOKEN),
                   public_base_url=public_url, **per_provider)


def build(settings: Settings, clock: Clock | None = None, dialer: Dialer | None = None,
          session: boto3.session.Session | None = None) -> Container:
    logs.configure(settings.log_level)
    clock = clock or (OffsetClock(settings.clock_offset_seconds) if settings.clock_offset_seconds
                      else SystemClock())
    session = session or aws_session(settings)
    metrics.configure(settings.metrics_enabled)
    queues = load_queues(settings.queues_file)
    stores = dynamo_stores(settings.table_name, settings.region, settings.aws_endpoint_url,
                           client=client(session, "dynamodb", settings, parameter_validation=False))
    sfn = client(session, "stepfunctions", settings)
    orchestrator = StepFunctionsOrchestrator(sfn, settings.state_machine_arn, ticket_keys)
    twilio = TwilioDialer(settings.twilio_account_sid, settings.twilio_auth_token, settings.public_base_url,
                          settings.twilio_api_base_url)
    dialer = dialer or dialer_for(settings, twilio, clock)
    sqs = client(session, "sqs", settings)
    bus = SqsEventBus(sqs, settings.notify_queue_url)
    flow = CallFlow(stores, orchestrator, clock, queues, bus, settings.daily_callback_budget)
    dispatcher = Dispatcher(stores, orchestrator, dialer, clock, queues)
    callbacks = Callbacks(stores, orchestrator, dialer, clock, queues, dispatcher)
    known = providers(settings, clock)
    for gap in unspoken(queues, known):
        log.warning("no voice: %s", gap)
    ses = client(session, "ses", settings)
    notifications = Notifications(stores.tickets, queues, [
        SlackNotifier(), TelegramNotifier(settings.telegram_api_base_url), EmailNotifier(ses),
        SmsNotifier(twilio.send_sms)])
    built = Container(settings, stores, flow, dispatcher, callbacks,
                      VoiceWebhooks(UseCases(flow, dispatcher, callbacks), known, settings.public_base_url),
                      AgentsApi(dispatcher, known, settings.agent_token, settings.public_base_url),
                      AdminApi(stores.lost, stores.bookings, queues, clock, settings.admin_token), notifications)
    operations_log = DynamoOperationsLog(settings.table_name, settings.region, settings.aws_endpoint_url,
                                         client=client(session, "dynamodb", settings))
    built.operations = Operations(stores, operations_log, queues, clock, orchestrator, flow)
    built.console = Console(built.operations, queues, Sessions(settings.admin_token, clock, settings.public_base_url))
    return built


@lru_cache(maxsize=1)
def container() -> Container:
    """The app, built once per Lambda container; refuses (SettingsError) when a secret is unusable."""
    session = aws_session(Settings.from_env())
    settings = resolve(Settings.from_env(), session).require_safe()
    return build(settings, session=session)


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
    container.cache_clear()
