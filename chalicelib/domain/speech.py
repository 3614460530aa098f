"""Turning a prompt key into what the caller hears: the queue's override (text or recorded audio)
for that language if it has one, else the built-in text. Every spoken prompt goes through here."""
from __future__ import annotations

from .prompts import LANGUAGES, TEXTS
from .queues import QueueConfig
from .script import Play, Say


def prompt(queue: QueueConfig, language: str, key: str, **values: object) -> Say | Play:
    override = queue.prompts.get(key, {}).get(language, {})
    if "audio" in override:
        return Play(override["audio"])
    text = override.get("text") or TEXTS[language][key]
    return Say(text.format(queue=queue.name, **values), LANGUAGES[language])
