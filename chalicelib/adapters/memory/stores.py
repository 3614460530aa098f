"""Every in-memory role over one table, built once per world."""
from __future__ import annotations

from dataclasses import dataclass

from ...ports import Stores
from .agents import MemoryAgents
from .bookings import MemoryBookings
from .dialing import MemoryDialing
from .line import MemoryLine
from .lost import MemoryLostCalls
from .stats import MemoryQueueStats
from .table import MemoryTable
from .tickets import MemoryTickets


@dataclass(frozen=True)
class MemoryStores(Stores):
    """The roles over one in-memory table, and the table (the memory world's stream and the workflow
    reach it directly, as the table's stream and the ASL's own DynamoDB steps do)."""

    table: MemoryTable


def memory_stores(table: MemoryTable | None = None) -> MemoryStores:
    """Every role over one shared in-memory table (a new one unless given)."""
    table = table or MemoryTable()
    return MemoryStores(tickets=MemoryTickets(table), line=MemoryLine(table), lost=MemoryLostCalls(table),
                        stats=MemoryQueueStats(table), bookings=MemoryBookings(table), agents=MemoryAgents(table),
                        dialing=MemoryDialing(table), table=table)
