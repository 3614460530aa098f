"""Turning a prompt key into what the caller hears: the queue's override (text or recorded audio)
for that language if it has one, else the built-in text. Every spoken prompt goes through here, and
every provider picks the voice for a spoken one here (`voice_for`)."""
from __future__ import annotations

from datetime import datetime
from typing import Mapping
from zoneinfo import ZoneInfo

from .phone import CALLING_WINDOW, local_zone
from .prompts import LANGUAGES, TEXTS, clock_time, when
from .queues import QueueConfig
from .script import Play, Say


# Where a provider has no voice for a prompt's language (and the queue recorded no audio for it), the
# prompt is said in that provider's voice for this language instead of a voice it does not have;
# startup warns about every such queue (edges.webhooks.unspoken).
FALLBACK_LANGUAGE = LANGUAGES["en"]


def voice_for(voices: Mapping[str, str], language: str) -> tuple[str, str]:
    """(language, voice) a provider with `voices` says a prompt in `language` with."""
    if language in voices:
        return language, voices[language]
    return FALLBACK_LANGUAGE, voices[FALLBACK_LANGUAGE]


def prompt(queue: QueueConfig, language: str, key: str, **values: object) -> Say | Play:
    override = queue.prompts.get(key, {}).get(language, {})
    if "audio" in override:
        return Play(override["audio"])
    text = override.get("text") or TEXTS[language][key]
    return Say(text.format(queue=queue.name, **values), LANGUAGES[language])


def spoken_when(queue: QueueConfig, caller: str | None, moment: datetime, now: datetime, language: str) -> str:
    """A moment said in one time zone: the listener's, from their own number (`caller`: the number they
    call from, never one they typed), named as theirs when it differs from the queue's there and then;
    the queue's when their local time is not known (no number, or one spanning zones that differ)."""
    theirs = local_zone(caller, moment) or queue.hours.tz
    differs = moment.astimezone(ZoneInfo(theirs)).utcoffset() != moment.astimezone(queue.hours.zone).utcoffset()
    return when(moment, now, theirs, language, yours=differs)


def calling_hours(language: str) -> dict[str, str]:
    """The calling window's opening and closing, as said in `language` ('8 AM', '21:00')."""
    day = datetime(2000, 1, 1)
    return {"opens": clock_time(datetime.combine(day, CALLING_WINDOW[0]), language),
            "closes": clock_time(datetime.combine(day, CALLING_WINDOW[1]), language)}
