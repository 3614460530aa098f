"""Fixtures the contract suites share: one store bundle, in memory and on DynamoDB (moto), per case."""
from __future__ import annotations

import pytest

from chalicelib.adapters.memory import memory_stores
from chalicelib.ports import Stores


@pytest.fixture(params=["fake", "dynamo"])
def stores(request: pytest.FixtureRequest) -> Stores:
    """Every role port, built as the product builds it; the DynamoDB bundle retries a refused
    transaction without sleeping (the cases count retries, not seconds)."""
    if request.param == "fake":
        return memory_stores()
    from chalicelib.adapters.dynamo import dynamo_stores

    resources = request.getfixturevalue("aws")
    return dynamo_stores(resources.table_name, "us-east-1", pause=lambda seconds: None)
