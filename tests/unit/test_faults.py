"""Failures absorbed so a caller never pays for them are counted, not only logged (issue 25)."""
from __future__ import annotations

import ast
import json
from datetime import datetime, timezone
from pathlib import Path

from chalicelib.adapters.memory import MemoryQueueStats, MemoryTable
from chalicelib.domain import faults, learning
from chalicelib.domain.estimator import QueueEventKind as K
from chalicelib.domain.queues import parse_queue
from chalicelib.edges import metrics
from tests.quality import call_name

SHIPPED = Path(__file__).resolve().parents[2] / "chalicelib"
AT = datetime(2026, 11, 23, 18, tzinfo=timezone.utc)


class _Throttled(MemoryQueueStats):
    def update_queue_stats(self, queue_id, apply):  # type: ignore[no-untyped-def]
        raise RuntimeError("throttled")


def test_a_statistic_that_cannot_be_written_is_counted_and_the_call_goes_on() -> None:
    before = faults.FAULTS.counts().get("estimate.learn", 0)
    learning.learn(_Throttled(MemoryTable()), parse_queue({"id": "q"}), K.ABANDON, AT, 5)  # does not raise
    assert faults.FAULTS.counts()["estimate.learn"] == before + 1


def test_every_count_reaches_the_subscribed_sinks_and_a_failing_sink_is_absorbed() -> None:
    seen: list[str] = []
    own = faults.Faults()
    own.subscribe(seen.append)
    own.subscribe(seen.append)  # subscribing twice counts once

    def broken(site: str) -> None:
        raise OSError("stdout closed")

    own.subscribe(broken)
    try:
        raise ValueError("boom")
    except ValueError:
        own.swallowed("feed.ticket", "console feed failed")
        own.swallowed("feed.ticket", "console feed failed")
        own.swallowed("pace.dial", "placing a paced dial failed")
    assert seen == ["feed.ticket", "feed.ticket", "pace.dial"]
    assert own.counts() == {"feed.ticket": 2, "pace.dial": 1} and own.total() == 3


def test_the_metric_is_emitted_by_site_and_for_all_sites(capsys) -> None:  # type: ignore[no-untyped-def]
    metrics.configure(True)
    try:
        metrics.swallowed_failure("promise_book.read")
        metrics.swallowed_failure("Robert'); DROP")  # never a free-form dimension
    finally:
        metrics.configure(False)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    emitted = [(doc["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"], doc.get("Site"), doc.get("Scope"))
               for doc in lines]
    assert emitted == [("SwallowedFailures", "promise_book.read", None), ("SwallowedFailures", None, "all"),
                       ("SwallowedFailures", "unknown", None), ("SwallowedFailures", None, "all")]


def _handler_counts_or_raises(handler: ast.ExceptHandler) -> bool:
    for node in ast.walk(handler):
        if isinstance(node, ast.Raise):
            return True
        if isinstance(node, ast.Call) and call_name(node) == "swallowed":
            return True
    return False


def test_every_broad_except_in_the_shipped_code_counts_what_it_swallows() -> None:
    silent = []
    for path in sorted(SHIPPED.rglob("*.py")):
        if path.name == "faults.py":
            continue  # the counter's own sink guard cannot count itself
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not isinstance(node, ast.ExceptHandler):
                continue
            broad = node.type is None or (isinstance(node.type, ast.Name)
                                          and node.type.id in {"Exception", "BaseException"})
            if broad and not _handler_counts_or_raises(node):
                silent.append(f"{path.relative_to(SHIPPED.parent)}:{node.lineno}")
    assert not silent, f"broad excepts that neither count (faults.swallowed) nor re-raise: {silent}"
