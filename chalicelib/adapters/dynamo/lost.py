"""The LostCalls role on DynamoDB: the sparse `lost` index and the by-number markers."""
from __future__ import annotations

from datetime import datetime

from ...domain.errors import BadPageError
from ...domain.model import Ticket, split_ticket_id, ticket_id
from ...ports import DEFAULT_PAGE, MAX_PAGE, LostCalls, Page
from ...domain.pages import decode_cursor, encode_cursor
from .items import put_lost_markers
from .schema import MarkerItem, TICKET_TTL, TicketItem, lost_marker_sk, queue_pk, ticket_sk
from .table import OnTable


class DynamoLostCalls(OnTable, LostCalls):
    """The lost-call list (the sparse `lost` index) and its by-number markers."""

    def mark_lost(self, ticket_id: str, cause: str, at: datetime) -> None:
        queue_id, number = split_ticket_id(ticket_id)
        item = TicketItem(queue_pk(queue_id), ticket_sk(number))
        item.update(actions=[
            TicketItem.lost_cause.set(cause), TicketItem.lost_at.set(at),
            TicketItem.lost_pk.set(f"LOST#{queue_id}"),
            TicketItem.lost_sk.set(f"{at.strftime('%Y-%m-%dT%H:%M:%S')}#{number:012d}"),
        ])  # the item comes back: its numbers name the markers (the stream puts the same ones again)
        put_lost_markers(queue_id, lost_marker_sk(number), {item.caller, item.callback_number},
                         item.expires_at or at + TICKET_TTL)

    def lost_calls(self, queue_id: str, limit: int = DEFAULT_PAGE, cursor: str | None = None) -> Page[Ticket]:
        # One item more than asked says whether a next page exists (so the last page has no `next`).
        keys = ("pk", "sk", "lost_pk", "lost_sk")
        start = decode_cursor(cursor) if cursor else None
        if start is not None and not (isinstance(start, dict) and sorted(start) == sorted(keys)
                                      and all(isinstance(v, str) for v in start.values())
                                      and start["lost_pk"] == f"LOST#{queue_id}"):
            raise BadPageError("the cursor is not one of this list's")
        items = list(TicketItem.lost.query(f"LOST#{queue_id}", limit=limit + 1, page_size=limit + 1,
                                           last_evaluated_key={k: {"S": v} for k, v in start.items()} if start else None))
        more, last = len(items) > limit, items[:limit][-1:]
        return Page([item.to_ticket() for item in items[:limit]],
                    encode_cursor({k: getattr(last[0], k) for k in keys}) if more else None)

    def clear_lost(self, queue_id: str, number: str, at: datetime) -> int:
        cleared = 0
        for marker in MarkerItem.query(f"LOSTBY#{queue_id}#{number}", limit=MAX_PAGE, consistent_read=True):
            cleared += self.table.update(ticket_id(queue_id, int(marker.sk[len("LOSTCALL#"):])), [
                TicketItem.recovered_at.set(at), TicketItem.lost_pk.remove(), TicketItem.lost_sk.remove()],
                TicketItem.lost_pk.exists())
            marker.delete()
        return cleared
