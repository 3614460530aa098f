"""The simulated network's HTTP server: the demo page and its API, and the providers' REST shapes."""
from __future__ import annotations

import json
import re
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from . import jambonz, telnyx, twilio, vonage
from .calls import CallerModel

if TYPE_CHECKING:
    from .core import SimNetwork

PAGE = Path(__file__).parent.parent / "demo.html"


def handler_for(net: SimNetwork) -> type[BaseHTTPRequestHandler]:
    """The network's HTTP side: the demo page, /sim/state and /sim/log, the page's and tests' actions
    (/sim/call, /sim/calls/{sid}/press|hangup, /sim/agents/{name}) and each provider's REST shapes."""

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: Any, kind: str = "application/json") -> None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/":
                self._send(200, PAGE.read_text(encoding="utf-8"), "text/html; charset=utf-8")
            elif self.path == "/sim/state":
                self._send(200, net.state())
            elif self.path == "/sim/log":
                self._send(200, net.log())
            elif (reply := twilio.rest_get(net, self.path)) is not None:
                self._send(*reply)
            else:
                self._send(404, {"error": "not found"})

        def do_POST(self) -> None:  # noqa: N802
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            form = dict(parse_qsl(raw, keep_blank_values=True))
            try:
                body = json.loads(raw) if self.headers.get("Content-Type", "").startswith("application/json") else {}
            except ValueError:
                body = {}
            path = self.path
            reply = None
            for provider in (jambonz, vonage, telnyx, twilio):  # each provider's REST shape
                reply = reply or provider.rest_post(net, path, form, body)
            if reply is not None:
                self._send(*reply)
            elif path == "/sim/call":
                model = CallerModel(voicemail=True) if body.get("voicemail") else None
                call = net.dial_in(body.get("from", "+14155550100"), body.get("to", "+18005550100"), model)
                self._send(200, {"sid": call.sid})
            elif m := re.fullmatch(r"/sim/calls/([^/]+)/(press|hangup)", path):
                if m.group(1) not in net.calls:
                    self._send(404, {"error": "no such call"})
                elif m.group(2) == "press":
                    net.press(m.group(1), str(body.get("digits", "")))
                    self._send(200, {"ok": True})
                else:
                    net.hang_up(m.group(1))
                    self._send(200, {"ok": True})
            elif m := re.fullmatch(r"/sim/agents/([A-Za-z0-9_.-]+)", path):
                self._send(200, net.set_agent(m.group(1), str(body.get("status", "available")),
                                              float(body.get("handle_seconds", 60))))
            else:
                self._send(404, {"error": "not found"})

        def do_PUT(self) -> None:  # noqa: N802 - Vonage's transfer, jambonz's updateCall
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            self._send(*(jambonz.rest_put(net, self.path, raw) or vonage.rest_put(net, self.path, raw)))

        def log_message(self, *args: object) -> None:
            pass

    return Handler
