"""The console's sessions and sign-in (issue 21 item 6).

A session is `v1.<expiry>.<id>.<mac>` in an HttpOnly, SameSite=Strict cookie (Secure unless the public URL
is local), signed with a key derived from the admin token (rotating the token signs everyone out), and
open server side (ConsoleSessions, a digest of the id with a TTL) from sign-in until it expires or is
signed out: a signed-out cookie opens nothing, whoever kept a copy. Every state-changing call, sign-out
included, needs the session's CSRF token in `X-CSRF-Token` (a value only the page that signed in can
read: it comes in a JSON body). Sign-in is throttled per client (the address API Gateway saw) and
overall, counted in the table so every container counts the same attempts; past either limit it is a
429 with Retry-After, the token unchecked."""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Mapping
from urllib.parse import urlparse

from ..ports import Clock
from ..ports_access import ConsoleSessions, Throttle

log = logging.getLogger(__name__)

COOKIE = "holdfast_console"
SESSION_TTL = timedelta(hours=8)
# Sign-in attempts (right or wrong) per window: per client, and all clients together.
CLIENT_ATTEMPTS, ALL_ATTEMPTS, ATTEMPT_WINDOW = 10, 100, timedelta(minutes=5)


def header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return ""


@dataclass(frozen=True)
class SignIn:
    """What a sign-in came to: a session (and its CSRF token), a wrong token, or too many attempts."""

    session: str | None = None
    csrf: str | None = None
    retry_after: float | None = None


class Sessions:
    """Signed cookies, open server side; their CSRF tokens; sign-in with its throttle."""

    def __init__(self, admin_token: str, clock: Clock, public_base_url: str, store: ConsoleSessions,
                 throttle: Throttle) -> None:
        self.admin_token = admin_token
        self.key = hmac.new(admin_token.encode(), b"holdfast console session v1", hashlib.sha256).digest()
        self.clock = clock
        self.store = store
        self.throttle = throttle
        url = urlparse(public_base_url)
        self.local = url.scheme == "http" and url.hostname in ("localhost", "127.0.0.1", "::1")
        self.path = (url.path.rstrip("/") or "") + "/console"

    def _mac(self, text: str) -> str:
        return hmac.new(self.key, text.encode(), hashlib.sha256).hexdigest()

    def token_ok(self, given: str) -> bool:
        """The admin token, compared in constant time; an unset token lets nobody in (fail closed)."""
        return bool(self.admin_token) and hmac.compare_digest(given.encode(), self.admin_token.encode())

    def sign_in(self, given: str | None, client: str) -> SignIn:
        """Count the attempt (the client's, then everyone's), then check the token; open a session if right."""
        now = self.clock.now()
        for key, limit in ((f"signin#client#{client or '?'}", CLIENT_ATTEMPTS), ("signin#all", ALL_ATTEMPTS)):
            wait = self.throttle.take(key, limit, ATTEMPT_WINDOW, now)
            if wait is not None:
                log.warning("console sign-in throttled", extra={"scope": key.split("#")[1], "retry_after": wait})
                return SignIn(retry_after=wait)
        if not isinstance(given, str) or not self.token_ok(given):
            log.warning("console sign-in refused")
            return SignIn()
        expiry = now + SESSION_TTL
        body = f"v1.{int(expiry.timestamp())}.{secrets.token_hex(16)}"
        session = f"{body}.{self._mac(body)}"
        self.store.open(self._id(session), expiry)
        log.info("console sign-in", extra={"session": self.who(session)})
        return SignIn(session, self.csrf(session))

    def sign_out(self, session: str) -> None:
        self.store.close(self._id(session))
        log.info("console sign-out", extra={"session": self.who(session)})

    def csrf(self, session: str) -> str:
        return self._mac("csrf:" + session.rsplit(".", 1)[0])

    @staticmethod
    def _id(session: str) -> str:
        return session.split(".")[2]

    def valid(self, session: str) -> bool:
        """Signed by us, not expired, and still open (not signed out)."""
        if not self.admin_token:
            return False
        parts = session.split(".")
        if len(parts) != 4 or parts[0] != "v1" or not parts[1].isascii() or not parts[1].isdigit():
            return False
        if not hmac.compare_digest(parts[3].encode(), self._mac(".".join(parts[:3])).encode()):
            return False
        now = self.clock.now()
        return int(parts[1]) > now.timestamp() and self.store.is_open(parts[2], now)

    def from_headers(self, headers: Mapping[str, str]) -> str | None:
        for part in header(headers, "cookie").split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE and self.valid(value):
                return value
        return None

    def cookie(self, value: str, max_age: int) -> str:
        secure = "" if self.local else "; Secure"
        return f"{COOKIE}={value}; Path={self.path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"

    @staticmethod
    def who(session: str) -> str:
        """A session's name in logs: its id's start, never the session itself."""
        return session.split(".")[2][:8] if session.count(".") == 3 else "?"
