"""A queue's settings for callbacks asked for from the web (domain/webrequest.py)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import ConfigError


@dataclass(frozen=True)
class WebPolicy:
    """A queue's web callbacks (docs/queues.md, `web_callbacks`)."""

    allowed_origins: tuple[str, ...] = ()  # https://example.com; none: only same-origin and non-browser clients
    per_client_per_hour: int = 5  # requests from one address in an hour (booked or not)
    sms_code: bool = False  # a code texted to the number must be given before a callback is booked

    @classmethod
    def from_config(cls, raw: Any, where: str) -> "WebPolicy":
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: expected an object like {{\"allowed_origins\": [\"https://example.com\"]}}")
        unknown = set(raw) - {"allowed_origins", "per_client_per_hour", "sms_code"}
        if unknown:
            raise ConfigError(f"{where}: unknown field(s) {sorted(unknown)}")
        origins = raw.get("allowed_origins", [])
        if not isinstance(origins, list) or not all(isinstance(o, str) and o.startswith(("https://", "http://"))
                                                    and o.count("/") == 2 for o in origins):
            raise ConfigError(f"{where}.allowed_origins: a list of origins like 'https://example.com' (no path)")
        per_client = raw.get("per_client_per_hour", cls.per_client_per_hour)
        if not isinstance(per_client, int) or isinstance(per_client, bool) or per_client < 1:
            raise ConfigError(f"{where}.per_client_per_hour: a whole number of at least 1")
        sms_code = raw.get("sms_code", False)
        if not isinstance(sms_code, bool):
            raise ConfigError(f"{where}.sms_code: true or false")
        return cls(tuple(origins), per_client, sms_code)
