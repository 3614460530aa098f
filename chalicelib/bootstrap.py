"""The composition root: builds the real adapters from Settings, once per Lambda container."""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

import boto3

from .adapters.dynamo import DynamoTicketStore, ticket_keys
from .adapters.sqs_bus import SqsEventBus
from .adapters.stepfunctions import StepFunctionsOrchestrator
from .adapters.twilio_provider import TwilioDialer, TwilioTelephony
from .adapters.notify import EmailNotifier, SlackNotifier, SmsNotifier, TelegramNotifier
from .adapters.dynamo_operations import DynamoOperationsLog
from .admin_api import AdminApi
from .edges import metrics
from .edges.console import Console, Sessions
from .domain.operations import Operations
from .agents_api import AgentsApi
from .domain.callbacks import Callbacks
from .domain.callflow import CallFlow
from .domain.dispatch import Dispatcher
from .domain.notifications import Notifications
from .domain.queues import QueueDirectory
from .ports import Clock, Dialer, SystemClock, Telephony
from . import logs
from .settings import Settings, expand_env
from .webhooks import UseCases, VoiceWebhooks


@dataclass
class Container:
    settings: Settings
    store: DynamoTicketStore
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


def providers(settings: Settings) -> dict[str, Telephony]:
    return {"twilio": TwilioTelephony(settings.twilio_auth_token)}


def build(settings: Settings, clock: Clock | None = None, dialer: Dialer | None = None) -> Container:
    logs.configure(settings.log_level)
    metrics.configure(settings.metrics_enabled)
    clock = clock or SystemClock()
    queues = load_queues(settings.queues_file)
    store = DynamoTicketStore(settings.table_name, settings.region, settings.aws_endpoint_url)
    sfn = boto3.client("stepfunctions", region_name=settings.region, endpoint_url=settings.aws_endpoint_url)
    orchestrator = StepFunctionsOrchestrator(sfn, settings.state_machine_arn, ticket_keys)
    twilio = TwilioDialer(settings.twilio_account_sid, settings.twilio_auth_token, settings.public_base_url,
                          settings.twilio_api_base_url)
    dialer = dialer or twilio
    sqs = boto3.client("sqs", region_name=settings.region, endpoint_url=settings.aws_endpoint_url)
    bus = SqsEventBus(sqs, settings.notify_queue_url)
    flow = CallFlow(store, orchestrator, clock, queues, bus, settings.daily_callback_budget)
    dispatcher = Dispatcher(store, orchestrator, dialer, clock, queues)
    callbacks = Callbacks(store, orchestrator, dialer, clock, queues, dispatcher)
    known = providers(settings)
    ses = boto3.client("ses", region_name=settings.region, endpoint_url=settings.aws_endpoint_url)
    notifications = Notifications(store, queues, [
        SlackNotifier(), TelegramNotifier(settings.telegram_api_base_url), EmailNotifier(ses),
        SmsNotifier(twilio.send_sms)])
    built = Container(settings, store, flow, dispatcher, callbacks,
                      VoiceWebhooks(UseCases(flow, dispatcher, callbacks), known, settings.public_base_url),
                      AgentsApi(dispatcher, known, settings.agent_token, settings.public_base_url),
                      AdminApi(store, queues, clock, settings.admin_token), notifications)
    built.operations = Operations(store, DynamoOperationsLog(settings.table_name, settings.region,
                                                             settings.aws_endpoint_url), queues, clock,
                                  orchestrator)
    built.console = Console(built.operations, queues, Sessions(settings.admin_token, clock, settings.public_base_url))
    return built


@lru_cache(maxsize=1)
def container() -> Container:
    return build(Settings.from_env())


def webhooks() -> VoiceWebhooks:
    """The voice webhooks; if the app cannot even be built, webhooks that still apologise in markup."""
    try:
        return container().webhooks
    except Exception:  # noqa: BLE001 - a caller is on the line: never dead air
        settings = Settings.from_env()
        return VoiceWebhooks(None, providers(settings), settings.public_base_url)


def reset() -> None:
    container.cache_clear()
