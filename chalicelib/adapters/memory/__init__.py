"""In-memory adapters: product code, used by the unit tests, the day simulator (bench/day.py) and the
webhook bench; never shipped in the Lambda package (infra/build.py drops this package).

They subclass the ports, so a port change breaks them loudly. One room per reason to change:

    clocks        FixedClock, and VirtualClock, which runs scheduled work in virtual time
    table         MemoryTable: the dicts, the line in dispatch order, the change feed the memory world
                  turns into the table's stream
    tickets, line, lost, stats, bookings, agents, dialing
                  one adapter per role port, each over the shared table
    stores        `memory_stores()`: every role over one table
    orchestrator  MemoryOrchestrator: infra/callback.asl.json's states and timers in virtual time (a
                  contract test runs the same scenarios through it and through moto executing the ASL)
    recorders     FakeDialer, FakeBus: what would have gone out, recorded
    operations    the OperationsLog port in memory
    pace          the dialing account's outbound pace (next slot, backlog) and its alarm in virtual time
    access        the access ports (chalicelib/ports_access.py): spent signatures, console sessions, attempts

Test-only doubles (FakeOrchestrator) live in tests/fakes.py."""
from __future__ import annotations

from .access import MemoryConsoleSessions, MemoryReplays, MemoryThrottle
from .agents import MemoryAgents
from .bookings import MemoryBookings
from .clocks import FixedClock, VirtualClock
from .dialing import MemoryDialing
from .line import MemoryLine
from .lost import MemoryLostCalls
from .operations import MemoryOperationsLog
from .orchestrator import Execution, MemoryOrchestrator
from .pace import MemoryAlarm, MemoryPace
from .recorders import FakeBus, FakeDialer, FakeMessenger
from .stats import MemoryQueueStats
from .stores import MemoryStores, memory_stores
from .table import MemoryTable
from .tickets import MemoryTickets

__all__ = ["Execution", "FakeBus", "FakeDialer", "FakeMessenger", "FixedClock", "MemoryAgents", "MemoryAlarm",
           "MemoryBookings", "MemoryConsoleSessions", "MemoryDialing", "MemoryLine", "MemoryLostCalls",
           "MemoryOperationsLog", "MemoryOrchestrator", "MemoryPace", "MemoryQueueStats", "MemoryReplays",
           "MemoryStores", "MemoryTable", "MemoryThrottle", "MemoryTickets", "VirtualClock", "memory_stores"]
