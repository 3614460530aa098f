"""Test doubles that no product world uses (the memory world runs MemoryOrchestrator)."""
from __future__ import annotations

import threading
from typing import Any, Mapping

from chalicelib.domain.errors import OrchestratorError, StaleTokenError
from chalicelib.ports import Orchestrator


class FakeOrchestrator(Orchestrator):
    def __init__(self, fail: bool = False) -> None:
        self.started: dict[str, Mapping[str, Any]] = {}
        self.completed: list[tuple[str, Mapping[str, Any]]] = []
        self.stopped: list[str] = []
        self.fail = fail
        self.fail_completes = 0  # the next SendTaskSuccess calls that fail (a transient service error)
        self._used: set[str] = set()
        self._lock = threading.Lock()

    def start(self, name: str, payload: Mapping[str, Any]) -> str:
        if self.fail:
            raise OrchestratorError("down")
        self.started.setdefault(name, payload)
        return f"exec:{name}"

    def stop(self, execution_id: str) -> None:
        self.stopped.append(execution_id)

    def complete(self, token: str, output: Mapping[str, Any]) -> None:
        with self._lock:  # like Step Functions: a token answers once
            if self.fail_completes:
                self.fail_completes -= 1
                raise OrchestratorError("ServiceUnavailable")
            if token in self._used:
                raise StaleTokenError("InvalidToken")
            self._used.add(token)
            self.completed.append((token, dict(output)))
