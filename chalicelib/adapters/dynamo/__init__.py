"""The store roles on DynamoDB (single table, PynamoDB), one room per reason to change:

    schema      the table's items, indexes and keys (PynamoDB models, key helpers, a new ticket's item)
    items       update actions and writes several roles share (enter/leave the line, convert, allowance)
    table       DynamoTable: the one client, transactions with retries, batched reads, ticket updates
    tickets, line, lost, stats, bookings, agents, dialing
                one adapter per role port (chalicelib/ports.py), each over the shared table
    stream      DynamoStream (the table stream's consumer: snapshot, call pointers, lost markers),
                `ticket_change`, the SNAPSHOT item decoded
    stores      `dynamo_stores()`: every role over one table (the composition root calls it)
    operations  the OperationsLog port (reports, facts, the live board) on the same table
    pace        the dialing account's outbound pace (its next slot, the backlog) on the same table
    access      the access ports (chalicelib/ports_access.py): spent signatures, console sessions, attempts

The names below are the package's public surface (`from chalicelib.adapters.dynamo import X`)."""
from __future__ import annotations

from .agents import DynamoAgents
from .bookings import DynamoBookings
from .dialing import DynamoDialing
from .line import DynamoLine
from .lost import DynamoLostCalls
from .pace import DynamoPace
from .schema import (MODELS, TICKET_TTL, AgentItem, CallItem, CounterItem, MarkerItem, PresenceItem, StatsItem,
                     TicketItem, line_keys, live_keys, lost_marker_sk, open_pk, queue_pk, ticket_item, ticket_keys,
                     ticket_sk)
from .stats import DynamoQueueStats
from .stores import DynamoStores, dynamo_stores
from .stream import SNAPSHOT, DynamoStream, snapshot_from_item, ticket_change
from .table import DynamoTable
from .tickets import DynamoTickets

__all__ = ["MODELS", "SNAPSHOT", "TICKET_TTL", "AgentItem", "CallItem", "CounterItem", "DynamoAgents", "DynamoBookings",
           "DynamoDialing", "DynamoLine", "DynamoLostCalls", "DynamoPace", "DynamoQueueStats", "DynamoStores", "DynamoStream",
           "DynamoTable", "DynamoTickets", "MarkerItem", "PresenceItem", "StatsItem", "TicketItem", "dynamo_stores",
           "line_keys", "live_keys", "lost_marker_sk", "open_pk", "queue_pk", "snapshot_from_item", "ticket_change",
           "ticket_item", "ticket_keys", "ticket_sk"]
