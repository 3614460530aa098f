"""The operations console's HTTP edge: static pages, sign-in with the admin token, and the JSON/CSV API
the pages call. Verify, parse, call a use case, render. Sessions, their CSRF tokens and the sign-in
throttle are edges/sessions.py's."""
from __future__ import annotations

import hmac
import json
import logging
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import parse_qs

from ..domain.errors import BadPageError, OrchestratorError, StoreUnavailableError, TicketNotFoundError, UnknownQueueError
from ..domain.operations import CallBackRefusedError, Operations
from ..domain.model import split_ticket_id
from ..domain.pages import page_limit
from ..domain.queues import QueueDirectory
from .sessions import SESSION_TTL, Sessions, header as _header

log = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parent.parent / "console"
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
MAX_REPORT_DAYS = 92
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)
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


def _day(value: str | None, default: date) -> date:
    """A day in the query (ValueError, a 400, for one that is not a day or outside the years reports can hold:
    9999-12-31 would overflow the day after it)."""
    if not value:
        return default
    day = date.fromisoformat(value)
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"days are {FIRST_DAY.isoformat()}..{LAST_DAY.isoformat()}")
    return day


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

    def sign_in(self, raw_body: bytes | None, headers: Mapping[str, str], client: str = "") -> WebReply:
        """POST {"token": ...} (JSON) or token=... (form). The token travels in the body, never a URL.
        `client`: the address the request came from (its attempts are counted)."""
        text = (raw_body or b"").decode("utf-8", "replace")
        if "json" in _header(headers, "content-type"):
            try:
                body = json.loads(text or "{}")
            except (ValueError, RecursionError):
                body = {}
            given = body.get("token") if isinstance(body, dict) else None
        else:
            given = (parse_qs(text).get("token") or [None])[0]
        result = self.sessions.sign_in(given if isinstance(given, str) else None, client)
        if result.retry_after is not None:
            wait = int(result.retry_after)
            return _json(429, {"error": f"too many sign-in attempts; try again in {wait} s", "retry_after": wait},
                         **{"Retry-After": str(wait)})
        if result.session is None:
            return _json(401, {"error": "wrong token"})
        return _json(200, {"csrf": result.csrf, "queues": self._queues()},
                     **{"Set-Cookie": self.sessions.cookie(result.session, int(SESSION_TTL.total_seconds()))})

    def sign_out(self, session: str) -> WebReply:
        """The session closes server side: its cookie, wherever a copy is, opens nothing after this."""
        self.sessions.sign_out(session)
        return _json(200, {"signed_out": True}, **{"Set-Cookie": self.sessions.cookie("", 0)})

    def _queues(self) -> list[dict[str, Any]]:
        """The queues, each with its own today (its timezone, Holdfast's clock): the pages' default day,
        its zone (every time on its pages is shown on that clock) and its service level target."""
        return [{"id": q.id, "name": q.name, "today": self.ops.today(q).isoformat(), "zone": q.hours.tz,
                 "target_seconds": q.service_target_seconds} for q in self.queues]

    # --- API --------------------------------------------------------------------------------

    def api(self, name: str, method: str, query: Mapping[str, str] | None, headers: Mapping[str, str],
            raw_body: bytes | None = None, client: str = "") -> WebReply:
        try:
            if (method, name) == ("POST", "session"):
                return self.sign_in(raw_body, headers, client)
            session = self.sessions.from_headers(headers)
        except StoreUnavailableError:
            log.exception("console session not read or stored")
            return _json(503, {"error": "not done: a service did not answer; try again"})
        if session is None:
            return _json(401, {"error": "sign in"})
        query = query or {}
        if method == "POST":
            given = _header(headers, "x-csrf-token")
            if not given or not hmac.compare_digest(given.encode(), self.sessions.csrf(session).encode()):
                log.warning("console action without a valid CSRF token", extra={"session": Sessions.who(session)})
                return _json(403, {"error": "missing or wrong CSRF token"})
        try:
            if (method, name) == ("POST", "sign-out"):  # with the session and its CSRF token, like any action
                return self.sign_out(session)
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

