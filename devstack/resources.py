"""Creates what infra/template.yaml declares, from that file, in whatever AWS boto3 points at.

The table's schema, the queues' settings and the state machine's definition (infra/callback.asl.json
with the template's DefinitionSubstitutions) all come from infra/, so what runs locally and in tests
is what is deployed."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import yaml

INFRA = Path(__file__).resolve().parent.parent / "infra"
TEMPLATE = INFRA / "template.yaml"
# Properties CloudFormation knows that CreateTable/CreateQueue do not take.
_TABLE_ONLY_CFN = {"TableName", "TimeToLiveSpecification", "PointInTimeRecoverySpecification", "Tags"}


@dataclass(frozen=True)
class Resources:
    table_name: str
    state_machine_arn: str
    dial_queue_url: str
    notify_queue_url: str

    def env(self) -> dict[str, str]:
        return {"HOLDFAST_TABLE": self.table_name, "HOLDFAST_STATE_MACHINE_ARN": self.state_machine_arn,
                "HOLDFAST_DIAL_QUEUE_URL": self.dial_queue_url, "HOLDFAST_NOTIFY_QUEUE_URL": self.notify_queue_url}


def load_template() -> dict[str, Any]:
    with open(TEMPLATE, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def definition(substitutions: dict[str, str], template: dict[str, Any] | None = None) -> str:
    """The ASL file with ${Name} substituted, exactly as CloudFormation's DefinitionSubstitutions do."""
    template = template or load_template()
    props = template["Resources"]["CallbackStateMachine"]["Properties"]
    text = (INFRA / props["DefinitionS3Location"]).read_text(encoding="utf-8")
    missing = set(props["DefinitionSubstitutions"]) - set(substitutions)
    if missing:
        raise ValueError(f"no local value for {sorted(missing)}")
    return re.sub(r"\$\{(\w+)\}", lambda m: substitutions.get(m.group(1), m.group(0)), text)


def create_resources(prefix: str = "holdfast", region: str = "us-east-1",
                     endpoint_url: str | None = None) -> Resources:
    template = load_template()
    res = template["Resources"]
    kw: dict[str, Any] = {"region_name": region, "endpoint_url": endpoint_url}
    ddb, sqs, sfn = boto3.client("dynamodb", **kw), boto3.client("sqs", **kw), boto3.client("stepfunctions", **kw)

    table_props = {k: v for k, v in res["Table"]["Properties"].items() if k not in _TABLE_ONLY_CFN}
    # CloudFormation and the API spell two of them differently.
    table_props["SSESpecification"] = {"Enabled": table_props.pop("SSESpecification")["SSEEnabled"]}
    table_props["StreamSpecification"] = {"StreamEnabled": True, **table_props["StreamSpecification"]}
    table_name = prefix
    ddb.create_table(TableName=table_name, **table_props)
    ttl = res["Table"]["Properties"]["TimeToLiveSpecification"]
    ddb.update_time_to_live(TableName=table_name, TimeToLiveSpecification=ttl)

    def queue(logical: str) -> str:
        props = res[logical]["Properties"]
        attrs = {k: str(v) for k, v in props.items() if k in ("VisibilityTimeout", "MessageRetentionPeriod")}
        return sqs.create_queue(QueueName=f"{prefix}-{logical}", Attributes=attrs)["QueueUrl"]

    urls = {name: queue(name) for name in ("DialDeadLetters", "DialQueue", "NotifyQueue")}
    physical = {"Table": table_name, **urls}
    subs = {key: physical[ref["Ref"]] for key, ref in
            res["CallbackStateMachine"]["Properties"]["DefinitionSubstitutions"].items()}
    arn = sfn.create_state_machine(
        name=f"{prefix}-callback", definition=definition(subs, template), type="STANDARD",
        roleArn="arn:aws:iam::123456789012:role/holdfast-states")["stateMachineArn"]
    return Resources(table_name, arn, urls["DialQueue"], urls["NotifyQueue"])


def describe(resources: Resources) -> str:
    return json.dumps(resources.__dict__, indent=2)
