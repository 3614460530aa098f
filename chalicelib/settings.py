"""Every setting Holdfast reads from the environment, in one place."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Mapping

DEFAULT_QUEUES_FILE = str(Path(__file__).with_name("queues.json"))


def expand_env(text: str, env: Mapping[str, str] | None = None) -> str:
    """${NAME} in the queue file (secrets such as bot tokens) comes from the environment."""
    return Template(text).safe_substitute(os.environ if env is None else env)


@dataclass(frozen=True)
class Settings:
    table_name: str = "holdfast"
    region: str = "us-east-1"
    # Where AWS is: unset in AWS; the embedded moto server locally.
    aws_endpoint_url: str | None = None
    state_machine_arn: str = ""
    dial_queue_url: str = ""
    # The public URL Twilio calls, stage path included (e.g. https://abc.execute-api.../api):
    # signatures are checked against it, never against a URL rebuilt from the request.
    public_base_url: str = "http://localhost:8000"
    twilio_auth_token: str = ""
    twilio_account_sid: str = ""
    queues_file: str = DEFAULT_QUEUES_FILE
    log_level: str = "INFO"
    notify_queue_url: str = ""
    # Callbacks booked per day across all queues, at most (toll-fraud guard).
    daily_callback_budget: int = 1000
    # Bearer token for the admin API and the console's sign-in; empty disables them.
    admin_token: str = ""
    # Bearer token for agents' presence updates only (it reads nothing); empty disables that API.
    agent_token: str = ""
    # CloudWatch embedded metrics on stdout (off in the local stack, where no CloudWatch reads them).
    metrics_enabled: bool = True
    # Where the twilio library sends REST calls; unset means Twilio itself (the simulated network sets it).
    twilio_api_base_url: str | None = None
    # Event sources Chalice wires at deploy time (outputs of the infra stack).
    dial_queue_arn: str = "arn:aws:sqs:us-east-1:000000000000:holdfast-DialQueue"
    notify_queue_arn: str = "arn:aws:sqs:us-east-1:000000000000:holdfast-NotifyQueue"
    telegram_api_base_url: str = "https://api.telegram.org"
    table_stream_arn: str = "arn:aws:dynamodb:us-east-1:000000000000:table/holdfast/stream/unset"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        return cls(
            table_name=env.get("HOLDFAST_TABLE", cls.table_name),
            region=env.get("AWS_REGION", env.get("AWS_DEFAULT_REGION", cls.region)),
            aws_endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
            state_machine_arn=env.get("HOLDFAST_STATE_MACHINE_ARN", ""),
            dial_queue_url=env.get("HOLDFAST_DIAL_QUEUE_URL", ""),
            public_base_url=env.get("HOLDFAST_PUBLIC_URL", cls.public_base_url).rstrip("/"),
            twilio_auth_token=env.get("TWILIO_AUTH_TOKEN", ""),
            twilio_account_sid=env.get("TWILIO_ACCOUNT_SID", ""),
            queues_file=env.get("HOLDFAST_QUEUES_FILE", DEFAULT_QUEUES_FILE),
            log_level=env.get("LOG_LEVEL", "INFO"),
            admin_token=env.get("HOLDFAST_ADMIN_TOKEN", ""),
            agent_token=env.get("HOLDFAST_AGENT_TOKEN", ""),
            metrics_enabled=env.get("HOLDFAST_METRICS", "on").lower() not in ("off", "0", "false"),
            notify_queue_url=env.get("HOLDFAST_NOTIFY_QUEUE_URL", ""),
            daily_callback_budget=int(env.get("HOLDFAST_DAILY_CALLBACK_BUDGET", "1000")),
            twilio_api_base_url=env.get("TWILIO_API_BASE_URL") or None,
            dial_queue_arn=env.get("HOLDFAST_DIAL_QUEUE_ARN", cls.dial_queue_arn),
            notify_queue_arn=env.get("HOLDFAST_NOTIFY_QUEUE_ARN", cls.notify_queue_arn),
            telegram_api_base_url=env.get("TELEGRAM_API_BASE_URL", cls.telegram_api_base_url),
            table_stream_arn=env.get("HOLDFAST_TABLE_STREAM_ARN", cls.table_stream_arn),
        )
