"""The Orchestrator on AWS Step Functions (Standard workflow, infra/callback.asl.json)."""
from __future__ import annotations

import json
from typing import Any, Callable, Mapping

from botocore.exceptions import BotoCoreError, ClientError

from ..domain.errors import OrchestratorError, StaleTokenError
from ..ports import Orchestrator

# A task that is gone: timed out, finished, or answered before. Expected, and harmless.
_STALE = {"InvalidToken", "TaskTimedOut", "TaskDoesNotExist"}


class StepFunctionsOrchestrator(Orchestrator):
    def __init__(self, client: Any, state_machine_arn: str,
                 keys: Callable[[str, int], Mapping[str, Any]]) -> None:
        self._client = client
        self._arn = state_machine_arn
        self._keys = keys  # ticket id, class -> the store keys the workflow's DynamoDB steps need

    def execution_arn(self, name: str) -> str:
        return self._arn.replace(":stateMachine:", ":execution:") + f":{name}"

    def start(self, name: str, payload: Mapping[str, Any]) -> str:
        body = {**payload, **self._keys(str(payload["ticket_id"]), int(payload.get("priority", 0)))}
        try:
            return self._client.start_execution(
                stateMachineArn=self._arn, name=name, input=json.dumps(body))["executionArn"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ExecutionAlreadyExists":
                return self.execution_arn(name)  # started before: one execution per ticket
            raise OrchestratorError(f"start_execution failed: {exc.response['Error']['Code']}") from exc
        except BotoCoreError as exc:
            raise OrchestratorError(f"start_execution failed: {type(exc).__name__}") from exc

    def stop(self, execution_id: str) -> None:
        try:
            self._client.stop_execution(executionArn=execution_id, error="Holdfast.Rejoined",
                                        cause="the caller called again and holds their place")
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ("ExecutionDoesNotExist", "ExecutionNotRunning"):
                raise OrchestratorError(f"stop_execution failed: {exc.response['Error']['Code']}") from exc
        except BotoCoreError as exc:
            raise OrchestratorError(f"stop_execution failed: {type(exc).__name__}") from exc

    def complete(self, token: str, output: Mapping[str, Any]) -> None:
        try:
            self._client.send_task_success(taskToken=token, output=json.dumps(output))
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code in _STALE:
                raise StaleTokenError(code) from exc
            raise OrchestratorError(f"send_task_success failed: {code}") from exc
        except BotoCoreError as exc:
            raise OrchestratorError(f"send_task_success failed: {type(exc).__name__}") from exc
