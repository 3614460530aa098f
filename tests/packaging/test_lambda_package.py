"""The package `make deploy` ships, imported and run as Lambda runs it (issue 10).

Builds it with `chalice package` (no AWS involved), lays it out as Lambda does (app in the task root,
layer under /opt, nothing else but what the python3.11 runtime ships), imports `app` with
`python -I -S`, and serves a caller's signed webhooks, the agents API and the dial message the real
workflow (moto's Step Functions running infra/callback.asl.json) puts on the dial queue. Secrets come
from moto's Parameter Store, as in AWS."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator
from urllib.parse import urlencode

import boto3
import pytest

from devstack.clock import offset_to, parse_clock
from devstack.network import SimNetwork
from devstack.pollers import deployed_filters
from devstack.stack import LOCAL_ACCOUNT_SID
from infra.build import LAYER_LIMIT, Package, build
from infra.lambda_layout import LambdaProcess, api_event, lay_out, sqs_event, stage_on_moto
from tests.conftest import ADMIN_TOKEN, AGENT_TOKEN, AUTH_TOKEN
from tests.e2e.test_local_stack import free_port
from tests.helpers import event, signed

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = "abc123.execute-api.us-east-1.amazonaws.com"
PUBLIC_URL = f"https://{DOMAIN}/api"
# A fixed instant in the past (Tuesday 10:00 in San Francisco): inside the caller's calling window, and
# moto's workflow timer (the real clock) has nothing to wait for.
CLOCK = "2026-01-06T18:00:00Z"
CALLER = "+14158675309"


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    return build("dev", tmp_path_factory.mktemp("build") / "dev")


@pytest.fixture(scope="module")
def aws() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    previous = os.environ.get("MOTO_PORT")
    os.environ["MOTO_PORT"] = str(port)  # moto's Step Functions calls DynamoDB and SQS back on this port
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    import requests

    requests.post(f"{url}/moto-api/config", json={"stepfunctions": {"execute_state_machine": True}},
                  timeout=10).raise_for_status()
    yield url
    server.stop()
    if previous is None:
        os.environ.pop("MOTO_PORT", None)
    else:
        os.environ["MOTO_PORT"] = previous


def test_the_template_is_one_stack_with_every_reference_resolved_by_cloudformation(package: Package) -> None:
    template = package.template
    resources = template["Resources"]
    assert not [r for r in resources.values() if r["Type"] == "AWS::IAM::Role"
                and r is not resources["AppRole"] and r is not resources["StateMachineRole"]]
    assert {"Table", "DialQueue", "CallbackStateMachine", "AppRole", "APIHandler", "DialWorker",
            "PublicUrlParameter", "ManagedLayer"} <= set(resources)
    text = json.dumps(template)
    assert "REPLACE" not in text and "000000000000" not in text  # nothing to copy in by hand
    for name in ("APIHandler", "DialWorker", "NotifyWorker", "TableStream", "DispatchSweep"):
        assert resources[name]["Properties"]["Role"] == {"Fn::GetAtt": ["AppRole", "Arn"]}
        assert resources[name]["Properties"]["Layers"] == [{"Ref": "ManagedLayer"}]
    assert resources["DialWorker"]["Properties"]["Events"]["DialWorkerSqsEventSource"]["Properties"]["Queue"] \
        == {"Fn::GetAtt": ["DialQueue", "Arn"]}
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["HOLDFAST_TABLE"] == {"Ref": "Table"}
    # The stream consumer's own writes never invoke it again: the filter the local poller applies
    mapping = resources["TableStream"]["Properties"]["Events"]["TableStreamDynamodbEventSource"]["Properties"]
    assert tuple(json.loads(f["Pattern"]) for f in mapping["FilterCriteria"]["Filters"]) == deployed_filters()
    assert not {"TWILIO_AUTH_TOKEN", "HOLDFAST_ADMIN_TOKEN"} & set(variables)


def test_the_packaged_template_passes_cfn_lint(package: Package) -> None:
    """The SAM template `make deploy` ships (Chalice's, merged with infra/), filter criteria included."""
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run([str(cfn_lint), str(package.out / "sam.json")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_lambda_settings_are_per_function(package: Package) -> None:
    props = {name: package.template["Resources"][name]["Properties"]
             for name in ("APIHandler", "DialWorker", "DispatchSweep")}
    assert props["APIHandler"]["MemorySize"] == 1024 and props["APIHandler"]["Timeout"] == 15
    assert props["DialWorker"]["ReservedConcurrentExecutions"] == 5
    assert props["DispatchSweep"]["ReservedConcurrentExecutions"] == 1


def test_the_layer_is_slim_and_compiled(package: Package) -> None:
    import zipfile

    names = zipfile.ZipFile(package.layer_zip).namelist()
    site = "python/lib/python3.11/site-packages/"
    assert not [n for n in names if n.startswith((site + "botocore/", site + "aiohttp/", site + "twilio/rest/chat/",
                                                   site + "phonenumbers/geodata/"))]
    assert any(n.startswith(site + "jsonpath_ng/") for n in names)
    assert any(n.endswith(".cpython-311.pyc") for n in names)
    assert any(n.endswith(".cpython-311.pyc") for n in zipfile.ZipFile(package.app_zip).namelist())
    assert package.sizes["layer_after"] < package.sizes["layer_before"] / 2
    assert package.sizes["layer_after"] <= LAYER_LIMIT  # issue 24: at most 25 MB unzipped
    # not shipped: the whole Vonage SDK (and pydantic under it), the 15 MB cryptography, Powertools' router
    assert not [n for n in names if n.startswith(tuple(site + p for p in (
        "vonage_voice/", "vonage_http_client/", "pydantic/", "pydantic_core/", "cryptography/",
        "aws_lambda_powertools/event_handler/", "aws_lambda_powertools/utilities/parser/")))]
    assert any(n.startswith(site + "nacl/") for n in names) and any(n.startswith(site + "rsa/") for n in names)


def test_the_app_ships_the_dynamodb_adapters_and_not_the_in_memory_world(package: Package) -> None:
    import zipfile

    names = zipfile.ZipFile(package.app_zip).namelist()
    assert any(n.startswith("chalicelib/adapters/dynamo/") for n in names)
    assert not [n for n in names if n.startswith("chalicelib/adapters/memory/")]


def test_the_package_imports_and_serves_a_webhook_and_a_dial_message_in_the_lambda_layout(
        package: Package, aws: str, tmp_path: Path) -> None:
    env = stage_on_moto(aws, AUTH_TOKEN, ADMIN_TOKEN, AGENT_TOKEN, PUBLIC_URL)
    network = SimNetwork(f"http://127.0.0.1:{free_port()}", AUTH_TOKEN, LOCAL_ACCOUNT_SID).start()
    layout = lay_out(package.app_zip, package.layer_zip, tmp_path / "lambda")
    env = {**env, "TWILIO_ACCOUNT_SID": LOCAL_ACCOUNT_SID,
           "TWILIO_API_BASE_URL": network.url, "HOLDFAST_QUEUES_FILE": str(ROOT / "tests/e2e/queues.json"),
           "HOLDFAST_CLOCK_OFFSET_SECONDS": str(offset_to(parse_clock(CLOCK))), "AWS_LAMBDA_FUNCTION_NAME": "api"}
    api = LambdaProcess(layout, env)
    worker = LambdaProcess(layout, {**env, "AWS_LAMBDA_FUNCTION_NAME": "dial-worker"})
    try:
        assert api.started["ready"], api.started
        loaded = api.started["modules"]
        assert not [m for m in loaded if "site-packages" in m and str(layout.root) not in m], "dev packages leaked"

        def voice(step: str, params: dict[str, str], query: dict[str, str] | None = None) -> dict:
            path = f"/voice/twilio/{step}"
            url = PUBLIC_URL + path + (f"?{urlencode(query)}" if query else "")
            body, headers = signed(AUTH_TOKEN, url, params)
            served = api.invoke("app", api_event("POST", path, "/voice/{provider}/{step}",
                                                 {"provider": "twilio", "step": step}, headers, body.decode(), query,
                                                 DOMAIN))
            assert served["error"] is None, served["error"]
            return served["result"]

        sid = "CA" + "9" * 32
        reply = voice("incoming", event("incoming", CallSid=sid, From=CALLER))
        assert reply["statusCode"] == 200 and "press 1" in reply["body"], reply
        ticket = reply["body"].split("offer?t=")[1].split('"')[0]
        voice("offer", event("gather_digits_1", CallSid=sid, From=CALLER), {"t": ticket})
        reply = voice("confirm", event("gather_digits_1", CallSid=sid, From=CALLER), {"t": ticket})
        assert "keep your place" in reply["body"], reply
        forged = api.invoke("app", api_event("POST", "/voice/twilio/incoming", "/voice/{provider}/{step}",
                                             {"provider": "twilio", "step": "incoming"},
                                             {"X-Twilio-Signature": "forged",
                                              "Content-Type": "application/x-www-form-urlencoded"},
                                             urlencode(event("incoming")), None, DOMAIN))
        assert forged["result"]["statusCode"] == 403

        ddb = boto3.client("dynamodb", endpoint_url=aws, region_name="us-east-1")
        number = int(ticket.rsplit("-", 1)[1])
        key = {"pk": {"S": "QUEUE#support"}, "sk": {"S": f"TICKET#{number:012d}"}}
        deadline = time.monotonic() + 20
        while "task_token" not in ddb.get_item(TableName=env['HOLDFAST_TABLE'], Key=key).get("Item", {}):
            assert time.monotonic() < deadline, "the workflow never parked the callback"
            time.sleep(0.2)

        headers = {"Authorization": f"Bearer {AGENT_TOKEN}", "Content-Type": "application/json"}
        agent = api.invoke("app", api_event("POST", "/agents/alice/status", "/agents/{agent_id}/status",
                                            {"agent_id": "alice"}, headers,
                                            json.dumps({"status": "available", "contact": "client:alice",
                                                        "queues": ["support"]}), None, DOMAIN))
        assert agent["result"]["statusCode"] == 200, agent
        assert json.loads(agent["result"]["body"])["dispatched"] == ticket

        sqs = boto3.client("sqs", endpoint_url=aws, region_name="us-east-1")
        deadline, messages = time.monotonic() + 20, []
        while not messages:
            assert time.monotonic() < deadline, "the workflow never sent the dial message"
            messages = sqs.receive_message(QueueUrl=env['HOLDFAST_DIAL_QUEUE_URL'], WaitTimeSeconds=1).get("Messages", [])
        arn = sqs.get_queue_attributes(QueueUrl=env['HOLDFAST_DIAL_QUEUE_URL'],
                                       AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        served = worker.invoke("dial_worker", sqs_event(messages[0]["Body"], arn))
        assert served["error"] is None, served["error"]
        outbound = [c for c in network.state()["calls"] if c["direction"] == "outbound-api"]
        assert [c["to"] for c in outbound] == ["client:alice"]  # the agent first, dialed once
    finally:
        api.close()
        worker.close()
        network.stop()
