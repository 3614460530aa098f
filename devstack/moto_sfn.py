"""moto runs each Step Functions execution on a thread of its own, and its evaluation environment exists
only once that thread has begun: a StopExecution that comes first fails inside moto ('NoneType' object
has no attribute 'set_stop'). AWS has no such moment (a started execution can always be stopped), so an
admin's or caller's cancel right after booking would fail only here. While inside, moto's stop waits
(bounded) for the execution's thread to have begun, for the local stack and the tests alike."""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

STARTED_WITHIN = 10.0  # seconds; the thread starts at once, but a loaded machine may take a moment


def _once_started(stop: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        deadline = time.monotonic() + STARTED_WITHIN
        while getattr(self, "env", None) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return stop(self, *args, **kwargs)

    wrapper.__wrapped__ = stop  # type: ignore[attr-defined]
    return wrapper


@contextmanager
def stoppable_executions() -> Iterator[None]:
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    original = ExecutionWorker.stop
    ExecutionWorker.stop = _once_started(original)  # type: ignore[method-assign]
    try:
        yield
    finally:
        ExecutionWorker.stop = original  # type: ignore[method-assign]
