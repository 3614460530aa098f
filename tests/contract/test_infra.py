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
