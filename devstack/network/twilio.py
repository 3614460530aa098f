"""The network as Twilio: form-encoded webhooks signed with the account's auth token (the twilio
library's RequestValidator), TwiML replies (the verbs the network runs), and the REST shapes the twilio
library calls (Calls.json create and update, IncomingPhoneNumbers, Messages.json)."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from .calls import Call, new_sid
from .texts import take_text

if TYPE_CHECKING:
    from .core import SimNetwork

Reply = tuple[int, Any]


def form(params: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """A form-encoded webhook body and its content type (Twilio's and Telnyx TeXML's)."""
    return urlencode(params).encode(), {"Content-Type": "application/x-www-form-urlencoded"}


class Twilio:
    name = "twilio"
    leg_events = True  # a <Dial> noun's statusCallbackEvent posts the leg's progress

    @staticmethod
    def call_id() -> str:
        return new_sid()

    @staticmethod
    def agent_contact(name: str) -> str:
        return f"client:{name}"

    @staticmethod
    def signed(net: SimNetwork, url: str, params: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        body, headers = form(params)
        return body, headers | {"X-Twilio-Signature": net.validator.compute_signature(url, params)}

    @staticmethod
    def post(net: SimNetwork, url: str, params: dict[str, str], event: bool) -> str:
        return net._post(url, {"AccountSid": net.account_sid, "ApiVersion": "2010-04-01", **params})

    @staticmethod
    def verdict_before_answer(net: SimNetwork, call: Call, params: dict[str, str]) -> dict[str, str]:
        """Answering-machine detection's verdict, delivered before the answer's markup runs: Twilio's
        comes with the answer fetch (AnsweredBy)."""
        return {"AnsweredBy": call.answered_by or "unknown"}

    @staticmethod
    def verdict_after_answer(net: SimNetwork, call: Call, params: dict[str, str]) -> None:
        """The verdict, delivered once the answer's markup runs (none: Twilio's came before)."""


def rest_get(net: SimNetwork, path: str) -> Reply | None:
    if m := re.fullmatch(r"/2010-04-01/Accounts/[^/]+/IncomingPhoneNumbers\.json(?:\?(.*))?", path):
        wanted = dict(parse_qsl(m.group(1) or "")).get("PhoneNumber")
        found = [n for n in net.numbers.values() if wanted in (None, n["phone_number"])]
        return 200, {"incoming_phone_numbers": found, "next_page_uri": None, "page": 0,
                     "page_size": 50, "uri": path, "first_page_uri": path,
                     "previous_page_uri": None, "start": 0, "end": len(found)}
    return None


def rest_post(net: SimNetwork, path: str, form: dict[str, str], body: dict[str, Any]) -> Reply | None:
    calls = re.fullmatch(r"/2010-04-01/Accounts/[^/]+/Calls\.json", path)
    update = re.fullmatch(r"/2010-04-01/Accounts/[^/]+/Calls/([^/]+)\.json", path)
    if calls:
        call = net.create_call(form)
        return 201, {"sid": call.sid, "status": "queued", "to": call.to, "from": call.frm}
    if update:
        if net.redirect(update.group(1), form.get("Twiml", "<Response/>")):
            return 200, {"sid": update.group(1), "status": "in-progress"}
        return 400, {"code": 21220, "message": "Call is not in-progress. Cannot redirect.", "status": 400}
    if m := re.fullmatch(r"/2010-04-01/Accounts/[^/]+/IncomingPhoneNumbers/([^/]+)\.json", path):
        number = next((n for n in net.numbers.values() if n["sid"] == m.group(1)), None)
        if number is None:
            return 404, {"code": 20404, "message": "not found", "status": 404}
        for field_name, key in (("VoiceUrl", "voice_url"), ("VoiceMethod", "voice_method"),
                                ("StatusCallback", "status_callback"),
                                ("StatusCallbackMethod", "status_callback_method")):
            if field_name in form:
                number[key] = form[field_name]
        return 200, number
    if re.fullmatch(r"/2010-04-01/Accounts/[^/]+/Messages\.json", path):
        sid = take_text(net, "twilio", form.get("To", ""), form.get("From", ""), form.get("Body", ""),
                        form.get("StatusCallback", ""))
        return 201, {"sid": sid, "status": "queued", "to": form.get("To", ""), "from": form.get("From", "")}
    return None
