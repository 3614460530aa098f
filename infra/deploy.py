"""`make deploy STAGE=dev` / `make destroy STAGE=dev`: from an AWS account with credentials and a
region to a working stage, as one CloudFormation stack (docs/deploy.md).

    python -m infra.deploy deploy --stage dev [--region eu-west-1] [--rehearse]
    python -m infra.deploy destroy --stage dev
    python -m infra.deploy admin-token --stage dev      (make admin-token; agent-token likewise)

Deploy: an artifacts bucket (created once per account and region); the stage's secrets in Parameter
Store (a random admin token created if none exists; each enabled provider's keys stored when given in
the environment); the package built (infra/build.py) and uploaded; the stack created or updated in
place, its functions carrying each enabled provider's settings (HOLDFAST_PROVIDERS and the rest); each
enabled provider's webhook URL printed, and with TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and
TWILIO_PHONE_NUMBER set, the number's voice and status URLs set through Twilio's API. Every reference
between resources is CloudFormation's.

`rehearse=True` (`--rehearse`: the tests, or by hand against a moto server) adapts what moto cannot do;
each adaptation is listed in docs/deploy.md and marked MOTO below."""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError, PartialCredentialsError

from chalicelib.adapters import parameters as names
from chalicelib.adapters.webhook_urls import CONSOLES, incoming_url
from infra.build import INFRA, Package, build

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
FUNCTIONS = ("APIHandler", "DialWorker", "NotifyWorker", "TableStream", "DispatchSweep")


SERVERLESS = "AWS::Serverless-2016-10-31"


@dataclass(frozen=True)
class Secret:
    env: str  # where the admin gives it (the environment of `make deploy`)
    parameter: str  # its name under the stage's Parameter Store path
    what: str
    required: bool = True  # without it the app refuses every request (it fails closed)


# What each provider needs on a stage: settings that are not secret (the functions' environment, through
# the stack's parameters) and secrets (Parameter Store, SecureString; the functions read them there).
PROVIDER_SETTINGS = {"twilio": ("TWILIO_ACCOUNT_SID",), "telnyx": ("TELNYX_ACCOUNT_SID", "TELNYX_APPLICATION_SID"),
                     "vonage": ("VONAGE_APPLICATION_ID",)}
PROVIDER_SECRETS = {
    "twilio": (Secret("TWILIO_AUTH_TOKEN", names.TWILIO_AUTH_TOKEN, "Twilio auth token"),),
    "telnyx": (Secret("TELNYX_PUBLIC_KEY", names.TELNYX_PUBLIC_KEY, "Telnyx public key"),
               Secret("TELNYX_API_KEY", names.TELNYX_API_KEY, "Telnyx API key")),
    "vonage": (Secret("VONAGE_SIGNATURE_SECRET", names.VONAGE_SIGNATURE_SECRET, "Vonage signature secret"),
               Secret("VONAGE_PRIVATE_KEY", names.VONAGE_PRIVATE_KEY, "Vonage application private key"),
               Secret("VONAGE_URL_TOKEN", names.VONAGE_URL_TOKEN, "Vonage URL secret", required=False)),
}
# The stack's parameters (infra/app.yaml) that carry them into every function's environment.
STACK_PARAMETERS = {"HOLDFAST_PROVIDERS": "Providers", "HOLDFAST_DIALING_PROVIDER": "DialingProvider",
                    "HOLDFAST_DIAL_CALLS_PER_SECOND": "DialCallsPerSecond",
                    "TWILIO_ACCOUNT_SID": "TwilioAccountSid", "TELNYX_ACCOUNT_SID": "TelnyxAccountSid",
                    "TELNYX_APPLICATION_SID": "TelnyxApplicationSid", "VONAGE_APPLICATION_ID": "VonageApplicationId",
                    "HOLDFAST_AGENT_SIP_DOMAINS": "AgentSipDomains"}
TOKENS = {"admin-token": "Admin token (admin API, console)", "agent-token": "Agent token (presence updates only)"}


class DeployError(Exception):
    """The deploy cannot go on; the message says why and what to do."""


@dataclass
class Deployment:
    stack: str
    webhook_url: str = ""
    parameters_path: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    admin_token_created: bool = False
    number_configured: bool = False
    messages: list[str] = field(default_factory=list)
    providers: tuple[str, ...] = ("twilio",)
    webhook_urls: dict[str, str] = field(default_factory=dict)  # per enabled provider: what its console takes


def enabled_providers(env: Mapping[str, str]) -> tuple[tuple[str, ...], str]:
    """The providers a stage serves (HOLDFAST_PROVIDERS; Twilio's webhooks are always served) and the one
    that dials (HOLDFAST_DIALING_PROVIDER), checked before anything is created."""
    given = [p.strip() for p in env.get("HOLDFAST_PROVIDERS", "twilio").split(",") if p.strip()]
    unknown = [p for p in given if p not in PROVIDER_SECRETS]
    if unknown:
        raise DeployError(f"HOLDFAST_PROVIDERS names {', '.join(unknown)}; known: {', '.join(PROVIDER_SECRETS)}")
    providers = tuple(dict.fromkeys(["twilio", *given]))
    dialing = env.get("HOLDFAST_DIALING_PROVIDER", "twilio")
    if dialing not in providers:
        raise DeployError(f"HOLDFAST_DIALING_PROVIDER is {dialing}, which HOLDFAST_PROVIDERS does not enable "
                          f"({','.join(providers)})")
    return providers, dialing


def stack_parameters(stage: str, env: Mapping[str, str], providers: tuple[str, ...], dialing: str) -> dict[str, str]:
    """The stack's parameters: the stage, the enabled providers, the dialing pace and the providers' settings
    (none of them secret)."""
    pace = env.get("HOLDFAST_DIAL_CALLS_PER_SECOND", "") or "1"
    try:
        valid = float(pace) > 0
    except ValueError:
        valid = False
    if not valid:
        raise DeployError(f"HOLDFAST_DIAL_CALLS_PER_SECOND is {pace!r}; give the dialing account's calls per "
                          "second, a number above 0 (e.g. 1)")
    values = {"HOLDFAST_PROVIDERS": ",".join(providers), "HOLDFAST_DIALING_PROVIDER": dialing,
              "HOLDFAST_DIAL_CALLS_PER_SECOND": pace,
              "HOLDFAST_AGENT_SIP_DOMAINS": env.get("HOLDFAST_AGENT_SIP_DOMAINS", "")}
    for provider, settings in PROVIDER_SETTINGS.items():  # a provider not enabled: its settings cleared
        values |= {name: env.get(name, "") if provider in providers else "" for name in settings}
    return {"Stage": stage, **{STACK_PARAMETERS[name]: value for name, value in values.items()}}


def stack_name(stage: str) -> str:
    return f"holdfast-{stage}"


def ensure_bucket(s3: Any, bucket: str, region: str) -> None:
    try:
        s3.head_bucket(Bucket=bucket)
        return
    except ClientError:
        pass
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**kwargs)
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})


def _has_parameter(ssm: Any, name: str) -> bool:
    try:
        ssm.get_parameter(Name=name)
        return True
    except ssm.exceptions.ParameterNotFound:
        return False


def ensure_secrets(ssm: Any, path: str, env: Mapping[str, str], dep: Deployment, stage: str = "dev") -> None:
    """Secrets go to Parameter Store (SecureString), never into a file git tracks: the admin and agent
    tokens (generated once), and each enabled provider's keys when the environment gives them."""
    for name, what in TOKENS.items():
        parameter = f"{path}/{name}"
        created = not _has_parameter(ssm, parameter)
        if created:
            ssm.put_parameter(Name=parameter, Value=secrets.token_hex(32), Type="SecureString",
                              Description=f"Holdfast {what}")
            dep.admin_token_created |= name == "admin-token"
        dep.messages.append(f"{what}: make {name} STAGE={stage}" + ("  (created now)" if created else ""))
    for provider in dep.providers:
        for secret in PROVIDER_SECRETS[provider]:
            parameter = f"{path}/{secret.parameter}"
            if env.get(secret.env):
                ssm.put_parameter(Name=parameter, Value=env[secret.env], Type="SecureString", Overwrite=True,
                                  Description=f"Holdfast: {secret.what}")
            elif secret.required and not _has_parameter(ssm, parameter):
                dep.messages.append(f"No {secret.what} on this stage yet: every webhook is refused (403) until "
                                    f"you re-run make deploy with {secret.env} set.")


def upload(s3: Any, bucket: str, stage: str, path: Path) -> str:
    data = path.read_bytes()
    key = f"{stage}/{hashlib.sha256(data).hexdigest()[:16]}-{path.name}"
    s3.put_object(Bucket=bucket, Key=key, Body=data)
    return key


def locate_artifacts(template: dict[str, Any], pkg: Package, put: Callable[[Path], str], bucket: str) -> None:
    """What `aws cloudformation package` would do: local artifact paths become S3 locations."""
    res = template["Resources"]
    app_key, layer_key = put(pkg.app_zip), put(pkg.layer_zip)
    res["ManagedLayer"]["Properties"]["ContentUri"] = f"s3://{bucket}/{layer_key}"
    for name in FUNCTIONS:
        res[name]["Properties"]["CodeUri"] = f"s3://{bucket}/{app_key}"
    asl = res["CallbackStateMachine"]["Properties"]
    asl["DefinitionS3Location"] = {"Bucket": bucket, "Key": put(INFRA / asl["DefinitionS3Location"])}
    res["CallbackStateMachine"].pop("Metadata", None)


# --- MOTO: what a moto server cannot do, done another way (listed in docs/deploy.md) --------------

def for_moto(template: dict[str, Any], parameters: Mapping[str, str], iam: Any, s3: Any) -> dict[str, Any]:
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.public.translator import ManagedPolicyLoader
    from samtranslator.translator.transform import transform

    # 1. moto's CloudFormation does not run the AWS::Serverless transform: run it here, with the
    #    library CloudFormation's transform is built from.
    try:
        plain = transform(template, dict(parameters), ManagedPolicyLoader(iam))
    except InvalidDocumentException as exc:
        raise DeployError("SAM transform failed: " + "; ".join(str(e) for e in exc.causes)) from exc
    res = plain["Resources"]
    # 2. moto ignores DefinitionS3Location: inline the same (uploaded) definition.
    machine = res["CallbackStateMachine"]["Properties"]
    where = machine.pop("DefinitionS3Location")
    body = s3.get_object(Bucket=where["Bucket"], Key=where["Key"])["Body"].read().decode()
    machine["DefinitionString"] = {"Fn::Sub": [body, machine.pop("DefinitionSubstitutions")]}
    # 3. moto's API Gateway import refuses Swagger 2.0 bodies: create the REST API without its body
    #    (routes are Chalice's; the rehearsal checks the API, its stage and the invoke permission exist).
    #    Without methods moto refuses a Deployment, so the Deployment and Stage are left out too.
    for name, resource in list(res.items()):
        if resource["Type"] == "AWS::ApiGateway::RestApi":
            resource["Properties"].pop("Body", None)
            resource["Properties"].setdefault("Name", "holdfast")
        elif resource["Type"] in ("AWS::ApiGateway::Deployment", "AWS::ApiGateway::Stage"):
            del res[name]
    return plain


# --- the stack ------------------------------------------------------------------------------------

def _stack_status(cfn: Any, name: str) -> str | None:
    try:
        return cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
    except ClientError as exc:
        if "does not exist" in str(exc.response.get("Error", {}).get("Message", "")):
            return None
        raise


def _wait(cfn: Any, name: str, timeout: float = 1800) -> str:
    deadline = time.monotonic() + timeout
    while True:
        status = _stack_status(cfn, name) or "DELETE_COMPLETE"
        if not status.endswith("IN_PROGRESS"):
            return status
        if time.monotonic() > deadline:
            raise DeployError(f"stack {name} still {status} after {timeout:.0f} s")
        time.sleep(5)


def create_or_update(cfn: Any, name: str, template_url: str, parameters: Mapping[str, str]) -> str:
    params = [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()]
    status = _stack_status(cfn, name)
    if status == "ROLLBACK_COMPLETE":  # a first deploy that failed: CloudFormation only allows deleting it
        cfn.delete_stack(StackName=name)
        _wait(cfn, name)
        status = None
    try:
        if status is None:
            cfn.create_stack(StackName=name, TemplateURL=template_url, Parameters=params,
                             Capabilities=CAPABILITIES, Tags=[{"Key": "app", "Value": "holdfast"}])
        else:
            cfn.update_stack(StackName=name, TemplateURL=template_url, Parameters=params, Capabilities=CAPABILITIES)
    except ClientError as exc:
        if "No updates are to be performed" not in str(exc):
            raise
        return "UPDATE_COMPLETE"
    final = _wait(cfn, name)
    if final not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        raise DeployError(f"stack {name} ended {final}: see its events in the CloudFormation console")
    return final


def configure_number(env: Mapping[str, str], webhook_url: str) -> bool:
    """With provider credentials and a number, point the number at Holdfast through Twilio's API."""
    sid, token, number = (env.get("TWILIO_ACCOUNT_SID"), env.get("TWILIO_AUTH_TOKEN"),
                          env.get("TWILIO_PHONE_NUMBER"))
    if not (sid and token and number):
        return False
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    http = None
    if env.get("TWILIO_API_BASE_URL"):  # the simulated network (tests)
        from chalicelib.adapters.twilio_provider import _RebasedHttpClient

        http = _RebasedHttpClient(env["TWILIO_API_BASE_URL"])
    client: Client = Client(sid, token, http_client=http or TwilioHttpClient())
    found = client.incoming_phone_numbers.list(phone_number=number, limit=1)
    if not found:
        raise DeployError(f"{number} is not a number of Twilio account {sid}")
    found[0].update(voice_url=webhook_url, voice_method="POST", status_callback=webhook_url,
                    status_callback_method="POST")
    return True


def check_transform(cfn: Any, rehearse: bool) -> None:
    """Whether this CloudFormation runs the AWS::Serverless transform the stack needs (AWS does and says so
    when validating; a moto server does not): a deploy needs it, a rehearsal runs it here instead."""
    probe = {"Transform": SERVERLESS, "Resources": {"Probe": {"Type": "AWS::SNS::Topic"}}}
    runs = SERVERLESS in cfn.validate_template(TemplateBody=json.dumps(probe)).get("DeclaredTransforms", [])
    if not runs and not rehearse:
        raise DeployError(f"the CloudFormation at {cfn.meta.endpoint_url} does not run the AWS::Serverless "
                          "transform (a moto server does not): rehearse against it with make deploy ARGS=--rehearse")
    if runs and rehearse:
        raise DeployError(f"--rehearse is for a stand-in without the AWS::Serverless transform (moto); "
                          f"{cfn.meta.endpoint_url} runs it: make deploy without --rehearse")


def deploy(stage: str, region: str, env: Mapping[str, str] | None = None, endpoint_url: str | None = None,
           out: Path | None = None, rehearse: bool = False, package: Package | None = None) -> Deployment:
    """`package`: one built already (the rehearsals share one); else it is built here."""
    env = os.environ if env is None else env
    providers, dialing = enabled_providers(env)
    parameters = stack_parameters(stage, env, providers, dialing)  # checked before anything is created
    session = boto3.session.Session(region_name=region)

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=endpoint_url)

    s3, ssm, cfn = client("s3"), client("ssm"), client("cloudformation")
    account = client("sts").get_caller_identity()["Account"]
    check_transform(cfn, rehearse)
    dep = Deployment(stack_name(stage), parameters_path=f"/holdfast/{stage}", providers=providers)
    bucket = f"holdfast-deploy-{account}-{region}"
    ensure_bucket(s3, bucket, region)
    ensure_secrets(ssm, dep.parameters_path, env, dep, stage)
    pkg = package or build(stage, out)
    template = json.loads(json.dumps(pkg.template))
    locate_artifacts(template, pkg, lambda path: upload(s3, bucket, stage, path), bucket)
    if rehearse:
        template = for_moto(template, parameters, client("iam"), s3)
    key = f"{stage}/template-{hashlib.sha256(json.dumps(template).encode()).hexdigest()[:16]}.json"
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(template).encode())
    url = f"https://{bucket}.s3.{region}.amazonaws.com/{key}"  # CloudFormation reads it with our credentials
    create_or_update(cfn, dep.stack, url, parameters)
    stack = cfn.describe_stacks(StackName=dep.stack)["Stacks"][0]
    dep.outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    dep.webhook_url = dep.outputs.get("WebhookUrl", "")
    dep.webhook_urls = {p: incoming_url(dep.outputs.get("ApiUrl", ""), p) for p in providers}
    dep.number_configured = configure_number(env, dep.webhook_url) if not rehearse else False
    return dep


def destroy(stage: str, region: str, endpoint_url: str | None = None, keep_secrets: bool = False) -> str:
    """Removes the stage's stack (the table is retained by its DeletionPolicy) and its secrets."""
    session = boto3.session.Session(region_name=region)
    cfn, ssm = (session.client(s, endpoint_url=endpoint_url) for s in ("cloudformation", "ssm"))
    name = stack_name(stage)
    if _stack_status(cfn, name) is not None:
        cfn.delete_stack(StackName=name)
    final = _wait(cfn, name)
    if not keep_secrets:
        every = [*TOKENS, *(secret.parameter for kept in PROVIDER_SECRETS.values() for secret in kept)]
        for secret in every:
            try:
                ssm.delete_parameter(Name=f"/holdfast/{stage}/{secret}")
            except ssm.exceptions.ParameterNotFound:
                pass
    return final


def read_token(stage: str, region: str, name: str, endpoint_url: str | None = None) -> str:
    """`make admin-token STAGE=dev` (or agent-token): the stage's token, from Parameter Store."""
    ssm = boto3.session.Session(region_name=region).client("ssm", endpoint_url=endpoint_url)
    try:
        return ssm.get_parameter(Name=f"/holdfast/{stage}/{name}", WithDecryption=True)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        raise DeployError(f"stage {stage} has no {name}: make deploy STAGE={stage} creates it") from None


def summary(stage: str, dep: Deployment, env: Mapping[str, str]) -> list[str]:
    """What `make deploy` prints: each enabled provider's webhook URL and where it goes, then what to do next."""
    lines = [f"Stage {stage} is deployed (stack {dep.stack}).", "  Webhook URLs (HTTP POST):"]
    for provider, url in dep.webhook_urls.items():
        lines += [f"  {CONSOLES[provider].name}: paste into {CONSOLES[provider].setting}:", f"    {url}"]
    if dep.number_configured:
        lines.append(f"  {env['TWILIO_PHONE_NUMBER']}: voice and status URLs set through Twilio's API.")
    return lines + ["  " + message for message in dep.messages]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.deploy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["deploy", "destroy", *TOKENS])
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--region", default=None, help="default: AWS_REGION, else the AWS configuration's")
    parser.add_argument("--keep-secrets", action="store_true", help="destroy: leave the stage's secrets")
    parser.add_argument("--rehearse", action="store_true",
                        help="deploy to a moto server (AWS_ENDPOINT_URL), doing here what it cannot do")
    args = parser.parse_args(argv)
    what = "make " + (args.action if args.action in ("deploy", "destroy") else f"{args.action} STAGE={args.stage}")
    region = (args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
              or boto3.session.Session().region_name)
    if not region:
        print(f"{what}: no AWS region; set AWS_REGION (e.g. AWS_REGION=eu-west-1 {what})", file=sys.stderr)
        return 2
    try:
        if args.action in TOKENS:
            print(read_token(args.stage, region, args.action))
            return 0
        if args.action == "destroy":
            print(f"{stack_name(args.stage)}: {destroy(args.stage, region, keep_secrets=args.keep_secrets)} "
                  "(the DynamoDB table is kept: delete it in the console if you mean to)")
            return 0
        dep = deploy(args.stage, region, rehearse=args.rehearse)
    except (NoCredentialsError, PartialCredentialsError):
        print(f"{what}: no AWS credentials found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE "
              "(docs/deploy.md)", file=sys.stderr)
        return 2
    except NoRegionError:
        print(f"{what}: no AWS region; set AWS_REGION (e.g. AWS_REGION=eu-west-1 {what})", file=sys.stderr)
        return 2
    except (DeployError, ClientError, BotoCoreError) as exc:
        print(f"{what}: {exc}", file=sys.stderr)
        return 1
    print("\n".join(summary(args.stage, dep, os.environ)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
