"""Building signed provider requests the way the provider does."""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

EVENTS = Path(__file__).resolve().parent / "events"


def event(name: str, **overrides: str) -> dict[str, str]:
    with open(EVENTS / "twilio" / f"{name}.json", encoding="utf-8") as fh:
        params = json.load(fh)
    params.update(overrides)
    return params


def signed(token: str, url: str, params: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """Body and headers of a Twilio webhook POST to `url` (the full public URL, query included)."""
    body = urlencode(params).encode()
    return body, {"Content-Type": "application/x-www-form-urlencoded",
                  "X-Twilio-Signature": RequestValidator(token).compute_signature(url, params)}
