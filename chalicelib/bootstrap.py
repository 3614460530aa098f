"""The composition root: builds the real adapters from Settings, once per Lambda container."""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

import boto3

from .adapters.dynamo import DynamoTicketStore, ticket_keys
from .adapters.stepfunctions import StepFunctionsOrchestrator
from .adapters.twilio_provider import TwilioTelephony
from .domain.callflow import CallFlow
from .domain.queues import QueueDirectory
from .ports import Clock, SystemClock, Telephony
from .settings import Settings
from .webhooks import VoiceWebhooks


@dataclass
class Container:
    settings: Settings
    store: DynamoTicketStore
    flow: CallFlow
    webhooks: VoiceWebhooks


def load_queues(path: str) -> QueueDirectory:
    with open(path, encoding="utf-8") as fh:
        return QueueDirectory.from_config(json.load(fh))


def providers(settings: Settings) -> dict[str, Telephony]:
    return {"twilio": TwilioTelephony(settings.twilio_auth_token)}


def build(settings: Settings, clock: Clock | None = None) -> Container:
    store = DynamoTicketStore(settings.table_name, settings.region, settings.aws_endpoint_url)
    sfn = boto3.client("stepfunctions", region_name=settings.region, endpoint_url=settings.aws_endpoint_url)
    orchestrator = StepFunctionsOrchestrator(sfn, settings.state_machine_arn, ticket_keys)
    flow = CallFlow(store, orchestrator, clock or SystemClock(), load_queues(settings.queues_file))
    return Container(settings, store, flow, VoiceWebhooks(flow, providers(settings), settings.public_base_url))


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
