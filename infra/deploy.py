"""`make deploy STAGE=dev` / `make destroy STAGE=dev`: from an AWS account with credentials and a
region to a working stage, as one CloudFormation stack (docs/deploy.md).

    python -m infra.deploy deploy --stage dev [--region eu-west-1]
    python -m infra.deploy destroy --stage dev

Deploy: an artifacts bucket (created once per account and region); the stage's secrets in Parameter
Store (a random admin token created if none exists; TWILIO_AUTH_TOKEN stored if given, and the secrets
of the other providers HOLDFAST_PROVIDERS enables, e.g. JAMBONZ_WEBHOOK_SECRET); the package
built (infra/build.py) and uploaded; the stack created or updated in place; the webhook URLs printed,
and with TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_PHONE_NUMBER set, the number's voice and
status URLs set through Twilio's API. Every reference between resources is CloudFormation's.

`rehearse=True` (the tests, against a moto server) adapts what moto cannot do; each adaptation is
listed in docs/deploy.md and marked MOTO below."""
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
from botocore.exceptions import ClientError

from infra.build import INFRA, Package, build

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
FUNCTIONS = ("APIHandler", "DialWorker", "NotifyWorker", "TableStream", "DispatchSweep")


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


def ensure_secrets(ssm: Any, path: str, env: Mapping[str, str], dep: Deployment) -> None:
    """Secrets go to Parameter Store (SecureString), never into a file git tracks."""
    for name, what in (("admin-token", "Admin token (admin API, console)"),
                       ("agent-token", "Agent token (presence updates only)")):
        parameter = f"{path}/{name}"
        created = not _has_parameter(ssm, parameter)
        if created:
            ssm.put_parameter(Name=parameter, Value=secrets.token_hex(32), Type="SecureString",
                              Description=f"Holdfast {what}")
            dep.admin_token_created |= name == "admin-token"
        dep.messages.append(f"{what}: aws ssm get-parameter --name {parameter} --with-decryption "
                            "--query Parameter.Value --output text" + ("  (created now)" if created else ""))
    token = f"{path}/twilio-auth-token"
    if env.get("TWILIO_AUTH_TOKEN"):
        ssm.put_parameter(Name=token, Value=env["TWILIO_AUTH_TOKEN"], Type="SecureString", Overwrite=True,
                          Description="Twilio auth token (webhook signatures, REST)")
    elif not _has_parameter(ssm, token):
        dep.messages.append(f"No Twilio auth token yet: every webhook is refused (403) until you run "
                            f"aws ssm put-parameter --name {token} --type SecureString --value <token>, "
                            "or re-run make deploy with TWILIO_AUTH_TOKEN set.")


# Per provider: its secrets (Parameter Store name, the environment variable make deploy takes it from,
# what it is), and what to paste into its console (label, URL under the stage's).
PROVIDER_SECRETS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "jambonz": (("jambonz-webhook-secret", "JAMBONZ_WEBHOOK_SECRET", "jambonz account webhook secret (signatures)"),
                ("jambonz-api-key", "JAMBONZ_API_KEY", "jambonz API key (callbacks, moving live calls)"))}
PROVIDER_URLS: dict[str, tuple[tuple[str, str], ...]] = {
    "jambonz": (("jambonz application: Calling webhook (POST)", "/voice/jambonz/incoming"),
                ("jambonz application: Call status webhook (POST)", "/voice/jambonz/incoming?hook=status"))}


def enabled_providers(env: Mapping[str, str]) -> tuple[str, ...]:
    """HOLDFAST_PROVIDERS, as the functions will read it (chalicelib/settings.py)."""
    return tuple(p.strip() for p in env.get("HOLDFAST_PROVIDERS", "twilio").split(",") if p.strip())


def ensure_provider_secrets(ssm: Any, path: str, env: Mapping[str, str], dep: Deployment) -> None:
    """The enabled providers' secrets, stored when given; a missing one is said (its webhooks get 403)."""
    for provider in enabled_providers(env):
        for name, variable, what in PROVIDER_SECRETS.get(provider, ()):
            parameter = f"{path}/{name}"
            if env.get(variable):
                ssm.put_parameter(Name=parameter, Value=env[variable], Type="SecureString", Overwrite=True,
                                  Description=f"Holdfast: {what}")
            elif not _has_parameter(ssm, parameter):
                dep.messages.append(f"No {what} yet: re-run make deploy with {variable} set, or "
                                    f"aws ssm put-parameter --name {parameter} --type SecureString --value <it>.")


def provider_urls(env: Mapping[str, str], api_url: str) -> list[str]:
    """What to paste into each enabled provider's console (beyond Twilio's webhook URL)."""
    return [f"{label}:\n    {api_url}{path}" for provider in enabled_providers(env)
            for label, path in PROVIDER_URLS.get(provider, ())]


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


def deploy(stage: str, region: str, env: Mapping[str, str] | None = None, endpoint_url: str | None = None,
           out: Path | None = None, rehearse: bool = False) -> Deployment:
    env = os.environ if env is None else env
    session = boto3.session.Session(region_name=region)

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=endpoint_url)

    s3, ssm, cfn = client("s3"), client("ssm"), client("cloudformation")
    account = client("sts").get_caller_identity()["Account"]
    dep = Deployment(stack_name(stage), parameters_path=f"/holdfast/{stage}")
    bucket = f"holdfast-deploy-{account}-{region}"
    ensure_bucket(s3, bucket, region)
    ensure_secrets(ssm, dep.parameters_path, env, dep)
    ensure_provider_secrets(ssm, dep.parameters_path, env, dep)
    pkg = build(stage, out)
    template = json.loads(json.dumps(pkg.template))
    locate_artifacts(template, pkg, lambda path: upload(s3, bucket, stage, path), bucket)
    parameters = {"Stage": stage, "TwilioAccountSid": env.get("TWILIO_ACCOUNT_SID", ""),
                  "Providers": ",".join(enabled_providers(env)),
                  "DialingProvider": env.get("HOLDFAST_DIALING_PROVIDER", "twilio"),
                  "DialCallsPerSecond": env.get("HOLDFAST_DIAL_CALLS_PER_SECOND", ""),
                  "JambonzAccountSid": env.get("JAMBONZ_ACCOUNT_SID", ""),
                  "JambonzApiBaseUrl": env.get("JAMBONZ_API_BASE_URL", "")}
    if rehearse:
        template = for_moto(template, parameters, client("iam"), s3)
    key = f"{stage}/template-{hashlib.sha256(json.dumps(template).encode()).hexdigest()[:16]}.json"
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(template).encode())
    url = f"https://{bucket}.s3.{region}.amazonaws.com/{key}"  # CloudFormation reads it with our credentials
    create_or_update(cfn, dep.stack, url, parameters)
    stack = cfn.describe_stacks(StackName=dep.stack)["Stacks"][0]
    dep.outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    dep.webhook_url = dep.outputs.get("WebhookUrl", "")
    dep.messages[:0] = provider_urls(env, dep.outputs.get("ApiUrl", ""))
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
        for secret in ("admin-token", "agent-token", "twilio-auth-token",
                       *(name for held in PROVIDER_SECRETS.values() for name, _, _ in held)):
            try:
                ssm.delete_parameter(Name=f"/holdfast/{stage}/{secret}")
            except ssm.exceptions.ParameterNotFound:
                pass
    return final


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.deploy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["deploy", "destroy"])
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))
    parser.add_argument("--keep-secrets", action="store_true", help="destroy: leave the stage's secrets")
    args = parser.parse_args(argv)
    if not args.region:
        print("make deploy: no region; set AWS_REGION (e.g. AWS_REGION=eu-west-1)", file=sys.stderr)
        return 2
    try:
        if args.action == "destroy":
            print(f"{stack_name(args.stage)}: {destroy(args.stage, args.region, keep_secrets=args.keep_secrets)} "
                  "(the DynamoDB table is kept: delete it in the console if you mean to)")
            return 0
        dep = deploy(args.stage, args.region)
    except (DeployError, ClientError) as exc:
        print(f"make {args.action}: {exc}", file=sys.stderr)
        return 1
    print(f"Stage {args.stage} is deployed (stack {dep.stack}).")
    print(f"  Webhook URL (Twilio console: 'A call comes in' and 'Call status changes', HTTP POST):\n    {dep.webhook_url}")
    if dep.number_configured:
        print(f"  {os.environ['TWILIO_PHONE_NUMBER']}: voice and status URLs set through Twilio's API.")
    for message in dep.messages:
        print("  " + message)
    return 0


if __name__ == "__main__":
    sys.exit(main())
