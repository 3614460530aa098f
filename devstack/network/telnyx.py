"""The network as Telnyx TeXML: Twilio-shaped form webhooks and TwiML-compatible replies, but
Ed25519 signatures with the network's own key over `timestamp|body`, v3: call ids, sip: agents, and
the TeXML REST shape (JSON in and out)."""
from __future__ import annotations

import base64
import re
from typing import TYPE_CHECKING, Any

from .calls import Call, new_sid
from .texts import take_text
from .twilio import Reply, Twilio, form

if TYPE_CHECKING:
    from .core import SimNetwork


class Telnyx(Twilio):
    name = "telnyx"

    @staticmethod
    def call_id() -> str:
        return new_sid("v3:")

    @staticmethod
    def agent_contact(name: str) -> str:
        return f"sip:{name}@agents.sim"

    @staticmethod
    def verdict_before_answer(net: SimNetwork, call: Call, params: dict[str, str]) -> dict[str, str]:
        """Synchronous AMD (texml-answering-machine): the TeXML waits for the verdict, which is the
        AnsweredBy of the status callback, and only of the events the call asked for (StatusCallbackEvent;
        none asked: only the final one, when it is too late to matter)."""
        if call.status_url and "answered" in params.get("StatusCallbackEvent", "").split():
            net.post(call.status_url, net.call_params(call, AnsweredBy=call.answered_by or "unknown",
                                                      CallbackSource="call-progress-events"), event=True)
        return {}

    @staticmethod
    def signed(net: SimNetwork, url: str, params: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        body, headers = form(params)
        stamp = str(int(net.now().timestamp()))
        signature = net.signing_key.sign(stamp.encode() + b"|" + body)
        return body, headers | {"telnyx-timestamp": stamp,
                                "telnyx-signature-ed25519": base64.b64encode(signature).decode()}


def rest_post(net: SimNetwork, path: str, form: dict[str, str], body: dict[str, Any]) -> Reply | None:
    texml_update = re.fullmatch(r"/v2/texml/Accounts/[^/]+/Calls/([^/]+)", path)
    if re.fullmatch(r"/v2/texml/Accounts/[^/]+/Calls", path):  # Telnyx TeXML: JSON in and out
        call = net.create_call({k: str(v) for k, v in body.items()})
        return 200, {"call_sid": call.sid, "status": "queued", "to": call.to, "from": call.frm}
    if texml_update:
        if net.redirect(texml_update.group(1), str(body.get("Texml", "<Response/>"))):
            return 200, {"call_sid": texml_update.group(1), "status": "in-progress"}
        return 422, {"errors": [{"code": "90018", "title": "Call has already ended"}]}
    if path == "/v2/messages":  # Telnyx Messaging: JSON in, the message record out
        to, frm = str(body.get("to", "")), str(body.get("from", ""))
        if not to or not frm or not body.get("text"):
            return 422, {"errors": [{"code": "10005", "title": "Missing required parameter"}]}
        message_id = take_text(net, "telnyx", to, frm, str(body["text"]), str(body.get("webhook_url", "")))
        return 200, {"data": {"record_type": "message", "direction": "outbound", "id": message_id, "type": "SMS",
                              "from": {"phone_number": frm}, "to": [{"phone_number": to, "status": "queued"}],
                              "text": body["text"]}}
    return None
