"""The network as jambonz: JSON webhooks signed `Jambonz-Signature: t=…,v1=…` (HMAC-SHA256 of
`{t}.{body}` with the account's webhook secret), JSON verb arrays translated into the verbs the network
runs, uuid call sids, `user:` agents (registered SIP users), and the REST shapes of jambonz's API
(createCall, updateCall with a call_hook, RegisteredSipUsers).

What it keeps of jambonz (jambonz-feature-server 0.9.8, checked): a gather always calls its actionHook
(reason timeout when nothing was pressed) and an empty reply lets the application go on; the enqueue
queue is ordered by `priority` (a sorted set); a waitHook may only say, play, pause and leave (anything
else stops the polling: the caller holds in silence); a call moved by updateCall fetches its
call_hook, and the enqueue it leaves posts its actionHook with queue_result "hangup"; amd events go to
`amd.actionHook`, whose non-empty reply replaces what the call is doing."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import threading
import time
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

from .calls import Gone, Redirected
from .twilio import Reply
from .vonage import Vonage

if TYPE_CHECKING:
    from .calls import Call
    from .core import SimNetwork

log = logging.getLogger(__name__)
ACCOUNT_SID = "bb845d4b-83a9-4cde-a6e9-50f3743bab3f"
# an empty array: the running application goes on (the network's verbs: a document that says so)
CONTINUE = '<Response continue="1" />'


class Jambonz(Vonage):
    """Vonage's uuid call ids; everything else its own."""

    name = "jambonz"
    leg_events = False  # a dial reports only how it ended (its actionHook)
    hold_verbs = frozenset({"Say", "Play", "Pause", "Leave"})  # what a waitHook may answer

    @staticmethod
    def agent_contact(name: str) -> str:
        return f"user:{name}"

    @staticmethod
    def signed(net: SimNetwork, url: str, params: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(params).encode()
        stamp = int(net.now().timestamp())
        mac = hmac.new(net.signature_secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
        return body, {"Content-Type": "application/json", "Jambonz-Signature": f"t={stamp},v1={mac}"}

    @staticmethod
    def post(net: SimNetwork, url: str, params: dict[str, str], event: bool) -> str:
        if event and "hook=status" not in url:  # the application's call-status webhook
            url += ("&" if "?" in url else "?") + "hook=status"
        return verbs_as_twiml(net._post(url, jambonz_fields(params)))

    @staticmethod
    def verdict_before_answer(net: SimNetwork, call: Call, params: dict[str, str]) -> dict[str, str]:
        return {}  # the call hook is fetched at once; amd goes on meanwhile

    @staticmethod
    def verdict_after_answer(net: SimNetwork, call: Call, params: dict[str, str]) -> None:
        """The verdict as its own webhook (amd.actionHook), a moment after the answer; a non-empty reply
        replaces what the call is doing."""
        threading.Thread(target=_amd_verdict, args=(net, call, params["AmdUrl"]), daemon=True).start()


def _amd_verdict(net: SimNetwork, call: Call, url: str) -> None:
    try:
        net.sleep(call, 1.5)
        reply = net.post(url, net.call_params(call, AnsweredBy=call.answered_by or "human"))
    except (Gone, Redirected):
        return
    except Exception:  # noqa: BLE001 - a failed verdict leaves the call as it is
        log.exception("amd verdict failed")
        return
    if not continues(reply):
        net.redirect(call.sid, reply)


_STATUS = {"queued": "trying", "ringing": "ringing", "in-progress": "in-progress", "completed": "completed",
           "no-answer": "no-answer", "busy": "busy", "failed": "failed", "canceled": "no-answer"}
_SIP = {"completed": 200, "busy": 486, "no-answer": 487, "failed": 503}


def jambonz_fields(params: dict[str, str]) -> dict[str, Any]:
    """The network's call facts (Twilio names) as jambonz posts them (snake_case)."""
    sid = params["CallSid"]
    if "QueuePosition" in params:  # the waitHook's sparse payload (0-based position)
        return {"queue_sid": f"queue:{ACCOUNT_SID}:support", "queue_time": int(params.get("QueueTime", "0")),
                "queue_size": int(params.get("CurrentQueueSize", "0")),
                "queue_position": int(params["QueuePosition"]) - 1, "call_sid": sid, "call_id": f"{sid}@sim"}
    state = _STATUS.get(params.get("CallStatus", ""), "in-progress")
    fields: dict[str, Any] = {
        "call_sid": sid, "direction": "inbound" if params.get("Direction") == "inbound" else "outbound",
        "from": params.get("From", ""), "to": params.get("To", ""), "call_id": f"{sid}@sim",
        "call_status": state, "sip_status": _SIP.get(state, 200), "account_sid": ACCOUNT_SID,
        "application_sid": "0dddaabf-0a30-43e3-84e8-426873b1a78b"}
    if "Digits" in params:
        fields |= {"reason": "dtmfDetected", "digits": params["Digits"]}
    elif params.get("input"):
        fields["reason"] = "timeout"
    if "QueueResult" in params:  # a replaced enqueue reports "hangup" (feature-server enqueue.js)
        result = params["QueueResult"]
        fields |= {"queue_sid": f"queue:{ACCOUNT_SID}:support", "queue_time": int(params.get("QueueTime", "0") or 0),
                   "queue_result": "hangup" if result == "redirected" else result}
    if "DialCallStatus" in params:
        status = params["DialCallStatus"]
        fields |= {"dial_call_status": status, "dial_sip_status": _SIP.get(status, 200),
                   "dial_call_sid": params.get("DialCallSid", "")}
    if params.get("AnsweredBy"):
        fields["type"] = "amd_human_detected" if params["AnsweredBy"] == "human" else "amd_machine_detected"
    if "CallDuration" in params and state in ("completed", "failed", "busy", "no-answer"):
        fields["duration"] = int(params["CallDuration"] or 0)
    return fields


def _url(hook: Any) -> str:
    return hook["url"] if isinstance(hook, dict) else str(hook)


def verbs_as_twiml(reply: str) -> str:
    """A jambonz verb array as the verbs this network runs. A gather always calls its hook: nothing
    pressed is a Redirect there (input=1) whose empty reply lets the rest run."""
    verbs = json.loads(reply or "[]")
    if not verbs:
        return CONTINUE
    doc = ET.Element("Response")
    for verb in verbs:
        kind = verb.get("verb")
        if kind in ("say", "play", "pause"):
            ET.SubElement(doc, *_prompt(verb))
            doc[-1].text = verb.get("text") if kind == "say" else verb.get("url")
        elif kind == "gather":
            action = _url(verb["actionHook"])
            gather = ET.SubElement(doc, "Gather", action=action, timeout=str(verb.get("timeout", 5)),
                                   numDigits=str(verb.get("numDigits", 0)),
                                   finishOnKey=verb.get("finishOnKey", "#"))
            for nested in ("say", "play"):
                if nested in verb:
                    ET.SubElement(gather, *_prompt({"verb": nested, **verb[nested]})).text = (
                        verb[nested].get("text") or verb[nested].get("url"))
            ET.SubElement(doc, "Redirect", input="1").text = action
        elif kind == "enqueue":
            attrs = {"waitUrl": _url(verb["waitHook"])} if "waitHook" in verb else {}
            attrs |= {"action": _url(verb["actionHook"])} if "actionHook" in verb else {}
            attrs |= {"priority": str(verb["priority"])} if "priority" in verb else {}
            ET.SubElement(doc, "Enqueue", attrs).text = verb["name"]
        elif kind == "redirect":
            ET.SubElement(doc, "Redirect").text = _url(verb["actionHook"])
        elif kind == "leave":
            ET.SubElement(doc, "Leave")
        elif kind == "hangup":
            ET.SubElement(doc, "Hangup")
        elif kind == "dial":
            target = verb["target"][0]
            attrs = {"timeout": str(verb.get("timeout", 20))}
            attrs |= {"action": _url(verb["actionHook"])} if "actionHook" in verb else {}
            dial = ET.SubElement(doc, "Dial", attrs)
            noun = {"phone": "Number", "sip": "Sip", "user": "Sip"}[target["type"]]
            ET.SubElement(dial, noun).text = (target.get("number") or target.get("sipUri")
                                              or f"user:{target.get('name', '')}")
        else:
            raise ValueError(f"the network does not run {kind!r}")
    return ET.tostring(doc, encoding="unicode")


def _prompt(verb: dict[str, Any]) -> tuple[str, dict[str, str]]:
    tag = {"say": "Say", "play": "Play", "pause": "Pause"}[verb["verb"]]
    return tag, ({"length": str(verb["length"])} if tag == "Pause" else {})


def continues(twiml: str) -> bool:
    """The reply was an empty array: what was running goes on."""
    return twiml == CONTINUE


def create(body: dict[str, Any]) -> dict[str, str]:
    """createCall as the network's own call request (its hooks: answer, status, amd)."""
    to = body["to"]
    contact = {"phone": to.get("number"), "sip": to.get("sipUri"), "user": f"user:{to.get('name')}"}[to["type"]]
    request = {"To": str(contact), "From": str(body.get("from", "")), "Url": _url(body["call_hook"]),
               "StatusCallback": _url(body.get("call_status_hook") or body["call_hook"]),
               "Timeout": str(body.get("timeout", 25))}
    if body.get("amd"):
        request["AmdUrl"] = _url(body["amd"]["actionHook"])
    return request


def rest_post(net: SimNetwork, path: str, form: dict[str, str], body: Any) -> Reply | None:
    if re.fullmatch(r"/v1/Accounts/[^/]+/Calls", path):
        call = net.create_call(create(body))
        return 201, {"sid": call.sid, "callId": f"{call.sid}@sim"}
    if re.fullmatch(r"/v1/Accounts/[^/]+/RegisteredSipUsers", path):
        names = body if isinstance(body, list) else []
        return 200, [{"name": n, "contact": f"sip:{n}@agents.sim" if n in net.agents else None,
                      "expiryTime": int(time.time()) + 3600 if n in net.agents else 0, "protocol": "udp",
                      "registered_status": "active" if n in net.agents and net.agents[n].registered else "inactive"}
                     for n in names]
    return None


def rest_put(net: SimNetwork, path: str, raw: str) -> Reply | None:
    """updateCall with a call_hook: the call fetches it, and what it answers replaces what it does."""
    m = re.fullmatch(r"/v1/Accounts/[^/]+/Calls/([^/]+)", path)
    if m is None:
        return None
    call: Call | None = net.calls.get(m.group(1))
    hook = json.loads(raw or "{}").get("call_hook")
    if call is None or call.ended.is_set() or not hook:
        return 404, {"msg": "call not found"}
    net.redirect(call.sid, Jambonz.post(net, _url(hook), net.call_params(call), False))
    return 202, {}
