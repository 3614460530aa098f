"""Agents, claims and releases under races and store faults: the fake and DynamoDB (moto) alike where
both can show it; injected DynamoDB faults (a conflicting or throttled transaction, a rejected write)
against the DynamoDB adapter, which must retry them and never take them for a lost race."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import pytest
from moto.dynamodb.exceptions import MockValidationException, TransactionCanceledException
from moto.dynamodb.models import DynamoDBBackend

from chalicelib.domain.errors import StoreUnavailableError
from chalicelib.domain.model import AgentStatus, Ticket, TicketKind, TicketStatus
from chalicelib.ports import Stores

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)
AV = AgentStatus.AVAILABLE


@pytest.fixture
def dynamo(aws):  # type: ignore[no-untyped-def]
    from chalicelib.adapters.dynamo import dynamo_stores

    return dynamo_stores(aws.table_name, "us-east-1", pause=lambda seconds: None)


class TransactFaults:
    """moto's transact_write_items refuses the next requests with the given cancellation codes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.pending: list[str] = []
        self.seen = 0
        original = DynamoDBBackend.transact_write_items

        def transact_write_items(backend: Any, items: list[dict[str, Any]]) -> None:
            if self.pending:
                code = self.pending.pop(0)
                self.seen += 1
                if code == "ValidationException":
                    raise MockValidationException("Item size has exceeded the maximum allowed size")
                raise TransactionCanceledException([(code, "injected", None)] + [(None, None, None)] * (len(items) - 1))
            return original(backend, items)

        monkeypatch.setattr(DynamoDBBackend, "transact_write_items", transact_write_items)


@pytest.fixture
def faults(monkeypatch: pytest.MonkeyPatch) -> Iterator[TransactFaults]:
    yield TransactFaults(monkeypatch)


def waiting(stores: Stores, call: str) -> Ticket:
    return stores.tickets.open_ticket(Ticket("support", 0, TicketKind.LIVE, TicketStatus.WAITING, NOW, call_id=call))


def test_available_again_while_reserved_keeps_the_reservation(stores: Stores) -> None:
    first = waiting(stores, "CA1")
    stores.agents.record_agent_status("alice", AV, NOW, "client:alice", ("support",), None)
    assert stores.agents.claim(first.id, "alice", NOW)
    again = stores.agents.record_agent_status("alice", AV, NOW + timedelta(seconds=5), None, None, "late-available")
    assert again is not None and again.status is AgentStatus.BUSY and again.ticket_id == first.id
    agent = stores.agents.get_agent("alice")
    assert (agent.status, agent.ticket_id) == (AgentStatus.BUSY, first.id)
    second = waiting(stores, "CA2")
    assert not stores.agents.claim(second.id, "alice", NOW + timedelta(seconds=6))  # no second ticket


def test_a_duplicate_event_id_is_refused_but_a_stale_one_is_not_spent(stores: Stores) -> None:
    assert stores.agents.record_agent_status("alice", AV, NOW, "client:alice", ("support",), "e1") is not None
    assert stores.agents.record_agent_status("alice", AV, NOW + timedelta(seconds=1), None, None, "e1") is None


def test_a_conflicting_claim_is_retried_not_taken_for_a_lost_race(dynamo, faults: TransactFaults) -> None:  # type: ignore[no-untyped-def]
    ticket = waiting(dynamo, "CA1")
    dynamo.agents.record_agent_status("alice", AV, NOW, "client:alice", ("support",), None)
    faults.pending = ["TransactionConflict", "ThrottlingError"]
    assert dynamo.agents.claim(ticket.id, "alice", NOW)
    assert faults.seen == 2
    assert dynamo.tickets.get(ticket.id).status is TicketStatus.CONNECTING


def test_a_conflicting_release_is_retried_not_lost(dynamo, faults: TransactFaults) -> None:  # type: ignore[no-untyped-def]
    ticket = waiting(dynamo, "CA1")
    dynamo.agents.record_agent_status("alice", AV, NOW, "client:alice", ("support",), None)
    assert dynamo.agents.claim(ticket.id, "alice", NOW)
    faults.pending = ["TransactionConflict"]
    assert dynamo.agents.release_agent("alice", ticket.id, AV, NOW + timedelta(seconds=1))
    assert faults.seen == 1 and dynamo.agents.get_agent("alice").status is AV


def test_a_real_condition_failure_is_still_a_lost_race(dynamo) -> None:  # type: ignore[no-untyped-def]
    ticket = waiting(dynamo, "CA1")
    dynamo.agents.record_agent_status("alice", AV, NOW, "client:alice", ("support",), None)
    dynamo.agents.record_agent_status("bob", AV, NOW, "client:bob", ("support",), None)
    assert dynamo.agents.claim(ticket.id, "alice", NOW)
    assert not dynamo.agents.claim(ticket.id, "bob", NOW)
    assert not dynamo.agents.release_agent("bob", ticket.id, AV, NOW)


def test_conflicts_that_never_stop_are_an_error(dynamo, faults: TransactFaults) -> None:  # type: ignore[no-untyped-def]
    ticket = waiting(dynamo, "CA1")
    dynamo.agents.record_agent_status("alice", AV, NOW, "client:alice", ("support",), None)
    faults.pending = ["TransactionConflict"] * 10
    with pytest.raises(StoreUnavailableError):
        dynamo.agents.claim(ticket.id, "alice", NOW)


def test_an_agent_write_that_fails_is_an_error_and_does_not_spend_the_event_id(dynamo, faults: TransactFaults) -> None:  # type: ignore[no-untyped-def]
    faults.pending = ["ValidationException"]
    with pytest.raises(StoreUnavailableError):
        dynamo.agents.record_agent_status("alice", AV, NOW, "client:alice", ("support",), "e1")
    agent = dynamo.agents.record_agent_status("alice", AV, NOW, "client:alice", ("support",), "e1")
    assert agent is not None and agent.status is AV  # the same event, delivered again, applies


def test_a_throttled_agent_event_is_retried(dynamo, faults: TransactFaults) -> None:  # type: ignore[no-untyped-def]
    faults.pending = ["ThrottlingError", "TransactionConflict"]
    agent = dynamo.agents.record_agent_status("alice", AV, NOW, "client:alice", ("support",), "e1")
    assert agent is not None and faults.seen == 2
