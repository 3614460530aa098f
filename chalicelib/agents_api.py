"""Agents' presence: our JSON API and the providers' agent events. Verify, parse, dispatch, reply."""
from __future__ import annotations

import hmac
import json
import re
from datetime import datetime
from typing import Any, Mapping

from .domain.dispatch import Dispatcher
from .domain.errors import BadRequestError, BadWebhookError, UnknownQueueError
from .domain.model import Agent, AgentStatus, Ticket
from .ports import Telephony
from .webhooks import HttpReply, verified_form

_AGENT_ID = re.compile(r"^[A-Za-z0-9_.@+-]{1,64}$")
_CONTACT = re.compile(r"^(\+[1-9][0-9]{6,14}|sip:[^\s]+@[^\s]+|client:[A-Za-z0-9_.@-]{1,64})$")


def json_reply(status: int, body: Mapping[str, Any]) -> HttpReply:
    return HttpReply(status, json.dumps(body, default=str), "application/json")


def bearer_ok(headers: Mapping[str, str], token: str) -> bool:
    given = headers.get("authorization") or headers.get("Authorization") or ""
    return bool(token) and hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


def agent_json(agent: Agent) -> dict[str, Any]:
    return {"id": agent.id, "status": agent.status.value, "queues": list(agent.queues),
            "contact": agent.contact, "ticket": agent.ticket_id}


def parse_status_body(raw_body: bytes | None) -> dict[str, Any]:
    try:
        body = json.loads(raw_body or b"")
    except ValueError:
        raise BadRequestError("body must be JSON") from None
    if not isinstance(body, dict):
        raise BadRequestError("body must be a JSON object")
    try:
        status = AgentStatus(body.get("status"))
    except ValueError:
        raise BadRequestError("status must be one of available, busy, offline") from None
    contact = body.get("contact")
    if contact is not None and (not isinstance(contact, str) or not _CONTACT.match(contact)):
        raise BadRequestError("contact must be +E.164, sip:user@host or client:identity")
    queues = body.get("queues")
    if queues is not None and (not isinstance(queues, list) or not all(isinstance(q, str) for q in queues)):
        raise BadRequestError("queues must be a list of queue ids")
    at = body.get("at")
    try:
        at_time = datetime.fromisoformat(at.replace("Z", "+00:00")) if at else None
    except (AttributeError, ValueError):
        raise BadRequestError("at must be an ISO 8601 time") from None
    if at_time is not None and at_time.tzinfo is None:
        raise BadRequestError("at must carry a time zone (e.g. Z)")
    event_id = body.get("event_id")
    if event_id is not None and not isinstance(event_id, str):
        raise BadRequestError("event_id must be a string")
    return {"status": status, "contact": contact, "queues": tuple(queues) if queues is not None else None,
            "at": at_time, "event_id": event_id}


class AgentsApi:
    def __init__(self, dispatcher: Dispatcher, providers: Mapping[str, Telephony], agent_token: str,
                 public_base_url: str) -> None:
        self.dispatcher = dispatcher
        self.providers = providers
        self.agent_token = agent_token  # agents' own credential: never the admin token
        self.base_url = public_base_url.rstrip("/")

    def set_status(self, agent_id: str, raw_body: bytes | None, headers: Mapping[str, str]) -> HttpReply:
        if not bearer_ok(headers, self.agent_token):
            return json_reply(401, {"error": "missing or wrong bearer token"})
        if not _AGENT_ID.match(agent_id):
            return json_reply(400, {"error": "agent id: 1-64 letters, digits or _.@+-"})
        try:
            fields = parse_status_body(raw_body)
            agent, ticket = self.dispatcher.agent_event(agent_id, **fields)
        except (BadRequestError, UnknownQueueError) as exc:
            return json_reply(400, {"error": str(exc)})
        return self._reply(agent, ticket)

    def provider_event(self, provider_name: str, raw_body: bytes | None, query: Mapping[str, str],
                       headers: Mapping[str, str]) -> HttpReply:
        provider = self.providers.get(provider_name)
        if provider is None:
            return json_reply(404, {"error": f"no provider {provider_name}"})
        url = f"{self.base_url}/providers/{provider_name}/agent-events"
        params = verified_form(provider, url, raw_body, query, headers)
        if isinstance(params, HttpReply):
            return params
        try:
            event = provider.parse_agent_event(params)
        except BadWebhookError as exc:
            return json_reply(400, {"error": str(exc)})
        if event is None:
            return json_reply(200, {"ignored": "not a presence event"})
        try:
            agent, ticket = self.dispatcher.agent_event(event.agent_id, event.status, event.at, event.contact,
                                                        event.queues, event.event_id)
        except UnknownQueueError as exc:
            return json_reply(400, {"error": str(exc)})
        return self._reply(agent, ticket)

    @staticmethod
    def _reply(agent: Agent | None, ticket: Ticket | None) -> HttpReply:
        if agent is None:
            return json_reply(200, {"ignored": "duplicate or stale event"})
        return json_reply(200, {"agent": agent_json(agent), "dispatched": ticket.id if ticket else None})
