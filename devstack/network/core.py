"""A simulated phone network that behaves like Twilio toward Holdfast.

It signs and posts webhooks with the twilio library's RequestValidator, executes the TwiML it gets
back (Say and Play take time, Gather waits for keys, Enqueue polls the waitUrl, Dial rings an agent
or a phone, Redirect, Leave, Hangup), posts status callbacks (twice each when `duplicate_status`),
and answers the REST calls the twilio library makes (Calls.json create and update, Messages.json)
on its own HTTP port, where it also serves the demo page.

Parties: phones that callers hold (driven by the demo page or by a caller model: patience, the
chance of pressing 1, the chance of answering a callback) and agents (client:NAME, answering and
talking for a handle time). `pace` scales every duration, so tests and load runs go fast.

This module is the caller/agent simulation; each provider's wire format (signatures, call ids, the
REST shapes, Vonage's NCCO) is its own module: `twilio`, `telnyx`, `vonage`."""
from __future__ import annotations

import base64
import json
import logging
import queue
import random
import re
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qsl

import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from twilio.request_validator import RequestValidator

from . import telnyx, twilio, vonage
from .calls import Agent, Call, CallerModel, Gone, Phone, Redirected

log = logging.getLogger(__name__)

PAGE = Path(__file__).parent.parent / "demo.html"
DIALECTS = {d.name: d for d in (twilio.Twilio, telnyx.Telnyx, vonage.Vonage)}


class SimNetwork:
    def __init__(self, holdfast_url: str, auth_token: str, account_sid: str, *, pace: float = 1.0,
                 host: str = "127.0.0.1", port: int = 0, duplicate_status: bool = False,
                 admin_token: str = "", seed: int = 1, out_of_order: bool = False,
                 now: Callable[[], datetime] | None = None,
                 extra_state: Callable[[], dict[str, Any]] | None = None,
                 agent_queues: tuple[str, ...] = ("support",), provider: str = "twilio") -> None:
        # Which provider it behaves like: "twilio" (TwiML, HMAC signatures) or "telnyx" (TeXML,
        # Ed25519 signatures with its own key, the TeXML REST shape, v3: call ids, sip: agents).
        self.provider = provider
        self.dialect = DIALECTS[provider]
        self.signing_key = Ed25519PrivateKey.generate()
        self.signature_secret = secrets.token_hex(24)  # Vonage's: HS256 JWTs over the payload hash
        self.agent_queues = list(agent_queues)
        self.holdfast_url = holdfast_url.rstrip("/")
        self.now = now or (lambda: datetime.now(timezone.utc))
        self.extra_state = extra_state  # what the demo page shows besides calls (pending callbacks...)
        self.validator = RequestValidator(auth_token)
        self.account_sid = account_sid
        self.pace = pace
        self.duplicate_status = duplicate_status
        self.out_of_order = out_of_order  # the call's status callback overtakes its <Dial> action
        self.admin_token = admin_token
        self.rng = random.Random(seed)
        self.calls: dict[str, Call] = {}
        self.phones: dict[str, Phone] = {}
        self.agents: dict[str, Agent] = {}
        self.queues: dict[str, list[str]] = {}
        self.messages: list[dict[str, str]] = []
        # The account's numbers, as the REST API's IncomingPhoneNumbers shows them (make deploy sets URLs).
        self.numbers: dict[str, dict[str, str]] = {"+18005550100": {
            "sid": "PN" + "0" * 31 + "1", "phone_number": "+18005550100", "voice_url": "", "voice_method": "POST",
            "status_callback": "", "status_callback_method": "POST"}}
        self.latencies: list[float] = []  # seconds per webhook round trip
        self.lock = threading.RLock()
        self.http = requests.Session()
        self.server = ThreadingHTTPServer((host, port), self._handler())
        self.url = f"http://{host}:{self.server.server_address[1]}"

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> "SimNetwork":
        threading.Thread(target=self.server.serve_forever, name="sim-network", daemon=True).start()
        return self

    def stop(self) -> None:
        for call in list(self.calls.values()):
            call.ended.set()
            call.interrupt.set()
        self.server.shutdown()

    # --- webhooks --------------------------------------------------------------------------------

    @property
    def public_key(self) -> str:
        """The Telnyx account public key Holdfast checks this network's signatures with (base64)."""
        return base64.b64encode(self.signing_key.public_key().public_bytes_raw()).decode()

    def sid(self) -> str:
        return self.dialect.call_id()

    def post(self, url: str, params: dict[str, str], event: bool = False) -> str:
        """POST a webhook; the reply as TwiML (a Vonage NCCO is translated into the same verbs)."""
        return self.dialect.post(self, url, params, event)

    def _post(self, url: str, params: dict[str, Any]) -> str:
        body, headers = self.dialect.signed(self, url, params)
        started = time.perf_counter()
        reply = self.http.post(url, data=body, headers=headers, timeout=30)
        self.latencies.append(time.perf_counter() - started)
        if reply.status_code != 200:
            raise RuntimeError(f"webhook {url} answered {reply.status_code}: {reply.text[:200]}")
        return reply.text

    def call_params(self, call: Call, **extra: str) -> dict[str, str]:
        return {"CallSid": call.sid, "From": call.frm, "To": call.to, "Caller": call.frm, "Called": call.to,
                "Direction": call.direction, "CallStatus": call.state, **extra}

    def send_status(self, call: Call) -> None:
        if not call.status_url:
            return
        params = self.call_params(call, CallDuration=str(int((time.monotonic() - call.started) / self.pace)))
        for _ in range(2 if self.duplicate_status else 1):
            try:
                self.post(call.status_url, params, event=True)
            except Exception:  # noqa: BLE001 - Twilio does not retry status callbacks either
                log.exception("status callback failed")

    # --- placing calls ---------------------------------------------------------------------------

    def phone(self, number: str, model: CallerModel | None = None) -> Phone:
        with self.lock:
            phone = self.phones.setdefault(number, Phone(number))
            if model is not None:
                phone.model = model
            return phone

    def dial_in(self, frm: str, to: str = "+18005550100", model: CallerModel | None = None,
                path: str | None = None) -> Call:
        """A caller dials the Holdfast number (whose voice and status URLs are both `path`)."""
        phone = self.phone(frm, model)
        url = self.holdfast_url + (path or f"/voice/{self.provider}/incoming")
        call = Call(self.sid(), "inbound", frm, to, url, phone, state="ringing")
        self.calls[call.sid] = call
        threading.Thread(target=self._inbound, args=(call, url), daemon=True).start()
        return call

    def _inbound(self, call: Call, url: str) -> None:
        patience = call.party.model.patience if isinstance(call.party, Phone) else None
        if patience is not None:
            def give_up() -> None:
                if not call.connected:
                    self.hang_up(call.sid)
            threading.Timer(patience * self.pace, give_up).start()
        try:
            twiml = self.post(url, self.call_params(call))
            call.state = "in-progress"
            self.execute(call, twiml)
        except Gone:
            pass
        except Exception:  # noqa: BLE001 - a broken call ends; the network goes on
            log.exception("inbound call failed")
        self.end(call)

    def create_call(self, params: dict[str, str]) -> Call:
        """REST Calls.json: Holdfast places an outbound call."""
        to = params["To"]
        call = Call(self.sid(), "outbound-api", params.get("From", ""), to, params.get("StatusCallback"), self.party(to),
                    state="queued")
        self.calls[call.sid] = call
        threading.Thread(target=self._outbound, args=(call, params), daemon=True).start()
        return call

    def party(self, contact: str) -> "Phone | Agent | None":
        """Who answers a contact: an agent's client:name or sip:name@…, else a phone."""
        if contact.startswith(("client:", "sip:")):
            return self.agents.get(contact.split(":", 1)[1].split("@")[0])
        return self.phones.get(contact)

    def agent_contact(self, name: str) -> str:
        return self.dialect.agent_contact(name)

    def _outbound(self, call: Call, params: dict[str, str]) -> None:
        try:
            if not self.rings_and_answers(call, float(params.get("Timeout", 25))):
                call.state = "no-answer"
                self.end(call)
                return
            call.state = "in-progress"
            detecting = bool(params.get("MachineDetection"))
            if detecting:  # a voicemail answers for the phone that has one
                voicemail = isinstance(call.party, Phone) and call.party.model.voicemail
                call.answered_by = "machine_start" if voicemail else "human"
            # the verdict where the provider delivers it: on the answer fetch, a status callback, an event
            extra = self.dialect.verdict_before_answer(self, call, params) if detecting else {}
            twiml = self.post(params["Url"], self.call_params(call, **extra))
            if detecting:
                self.dialect.verdict_after_answer(self, call, params)
            self.execute(call, twiml)
        except Gone:
            pass
        except Exception:  # noqa: BLE001
            log.exception("outbound call failed")
        if call.state not in ("no-answer", "busy", "failed"):
            call.state = "completed"
        self.end(call)

    def rings_and_answers(self, call: Call, timeout: float) -> bool:
        party = call.party
        call.state = "ringing"
        self.sleep(call, 2.0)
        if isinstance(party, Agent):
            return self.rng.random() < party.answer
        if isinstance(party, Phone):
            party.ringing = call.sid
            call.transcript.append("(ringing: Holdfast is calling you back)")
            answered = self.rng.random() < party.model.answer
            self.sleep(call, 3.0)
            party.ringing = None
            return answered
        return False

    def end(self, call: Call) -> None:
        with self.lock:
            if call.reported:
                return
            call.reported = True
        if call.state in ("in-progress", "ringing", "queued"):
            call.state = "completed"
        call.ended.set()
        call.interrupt.set()
        self.send_status(call)

    def hang_up(self, sid: str) -> None:
        call = self.calls.get(sid)
        if call and not call.ended.is_set():
            call.transcript.append("(hung up)")
            call.state = "completed"
            call.ended.set()
            call.interrupt.set()

    def press(self, sid: str, digits: str) -> None:
        call = self.calls[sid]
        for key in digits:
            call.keys.put(key)
        call.interrupt.set()

    def redirect(self, sid: str, twiml: str) -> bool:
        """REST Calls/{sid}.json with Twiml: what Holdfast does to bridge a holding caller."""
        call = self.calls.get(sid)
        if call is None or call.ended.is_set():
            return False
        call.redirect_twiml = twiml
        call.interrupt.set()
        return True

    # --- TwiML -----------------------------------------------------------------------------------

    def sleep(self, call: Call, seconds: float, keys_stop: bool = False) -> None:
        deadline = time.monotonic() + seconds * self.pace
        while True:
            if call.ended.is_set():
                raise Gone()
            if call.redirect_twiml is not None:
                raise Redirected()
            if keys_stop and not call.keys.empty():
                return
            left = deadline - time.monotonic()
            if left <= 0:
                return
            call.interrupt.wait(min(left, 0.05))
            call.interrupt.clear()

    def execute(self, call: Call, twiml: str) -> None:
        while True:
            try:
                nxt = self._run(call, ET.fromstring(twiml))
            except Redirected:
                twiml, call.redirect_twiml = call.redirect_twiml or "<Response/>", None
                continue
            if nxt is None:
                return
            twiml = nxt

    def _say(self, call: Call, verb: ET.Element) -> None:
        if verb.tag == "Say":
            text = verb.text or ""
            call.transcript.append(text)
            self.sleep(call, 0.4 * len(text.split()), keys_stop=True)
        elif verb.tag == "Play":
            call.transcript.append(f"(music: {verb.text})")
            self.sleep(call, 8.0, keys_stop=True)
        elif verb.tag == "Pause":
            self.sleep(call, float(verb.get("length", "1")), keys_stop=True)

    def _gather(self, call: Call, verb: ET.Element) -> str | None:
        """Play the prompts; return the digits (None if none came before the timeout)."""
        model = call.party.model if isinstance(call.party, Phone) else None
        if model is not None and model.patience is not None and call.keys.empty():
            text = " ".join((c.text or "") for c in verb)
            if "To confirm, press 1" in text:
                call.keys.put("1")  # a simulated caller confirms the number read back
            elif "press 1" in text and self.rng.random() < model.press_one:
                call.keys.put("1")
        for child in verb:
            self._say(call, child)
            if not call.keys.empty():
                break
        num = int(verb.get("numDigits", "0") or 0)
        finish = verb.get("finishOnKey", "#")
        digits = ""
        deadline = time.monotonic() + float(verb.get("timeout", "5")) * self.pace
        while time.monotonic() < deadline:
            try:
                key = call.keys.get(timeout=0.05)
            except queue.Empty:
                if call.ended.is_set():
                    raise Gone() from None
                if call.redirect_twiml is not None:
                    raise Redirected() from None
                continue
            if key == finish and not num:
                break
            digits += key
            deadline = time.monotonic() + float(verb.get("timeout", "5")) * self.pace
            if num and len(digits) >= num:
                break
        return digits or None

    def _run(self, call: Call, doc: ET.Element) -> str | None:
        """Run one TwiML document; return the next document to run, or None when the call is over."""
        for verb in doc:
            if verb.tag in ("Say", "Play", "Pause"):
                self._say(call, verb)
            elif verb.tag == "Gather":
                digits = self._gather(call, verb)
                if digits is not None:
                    call.transcript.append(f"(pressed {digits})")
                    return self.post(verb.get("action", ""), self.call_params(call, Digits=digits))
            elif verb.tag == "Redirect":  # (input=1: Vonage's input calling back with nothing pressed)
                nothing_pressed = {"input": "1"} if verb.get("input") else {}
                return self.post(verb.text or "", self.call_params(call, **nothing_pressed))
            elif verb.tag == "Hangup":
                call.state = "completed"
                return None
            elif verb.tag == "Enqueue":
                return self._enqueue(call, verb)
            elif verb.tag == "Dial":
                return self._dial(call, verb)
            elif verb.tag == "Leave":
                return None
        return None

    def _enqueue(self, call: Call, verb: ET.Element) -> str | None:
        name = verb.text or ""
        with self.lock:
            self.queues.setdefault(name, []).append(call.sid)
        call.queue_name = name
        started = time.monotonic()
        result = "hangup"
        try:
            while True:
                wait_url = verb.get("waitUrl")
                if not wait_url:
                    self.sleep(call, 8.0)
                    continue
                with self.lock:
                    position = self.queues[name].index(call.sid) + 1
                elapsed = str(int((time.monotonic() - started) / self.pace))
                doc = ET.fromstring(self.post(wait_url, self.call_params(
                    call, QueuePosition=str(position), QueueTime=elapsed, CurrentQueueSize=str(len(self.queues[name])))))
                left = self._wait_doc(call, doc)
                if left:
                    result = "leave"
                    break
        except Redirected:
            result = "redirected"
        except Gone:
            result = "hangup"
        finally:
            with self.lock:
                if call.sid in self.queues.get(name, []):
                    self.queues[name].remove(call.sid)
            call.queue_name = None
        action = verb.get("action")
        if result == "redirected":
            if action:
                self.post(action, self.call_params(call, QueueResult="redirected"))  # Twilio ignores the reply
            raise Redirected()
        if action:
            reply = self.post(action, self.call_params(call, QueueResult=result, CallStatus=(
                "completed" if result == "hangup" else "in-progress")))
            if result == "hangup":
                raise Gone()
            return reply
        if result == "hangup":
            raise Gone()
        return None

    def _wait_doc(self, call: Call, doc: ET.Element) -> bool:
        """Run a waitUrl document; True if it made the caller leave the queue."""
        for verb in doc:
            if verb.tag == "Leave":
                return True
            if verb.tag == "Gather":
                digits = self._gather(call, verb)
                if digits is not None:
                    call.transcript.append(f"(pressed {digits})")
                    reply = ET.fromstring(self.post(verb.get("action", ""), self.call_params(call, Digits=digits)))
                    return self._wait_doc(call, reply)
            elif verb.tag in ("Say", "Play", "Pause"):
                self._say(call, verb)
        return False

    def _dial(self, call: Call, verb: ET.Element) -> str | None:
        target = next(iter(verb), None)
        if target is None:
            return None
        name = target.text or ""
        other = self.party(f"client:{name}" if target.tag == "Client" else name)
        name = other.name if isinstance(other, Agent) else name  # an agent by name, however it was dialed
        leg = Call(self.sid(), "outbound-dial", call.to, name, None, other)
        call.transcript.append(f"(dialing {target.tag.lower()} {name})")
        if other is not None:
            self._leg_event(call, leg, target, "ringing")
        answered = other is not None and self.rings_and_answers(leg, float(verb.get("timeout", "20")))
        talked, hung_up = 0.0, False
        if answered:
            self._leg_event(call, leg, target, "answered")
            call.transcript.append(f"(connected to {name})")
            call.connected = True
            handle = other.handle_seconds if isinstance(other, Agent) else (
                call.party.handle_seconds if isinstance(call.party, Agent) else 30.0)
            start = time.monotonic()
            try:
                self.sleep(call, self.rng.expovariate(1 / handle) if handle else 0)
            except Gone:
                hung_up = True  # the caller ended the conversation: Twilio still reports the Dial
            finally:
                talked = (time.monotonic() - start) / self.pace
                call.connected = False
        status = "completed" if answered else "no-answer"
        self._leg_event(call, leg, target, "completed", status)
        action = verb.get("action")
        reply = None
        if self.out_of_order and call.status_url:
            saved, call.state = call.state, "completed"
            self.send_status(call)
            call.state = saved
        if action:
            reply = self.post(action, self.call_params(call, DialCallStatus=status, DialCallSid=leg.sid,
                                                       DialCallDuration=str(int(talked))))
        if hung_up:
            raise Gone()
        return reply

    def _leg_event(self, call: Call, leg: Call, target: ET.Element, event: str, status: str = "") -> None:
        """The dialled leg's status callback, as the noun's statusCallbackEvent asked for it (TwiML:
        Twilio and Telnyx; a Vonage connect's events come from its action instead)."""
        url = target.get("statusCallback")
        if not url or event not in target.get("statusCallbackEvent", "").split() or not self.dialect.leg_events:
            return
        state = status or {"ringing": "ringing", "answered": "in-progress"}[event]
        params = {"CallSid": leg.sid, "ParentCallSid": call.sid, "From": call.to, "To": leg.to, "Caller": call.to,
                  "Called": leg.to, "Direction": "outbound-dial", "CallStatus": state,
                  "CallbackSource": "call-progress-events"}
        try:
            self.post(url, params, event=True)
        except Exception:  # noqa: BLE001 - a status callback's failure never stops the call
            log.exception("dial leg status callback failed")

    # --- the demo page's API ---------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Calls in the order they began; agents with status and since when; phones ringing now."""
        calls = sorted(list(self.calls.values()), key=lambda c: c.started)[-20:]
        talking = {c.party.name for c in calls if isinstance(c.party, Agent) and not c.ended.is_set()}
        state = {"calls": [{"sid": c.sid, "direction": c.direction, "from": c.frm, "to": c.to, "state": c.state,
                            "transcript": c.transcript[-12:], "queue": c.queue_name, "ended": c.ended.is_set(),
                            "callback": c.direction == "outbound-api" and isinstance(c.party, Phone)}
                           for c in calls],
                 "agents": [{**a.__dict__, "on_call": a.name in talking} for a in self.agents.values()],
                 "ringing": [p.number for p in self.phones.values() if p.ringing],
                 "messages": self.messages[-10:]}
        if self.extra_state is not None:
            try:
                state.update(self.extra_state())
            except Exception:  # noqa: BLE001 - the page still shows the calls
                log.exception("demo state failed")
        return state

    def set_agent(self, name: str, status: str, handle_seconds: float = 60.0) -> dict[str, Any]:
        agent = self.agents.setdefault(name, Agent(name, handle_seconds))
        reply = self.http.post(f"{self.holdfast_url}/agents/{name}/status", timeout=10,
                               headers={"Authorization": f"Bearer {self.admin_token}"},
                               json={"status": status, "contact": self.agent_contact(name),
                                     "queues": self.agent_queues})
        body = reply.json()
        if reply.ok and isinstance(body.get("agent"), dict):
            if body["agent"].get("status") != agent.status:
                agent.since = self.now().strftime("%Y-%m-%dT%H:%M:%SZ")
            agent.status = body["agent"]["status"]
        return body

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        net = self

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
                for provider in (vonage, telnyx, twilio):  # each provider's REST shape
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

            def do_PUT(self) -> None:  # noqa: N802 - Vonage's transfer of a live call
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                self._send(*vonage.rest_put(net, self.path, raw))

            def log_message(self, *args: object) -> None:
                pass

        return Handler
