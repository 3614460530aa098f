"""Shared fixtures: fake AWS credentials always; an in-process moto AWS with the real resources on demand."""
from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent
EVENTS = Path(__file__).resolve().parent / "events"
AUTH_TOKEN = "test-auth-token-0123456789abcdef0123"  # as long as a real one: shorter ones are refused
ADMIN_TOKEN = "test-admin-token-0123456789abcdef0123"
AGENT_TOKEN = "test-agent-token-0123456789abcdef0123"
PUBLIC_URL = "https://example.execute-api.us-east-1.amazonaws.com/api"

for _key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN"):
    os.environ[_key] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
# The app refuses to start without usable admin and agent tokens; tests that build it from the environment get this one.
os.environ["HOLDFAST_ADMIN_TOKEN"] = ADMIN_TOKEN
os.environ["HOLDFAST_AGENT_TOKEN"] = AGENT_TOKEN
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)


@pytest.fixture
def aws() -> Iterator["object"]:
    """moto in-process, Step Functions executing the real ASL, resources created from infra/."""
    from moto import mock_aws

    from devstack.resources import create_resources

    from devstack.atomic import atomic_dynamodb
    from devstack.moto_sfn import stoppable_executions

    # moto runs each execution in a thread that outlives the test; under a name of its own, an
    # earlier test's workflow finds no table of the next test's and cannot touch its tickets.
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}), atomic_dynamodb(), \
            stoppable_executions():
        yield create_resources(prefix=f"holdfast-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def settings(aws):  # type: ignore[no-untyped-def]
    from chalicelib.settings import Settings

    return Settings(table_name=aws.table_name, state_machine_arn=aws.state_machine_arn,
                    dial_queue_url=aws.dial_queue_url, notify_queue_url=aws.notify_queue_url,
                    public_base_url=PUBLIC_URL,
                    twilio_auth_token=AUTH_TOKEN)


@pytest.fixture
def serve() -> Iterator[Callable[[Any], Any]]:
    """`serve(built)` hands a built container to the app's routes and workers (bootstrap.serving) for
    the rest of the test; the container built from the environment serves again afterwards."""
    from chalicelib import bootstrap

    with contextlib.ExitStack() as stack:
        yield lambda built: stack.enter_context(bootstrap.serving(built))
