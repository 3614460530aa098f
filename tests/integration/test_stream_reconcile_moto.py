"""A stream record the consumer gives up on leaves derived views wrong only until the minute sweep (issue 21,
item 3): the local poller hands each record to the stream worker, whose handler here fails on chosen
records until the poller gives them up (into its dead letters, as the deployed mapping would); the
snapshot's team, head and waiting count, and the live board, then say what the table no longer does, until the sweep
recounts them from the truth."""
from __future__ import annotations

from typing import Any, Callable, Mapping

from chalicelib.adapters.dynamo.schema import MarkerItem, lost_marker_sk, ticket_sk
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


def test_a_skipped_record_s_lost_call_markers_are_recounted_by_the_sweep(built, settings) -> None:  # type: ignore[no-untyped-def]
    # The workflow's GiveUp records a lost call on the ticket alone (it cannot know the numbers): the
    # markers that find it by number come from its stream record, which the consumer here fails on.
    stream = FailingStream(settings.table_name, lambda new, old: bool(_s(new, "lost_pk")) and not _s(old, "lost_pk"))
    built.flow.incoming(CallEvent("CA1", CallStatus.RINGING, "+14155550101", "+18005550100"))
    stream.drain()
    built.stores.table.client.update_item(  # as the ASL's GiveUp writes it (infra/callback.asl.json)
        TableName=settings.table_name, Key={"pk": {"S": "QUEUE#support"}, "sk": {"S": ticket_sk(1)}},
        UpdateExpression="SET #status = :lost, lost_pk = :lost_pk, lost_sk = :lost_sk, lost_cause = :cause, "
                         "lost_at = :at REMOVE line_pk, line_sk",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":lost": {"S": "LOST"}, ":lost_pk": {"S": "LOST#support"},
                                   ":lost_sk": {"S": "2026-11-23T18:05:00Z#support-1"},
                                   ":cause": {"S": "callback_failed"}, ":at": {"S": "2026-11-23T18:05:00Z"}})
    stream.drain()
    assert [d["keys"]["sk"]["S"] for d in stream.poller.dead_letters] == [ticket_sk(1)]
    assert [t.id for t in built.stores.lost.lost_calls("support").items] == ["support-1"]  # the list: the truth
    markers = MarkerItem.query("LOSTBY#support#+14155550101", consistent_read=True)
    assert list(markers) == []  # so an answer from that number would not recover it

    workers.sweep()
    markers = MarkerItem.query("LOSTBY#support#+14155550101", consistent_read=True)
    assert [m.sk for m in markers] == [lost_marker_sk(1)]
    assert built.stores.lost.clear_lost("support", "+14155550101", NOW) == 1  # found by number: recovered
    assert built.stores.lost.lost_calls("support").items == []
    assert workers.reconcile() == 0  # nothing left to correct (the recovered call's marker is gone)
    stream.drain()
    assert stream.poller.dead_letters[1:] == []
