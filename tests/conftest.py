"""Shared fixtures: fake AWS credentials always; an in-process moto AWS with the real resources on demand."""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent
EVENTS = Path(__file__).resolve().parent / "events"
AUTH_TOKEN = "test-auth-token"
PUBLIC_URL = "https://example.execute-api.us-east-1.amazonaws.com/api"

for _key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN"):
    os.environ[_key] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)


@pytest.fixture
def aws() -> Iterator["object"]:
    """moto in-process, Step Functions executing the real ASL, resources created from infra/."""
    from moto import mock_aws

    from devstack.resources import create_resources

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}), atomic_dynamodb_writes():
        yield create_resources()


@contextmanager
def atomic_dynamodb_writes() -> Iterator[None]:
    """DynamoDB applies each conditional write and transaction atomically; moto does not lock, so
    two threads can both pass a condition. Serialising moto's write operations restores the service's
    guarantee, so that concurrency tests check our logic under the contract AWS gives."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    names = ("put_item", "update_item", "delete_item", "transact_write_items")
    originals = {name: getattr(DynamoDBBackend, name) for name in names}

    def locked(fn):  # type: ignore[no-untyped-def]
        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            with lock:
                return fn(*args, **kwargs)
        return wrapper

    for name, fn in originals.items():
        setattr(DynamoDBBackend, name, locked(fn))
    try:
        yield
    finally:
        for name, fn in originals.items():
            setattr(DynamoDBBackend, name, fn)


@pytest.fixture
def settings(aws):  # type: ignore[no-untyped-def]
    from chalicelib.settings import Settings

    return Settings(table_name=aws.table_name, state_machine_arn=aws.state_machine_arn,
                    dial_queue_url=aws.dial_queue_url, notify_queue_url=aws.notify_queue_url,
                    public_base_url=PUBLIC_URL,
                    twilio_auth_token=AUTH_TOKEN)
