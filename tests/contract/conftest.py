"""Every JSON array the jambonz adapter renders anywhere in the contract suite is checked against
jambonz's published verb models: the JSON Schema (draft 2020-12) and the pydantic models (unknown
fields refused) that ship in the official SDK, PyPI `jambonz-python-sdk` (module `jambonz_sdk`,
repository jambonz/python-sdk, MIT; its schema files are those of jambonz/schema). And one store
bundle per case, in memory and on DynamoDB (moto), which the store suites share."""
from __future__ import annotations

import json
from typing import Any, Iterator

import pytest
from jambonz_sdk import JambonzValidator
from jambonz_sdk._models._registry import verb_model

from chalicelib.adapters.jambonz import JambonzTelephony
from chalicelib.adapters.memory import memory_stores
from chalicelib.domain.script import Script
from chalicelib.ports import Stores

_VALIDATOR = JambonzValidator()


def jambonz_problems(verbs: Any) -> list[str]:
    """What jambonz's schema and verb models refuse in this application (empty: nothing)."""
    if not isinstance(verbs, list):
        return ["not an array of verbs"]
    if not verbs:
        # no new verbs: not an application (the schema wants at least one) but a hook's reply that
        # lets the running one go on (feature-server lib/tasks/task.js performAction)
        return []
    problems = list(_VALIDATOR.validate_app(verbs))
    for i, verb in enumerate(verbs):
        model = verb_model(verb.get("verb", "")) if isinstance(verb, dict) else None
        if model is None:
            problems.append(f"{i}: no verb model for {verb!r}")
            continue
        try:
            model.model_validate(verb)
        except ValueError as exc:  # pydantic.ValidationError
            problems.append(f"{i}: {exc}")
    return problems


@pytest.fixture(autouse=True)
def jambonz_arrays_are_valid(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[dict[str, Any]]]]:
    """Wraps the adapter's render for the test: an array jambonz would refuse fails the test there."""
    rendered: list[list[dict[str, Any]]] = []
    render = JambonzTelephony.render

    def checked(self: JambonzTelephony, script: Script, base_url: str) -> str:
        text = render(self, script, base_url)
        verbs = json.loads(text)
        problems = jambonz_problems(verbs)
        assert not problems, f"jambonz would refuse {text}: {problems}"
        rendered.append(verbs)
        return text

    monkeypatch.setattr(JambonzTelephony, "render", checked)
    yield rendered


@pytest.fixture(params=["fake", "dynamo"])
def stores(request: pytest.FixtureRequest) -> Stores:
    """Every role port, built as the product builds it; the DynamoDB bundle retries a refused
    transaction without sleeping (the cases count retries, not seconds)."""
    if request.param == "fake":
        return memory_stores()
    from chalicelib.adapters.dynamo import dynamo_stores

    resources = request.getfixturevalue("aws")
    return dynamo_stores(resources.table_name, "us-east-1", pause=lambda seconds: None)
