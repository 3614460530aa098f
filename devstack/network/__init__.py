"""A simulated phone network that behaves like Twilio, Telnyx or Vonage toward Holdfast.

    core      SimNetwork: callers and agents, the calls, the verbs it runs, the demo page's API
    chaos     seeded disorder of a bridge's events (--chaos-seed), and what the phones notice
    http      the network's HTTP server: the demo page and its API, the providers' REST shapes
    calls     the parties (phones and their caller model, agents) and calls
    twilio    form webhooks, X-Twilio-Signature, TwiML, the twilio REST shapes
    telnyx    TeXML: Ed25519 signatures, v3: call ids, the TeXML REST shape
    vonage    JSON webhooks with JWT signatures, NCCO translated into the verbs the network runs"""
from __future__ import annotations

from .calls import Agent, Call, CallerModel, Gone, Phone, Redirected, new_sid, wait_until
from .core import SimNetwork
from .vonage import ncco_as_twiml, vonage_call, vonage_fields

__all__ = ["Agent", "Call", "CallerModel", "Gone", "Phone", "Redirected", "SimNetwork", "ncco_as_twiml", "new_sid",
           "vonage_call", "vonage_fields", "wait_until"]
