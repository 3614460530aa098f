"""The store is split into ports by role (issue 11), and stays split: each adapter class implements one
role port, each world builds its bundle of roles in one place, and the use cases name roles, not a
union of them."""
from __future__ import annotations

import dataclasses
import inspect
import typing
from datetime import datetime, timezone
from types import FunctionType

import pytest

from chalicelib import ports
from chalicelib.adapters import dynamo, memory
from chalicelib.adapters.memory.operations import MemoryOperationsLog
from chalicelib.adapters.memory import FakeBus, FakeDialer, FixedClock, memory_stores
from tests.fakes import FakeOrchestrator
from chalicelib.domain import guard, learning
from chalicelib.domain.callbacks import Callbacks
from chalicelib.domain.callflow import CallFlow
from chalicelib.domain.dispatch import Dispatcher
from chalicelib.domain.notifications import Notifications
from chalicelib.domain.operations import Operations
from chalicelib.domain.queues import QueueDirectory
from chalicelib.edges.admin_api import AdminApi
from chalicelib.ports import ROLES, Stores

# role port -> (its DynamoDB adapter, its in-memory adapter, the bundle's field)
ADAPTERS = {
    ports.Tickets: (dynamo.DynamoTickets, memory.MemoryTickets, "tickets"),
    ports.Line: (dynamo.DynamoLine, memory.MemoryLine, "line"),
    ports.LostCalls: (dynamo.DynamoLostCalls, memory.MemoryLostCalls, "lost"),
    ports.QueueStats: (dynamo.DynamoQueueStats, memory.MemoryQueueStats, "stats"),
    ports.Bookings: (dynamo.DynamoBookings, memory.MemoryBookings, "bookings"),
    ports.Agents: (dynamo.DynamoAgents, memory.MemoryAgents, "agents"),
    ports.Dialing: (dynamo.DynamoDialing, memory.MemoryDialing, "dialing"),
}
USE_CASES = (CallFlow, Dispatcher, Callbacks, Operations, AdminApi, Notifications)


def roles_of(cls: type) -> set[type]:
    return {role for role in ROLES if issubclass(cls, role)}


def every_subclass(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= every_subclass(sub)
    return found


def test_every_role_port_has_one_dynamodb_and_one_memory_adapter_that_implement_it_alone() -> None:
    assert set(ADAPTERS) == set(ROLES)
    for role, (on_dynamo, in_memory, _) in ADAPTERS.items():
        for adapter in (on_dynamo, in_memory):
            assert roles_of(adapter) == {role}, adapter
            assert not inspect.isabstract(adapter), adapter  # it implements every method of its port


def test_no_class_anywhere_implements_two_roles() -> None:
    """Not the adapters, not a test's subclass: a union of roles (the old TicketStore) cannot come back."""
    for role in ROLES:
        for cls in every_subclass(role):
            assert roles_of(cls) == {role}, cls
    assert not hasattr(ports, "TicketStore")


def test_the_bundle_names_every_role_once() -> None:
    hints = typing.get_type_hints(Stores)
    assert {f.name: hints[f.name] for f in dataclasses.fields(Stores)} == {
        field: role for role, (_, _, field) in ADAPTERS.items()}


def test_the_memory_bundle_is_a_role_adapter_per_field_over_one_shared_table() -> None:
    stores = memory_stores()
    for role, (_, in_memory, field) in ADAPTERS.items():
        assert type(getattr(stores, field)) is in_memory
        assert getattr(stores, field).table is stores.table
    with pytest.raises(AttributeError):  # frozen: a world's roles are fixed where it is built
        stores.tickets = memory.MemoryTickets(stores.table)  # type: ignore[misc]


def _store_parameters(function: FunctionType) -> dict[str, object]:
    hints = typing.get_type_hints(function)
    return {name: hint for name, hint in hints.items()
            if isinstance(hint, type) and (hint is Stores or roles_of(hint))}


@pytest.mark.parametrize("use_case", USE_CASES, ids=lambda c: c.__name__)
def test_use_cases_take_role_ports_or_the_bundle_never_an_adapter(use_case: type) -> None:
    taken = _store_parameters(use_case.__init__)
    assert taken, f"{use_case.__name__} names no store role"
    for name, hint in taken.items():
        assert hint is Stores or hint in ROLES, (use_case.__name__, name, hint)


def _built() -> dict[type, object]:
    stores, clock, queues = memory_stores(), FixedClock(), QueueDirectory.from_config({"queues": [{"id": "q"}]})
    orchestrator, bus, dialer = FakeOrchestrator(), FakeBus(), FakeDialer()
    flow = CallFlow(stores, orchestrator, clock, queues, bus)
    dispatcher = Dispatcher(stores, orchestrator, dialer, clock, queues)
    return {CallFlow: flow, Dispatcher: dispatcher,
            Callbacks: Callbacks(stores, orchestrator, dialer, clock, queues, dispatcher),
            Operations: Operations(stores, MemoryOperationsLog(), queues, clock, orchestrator, flow),
            AdminApi: AdminApi(stores.lost, stores.bookings, queues, clock, "t" * 40),
            Notifications: Notifications(stores.tickets, queues, [])}


@pytest.mark.parametrize("use_case", USE_CASES, ids=lambda c: c.__name__)
def test_use_cases_keep_the_roles_they_use_not_the_bundle(use_case: type) -> None:
    """A use case given the bundle keeps only its roles: what it reads and writes is named by role."""
    kept = vars(_built()[use_case])
    assert not any(isinstance(value, Stores) for value in kept.values()), use_case
    roles = {name: value for name, value in kept.items() if roles_of(type(value))}
    assert roles, use_case
    for name, value in roles.items():
        role = next(iter(roles_of(type(value))))
        assert name == ADAPTERS[role][2], (use_case.__name__, name, role)  # kept under its role's name


@pytest.mark.parametrize("function", [guard.promise, guard.promised, guard.kept, guard.forget, guard.due_callback,
                                      guard.first_asked, learning.current, learning.busy_agents,
                                      learning.head_wait, learning.learn], ids=lambda f: f.__name__)
def test_domain_functions_take_the_roles_they_use(function: FunctionType) -> None:
    taken = _store_parameters(function)
    assert taken and all(hint in ROLES for hint in taken.values()), (function.__name__, taken)


def test_the_roles_of_a_bundle_are_used_as_named() -> None:
    """Smoke: one role's write is another role's read, over the one table (the roles share state)."""
    from chalicelib.domain.model import Ticket, TicketKind, TicketStatus

    stores = memory_stores()
    now = datetime(2026, 11, 23, 15, tzinfo=timezone.utc)
    ticket = stores.tickets.open_ticket(Ticket("q", 0, TicketKind.LIVE, TicketStatus.WAITING, now, call_id="CA1"))
    assert stores.line.head("q") == ticket and stores.line.waiting_count("q") == 1
    stores.lost.mark_lost(ticket.id, "abandoned", now)
    assert [t.id for t in stores.lost.lost_calls("q")] == [ticket.id]
