"""Queue configuration: one documented place (docs/queues.md), loaded and validated here."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import phonenumbers

from .errors import ConfigError, UnknownQueueError
from .hours import BusinessHours
from .prompts import LANGUAGES
from .roster import Roster
from .slots import SlotPolicy
from .thresholds import Thresholds
from .webpolicy import WebPolicy

_QUEUE_ID = re.compile(r"^[a-z0-9_]{1,40}$")
# The providers a queue may name (its caller IDs, its texts): one adapter module each.
PROVIDERS = ("twilio", "telnyx", "vonage", "jambonz")

# after_choice: said once, to a caller who was offered a callback and chose to hold; every_caller: also
# to every caller who holds without an offer (where the law requires notice); never.
OPT_OUT_HINTS = ("after_choice", "every_caller", "never")

DEFAULT_HOLD_MUSIC = "http://com.twilio.sounds.music.s3.amazonaws.com/MARKOVICHAMP-Borghestral.mp3"


@dataclass(frozen=True)
class QueueConfig:
    id: str
    name: str
    numbers: tuple[str, ...] = ()
    hours: BusinessHours = field(default_factory=BusinessHours.always)
    language: str = "en"
    # Offer "press 1" when the expected wait is at least this long.
    offer_callback_after_seconds: int = 120
    # Offer it only while the callback can be promised before closing (the day's backlog allows it);
    # after that callers hear that no more callbacks are taken today.
    offer_callback_within_day: bool = True
    # A caller who hung up after holding longer than this is a lost call worth a recovery callback.
    short_abandon_seconds: int = 10
    average_handle_seconds: float = 300.0
    average_patience_seconds: float = 600.0
    # Staffing assumed when no agent has reported in yet.
    assumed_agents: int = 1
    default_region: str = "US"
    allowed_countries: tuple[str, ...] = ("US", "CA")
    hold_music_url: str = DEFAULT_HOLD_MUSIC
    # prompt key -> {"text": ...} or {"audio": url}, per language; overrides the built-in prompts
    prompts: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    # Longest a callback waits in line: covers a night and a weekend, so callbacks left at closing
    # time resume at the next opening rather than being given up overnight.
    max_park_seconds: int = 4 * 24 * 3600
    # The outcome of an answered attempt comes when the conversation ends: longer than any talk.
    dial_timeout_seconds: int = 4 * 3600
    # Attempts over a day and into the next morning (bench/day.py: a callback hours late still reaches
    # about a third of callers per attempt, so the later attempts recover most of the rest).
    retry_delays_seconds: tuple[int, ...] = (0, 300, 900, 1800, 3600, 7200, 14400, 28800)
    dial_mode: str = "agent_first"  # or customer_first (with answering-machine detection)
    caller_id: str | None = None  # number outbound callbacks and texts show; defaults to the queue's first number
    # The same, per provider (its own numbers): {"telnyx": "+1..."}; a provider not named uses caller_id.
    caller_ids: dict[str, str] = field(default_factory=dict)
    # agent_first: a callback conversation shorter than this reached voicemail or nobody (the agent
    # hung up on it): retried like a machine, not counted served (0: every answered call counts)
    callback_min_talk_seconds: int = 20
    # Lost calls (abandoned, rang out, after hours, dropped) are called back automatically.
    recover_lost_calls: bool = True
    # A recovery callback keeps the caller's ticket number (their place) rather than joining the end.
    recovery_keeps_place: bool = True
    # A recovery callback (nobody asked for it) is made within this much open time of the lost call, or
    # given up (lost, and notified): past a business day the caller has moved on, and a backlog that
    # keeps yesterday's recoveries makes every callback late (bench/day.py). 0: no limit.
    recovery_horizon_seconds: int = 12 * 3600
    # Longest a caller holds before the call is treated as rung out (0: no limit).
    max_hold_seconds: int = 0
    max_callbacks_per_number_per_day: int = 3
    # The live-service guard (domain/guard.py, docs/queues.md); defaults chosen with bench/day.py.
    callback_guard_seconds: int = 0
    live_guard: bool = True
    recovery_guard_seconds: int = 0
    # A callback whose caller was told when to expect it goes first from this long before that time.
    callback_promise_lead_seconds: int = 120
    # With nobody live waiting, a callback is taken only while this many other agents stay idle; None
    # (the default, "auto"): the callback plan's reserve, half hour by half hour (domain/callback_plan.py).
    callback_reserve_agents: int | None = None
    # The callback plan: callbacks may cost the live line's service level (answered within 20 s) this much
    # in any half hour against all agents on the live line; up to the second when the day's open
    # callbacks cannot be made otherwise (docs/queues.md; chosen with bench/day.py).
    callback_plan_allowance: float = 0.1
    callback_plan_allowance_max: float = 0.35
    # When agents are expected (a roster); None: during business hours. Only used when nobody is
    # signed in, to tell a caller when a callback can happen.
    staffed_hours: BusinessHours | None = None
    # How many agents are expected by time of week: the wait estimate counts on those who will sign in.
    roster: Roster | None = None
    # Who hears "if you hang up we will call you back; press 9 if not" (docs/queues.md).
    opt_out_hint: str = "after_choice"
    # Who hears about lost calls and failed callbacks (docs/queues.md).
    notify: dict[str, Any] = field(default_factory=dict)
    # Callers may choose when to be called back, in slots with a capacity (None: only "as soon as possible").
    scheduled_callbacks: SlotPolicy | None = None
    # Callbacks may be asked for from a website or app (None: the web endpoint refuses this queue).
    web_callbacks: WebPolicy | None = None
    # Texts confirming a callback go to numbers of these countries (none: no texts; issue 27).
    sms_countries: tuple[str, ...] = ()
    # The service level's target and the goals staffing is computed for (docs/queues.md).
    service_target_seconds: int = 20
    service_level_goal: float = 0.8
    abandon_goal: float = 0.05
    # Wallboard thresholds: tile colours and alerts (docs/queues.md, domain/thresholds.py).
    thresholds: Thresholds = field(default_factory=Thresholds.none)


_INT_FIELDS = ("offer_callback_after_seconds", "short_abandon_seconds", "assumed_agents",
               "max_park_seconds", "dial_timeout_seconds", "max_hold_seconds", "max_callbacks_per_number_per_day",
               "callback_guard_seconds", "recovery_guard_seconds", "callback_promise_lead_seconds",
               "callback_min_talk_seconds", "recovery_horizon_seconds", "service_target_seconds")
_BOOL_FIELDS = ("recover_lost_calls", "recovery_keeps_place", "live_guard", "offer_callback_within_day")
_NOTIFY_KEYS = {"on_lost_call", "on_callback_failed", "on_threshold", "slack_webhook_url", "telegram_bot_token", "telegram_chat_id",
                "email_from", "email_to", "sms_from", "sms_to"}
_FLOAT_FIELDS = ("average_handle_seconds", "average_patience_seconds", "service_level_goal", "abandon_goal",
                 "callback_plan_allowance", "callback_plan_allowance_max")


def _positive(raw: dict, key: str, where: str, cast: type) -> Any:
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(f"{where}.{key}: expected a non-negative number, got {value!r}")
    return cast(value)


def checked_number(value: Any, where: str) -> str:
    """A number of ours (a caller ID): a valid number in E.164, else a ConfigError naming the field."""
    try:
        parsed = phonenumbers.parse(value, None) if isinstance(value, str) and value.startswith("+") else None
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_valid_number(parsed) or \
            phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) != value:
        raise ConfigError(f"{where}: {value!r} is not a valid number in E.164 (like '+18005550100')")
    return value


def caller_id_for(queue: QueueConfig, provider: str) -> str | None:
    """The number a queue's callbacks and texts come from through `provider`: that provider's own, else
    the queue's caller ID, else the first number the queue answers (None: the queue has none)."""
    return queue.caller_ids.get(provider) or queue.caller_id or (queue.numbers[0] if queue.numbers else None)


def caller_id_problems(queues: "QueueDirectory", providers: set[str]) -> list[str]:
    """Every queue that would call through one of `providers` with no number of its own to show."""
    return [f"queues.{q.id}: no caller ID for {p} (set caller_ids.{p}, caller_id or numbers)"
            for q in queues for p in sorted(providers) if caller_id_for(q, p) is None]


def parse_queue(raw: dict[str, Any]) -> QueueConfig:
    qid = raw.get("id")
    if not isinstance(qid, str) or not _QUEUE_ID.match(qid):
        raise ConfigError(f"queue id {qid!r}: use 1-40 lowercase letters, digits or _")
    where = f"queues.{qid}"
    known = set(QueueConfig.__dataclass_fields__) | {"hours"}
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {sorted(unknown)}")
    kwargs: dict[str, Any] = {"id": qid, "name": raw.get("name", qid)}
    for key in _INT_FIELDS:
        if key in raw:
            kwargs[key] = _positive(raw, key, where, int)
    for key in _BOOL_FIELDS:
        if key in raw:
            if not isinstance(raw[key], bool):
                raise ConfigError(f"{where}.{key}: expected true or false")
            kwargs[key] = raw[key]
    notify = raw.get("notify", {})
    if not isinstance(notify, dict) or set(notify) - _NOTIFY_KEYS:
        raise ConfigError(f"{where}.notify: an object with keys from {sorted(_NOTIFY_KEYS)}")
    for key in ("email_to", "sms_to"):
        if key in notify and not isinstance(notify[key], list):
            raise ConfigError(f"{where}.notify.{key}: expected a list")
    kwargs["notify"] = notify
    for key in _FLOAT_FIELDS:
        if key in raw:
            kwargs[key] = _positive(raw, key, where, float)
    reserve = raw.get("callback_reserve_agents")
    if reserve is not None and reserve != "auto":
        kwargs["callback_reserve_agents"] = _positive(raw, "callback_reserve_agents", where, int)
    allowance = (kwargs.get("callback_plan_allowance", QueueConfig.callback_plan_allowance),
                 kwargs.get("callback_plan_allowance_max", QueueConfig.callback_plan_allowance_max))
    if not allowance[0] <= allowance[1] <= 1:
        raise ConfigError(f"{where}: expected callback_plan_allowance <= callback_plan_allowance_max <= 1")
    for key in ("service_level_goal", "abandon_goal"):
        if key in kwargs and not 0 < kwargs[key] < 1:
            raise ConfigError(f"{where}.{key}: a fraction between 0 and 1 (0.8 = 80%)")
    if kwargs.get("service_target_seconds", 20) < 1:
        raise ConfigError(f"{where}.service_target_seconds: at least 1 second")
    if "hours" in raw:
        kwargs["hours"] = BusinessHours.from_config(raw["hours"], f"{where}.hours")
    if "staffed_hours" in raw:
        if not isinstance(raw["staffed_hours"], dict):
            raise ConfigError(f"{where}.staffed_hours: expected an object like 'hours'")
        zone = kwargs["hours"].tz if "hours" in kwargs else "UTC"
        kwargs["staffed_hours"] = BusinessHours.from_config({"timezone": zone, **raw["staffed_hours"]},
                                                            f"{where}.staffed_hours")
    if "roster" in raw:
        kwargs["roster"] = Roster.from_config(raw["roster"], kwargs["hours"].tz if "hours" in kwargs else "UTC",
                                              f"{where}.roster")
    if "scheduled_callbacks" in raw:
        kwargs["scheduled_callbacks"] = SlotPolicy.from_config(raw["scheduled_callbacks"], f"{where}.scheduled_callbacks")
    if "web_callbacks" in raw:
        kwargs["web_callbacks"] = WebPolicy.from_config(raw["web_callbacks"], f"{where}.web_callbacks")
    if "thresholds" in raw:
        kwargs["thresholds"] = Thresholds.from_config(raw["thresholds"], f"{where}.thresholds")
    hint = raw.get("opt_out_hint", "after_choice")
    if hint not in OPT_OUT_HINTS:
        raise ConfigError(f"{where}.opt_out_hint: one of {list(OPT_OUT_HINTS)}")
    kwargs["opt_out_hint"] = hint
    language = raw.get("language", "en")
    if language not in LANGUAGES:
        raise ConfigError(f"{where}.language: {language!r} is not one of {sorted(LANGUAGES)}")
    kwargs["language"] = language
    for key in ("numbers", "allowed_countries", "retry_delays_seconds", "sms_countries"):
        if key in raw:
            if not isinstance(raw[key], list):
                raise ConfigError(f"{where}.{key}: expected a list")
            kwargs[key] = tuple(raw[key])
    if "retry_delays_seconds" in kwargs and not kwargs["retry_delays_seconds"]:
        raise ConfigError(f"{where}.retry_delays_seconds: needs at least one attempt")
    for key in ("default_region", "hold_music_url"):
        if key in raw:
            kwargs[key] = raw[key]
    if "caller_id" in raw:
        kwargs["caller_id"] = checked_number(raw["caller_id"], f"{where}.caller_id")
    caller_ids = raw.get("caller_ids", {})
    if not isinstance(caller_ids, dict) or set(caller_ids) - set(PROVIDERS):
        raise ConfigError(f"{where}.caller_ids: an object with keys from {list(PROVIDERS)}")
    kwargs["caller_ids"] = {p: checked_number(n, f"{where}.caller_ids.{p}") for p, n in caller_ids.items()}
    if raw.get("dial_mode", "agent_first") not in ("agent_first", "customer_first"):
        raise ConfigError(f"{where}.dial_mode: agent_first or customer_first")
    if "dial_mode" in raw:
        kwargs["dial_mode"] = raw["dial_mode"]
    prompts = raw.get("prompts", {})
    for key, by_lang in prompts.items():
        for lang, prompt in by_lang.items():
            if not isinstance(prompt, dict) or not ({"text", "audio"} & set(prompt)):
                raise ConfigError(f"{where}.prompts.{key}.{lang}: give 'text' or 'audio'")
    kwargs["prompts"] = prompts
    return QueueConfig(**kwargs)


class QueueDirectory:
    """All configured queues; finds the one that answers a called number."""

    def __init__(self, queues: list[QueueConfig], default: str | None = None) -> None:
        if not queues:
            raise ConfigError("at least one queue must be configured")
        self._by_id = {q.id: q for q in queues}
        if len(self._by_id) != len(queues):
            raise ConfigError("queue ids must be unique")
        self._by_number = {n: q for q in queues for n in q.numbers}
        self.default = self._by_id[default] if default in self._by_id else queues[0]

    @classmethod
    def from_config(cls, raw: dict[str, Any]) -> "QueueDirectory":
        queues = raw.get("queues")
        if not isinstance(queues, list):
            raise ConfigError("'queues' must be a list")
        return cls([parse_queue(q) for q in queues], raw.get("default"))

    def get(self, queue_id: str) -> QueueConfig:
        try:
            return self._by_id[queue_id]
        except KeyError:
            raise UnknownQueueError(f"no queue {queue_id!r}") from None

    def for_call(self, called: str, requested: str | None = None) -> QueueConfig:
        if requested:
            return self.get(requested)
        return self._by_number.get(called, self.default)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._by_id.values())
