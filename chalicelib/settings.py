"""Every setting Holdfast reads from the environment, in one place."""
from __future__ import annotations

import math
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Mapping

DEFAULT_QUEUES_FILE = str(Path(__file__).with_name("queues.json"))

# A Twilio auth token is 32 hex characters; an admin token at least as long (128 bits as hex).
# A Telnyx public key is base64 of 32 bytes; a Vonage signature secret is at least 32 characters.
MIN_SECRET_LENGTH = {"TWILIO_AUTH_TOKEN": 32, "HOLDFAST_ADMIN_TOKEN": 32, "HOLDFAST_AGENT_TOKEN": 32,
                     "TELNYX_PUBLIC_KEY": 44, "VONAGE_SIGNATURE_SECRET": 32, "VONAGE_URL_TOKEN": 32,
                     # jambonz's account webhook secrets are `wh_secret_` and a 22-character short uuid
                     "JAMBONZ_WEBHOOK_SECRET": 24}
# The dialing account's calls a second when HOLDFAST_DIAL_CALLS_PER_SECOND is not set: the provider's own
# limit. Twilio: 1 by default (raised on request). jambonz sets none per second (its account limits
# count concurrent calls, API requests and devices: docs.jambonz.org, "retrieve call capacity and
# other limits"); its calls leave by the carrier's SIP trunk, whose calls a second the carrier sets:
# 1 until HOLDFAST_DIAL_CALLS_PER_SECOND says the trunk's. Others: 1.
DIAL_CALLS_PER_SECOND = {"twilio": 1.0, "jambonz": 1.0}
# What a value nobody filled in looks like (the README's and the config file's old placeholders).
_PLACEHOLDER = re.compile(r"replace|changeme|change[-_ ]me|placeholder|your[-_ ]|todo|xxxx|<[^>]*>|\.\.\.",
                          re.IGNORECASE)


# How random a secret looks, estimated from its own characters (their Shannon entropy times its length):
# 32 random hex characters come to about 115 bits (never under 85 in 200,000 draws), 32 characters made of
# 4 letters to 64 at most. A secret that repeats a pattern ("0123456789abcdef" twice) is refused too.
MIN_SECRET_BITS = 80
MIN_BITS_PER_CHARACTER = 2.5


class SettingsError(Exception):
    """The settings cannot make a safe app (a secret missing, a placeholder, too short); says which."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("Holdfast refuses to start: " + "; ".join(problems))
        self.problems = problems


def positive_seconds(env: Mapping[str, str], name: str, default: float) -> float:
    """A duration in seconds from the environment (unset: `default`); anything but a positive number is
    refused by name."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise SettingsError([f"{name} must be a positive number of seconds, not {raw[:20]!r}"])
    return value


def secret_problem(name: str, value: str) -> str | None:
    """Why `value` cannot be the secret `name` (never echoing the value), or None if it can."""
    if not value:
        return f"{name} is empty"
    if _PLACEHOLDER.search(value):
        return f"{name} is still a placeholder"
    if len(set(value)) < 4:
        return f"{name} is not random (too few distinct characters)"
    if len(value) < MIN_SECRET_LENGTH[name]:
        return f"{name} is {len(value)} characters; at least {MIN_SECRET_LENGTH[name]} needed"
    if repeats(value):
        return f"{name} is not random (a repeated pattern)"
    per_character = entropy_per_character(value)
    if per_character < MIN_BITS_PER_CHARACTER or per_character * len(value) < MIN_SECRET_BITS:
        return (f"{name} is not random enough (about {per_character * len(value):.0f} bits in its characters; "
                f"at least {MIN_SECRET_BITS} needed: generate one, e.g. `openssl rand -hex 32`)")
    return None


def entropy_per_character(value: str) -> float:
    """The Shannon entropy of the value's characters, in bits per character."""
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def repeats(value: str) -> bool:
    """Whether the value is a pattern repeated (whole or in part) with a period of at most half its length."""
    return any(value[period:] == value[:-period] for period in range(1, len(value) // 2 + 1))


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
    # Bearer token for the admin API and the console's sign-in; required (the app refuses to start without).
    admin_token: str = ""
    # Bearer token for agents' presence updates only (it reads nothing); required, like the admin token.
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
    # In AWS: the Parameter Store path holding twilio-auth-token, admin-token and public-url
    # (read through Powertools Parameters, cached); empty locally, where the environment has them.
    parameters_path: str = ""
    # Seconds between a Parameter Store read and the next (Powertools' cache).
    parameters_max_age: int = 300
    # The local stack's clock, this many seconds ahead of (or behind) the real one; 0 in AWS.
    clock_offset_seconds: float = 0.0
    # The providers whose webhooks are served (/voice/{provider}/...), and the one that places calls.
    providers: tuple[str, ...] = ("twilio",)
    dialing_provider: str = "twilio"
    # The dialing provider account's outbound pace: calls it may start per second (default: the
    # provider's, DIAL_CALLS_PER_SECOND). Every dial Holdfast starts goes through it (domain/pacing.py).
    dial_calls_per_second: float = 1.0
    # Telnyx TeXML: the account's Ed25519 public key (base64) checks webhooks; the API key places calls.
    telnyx_public_key: str = ""
    telnyx_api_key: str = ""
    telnyx_account_sid: str = ""
    telnyx_application_sid: str = ""
    telnyx_api_base_url: str | None = None
    # Vonage Voice: the signature secret checks webhooks; the application id and private key place calls.
    vonage_signature_secret: str = ""
    vonage_application_id: str = ""
    vonage_private_key: str = ""
    vonage_api_base_url: str | None = None
    # Optional: a per-stage secret put in every URL given to Vonage, for events it does not sign.
    vonage_url_token: str = ""
    # jambonz: the account's webhook secret checks webhooks; the account sid and an API key place calls.
    jambonz_webhook_secret: str = ""
    jambonz_api_key: str = ""
    jambonz_account_sid: str = ""
    jambonz_api_base_url: str | None = None
    # The SIP domains (and their subdomains) agents' sip: contacts may name, e.g. the PBX's; none: no sip: contact.
    agent_sip_domains: tuple[str, ...] = ()
    # How long after a caller's hang-up a bridge whose result never came is settled by the sweep (the
    # provider's events may come late, in any order); a provider known to report promptly may shorten it.
    bridge_result_grace_seconds: float = 120.0

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
            parameters_path=env.get("HOLDFAST_PARAMETERS_PATH", "").rstrip("/"),
            parameters_max_age=int(env.get("HOLDFAST_PARAMETERS_MAX_AGE", "300")),
            clock_offset_seconds=float(env.get("HOLDFAST_CLOCK_OFFSET_SECONDS", "0") or 0),
            providers=tuple(p.strip() for p in env.get("HOLDFAST_PROVIDERS", "twilio").split(",") if p.strip()),
            dialing_provider=env.get("HOLDFAST_DIALING_PROVIDER", "twilio"),
            dial_calls_per_second=float(env.get("HOLDFAST_DIAL_CALLS_PER_SECOND") or DIAL_CALLS_PER_SECOND.get(
                env.get("HOLDFAST_DIALING_PROVIDER", "twilio"), 1.0)),
            telnyx_public_key=env.get("TELNYX_PUBLIC_KEY", ""),
            telnyx_api_key=env.get("TELNYX_API_KEY", ""),
            telnyx_account_sid=env.get("TELNYX_ACCOUNT_SID", ""),
            telnyx_application_sid=env.get("TELNYX_APPLICATION_SID", ""),
            telnyx_api_base_url=env.get("TELNYX_API_BASE_URL") or None,
            vonage_signature_secret=env.get("VONAGE_SIGNATURE_SECRET", ""),
            vonage_application_id=env.get("VONAGE_APPLICATION_ID", ""),
            vonage_private_key=env.get("VONAGE_PRIVATE_KEY", ""),
            vonage_api_base_url=env.get("VONAGE_API_BASE_URL") or None,
            vonage_url_token=env.get("VONAGE_URL_TOKEN", ""),
            jambonz_webhook_secret=env.get("JAMBONZ_WEBHOOK_SECRET", ""),
            jambonz_api_key=env.get("JAMBONZ_API_KEY", ""),
            jambonz_account_sid=env.get("JAMBONZ_ACCOUNT_SID", ""),
            jambonz_api_base_url=env.get("JAMBONZ_API_BASE_URL") or None,
            agent_sip_domains=tuple(d.strip().lower() for d in env.get("HOLDFAST_AGENT_SIP_DOMAINS", "").split(",")
                                    if d.strip()),
            bridge_result_grace_seconds=positive_seconds(env, "HOLDFAST_BRIDGE_RESULT_GRACE_SECONDS",
                                                         cls.bridge_result_grace_seconds),
        )

    def secret_problems(self) -> list[str]:
        """Every reason these secrets cannot be trusted; empty when the app may start."""
        found = [secret_problem("TWILIO_AUTH_TOKEN", self.twilio_auth_token),
                 secret_problem("HOLDFAST_ADMIN_TOKEN", self.admin_token),
                 secret_problem("HOLDFAST_AGENT_TOKEN", self.agent_token)]
        if self.agent_token and self.agent_token == self.admin_token:
            found.append("HOLDFAST_AGENT_TOKEN must differ from HOLDFAST_ADMIN_TOKEN (agents read nothing)")
        return [p for p in found if p]

    def require_safe(self) -> "Settings":
        problems = self.secret_problems()
        if problems:
            raise SettingsError(problems)
        return self
