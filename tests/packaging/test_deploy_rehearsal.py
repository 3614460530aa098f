"""`make deploy` rehearsed against a moto server, as far as moto goes (issue 10; docs/deploy.md lists
what moto cannot do and what the rehearsal does instead): one stack with the data, the workflow and
the functions, event sources and schedule wired by CloudFormation, secrets in Parameter Store, a
second run updating in place, and `make destroy` removing it; per provider, a stage that serves it
(issue 23): its settings in the functions, its keys in Parameter Store, its webhook URL printed."""
from __future__ import annotations

from typing import Iterator

import boto3
import pytest

from infra.build import Package, build
from infra.deploy import PROVIDER_SECRETS, deploy, destroy, main, summary
from tests.e2e.test_local_stack import free_port

STAGE = "rehearsal"


def moto_server() -> Iterator[str]:
    """A moto server (one process-wide AWS: servers in one process share it; stages keep tests apart)."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    yield from moto_server()


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    """Built once (chalice package, pip): every rehearsal here deploys the same package."""
    return build(STAGE, tmp_path_factory.mktemp("build") / STAGE)


def client(service: str, url: str):  # type: ignore[no-untyped-def]
    return boto3.client(service, endpoint_url=url, region_name="us-east-1")


def test_deploy_then_redeploy_then_destroy(moto_url: str, package: Package) -> None:
    # jambonz enabled beside Twilio (issue 26), its secrets given to make deploy; Twilio's auth token not yet
    jambonz = {"HOLDFAST_PROVIDERS": "twilio,jambonz", "HOLDFAST_DIALING_PROVIDER": "jambonz",
               "HOLDFAST_DIAL_CALLS_PER_SECOND": "5", "JAMBONZ_ACCOUNT_SID": "9351f46a-678c-43f5-b8a6-d4eb58d131af"}
    secrets = {"JAMBONZ_WEBHOOK_SECRET": "wh_secret_cJqgtMDPzDhhnjmaJH6Mtk", "JAMBONZ_API_KEY": "api-key-1"}
    first = deploy(STAGE, "us-east-1", env=jambonz | secrets, endpoint_url=moto_url, rehearse=True, package=package)
    cfn = client("cloudformation", moto_url)
    [stack] = cfn.describe_stacks(StackName="holdfast-rehearsal")["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert first.webhook_url.startswith("https://") and first.webhook_url.endswith("/api/voice/twilio/incoming")
    assert first.admin_token_created
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"]
                for r in cfn.list_stack_resources(StackName="holdfast-rehearsal")["StackResourceSummaries"]}

    # the functions, with their own settings and every reference resolved by CloudFormation
    lam = client("lambda", moto_url)
    functions = {name: lam.get_function(FunctionName=physical[name])["Configuration"]
                 for name in ("APIHandler", "DialWorker", "NotifyWorker", "TableStream", "DispatchSweep")}
    assert functions["APIHandler"]["MemorySize"] == 1024 and functions["APIHandler"]["Timeout"] == 15
    assert functions["DialWorker"]["Timeout"] == 30
    role = client("iam", moto_url).get_role(RoleName=physical["AppRole"])["Role"]["Arn"]
    for config in functions.values():
        assert config["Role"] == role  # (moto drops Layers from CloudFormation; the template test checks them)
        variables = config["Environment"]["Variables"]
        assert variables["HOLDFAST_TABLE"] == physical["Table"]
        assert variables["HOLDFAST_DIAL_QUEUE_URL"] == physical["DialQueue"]
        assert variables["HOLDFAST_STATE_MACHINE_ARN"] == physical["CallbackStateMachine"]
        assert variables["HOLDFAST_PARAMETERS_PATH"] == "/holdfast/rehearsal"
        assert not {"TWILIO_AUTH_TOKEN", "HOLDFAST_ADMIN_TOKEN", "JAMBONZ_WEBHOOK_SECRET", "JAMBONZ_API_KEY"} & set(variables)
        assert (variables["HOLDFAST_PROVIDERS"], variables["HOLDFAST_DIALING_PROVIDER"], variables["JAMBONZ_ACCOUNT_SID"],
                variables["HOLDFAST_DIAL_CALLS_PER_SECOND"]) == ("twilio,jambonz", "jambonz",
                                                              "9351f46a-678c-43f5-b8a6-d4eb58d131af", "5")

    # event sources and the schedule
    mappings = lam.list_event_source_mappings()["EventSourceMappings"]
    sources = {m["FunctionArn"].rsplit(":", 1)[-1]: m["EventSourceArn"] for m in mappings}
    sqs = client("sqs", moto_url)
    dial_arn = sqs.get_queue_attributes(QueueUrl=physical["DialQueue"], AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert sources[physical["DialWorker"]] == dial_arn
    assert ":table/" in sources[physical["TableStream"]] and "/stream/" in sources[physical["TableStream"]]
    events = client("events", moto_url)
    rules = [r for r in events.list_rules()["Rules"] if r.get("ScheduleExpression") == "rate(1 minute)"]
    assert rules
    targets = events.list_targets_by_rule(Rule=rules[0]["Name"])["Targets"]
    assert targets[0]["Arn"].endswith(physical["DispatchSweep"])

    # the workflow's definition is the ASL file, substituted by CloudFormation
    sfn = client("stepfunctions", moto_url)
    definition = sfn.describe_state_machine(stateMachineArn=physical["CallbackStateMachine"])["definition"]
    assert physical["Table"] in definition and physical["DialQueue"] in definition

    # secrets in Parameter Store; the public URL written by the stack itself
    ssm = client("ssm", moto_url)
    admin = ssm.get_parameter(Name="/holdfast/rehearsal/admin-token", WithDecryption=True)["Parameter"]
    assert admin["Type"] == "SecureString" and len(admin["Value"]) == 64
    assert ssm.get_parameter(Name="/holdfast/rehearsal/public-url")["Parameter"]["Value"] + \
        "/voice/twilio/incoming" == first.webhook_url

    for name, value in (("jambonz-webhook-secret", "wh_secret_cJqgtMDPzDhhnjmaJH6Mtk"), ("jambonz-api-key", "api-key-1")):
        stored = ssm.get_parameter(Name=f"/holdfast/rehearsal/{name}", WithDecryption=True)["Parameter"]
        assert (stored["Type"], stored["Value"]) == ("SecureString", value)

    # what it prints: each enabled provider's URLs and where they go (jambonz's application takes two);
    # next steps that need no AWS CLI
    api = first.webhook_url.removesuffix("/voice/twilio/incoming")
    printed = "\n".join(summary(STAGE, first, {}))
    assert f"Twilio: paste into the Twilio console, the number's 'A call comes in' and 'Call status changes':\n" \
           f"    {first.webhook_url}" in printed
    assert f"jambonz: paste into the jambonz portal, the application's 'Calling webhook' (POST):\n" \
           f"    {api}/voice/jambonz/incoming\n" in printed
    assert f"jambonz: paste into the same application's 'Call status webhook' (POST):\n" \
           f"    {api}/voice/jambonz/incoming?hook=status" in printed
    assert "make admin-token STAGE=rehearsal" in printed and "aws " not in printed
    assert "No Twilio auth token on this stage yet" in printed and "re-run make deploy with TWILIO_AUTH_TOKEN set" in printed
    assert "No jambonz" not in printed

    # re-running updates in place: same stack, same admin token, jambonz's stored secrets kept unasked
    # (the same parameters: moto's update_stack answered 500 to changed ones in this rehearsal)
    second = deploy(STAGE, "us-east-1", env=jambonz, endpoint_url=moto_url, rehearse=True, package=package)
    assert not second.admin_token_created and second.webhook_url == first.webhook_url
    assert ssm.get_parameter(Name="/holdfast/rehearsal/admin-token", WithDecryption=True)["Parameter"]["Value"] \
        == admin["Value"]
    assert not [m for m in second.messages if "No jambonz" in m]
    assert ssm.get_parameter(Name="/holdfast/rehearsal/jambonz-api-key", WithDecryption=True)["Parameter"]["Value"] \
        == "api-key-1"

    assert destroy(STAGE, "us-east-1", endpoint_url=moto_url) == "DELETE_COMPLETE"
    assert not [s for s in cfn.list_stacks()["StackSummaries"]
                if s["StackName"] == "holdfast-rehearsal" and s["StackStatus"] != "DELETE_COMPLETE"]
    for gone in ("admin-token", "jambonz-webhook-secret", "jambonz-api-key"):
        with pytest.raises(ssm.exceptions.ParameterNotFound):
            ssm.get_parameter(Name=f"/holdfast/rehearsal/{gone}")


def test_an_enabled_provider_without_its_secret_is_said(moto_url: str) -> None:
    """jambonz enabled with no webhook secret given nor stored: make deploy says how to give it (its
    webhooks are refused until then); given once, a later run without it keeps the stored one."""
    from infra.deploy import Deployment, ensure_secrets

    ssm = client("ssm", moto_url)
    path, both = "/holdfast/said", ("twilio", "jambonz")

    def said(env: dict[str, str], providers: tuple[str, ...] = both) -> list[str]:
        dep = Deployment("holdfast-said", providers=providers)
        ensure_secrets(ssm, path, {"TWILIO_AUTH_TOKEN": "0123456789abcdef0123456789abcdef", **env}, dep, "said")
        return [m for m in dep.messages if m.startswith("No ")]

    assert said({}, ("twilio",)) == []  # jambonz not enabled: nothing asked for it
    missing = said({})
    assert len(missing) == 2 and "jambonz account webhook secret" in missing[0] \
        and "JAMBONZ_WEBHOOK_SECRET" in missing[0] and "JAMBONZ_API_KEY" in missing[1]
    assert said({"JAMBONZ_WEBHOOK_SECRET": "wh_secret_abcdefghijklmnopqrstuv", "JAMBONZ_API_KEY": "k"}) == []
    assert said({}) == []
    assert ssm.get_parameter(Name=f"{path}/jambonz-webhook-secret", WithDecryption=True)["Parameter"]["Value"] \
        == "wh_secret_abcdefghijklmnopqrstuv"


def test_with_provider_credentials_the_number_is_pointed_at_the_webhook() -> None:
    """Through the twilio library's REST calls, answered by the simulated network's IncomingPhoneNumbers."""
    from devstack.network import SimNetwork
    from devstack.stack import LOCAL_ACCOUNT_SID
    from infra.deploy import DeployError, configure_number

    network = SimNetwork("http://127.0.0.1:9", "0123456789abcdef0123456789abcdef", LOCAL_ACCOUNT_SID).start()
    url = "https://abc123.execute-api.us-east-1.amazonaws.com/api/voice/twilio/incoming"
    env = {"TWILIO_ACCOUNT_SID": LOCAL_ACCOUNT_SID, "TWILIO_AUTH_TOKEN": "0123456789abcdef0123456789abcdef",
           "TWILIO_API_BASE_URL": network.url}
    try:
        assert configure_number(env, url) is False  # no number given: nothing to configure
        assert configure_number({**env, "TWILIO_PHONE_NUMBER": "+18005550100"}, url) is True
        number = network.numbers["+18005550100"]
        assert (number["voice_url"], number["status_callback"], number["voice_method"]) == (url, url, "POST")
        with pytest.raises(DeployError, match="not a number of Twilio account"):
            configure_number({**env, "TWILIO_PHONE_NUMBER": "+18005550199"}, url)
    finally:
        network.stop()


PROVIDER_ENV = {
    "telnyx": {"TELNYX_ACCOUNT_SID": "acct-telnyx-1", "TELNYX_APPLICATION_SID": "texml-app-1",
               "TELNYX_PUBLIC_KEY": "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", "TELNYX_API_KEY": "KEY0123-telnyx"},
    "vonage": {"VONAGE_APPLICATION_ID": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
               "VONAGE_SIGNATURE_SECRET": "holdfast-test-signature-secret-32",
               "VONAGE_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----\nMIIE...\n-----END PRIVATE KEY-----\n",
               "VONAGE_URL_TOKEN": "per-stage-url-token-0123456789abcdef"},
}
CONSOLE = {"telnyx": "Telnyx: paste into the Telnyx portal, the TeXML application's 'Voice URL' and 'Status callback URL'",
           "vonage": "Vonage: paste into the Vonage dashboard, the application's Voice 'Answer URL' and 'Event URL' (both POST)"}


@pytest.mark.parametrize("provider", ["telnyx", "vonage"])
def test_a_stage_serving_a_provider_carries_its_settings_stores_its_keys_and_prints_its_url(
        moto_url: str, package: Package, provider: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """As the README says: HOLDFAST_PROVIDERS, the dialing provider and the provider's settings in the
    environment of `make deploy`; the deployed functions carry them, its keys are in Parameter Store (and in
    no function's environment), and its console's URL is printed beside Twilio's."""
    given = PROVIDER_ENV[provider]
    env = {"HOLDFAST_PROVIDERS": f"twilio,{provider}", "HOLDFAST_DIALING_PROVIDER": provider,
           "HOLDFAST_DIAL_CALLS_PER_SECOND": "3",
           "TWILIO_AUTH_TOKEN": "0123456789abcdef0123456789abcdef", **given}
    stage = f"rehearsal-{provider}"  # a stage of its own
    dep = deploy(stage, "us-east-1", env=env, endpoint_url=moto_url, rehearse=True, package=package)
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in client("cloudformation", moto_url)
                .list_stack_resources(StackName=f"holdfast-{stage}")["StackResourceSummaries"]}
    lam = client("lambda", moto_url)
    secrets = {s.env for s in PROVIDER_SECRETS[provider]}
    for name in ("APIHandler", "DialWorker", "NotifyWorker", "TableStream", "DispatchSweep"):
        variables = lam.get_function(FunctionName=physical[name])["Configuration"]["Environment"]["Variables"]
        assert variables["HOLDFAST_PROVIDERS"] == f"twilio,{provider}"
        assert variables["HOLDFAST_DIALING_PROVIDER"] == provider
        assert variables["HOLDFAST_DIAL_CALLS_PER_SECOND"] == "3"
        assert {k: variables[k] for k in given if k not in secrets} == {k: v for k, v in given.items() if k not in secrets}
        assert not set(given.values()) & set(variables.values()) - {v for k, v in given.items() if k not in secrets}

    ssm = client("ssm", moto_url)
    for secret in PROVIDER_SECRETS[provider]:
        stored = ssm.get_parameter(Name=f"/holdfast/{stage}/{secret.parameter}", WithDecryption=True)["Parameter"]
        assert (stored["Type"], stored["Value"]) == ("SecureString", given[secret.env])

    api = ssm.get_parameter(Name=f"/holdfast/{stage}/public-url")["Parameter"]["Value"]
    assert dep.webhook_urls == {"twilio": f"{api}/voice/twilio/incoming", provider: f"{api}/voice/{provider}/incoming"}
    printed = "\n".join(summary(stage, dep, env))
    assert f"{CONSOLE[provider]}:\n    {api}/voice/{provider}/incoming" in printed
    assert "No " not in printed and "aws " not in printed  # every key given: nothing left to do but paste

    # `make admin-token STAGE=...` reads what `make deploy` said to read (boto3 follows AWS_ENDPOINT_URL)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    assert main(["admin-token", "--stage", stage, "--region", "us-east-1"]) == 0
    token = ssm.get_parameter(Name=f"/holdfast/{stage}/admin-token", WithDecryption=True)["Parameter"]["Value"]
    assert capsys.readouterr().out == token + "\n"
    assert destroy(stage, "us-east-1", endpoint_url=moto_url) == "DELETE_COMPLETE"
    with pytest.raises(ssm.exceptions.ParameterNotFound):  # its keys go with it
        ssm.get_parameter(Name=f"/holdfast/{stage}/{PROVIDER_SECRETS[provider][0].parameter}")
