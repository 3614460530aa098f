"""The public web endpoint for callbacks asked for from a website or app (issue 27): the wait first
(GET /web/{queue}/wait: the place, the wait, the times one may choose, whether a code is needed), a code
texted to the number where the queue asks for one (POST /web/{queue}/code, JSON {"number": "..."}),
then the request (POST /web/{queue}/callback, JSON {"number": "...", "code": "...", "slot": "..."}),
and the embeddable widget (GET /web/widget.js: one script tag, no third-party loads).

Browsers are let in only from the queue's allowed origins (and the app's own); a request whose Origin
is not one of them is refused before anything is counted or booked. Clients that send no Origin (an
app's server) are let in, bounded like everyone by the per-address quota. Errors are mapped by type."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from ..domain.errors import NumberNotAllowedError, UnknownQueueError
from ..domain.webrequest import CodeRequiredError, WebBooked, WebRequestError, WebRequests
from .console import WebReply

MAX_BODY_BYTES = 1024
WIDGET = Path(__file__).resolve().parent.parent / "web" / "widget.js"
API_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return ""


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class WebApi:
    def __init__(self, requests: WebRequests, public_base_url: str) -> None:
        self.requests = requests
        self.own_origin = _origin_of(public_base_url)

    def _reply(self, status: int, body: Any, origin: str = "") -> WebReply:
        headers = dict(API_HEADERS)
        if origin:  # an allowed browser origin may read the answer
            headers.update({"Access-Control-Allow-Origin": origin, "Vary": "Origin"})
        return WebReply(status, json.dumps(body, default=str), "application/json", headers)

    def _allowed(self, queue_id: str, headers: Mapping[str, str]) -> tuple[str, WebReply | None]:
        """The Origin to echo back, or the refusal (404 unknown or not offered, 403 origin not allowed)."""
        origin = _header(headers, "origin")
        try:
            _, policy = self.requests.policy(queue_id)
        except (UnknownQueueError, WebRequestError):
            return "", self._reply(404, {"error": f"no web callbacks for queue {queue_id!r}"})
        if origin and origin != self.own_origin and origin not in policy.allowed_origins:
            return "", self._reply(403, {"error": "this origin may not request callbacks for this queue"})
        return origin, None

    def preflight(self, queue_id: str, headers: Mapping[str, str]) -> WebReply:
        origin, refused = self._allowed(queue_id, headers)
        if refused is not None:
            return refused
        reply = self._reply(204, {}, origin)
        return WebReply(204, "", "text/plain", {**reply.headers, "Access-Control-Allow-Methods": "GET, POST",
                                                "Access-Control-Allow-Headers": "Content-Type",
                                                "Access-Control-Max-Age": "600"})

    def wait(self, queue_id: str, headers: Mapping[str, str]) -> WebReply:
        origin, refused = self._allowed(queue_id, headers)
        if refused is not None:
            return refused
        view = self.requests.wait(queue_id)
        return self._reply(200, {"queue": view.queue, "open": view.is_open, "place": view.place,
                                 "wait_minutes": view.wait_minutes,
                                 "wait_range_minutes": list(view.wait_range_minutes) if view.wait_range_minutes
                                 else None, "code_required": view.code_required,
                                 "slots": [{"slot": s.key, "start": s.start.strftime("%Y-%m-%dT%H:%M:%SZ")}
                                           for s in view.slots]}, origin)

    def _body(self, raw_body: bytes | None, fields: set[str]) -> dict[str, Any] | None:
        """The JSON object posted, if it is one with a number and no field but `fields`."""
        try:
            body = json.loads(raw_body or b"")
        except ValueError:
            return None
        return body if isinstance(body, dict) and "number" in body and not set(body) - fields else None

    def _use(self, queue_id: str, raw_body: bytes | None, headers: Mapping[str, str], fields: set[str],
             use: Callable[[dict[str, Any]], dict[str, Any]], done: int = 200) -> WebReply:
        origin, refused = self._allowed(queue_id, headers)
        if refused is not None:
            return refused
        if raw_body is not None and len(raw_body) > MAX_BODY_BYTES:
            return self._reply(413, {"error": f"body larger than {MAX_BODY_BYTES} bytes"}, origin)
        body = self._body(raw_body, fields)
        if body is None:
            shape = ", ".join(f'"{f}": "..."' for f in sorted(fields))
            return self._reply(400, {"error": f"body must be a JSON object with a number (fields: {shape})"}, origin)
        try:
            return self._reply(done, use(body), origin)
        except NumberNotAllowedError as exc:
            return self._reply(400, {"error": f"this number cannot be called back: {exc.reason}"}, origin)
        except WebRequestError as exc:
            return self._reply(exc.status, {"error": str(exc), "code_required": isinstance(exc, CodeRequiredError)},
                               origin)

    def request(self, queue_id: str, raw_body: bytes | None, headers: Mapping[str, str], client: str) -> WebReply:
        return self._use(queue_id, raw_body, headers, {"number", "code", "slot"}, lambda body: booked_json(
            self.requests.request(queue_id, body.get("number"), client or "unknown", body.get("code"),
                                  body.get("slot"))))

    def code(self, queue_id: str, raw_body: bytes | None, headers: Mapping[str, str], client: str) -> WebReply:
        """Text the number the code its request will need (202: sent)."""
        def send(body: dict[str, Any]) -> dict[str, Any]:
            self.requests.request_code(queue_id, body.get("number"), client or "unknown")
            return {"sent": True}

        return self._use(queue_id, raw_body, headers, {"number"}, send, 202)

    @staticmethod
    def widget() -> WebReply:
        return WebReply(200, WIDGET.read_text(encoding="utf-8"), "text/javascript",
                        {"Cache-Control": "max-age=300", "X-Content-Type-Options": "nosniff"})


def booked_json(booked: WebBooked) -> dict[str, Any]:
    return {"queue": booked.queue, "place": booked.place, "already_booked": booked.already_booked,
            "callback_by": booked.callback_at.strftime("%Y-%m-%dT%H:%M:%SZ") if booked.callback_at else None}
