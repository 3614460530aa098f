"""Secrets fail closed (issue 9 item 1) and come from Parameter Store in AWS (issue 10).

An empty, placeholder or short provider token or admin token: the app refuses to build, /health
says why (never the value), every webhook is 403 and nothing is written."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import boto3
import pytest
from chalice.test import Client

from app import app
from chalicelib import bootstrap
from chalicelib.settings import Settings, SettingsError, secret_problem
from tests.conftest import ADMIN_TOKEN, AGENT_TOKEN, AUTH_TOKEN, PUBLIC_URL
from tests.helpers import event, signed

QUEUES = str(Path(__file__).with_name("queues.json"))
PLACEHOLDER = "REPLACE (or keep it in SSM and read it at deploy)"  # what .chalice/config.json used to hold
BAD_TOKENS = ["", PLACEHOLDER, "short-token", "a" * 40, "<your auth token here, 32 characters long>"]


@pytest.fixture
def env(aws, monkeypatch) -> Iterator[pytest.MonkeyPatch]:  # type: ignore[no-untyped-def]
    for key, value in {**aws.env(), "HOLDFAST_QUEUES_FILE": QUEUES, "HOLDFAST_PUBLIC_URL": PUBLIC_URL,
                       "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "HOLDFAST_ADMIN_TOKEN": ADMIN_TOKEN}.items():
        monkeypatch.setenv(key, value)
    bootstrap.reset()
    yield monkeypatch
    bootstrap.reset()


def items(table: str) -> int:
    return boto3.client("dynamodb", region_name="us-east-1").scan(TableName=table)["Count"]


def incoming(client: Client, token: str):  # type: ignore[no-untyped-def]
    body, headers = signed(token, PUBLIC_URL + "/voice/twilio/incoming", event("incoming"))
    return client.http.post("/voice/twilio/incoming", headers=headers, body=body)


@pytest.mark.parametrize("token", BAD_TOKENS)
def test_an_unusable_provider_token_refuses_every_webhook_and_writes_nothing(aws, env, token: str) -> None:
    env.setenv("TWILIO_AUTH_TOKEN", token)
    with Client(app, stage_name="local") as client:
        assert incoming(client, token).status_code == 403  # signed with the very key configured
        taskrouter = client.http.post("/providers/twilio/agent-events", body=b"EventType=x",
                                      headers={"Content-Type": "application/x-www-form-urlencoded",
                                               "X-Twilio-Signature": "x"})
        assert taskrouter.status_code == 403
        health = client.http.get("/health")
    assert health.status_code == 503
    problems = json.loads(health.body)["problems"]
    assert [p for p in problems if p.startswith("TWILIO_AUTH_TOKEN")], problems
    # no 5-character piece of the token is echoed back (an empty token has none to echo)
    pieces = {token[i:i + 5] for i in range(len(token) - 4)}
    assert not {piece for piece in pieces if piece in health.body.decode()}
    assert items(aws.table_name) == 0


@pytest.mark.parametrize("token", BAD_TOKENS)
def test_an_unusable_admin_token_refuses_the_apis_and_the_webhooks(aws, env, token: str) -> None:
    env.setenv("HOLDFAST_ADMIN_TOKEN", token)
    with Client(app, stage_name="local") as client:
        agent = client.http.post("/agents/alice/status", headers={"Authorization": f"Bearer {token}",
                                                                  "Content-Type": "application/json"},
                                 body=json.dumps({"status": "available", "contact": "client:alice"}))
        assert agent.status_code == 503
        lost = client.http.get("/admin/lost-calls", headers={"Authorization": f"Bearer {token}"})
        assert lost.status_code == 503 and "HOLDFAST_ADMIN_TOKEN" in lost.body.decode()
        assert incoming(client, AUTH_TOKEN).status_code == 403
        assert client.http.get("/health").status_code == 503
    assert items(aws.table_name) == 0


def test_usable_secrets_build_the_app_and_health_says_ok(aws, env) -> None:
    with Client(app, stage_name="local") as client:
        assert client.http.get("/health").status_code == 200
        assert incoming(client, AUTH_TOKEN).status_code == 200
        assert incoming(client, "another-token-0123456789abcdef01234").status_code == 403
    assert items(aws.table_name) > 0


def test_the_refusal_is_logged_at_start(env, caplog) -> None:  # type: ignore[no-untyped-def]
    env.setenv("TWILIO_AUTH_TOKEN", PLACEHOLDER)
    bootstrap.check_at_start()
    assert "TWILIO_AUTH_TOKEN is still a placeholder" in caplog.text and PLACEHOLDER not in caplog.text


@pytest.mark.parametrize("value, problem", [
    ("", "is empty"), ("REPLACE with a long random string", "placeholder"), ("0" * 32, "not random"),
    ("0123456789abcdef0123456789abcde", "31 characters"),
    ("0123456789abcdef0123456789abcdef", "a repeated pattern"),  # 4 bits a character, yet no secret
    ("abcdabcdbadcdcbaabcddcbaabcdbcda", "not random enough (about 64 bits"),  # 32 characters, 4 distinct
    ("abcdeabcdeedcbaabcdeedcbaabcdeab", "not random enough")])  # 5 distinct: 2.3 bits a character
def test_secret_rules_refuse(value: str, problem: str) -> None:
    found = secret_problem("TWILIO_AUTH_TOKEN", value)
    assert found is not None and problem in found


@pytest.mark.parametrize("value", ["4c1f0e9b7a2d83f65e0b9c1a7d4f2e86",  # what `openssl rand -hex 16` gives
                                   "Zq8vX3mK9pL2wR7tY4nB6cJ1hG5fD0sA"])
def test_secret_rules_accept_a_long_random_token(value: str) -> None:
    assert secret_problem("TWILIO_AUTH_TOKEN", value) is None


@pytest.mark.parametrize("name", ["TWILIO_AUTH_TOKEN", "HOLDFAST_ADMIN_TOKEN", "HOLDFAST_AGENT_TOKEN",
                                  "VONAGE_SIGNATURE_SECRET", "VONAGE_URL_TOKEN"])
def test_every_secret_is_held_to_the_same_randomness(name: str) -> None:
    """Issue 21 item 6: a 32-character secret made of 4 characters passed the strength check."""
    assert "not random enough" in (secret_problem(name, "abcdabcdbadcdcbaabcddcbaabcdbcda") or "")
    assert secret_problem(name, "4c1f0e9b7a2d83f65e0b9c1a7d4f2e86") is None


def test_require_safe_names_every_problem() -> None:
    with pytest.raises(SettingsError) as err:
        Settings(twilio_auth_token="", admin_token="x").require_safe()
    assert [p.split()[0] for p in err.value.problems] == ["TWILIO_AUTH_TOKEN", "HOLDFAST_ADMIN_TOKEN",
                                                          "HOLDFAST_AGENT_TOKEN"]


def test_the_agent_token_is_its_own_secret() -> None:
    """Agents' integrations hold the agent token: it must never open the admin API, so it may not be
    the admin token, and it is held to the same rules."""
    with pytest.raises(SettingsError) as err:
        Settings(twilio_auth_token=AUTH_TOKEN, admin_token=ADMIN_TOKEN, agent_token=ADMIN_TOKEN).require_safe()
    assert err.value.problems == ["HOLDFAST_AGENT_TOKEN must differ from HOLDFAST_ADMIN_TOKEN (agents read nothing)"]
    with pytest.raises(SettingsError):
        Settings(twilio_auth_token=AUTH_TOKEN, admin_token=ADMIN_TOKEN, agent_token=PLACEHOLDER).require_safe()
    assert Settings(twilio_auth_token=AUTH_TOKEN, admin_token=ADMIN_TOKEN, agent_token=AGENT_TOKEN).require_safe()


# --- Parameter Store (AWS) -----------------------------------------------------------------------

def put(name: str, value: str, secure: bool = True) -> None:
    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name=name, Value=value, Type="SecureString" if secure else "String", Overwrite=True)


def test_secrets_and_public_url_come_from_parameter_store(aws, env) -> None:
    for key in ("TWILIO_AUTH_TOKEN", "HOLDFAST_ADMIN_TOKEN", "HOLDFAST_AGENT_TOKEN", "HOLDFAST_PUBLIC_URL"):
        env.delenv(key)
    env.setenv("HOLDFAST_PARAMETERS_PATH", "/holdfast/dev")
    put("/holdfast/dev/twilio-auth-token", AUTH_TOKEN)
    put("/holdfast/dev/admin-token", ADMIN_TOKEN)
    put("/holdfast/dev/agent-token", AGENT_TOKEN)
    put("/holdfast/dev/public-url", PUBLIC_URL + "/", secure=False)
    with Client(app, stage_name="local") as client:
        assert client.http.get("/health").status_code == 200
        assert incoming(client, AUTH_TOKEN).status_code == 200
        lost = client.http.get("/admin/lost-calls", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert lost.status_code == 200


def test_a_missing_parameter_refuses_and_says_which(aws, env) -> None:
    env.delenv("TWILIO_AUTH_TOKEN")
    env.setenv("HOLDFAST_PARAMETERS_PATH", "/holdfast/dev")
    put("/holdfast/dev/admin-token", ADMIN_TOKEN)
    put("/holdfast/dev/agent-token", AGENT_TOKEN)
    with Client(app, stage_name="local") as client:
        assert incoming(client, AUTH_TOKEN).status_code == 403
        health = client.http.get("/health")
    assert health.status_code == 503
    assert "/holdfast/dev/twilio-auth-token could not be read" in health.body.decode()


def test_parameters_are_cached_for_max_age(aws) -> None:
    from chalicelib.adapters.parameters import ParameterStore

    put("/holdfast/dev/admin-token", "first-value-0123456789abcdef0123456")
    store = ParameterStore("/holdfast/dev", boto3.client("ssm", region_name="us-east-1"), max_age=300)
    assert store.get("admin-token") == "first-value-0123456789abcdef0123456"
    put("/holdfast/dev/admin-token", "second-value-0123456789abcdef012345")
    assert store.get("admin-token") == "first-value-0123456789abcdef0123456"  # cached: no SSM call
    assert store.get("admin-token", force_fetch=True) == "second-value-0123456789abcdef012345"


def test_the_bridge_result_grace_is_a_positive_number_of_seconds() -> None:
    assert Settings.from_env({}).bridge_result_grace_seconds == 120.0
    assert Settings.from_env({"HOLDFAST_BRIDGE_RESULT_GRACE_SECONDS": "15"}).bridge_result_grace_seconds == 15.0
    for bad in ("0", "-3", "soon", "nan", "inf"):
        with pytest.raises(SettingsError, match="HOLDFAST_BRIDGE_RESULT_GRACE_SECONDS must be a positive number"):
            Settings.from_env({"HOLDFAST_BRIDGE_RESULT_GRACE_SECONDS": bad})
