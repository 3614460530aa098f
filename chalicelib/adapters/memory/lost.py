"""The LostCalls role in memory."""
from __future__ import annotations

from datetime import datetime, timezone

from ...domain.errors import BadPageError
from ...domain.model import Ticket
from ...ports import DEFAULT_PAGE, LostCalls, Page
from ...domain.pages import decode_cursor, encode_cursor
from .table import OnTable


class MemoryLostCalls(OnTable, LostCalls):
    def mark_lost(self, ticket_id: str, cause: str, at: datetime) -> None:
        self.table.change(ticket_id, lambda t: True, lost_cause=cause, lost_at=at)

    def clear_lost(self, queue_id: str, number: str, at: datetime) -> int:
        mine = [self.table.tickets[i] for i in list(self.table.lost_by_number.get((queue_id, number), ()))]
        for t in mine:
            self.table.change(t.id, lambda x: True, recovered_at=at)
        return len(mine)

    def lost_calls(self, queue_id: str, limit: int = DEFAULT_PAGE, cursor: str | None = None) -> Page[Ticket]:
        after = decode_cursor(cursor) if cursor else None  # [queue, lost_at, number] of the page before's last
        try:
            start = (datetime.fromisoformat(after[1]), int(after[2])) if after is not None else None
        except (TypeError, ValueError, KeyError, IndexError):
            start = (datetime.min, 0)  # naive: refused below
        if start is not None and (start[0].tzinfo is None or after[0] != queue_id):
            raise BadPageError("the cursor is not one of this list's")
        lost = sorted((self.table.tickets[i] for i in self.table.lost.get(queue_id, ())),
                      key=lambda t: (t.lost_at or datetime.min.replace(tzinfo=timezone.utc), t.number))
        if start is not None:
            lost = [t for t in lost if (t.lost_at, t.number) > start]
        last = lost[limit - 1] if len(lost) > limit else None
        return Page(lost[:limit], encode_cursor([queue_id, last.lost_at.isoformat(), last.number]) if last else None)
