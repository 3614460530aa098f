"""Failures Holdfast absorbs so that a caller never pays for them, counted so an operator still sees them.

A statistic that cannot be written, a promise book that cannot be read, a report row that fails: the
call goes on (the caller hears valid markup, the dispatch goes ahead) and the failure is logged. Logged
alone it is invisible until someone reads the logs, so every such site calls `swallowed(site)`: the
count goes to whoever listens (the composition root subscribes the CloudWatch metric
`SwallowedFailures`, by site, shown on the dashboard) and stays readable here (`counts()`) for the
console and the tests.

`tests/unit/test_faults.py` holds every `except Exception` in the shipped code to this rule."""
from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import Callable

log = logging.getLogger(__name__)

Sink = Callable[[str], None]


class Faults:
    """Counts of swallowed failures by site (a fixed name in the code, never data from a request)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._sinks: list[Sink] = []

    def subscribe(self, sink: Sink) -> None:
        with self._lock:
            if sink not in self._sinks:
                self._sinks.append(sink)

    def swallowed(self, site: str, message: str, *, level: int = logging.WARNING,
                  extra: dict[str, object] | None = None, exc_info: bool = True) -> None:
        """Log `message` with the exception being handled and count one failure at `site`."""
        log.log(level, message, exc_info=exc_info, extra={"site": site, **(extra or {})})
        with self._lock:
            self._counts[site] += 1
            sinks = list(self._sinks)
        for sink in sinks:
            try:
                sink(site)
            except Exception:  # noqa: BLE001 - counting must not fail the caller either (and cannot count itself)
                log.exception("could not count a swallowed failure", extra={"site": site})

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())


# One per process (a Lambda container, the local stack): the failures it absorbed since it started.
FAULTS = Faults()


def swallowed(site: str, message: str, *, level: int = logging.WARNING, extra: dict[str, object] | None = None,
              exc_info: bool = True) -> None:
    FAULTS.swallowed(site, message, level=level, extra=extra, exc_info=exc_info)
