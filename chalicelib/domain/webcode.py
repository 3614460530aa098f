"""The one-time code a web request may need (issue 27, `web_callbacks.sms_code`): six digits texted to
the number, so a callback is booked only for a number whoever asked can read texts on.

The code is derived, not stored: an HMAC of the queue, the number and the ten-minute window it was
sent in, under a key derived from the caller-link secret, so no store holds codes and every container
agrees on them. It is good in its own window and the next (10 to 20 minutes). Guessing is bounded by
the store's quotas (a few checks per number an hour, `WebRequests`), not by the code's length alone."""
from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

WINDOW_SECONDS = 600
DIGITS = 6


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"holdfast web request codes", hashlib.sha256).digest()


def code_for(secret: str, queue_id: str, number: str, moment: datetime, windows_back: int = 0) -> str:
    """The code for `number` in the window of `moment` (or one `windows_back` before it)."""
    if not secret:
        raise ValueError("no key to derive codes from")  # fail closed: never a code under an empty key
    window = int(moment.timestamp() // WINDOW_SECONDS) - windows_back
    mac = hmac.new(_key(secret), f"{queue_id}|{number}|{window}".encode(), hashlib.sha256).digest()
    return f"{int.from_bytes(mac[:8], 'big') % 10 ** DIGITS:0{DIGITS}d}"


def code_ok(secret: str, queue_id: str, number: str, code: str, now: datetime) -> bool:
    """Whether `code` is the number's code now (sent in this window or the one before)."""
    if not secret or not isinstance(code, str) or len(code) != DIGITS or not code.isdigit():
        return False
    return any(hmac.compare_digest(code, code_for(secret, queue_id, number, now, back)) for back in (0, 1))
