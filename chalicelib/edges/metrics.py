"""CloudWatch embedded metrics (Powertools Metrics) for what happens to calls.

The one dimension is the queue id, a configured name (`[a-z0-9_]+`, checked again here): no phone
number, caller id or ticket ever becomes a dimension. Counters come from the same facts the reports
record, so a metric and a report line never disagree about what was counted."""
from __future__ import annotations

import re
from typing import Mapping

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from ..domain.reports import DEFAULT_TARGET_SECONDS, WAIT_EDGES

NAMESPACE = "Holdfast"
_QUEUE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# report counter -> metric name
COUNTERS = {"offered": "Offered", "answered": "AnsweredLive", "abandoned_short": "Abandoned",
            "abandoned_long": "Abandoned", "lost": "Lost", "recovered": "Recovered",
            "attempts": "CallbacksDialed", "connected": "CallbacksConnected", "gave_up": "CallbacksGaveUp"}
# Each counter is emitted per queue and once more for all queues (what alarms and the dashboard use).
ALL_QUEUES = {"Scope": "all"}


_enabled = True


def configure(enabled: bool) -> None:
    """From the composition root (settings): the local stack turns metrics off."""
    global _enabled
    _enabled = enabled


def _queue_dimension(queue_id: str) -> str:
    return queue_id if _QUEUE.match(queue_id) else "unknown"


def _emit(name: str, unit: MetricUnit, value: float, dimensions: Mapping[str, str]) -> None:
    if not _enabled:
        return
    with single_metric(name=name, unit=unit, value=value, namespace=NAMESPACE,
                       default_dimensions=dict(dimensions)):
        pass


def call_metrics(queue_id: str, counts: Mapping[str, float]) -> None:
    """Metrics for the report facts one ticket transition added."""
    dims = {"Queue": _queue_dimension(queue_id)}
    totals: dict[str, float] = {}
    for key, name in COUNTERS.items():
        if counts.get(key):
            totals[name] = totals.get(name, 0) + counts[key]
    for name, value in totals.items():
        for scope in (dims, ALL_QUEUES):
            _emit(name, MetricUnit.Count, value, scope)
    if counts.get("ewt_n"):
        for scope in (dims, ALL_QUEUES):
            _emit("EwtErrorSeconds", MetricUnit.Seconds, abs(counts.get("ewt_error", 0.0)), scope)
    if counts.get("answered"):  # the wait to the answer (the bridge), never to the end of the call
        within = sum(counts.get(f"w{edge}", 0) for edge in WAIT_EDGES if edge <= DEFAULT_TARGET_SECONDS)
        for scope in (dims, ALL_QUEUES):
            # Average over a period: ASA. AnsweredWithinTarget / Offered (in hours): the service level.
            _emit("AnswerWaitSeconds", MetricUnit.Seconds, counts.get("answered_wait", 0.0), scope)
            _emit("AnsweredWithinTarget", MetricUnit.Count, within, scope)


def webhook_latency(milliseconds: float) -> None:
    _emit("WebhookLatency", MetricUnit.Milliseconds, milliseconds, {"Api": "voice"})


def dial_pace(account: str, backlog: int, rate: float) -> None:
    """The outbound pace's backlog and its calls per second (the provider account as the dimension)."""
    dims = {"Provider": account if _QUEUE.match(account) else "unknown"}
    _emit("DialBacklog", MetricUnit.Count, backlog, dims)
    _emit("DialPace", MetricUnit.CountPerSecond, rate, dims)


_SITE = re.compile(r"^[a-z][a-z0-9_.]{0,63}$")


def swallowed_failure(site: str) -> None:
    """A failure absorbed so a caller never paid for it (domain/faults.py), by site and for all sites."""
    for dims in ({"Site": site if _SITE.match(site) else "unknown"}, ALL_QUEUES):
        _emit("SwallowedFailures", MetricUnit.Count, 1, dims)
