"""infra/ is what runs: the template lints clean and the local runtime uses its definitions."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from devstack.resources import INFRA, definition, load_template


def test_template_passes_cfn_lint() -> None:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")  # installed beside this interpreter
    result = subprocess.run([str(cfn_lint), str(INFRA / "template.yaml")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_definition_substitutes_every_placeholder() -> None:
    text = definition({"TableName": "t", "DialQueueUrl": "https://q/dial", "NotifyQueueUrl": "https://q/n"})
    assert "${" not in text
    states = json.loads(text)["States"]
    assert states["ParkInPlace"]["Parameters"]["TableName"] == "t"
    assert {i["Update"]["TableName"] for i in states["ParkBack"]["Parameters"]["TransactItems"]} == {"t"}
    assert states["Dial"]["Parameters"]["QueueUrl"] == "https://q/dial"


def test_every_token_task_has_a_timeout_and_a_catch() -> None:
    states = json.loads((INFRA / "callback.asl.json").read_text())["States"]
    token_tasks = {n: s for n, s in states.items() if s.get("Resource", "").endswith(".waitForTaskToken")}
    assert set(token_tasks) == {"ParkInPlace", "ParkBack", "Dial"}
    for name, state in token_tasks.items():
        assert "TimeoutSeconds" in state or "TimeoutSecondsPath" in state, name
        assert state.get("Catch"), name


def test_least_privilege_roles() -> None:
    resources = load_template()["Resources"]
    for role in ("StateMachineRole", "AppRole"):
        for policy in resources[role]["Properties"]["Policies"]:
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                assert not any(a.endswith("*") for a in actions), (role, actions)
                assert statement["Resource"] != "*", role


def test_the_table_stream_never_stalls_behind_a_record() -> None:
    """Issue 21: a record whose handler keeps failing is retried a bounded number of times (bisecting
    the batch to find it), then described on a dead-letter queue whose alarm tells a person; the role
    the mapping runs as may send there. The local poller gives up after as many tries."""
    import yaml

    from devstack.pollers import StreamPoller

    app = yaml.safe_load((INFRA / "app.yaml").read_text(encoding="utf-8"))
    mapping = app["Resources"]["TableStream"]["Properties"]["Events"]["TableStreamDynamodbEventSource"]["Properties"]
    assert (mapping["MaximumRetryAttempts"], mapping["BisectBatchOnFunctionError"]) == (5, True)
    assert mapping["DestinationConfig"]["OnFailure"] == {"Type": "SQS",
                                                         "Destination": {"Fn::GetAtt": ["StreamDeadLetters", "Arn"]}}
    resources = load_template()["Resources"]
    assert resources["StreamDeadLetters"]["Type"] == "AWS::SQS::Queue"
    alarm = resources["StreamDeadLettersAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Threshold"], alarm["AlarmActions"]) == (
        "AWS/SQS", "ApproximateNumberOfMessagesVisible", 0, [{"Ref": "AlarmTopic"}])
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["StreamDeadLetters", "QueueName"]}}]
    sends = [s for p in resources["AppRole"]["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]
             if s["Action"] == "sqs:SendMessage"]
    assert {"Fn::GetAtt": ["StreamDeadLetters", "Arn"]} in sends[0]["Resource"]
    assert StreamPoller.MAX_ATTEMPTS == 6
