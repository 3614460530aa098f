"""Every DynamoDB role over one table, built once per world."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from ...ports import Stores
from .agents import DynamoAgents
from .bookings import DynamoBookings
from .dialing import DynamoDialing
from .line import DynamoLine
from .lost import DynamoLostCalls
from .stats import DynamoQueueStats
from .stream import DynamoStream
from .table import DynamoTable
from .tickets import DynamoTickets


@dataclass(frozen=True)
class DynamoStores(Stores):
    """The roles over one DynamoDB table, the table's stream consumer, and the table itself."""

    stream: DynamoStream
    table: DynamoTable


def dynamo_stores(table_name: str, region: str, host: str | None = None, client: Any = None,
                  pause: Callable[[float], None] = time.sleep) -> DynamoStores:
    """Every role over one table (`client`: the composition root's botocore client, shared by all)."""
    table = DynamoTable(table_name, region, host, client, pause)
    return DynamoStores(tickets=DynamoTickets(table), line=DynamoLine(table), lost=DynamoLostCalls(table),
                        stats=DynamoQueueStats(table), bookings=DynamoBookings(table), agents=DynamoAgents(table),
                        dialing=DynamoDialing(table), stream=DynamoStream(table), table=table)
