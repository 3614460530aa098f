"""A stream record the consumer gives up on leaves derived views wrong only until the minute sweep (issue 21,
item 3): the local poller hands each record to the stream worker, whose handler here fails on chosen
records until the poller gives them up (into its dead letters, as the deployed mapping would); the
snapshot's team, head and waiting count, and the live board, then say what the table no longer does, until the sweep
recounts them from the truth."""
from __future__ import annotations

from typing import Any, Callable, Mapping

from chalicelib.adapters.dynamo.schema import ticket_sk
from chalicelib.domain.model import AgentStatus, CallEvent, CallStatus
from chalicelib.edges import workers
from devstack.pollers import StreamPoller, deployed_filters
from tests.integration.conftest import NOW

Image = Mapping[str, Any] | None


class FailingStream:
    """The table's stream into the Lambda's worker, failing every time on records `poison` picks."""

    def __init__(self, table: str, poison: Callable[[Image, Image], bool]) -> None:
        self.poison = poison
        self.poller = StreamPoller(table, self._handle, with_event_id=True, filters=deployed_filters())

    def _handle(self, new: Image, old: Image, event_id: str) -> None:
        if self.poison(new, old):
            raise RuntimeError("the consumer fails on this record")
        workers.on_table_change(new, old, event_id)

    def drain(self) -> None:
        for _ in range(10 * StreamPoller.MAX_ATTEMPTS):  # a failing record holds the shard for its attempts
            self.poller.poll_once()


def _s(image: Image, name: str) -> str | None:
    return (image or {}).get(name, {}).get("S")


def test_a_skipped_record_s_views_are_recounted_by_the_sweep(built, settings) -> None:  # type: ignore[no-untyped-def]
    # the consumer fails on Ann's sign-on (her presence row) and on the first caller joining the line
    stream = FailingStream(settings.table_name, lambda new, old: (
        _s(new, "sk") == "AGENT#ann" and _s(new, "status") == AgentStatus.BUSY.value and old is None)
        or (_s(new, "sk") == ticket_sk(1) and old is None))
    built.dispatcher.agent_event("zed", AgentStatus.BUSY, contact="client:zed", queues=("support",))
    stream.drain()  # the snapshot is kept from here on (zed's record applied)
    built.dispatcher.agent_event("ann", AgentStatus.BUSY, contact="client:ann", queues=("support",))
    built.flow.incoming(CallEvent("CA1", CallStatus.RINGING, "+14155550101", "+18005550100"))
    stream.drain()
    given_up = [(d["keys"]["pk"]["S"], d["keys"]["sk"]["S"]) for d in stream.poller.dead_letters]
    assert given_up == [("AGENTS#support", "AGENT#ann"), ("QUEUE#support", ticket_sk(1))]
    snapshot = built.stores.line.snapshot("support")
    assert ([a.id for a in snapshot.agents], snapshot.head_since) == (["zed"], None)  # wrong: no Ann, no head
    assert dict(snapshot.line.waiting) == {0: 1}  # the count moved with the ticket: right without the stream
    board = built.operations.oplog.board("support")
    assert board == []

    workers.sweep()
    snapshot = built.stores.line.snapshot("support")
    assert dict(snapshot.line.waiting) == {0: 1}
    assert [(a.id, a.status) for a in snapshot.agents] == [("ann", AgentStatus.BUSY), ("zed", AgentStatus.BUSY)]
    assert snapshot.head_since == NOW
    assert [(e.ticket_id, e.status) for e in built.operations.oplog.board("support")] == [("support-1", "WAITING")]
    stream.drain()
    assert stream.poller.dead_letters[2:] == []  # the sweep's own writes reach the consumer as usual
