"""One botocore session for every PynamoDB model and boto3 client (issue 10): PynamoDB opened one per
model on the first request (seven, about 0.8 s of a cold start)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import botocore.session
import pytest

from chalicelib import bootstrap
from tests.conftest import AUTH_TOKEN, PUBLIC_URL
from tests.helpers import event, signed

QUEUES = str(Path(__file__).resolve().parents[1] / "e2e" / "queues.json")


def test_a_first_request_opens_one_botocore_session(settings, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    created: list[object] = []
    original = botocore.session.Session.__init__

    def counting(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        created.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(botocore.session.Session, "__init__", counting)
    container = bootstrap.build_aws(replace(settings, queues_file=QUEUES))
    url = PUBLIC_URL + "/voice/twilio/incoming"
    body, headers = signed(AUTH_TOKEN, url, event("incoming", CallSid="CA" + "7" * 32))
    reply = container.webhooks.handle("twilio", "incoming", body, {}, headers)
    assert reply.status == 200 and "<Response>" in reply.body
    body, headers = signed(AUTH_TOKEN, url, event("status_completed", CallSid="CA" + "7" * 32))
    assert container.webhooks.handle("twilio", "incoming", body, {}, headers).status == 200
    container.dispatcher.agent_event("ann", __import__("chalicelib.domain.model", fromlist=["AgentStatus"])
                                     .AgentStatus.AVAILABLE, contact="client:ann", queues=("support",))
    assert len(created) == 1
