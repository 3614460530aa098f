"""`make deploy` as a new admin meets it (issue 23, items 6 and 7): what is missing or wrong is one clear
line naming what to set, never a traceback, and found before anything is built or created; the next
steps it prints work with what the project installs (no AWS CLI)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import boto3
import pytest

from infra.deploy import DeployError, Deployment, enabled_providers, ensure_secrets, stack_parameters
from tests.e2e.test_local_stack import free_port

ROOT = Path(__file__).resolve().parents[2]
AWS_SETTINGS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN",
                "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL")


def make_deploy(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """`python -m infra.deploy deploy` (what `make deploy` runs) with only these AWS settings: no
    credentials file, no config file, no instance metadata to fall back on."""
    clean = {k: v for k, v in os.environ.items() if k not in AWS_SETTINGS and not k.startswith(("HOLDFAST_", "TWILIO_"))}
    clean |= {"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"), "AWS_CONFIG_FILE": str(tmp_path / "none"),
              "AWS_EC2_METADATA_DISABLED": "true", **env}
    return subprocess.run([sys.executable, "-m", "infra.deploy", "deploy", "--stage", "dev"], cwd=ROOT, env=clean,
                          capture_output=True, text=True, timeout=120)


def one_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_no_credentials_is_one_line_naming_what_to_set(tmp_path: Path) -> None:
    line = one_line(make_deploy(tmp_path, AWS_REGION="eu-west-1"))
    assert line.startswith("make deploy: no AWS credentials found") and "AWS_ACCESS_KEY_ID" in line


def test_no_region_is_one_line_naming_what_to_set(tmp_path: Path) -> None:
    line = one_line(make_deploy(tmp_path, AWS_ACCESS_KEY_ID="AKIAEXAMPLE", AWS_SECRET_ACCESS_KEY="example"))
    assert line.startswith("make deploy: no AWS region") and "AWS_REGION=eu-west-1" in line


@pytest.fixture
def moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=(port := free_port()), verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def test_a_moto_endpoint_without_the_sam_transform_is_one_line_before_anything_is_made(
        tmp_path: Path, moto_server: str) -> None:
    ssm = boto3.client("ssm", endpoint_url=moto_server, region_name="us-east-1")
    s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")

    def made() -> tuple[list[str], list[str]]:  # moto servers in one process share one AWS: what is there now
        return ([p["Name"] for p in ssm.describe_parameters()["Parameters"]],
                [b["Name"] for b in s3.list_buckets()["Buckets"]])

    before = made()
    line = one_line(make_deploy(tmp_path, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                                AWS_REGION="us-east-1", AWS_ENDPOINT_URL=moto_server))
    assert "does not run the AWS::Serverless transform" in line and "make deploy ARGS=--rehearse" in line
    assert made() == before  # nothing made: no bucket, no secret


@pytest.mark.parametrize("env, problem", [
    ({"HOLDFAST_PROVIDERS": "twilio,telnxy"}, "HOLDFAST_PROVIDERS names telnxy; known: twilio, telnyx, vonage"),
    ({"HOLDFAST_PROVIDERS": "twilio", "HOLDFAST_DIALING_PROVIDER": "vonage"},
     "HOLDFAST_DIALING_PROVIDER is vonage, which HOLDFAST_PROVIDERS does not enable (twilio)")])
def test_provider_settings_that_cannot_work_stop_the_deploy_first(env: dict[str, str], problem: str) -> None:
    with pytest.raises(DeployError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        enabled_providers(env)


def test_every_provider_s_settings_go_to_the_stack_cleared_for_a_provider_not_enabled() -> None:
    env = {"HOLDFAST_PROVIDERS": "telnyx", "HOLDFAST_DIALING_PROVIDER": "telnyx", "TELNYX_ACCOUNT_SID": "acct",
           "TELNYX_APPLICATION_SID": "app", "VONAGE_APPLICATION_ID": "left over", "TWILIO_ACCOUNT_SID": "AC1",
           "HOLDFAST_AGENT_SIP_DOMAINS": "pbx.example"}
    providers, dialing = enabled_providers(env)
    assert providers == ("twilio", "telnyx")  # Twilio's webhooks are always served
    assert stack_parameters("dev", env, providers, dialing) == {
        "Stage": "dev", "Providers": "twilio,telnyx", "DialingProvider": "telnyx", "DialCallsPerSecond": "1",
        "TwilioAccountSid": "AC1",
        "TelnyxAccountSid": "acct", "TelnyxApplicationSid": "app", "VonageApplicationId": "",
        "AgentSipDomains": "pbx.example"}  # whatever the providers (issue 21: agents' sip: domains)


@pytest.mark.parametrize("pace", ["0", "fast", "-2"])
def test_a_dialing_pace_that_is_not_a_rate_stops_the_deploy(pace: str) -> None:
    env = {"HOLDFAST_DIAL_CALLS_PER_SECOND": pace}
    with pytest.raises(DeployError, match="HOLDFAST_DIAL_CALLS_PER_SECOND is .* a number above 0"):
        stack_parameters("dev", env, *enabled_providers(env))


def test_the_dialing_pace_given_goes_to_the_stack() -> None:
    env = {"HOLDFAST_DIAL_CALLS_PER_SECOND": "5"}
    assert stack_parameters("dev", env, *enabled_providers(env))["DialCallsPerSecond"] == "5"


def test_a_key_an_enabled_provider_lacks_is_said_with_how_to_give_it() -> None:
    from moto import mock_aws

    with mock_aws():
        ssm = boto3.client("ssm", region_name="us-east-1")
        dep = Deployment("holdfast-dev", providers=("twilio", "vonage"))
        ensure_secrets(ssm, "/holdfast/dev", {"TWILIO_AUTH_TOKEN": "0123456789abcdef0123456789abcdef",
                                              "VONAGE_SIGNATURE_SECRET": "holdfast-test-signature-secret-32"}, dep)
        stored = {p["Name"] for p in ssm.describe_parameters()["Parameters"]}
    assert stored == {"/holdfast/dev/admin-token", "/holdfast/dev/agent-token", "/holdfast/dev/twilio-auth-token",
                      "/holdfast/dev/vonage-signature-secret"}
    assert dep.messages == [
        "Admin token (admin API, console): make admin-token STAGE=dev  (created now)",
        "Agent token (presence updates only): make agent-token STAGE=dev  (created now)",
        "No Vonage application private key on this stage yet: every webhook is refused (403) until you re-run "
        "make deploy with VONAGE_PRIVATE_KEY set."]  # the URL secret is optional: nothing said of it
