"""The operations console's HTTP edge: static pages, sign-in with the admin token, a session cookie
and CSRF tokens, and the JSON/CSV API the pages call. Verify, parse, call a use case, render.

Sessions are stateless: `v1.<expiry>.<nonce>.<mac>` signed with a key derived from the admin token
(rotating the token signs everyone out). The cookie is HttpOnly, SameSite=Strict, Secure unless the
public URL is local, and expires. Every state-changing call needs the session's CSRF token in the
`X-CSRF-Token` header: a value only the page that signed in can read (it comes in a JSON body)."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import parse_qs, urlparse

from ..domain.errors import BadPageError, OrchestratorError, StoreUnavailableError, TicketNotFoundError, UnknownQueueError
from ..domain.operations import CallBackRefusedError, Operations
from ..domain.model import split_ticket_id
from ..domain.pages import page_limit
from ..domain.queues import QueueDirectory
from ..ports import Clock

log = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parent.parent / "console"
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
COOKIE = "holdfast_console"
SESSION_TTL = timedelta(hours=8)
MAX_REPORT_DAYS = 92
SECURITY_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
                    "Referrer-Policy": "no-referrer",
                    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                               "script-src 'self'; connect-src 'self'; frame-ancestors 'none'"}


@dataclass(frozen=True)
class WebReply:
    status: int
    body: str
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)

    def all_headers(self) -> dict[str, str]:
        return {"Content-Type": self.content_type, **SECURITY_HEADERS, **self.headers}


def _json(status: int, body: Any, **headers: str) -> WebReply:
    return WebReply(status, json.dumps(body, default=str), "application/json", headers)


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return ""


class Sessions:
    """Stateless signed sessions and their CSRF tokens."""

    def __init__(self, admin_token: str, clock: Clock, public_base_url: str) -> None:
        self.admin_token = admin_token
        self.key = hmac.new(admin_token.encode(), b"holdfast console session v1", hashlib.sha256).digest()
        self.clock = clock
        url = urlparse(public_base_url)
        self.local = url.scheme == "http" and url.hostname in ("localhost", "127.0.0.1", "::1")
        self.path = (url.path.rstrip("/") or "") + "/console"

    def _mac(self, text: str) -> str:
        return hmac.new(self.key, text.encode(), hashlib.sha256).hexdigest()

    def token_ok(self, given: str) -> bool:
        """The admin token, compared in constant time; an unset token lets nobody in (fail closed)."""
        return bool(self.admin_token) and hmac.compare_digest(given.encode(), self.admin_token.encode())

    def issue(self) -> tuple[str, str]:
        expiry = int((self.clock.now() + SESSION_TTL).timestamp())
        body = f"v1.{expiry}.{secrets.token_hex(16)}"
        value = f"{body}.{self._mac(body)}"
        return value, self.csrf(value)

    def csrf(self, session: str) -> str:
        return self._mac("csrf:" + session.rsplit(".", 1)[0])

    def valid(self, session: str) -> bool:
        if not self.admin_token:
            return False
        parts = session.split(".")
        if len(parts) != 4 or parts[0] != "v1" or not parts[1].isdigit():
            return False
        body = ".".join(parts[:3])
        if not hmac.compare_digest(parts[3], self._mac(body)):
            return False
        return int(parts[1]) > self.clock.now().timestamp()

    def from_headers(self, headers: Mapping[str, str]) -> str | None:
        for part in _header(headers, "cookie").split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE and self.valid(value):
                return value
        return None

    def cookie(self, value: str, max_age: int) -> str:
        secure = "" if self.local else "; Secure"
        return f"{COOKIE}={value}; Path={self.path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"

    @staticmethod
    def who(session: str) -> str:
        """A session's name in logs: its nonce's start, never the session itself."""
        return session.split(".")[2][:8] if session.count(".") == 3 else "?"


def _day(value: str | None, default: date) -> date:
    if not value:
        return default
    return date.fromisoformat(value)


class Console:
    def __init__(self, operations: Operations, queues: QueueDirectory, sessions: Sessions) -> None:
        self.ops = operations
        self.queues = queues
        self.sessions = sessions

    # --- pages ------------------------------------------------------------------------------

    def asset(self, name: str) -> WebReply:
        path = (ASSETS / name).resolve()
        if path.parent != ASSETS or path.suffix not in CONTENT_TYPES or not path.is_file():
            return WebReply(404, "not found", "text/plain")
        return WebReply(200, path.read_text(encoding="utf-8"), CONTENT_TYPES[path.suffix])

    # --- session ----------------------------------------------------------------------------

    def sign_in(self, raw_body: bytes | None, headers: Mapping[str, str]) -> WebReply:
        """POST {"token": ...} (JSON) or token=... (form). The token travels in the body, never a URL."""
        text = (raw_body or b"").decode("utf-8", "replace")
        if "json" in _header(headers, "content-type"):
            try:
                body = json.loads(text or "{}")
            except ValueError:
                body = {}
            given = body.get("token") if isinstance(body, dict) else None
        else:
            given = (parse_qs(text).get("token") or [None])[0]
        if not isinstance(given, str) or not self.sessions.token_ok(given):
            log.warning("console sign-in refused")
            return _json(401, {"error": "wrong token"})
        session, csrf = self.sessions.issue()
        log.info("console sign-in", extra={"session": Sessions.who(session)})
        return _json(200, {"csrf": csrf, "queues": self._queues()},
                     **{"Set-Cookie": self.sessions.cookie(session, int(SESSION_TTL.total_seconds()))})

    def sign_out(self, headers: Mapping[str, str]) -> WebReply:
        return _json(200, {"signed_out": True}, **{"Set-Cookie": self.sessions.cookie("", 0)})

    def _queues(self) -> list[dict[str, Any]]:
        """The queues, each with its own today (its timezone, Holdfast's clock): the pages' default day,
        its zone (every time on its pages is shown on that clock) and its service level target."""
        return [{"id": q.id, "name": q.name, "today": self.ops.today(q).isoformat(), "zone": q.hours.tz,
                 "target_seconds": q.service_target_seconds} for q in self.queues]

    # --- API --------------------------------------------------------------------------------

    def api(self, name: str, method: str, query: Mapping[str, str] | None, headers: Mapping[str, str],
            raw_body: bytes | None = None) -> WebReply:
        if (method, name) == ("POST", "session"):
            return self.sign_in(raw_body, headers)
        if (method, name) == ("POST", "sign-out"):
            return self.sign_out(headers)
        session = self.sessions.from_headers(headers)
        if session is None:
            return _json(401, {"error": "sign in"})
        query = query or {}
        if method == "POST":
            given = _header(headers, "x-csrf-token")
            if not given or not hmac.compare_digest(given, self.sessions.csrf(session)):
                log.warning("console action without a valid CSRF token", extra={"session": Sessions.who(session)})
                return _json(403, {"error": "missing or wrong CSRF token"})
        try:
            return self._call(name, method, query, session, raw_body)
        except (UnknownQueueError, TicketNotFoundError) as exc:
            return _json(404, {"error": str(exc)})
        except (ValueError, BadPageError) as exc:  # a malformed date, number, page size or cursor in the query
            return _json(400, {"error": f"bad request: {exc}"})
        except (OrchestratorError, StoreUnavailableError):
            log.exception("console action failed")
            return _json(503, {"error": "not done: a service did not answer; try again"})

    def _queue(self, query: Mapping[str, str]) -> str:
        queue_id = query.get("queue") or self.queues.default.id
        return self.queues.get(queue_id).id

    def _call(self, name: str, method: str, query: Mapping[str, str], session: str,
              raw_body: bytes | None) -> WebReply:
        routes = {("GET", "me"): lambda: _json(200, {"csrf": self.sessions.csrf(session), "queues": self._queues()}),
                  ("GET", "monitor"): lambda: _json(200, self.ops.monitor(self._queue(query))),
                  ("GET", "wallboard"): lambda: _json(200, self.ops.wallboard()),
                  ("GET", "lost-calls"): lambda: self._lost_calls(query),
                  ("GET", "report"): lambda: _json(200, self._report(query).as_json()),
                  ("GET", "report.csv"): lambda: self._csv(query),
                  ("GET", "staffing"): lambda: _json(200, self._staffing(query)),
                  ("GET", "scheduled"): lambda: _json(200, {"slots": self.ops.scheduled(self._queue(query))}),
                  ("POST", "reveal"): lambda: _json(200, {"number": self.ops.reveal(self._ticket(raw_body),
                                                                                      Sessions.who(session))}),
                  ("POST", "stop-calling"): lambda: self._stop(raw_body, session),
                  ("POST", "call-back-now"): lambda: self._call_back_now(raw_body, session),
                  ("POST", "opt-out"): lambda: _json(200, {"opted_out": self.ops.opt_out(self._ticket(raw_body),
                                                                                          Sessions.who(session))})}
        handler = routes.get((method, name))
        if handler is None:
            return _json(404, {"error": f"no {method} {name}"})
        return handler()

    def _lost_calls(self, query: Mapping[str, str]) -> WebReply:
        page = self.ops.lost_calls(self._queue(query), page_limit(query.get("limit")), query.get("next") or None)
        return _json(200, {"lost_calls": page.items, "next": page.next})

    def _stop(self, raw_body: bytes | None, session: str) -> WebReply:
        if not self.ops.stop_calling(self._ticket(raw_body), Sessions.who(session)):
            return _json(409, {"error": "no pending callback to stop (being dialed, or already closed)"})
        return _json(200, {"stopped": True})

    def _call_back_now(self, raw_body: bytes | None, session: str) -> WebReply:
        try:
            done = self.ops.call_back_now(self._ticket(raw_body), Sessions.who(session))
        except CallBackRefusedError as refused:
            zone = self.queues.get(split_ticket_id(self._ticket(raw_body))[0]).hours.zone
            return _json(409, {"error": str(refused), "reason": refused.reason,
                               "when": refused.when.astimezone(zone).isoformat() if refused.when else None})
        return _json(200, {"result": done.result, "ticket": done.ticket, "message": done.message})

    @staticmethod
    def _ticket(raw_body: bytes | None) -> str:
        try:
            body = json.loads(raw_body or b"{}")
        except ValueError:
            raise ValueError('body must be {"ticket": "queue-number"}') from None
        ticket = body.get("ticket") if isinstance(body, dict) else None
        if not isinstance(ticket, str):
            raise ValueError('body must be {"ticket": "queue-number"}')
        return ticket

    def _range(self, query: Mapping[str, str]) -> tuple[str, date, date, int]:
        queue_id = self._queue(query)
        today = self.ops.today(self.queues.get(queue_id))
        first = _day(query.get("from"), today)
        last = _day(query.get("to"), first)
        if last < first or (last - first).days >= MAX_REPORT_DAYS:
            raise ValueError(f"from..to must be in order and at most {MAX_REPORT_DAYS} days")
        return queue_id, first, last, self._target(query, queue_id)

    def _target(self, query: Mapping[str, str], queue_id: str) -> int:
        """The service level's target: the query's, else the queue's own."""
        target = int(query.get("target") or self.queues.get(queue_id).service_target_seconds)
        if not 1 <= target <= 3600:
            raise ValueError("target must be 1..3600 seconds")
        return target

    def _report(self, query: Mapping[str, str]) -> Any:
        queue_id, first, last, target = self._range(query)
        return self.ops.report(queue_id, first, last, target)

    def _csv(self, query: Mapping[str, str]) -> WebReply:
        queue_id, first, last, target = self._range(query)
        name = f"holdfast-{queue_id}-{first.isoformat()}-{last.isoformat()}.csv"
        return WebReply(200, self.ops.report(queue_id, first, last, target).csv(), "text/csv; charset=utf-8",
                        {"Content-Disposition": f'attachment; filename="{name}"'})

    def _staffing(self, query: Mapping[str, str]) -> dict[str, Any]:
        queue_id = self._queue(query)
        return self.ops.staffing(queue_id, self._target(query, queue_id))

