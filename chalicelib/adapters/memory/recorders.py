"""The memory world's telephony and event bus: they record what would have gone out (calls placed,
redirects, events published) for the simulator, the benchmarks and the tests to read."""
from __future__ import annotations

import threading
from typing import Any, Mapping

from ...domain.errors import CallGoneError, TelephonyError
from ...domain.script import Script, Step
from ...ports import Dialer, EventBus, InboundText, Messenger, TextStatus, WebhookRequest, decode_body
from ...telephony_ports import TEXT_STATES


class FakeDialer(Dialer):
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.redirects: list[tuple[str, Script]] = []
        self.fail_calls = False
        self.gone: set[str] = set()
        self._lock = threading.Lock()

    def place_call(self, to: str, caller_id: str, answer: Step, status: Step, machine_detection: bool,
                   timeout_seconds: int, verdict: Step | None = None) -> str:
        if self.fail_calls:
            raise TelephonyError("refused")
        with self._lock:
            self.calls.append({"to": to, "from": caller_id, "answer": answer, "status": status,
                               "amd": machine_detection, "verdict": verdict})
            return f"CAout{len(self.calls)}"

    def redirect(self, call_id: str, script: Script) -> None:
        if call_id in self.gone:
            raise CallGoneError("call completed")
        if self.fail_calls:
            raise TelephonyError("provider unreachable")
        self.redirects.append((call_id, script))


class FakeBus(EventBus):
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def publish(self, event: Mapping[str, Any]) -> None:
        self.events.append(dict(event))


class FakeMessenger(Messenger):
    """Texts recorded instead of sent (the memory world, tests); inbound texts arrive as JSON
    {"from": ..., "body": ..., "opt_out": ..., "id": ..., "to": ...} (the simulated network's messaging
    webhook), delivery reports as {"id": ..., "status": "sent" | "delivered" | "failed"}."""

    name = "memory"

    def __init__(self) -> None:
        self.sent: list[dict[str, str]] = []

    def send_text(self, to: str, sender: str, body: str, status_url: str | None = None) -> str:
        self.sent.append({"to": to, "from": sender, "body": body, "id": f"SM{len(self.sent) + 1}",
                          **({"status_url": status_url} if status_url else {})})
        return f"SM{len(self.sent)}"

    def parse_inbound(self, request: WebhookRequest) -> InboundText | None:
        form = decode_body(request)
        sender = form.get("from")
        if not isinstance(sender, str):
            return None
        return InboundText(sender, str(form.get("body") or ""), bool(form.get("opt_out")),
                           str(form.get("id") or ""), str(form.get("to") or ""))

    def parse_status(self, request: WebhookRequest) -> TextStatus | None:
        form = decode_body(request)
        message_id, state = form.get("id"), form.get("status")
        if not isinstance(message_id, str) or not message_id or state not in TEXT_STATES:
            return None
        return TextStatus(message_id, str(state))
