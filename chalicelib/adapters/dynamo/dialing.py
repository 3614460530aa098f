"""The Dialing role on DynamoDB: dial attempts, bridge legs, an admin's changes to a callback."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from pynamodb.exceptions import UpdateError
from pynamodb.transactions import TransactWrite

from ...domain.model import Ticket, TicketKind, TicketStatus, split_ticket_id
from ...ports import Dialing
from .items import LEFT, in_line, leave_line, out_of_line
from .schema import MarkerItem, TicketItem, queue_pk, ticket_sk
from .table import Move, OnTable


class DynamoDialing(OnTable, Dialing):
    """Callback dial attempts (DIAL# markers), the bridge's leg progress, an admin's changes to a callback."""

    def begin_dial(self, ticket_id: str, dial_id: str, token: str) -> bool:
        queue_id, number = split_ticket_id(ticket_id)

        def write(tx: TransactWrite) -> None:
            tx.save(MarkerItem(f"DIAL#{dial_id}", "DIAL", expires_at=datetime.now(timezone.utc) + timedelta(days=7)),
                    condition=MarkerItem.pk.does_not_exist())
            tx.update(TicketItem(queue_pk(queue_id), ticket_sk(number)), actions=[
                TicketItem.dial_id.set(dial_id), TicketItem.dial_token.set(token)],
                condition=TicketItem.status == TicketStatus.CONNECTING.value)

        return self.table.transact(write) is None

    def note_call_ended(self, ticket_id: str, dial_id: str) -> bool:
        return self.table.update(ticket_id, [TicketItem.ended_dial.set(dial_id)], TicketItem.dial_id == dial_id)

    def finish_dial(self, ticket_id: str, dial_id: str, status: TicketStatus, now: datetime,
                    attempts: int, outcome: str, next_attempt_at: datetime | None,
                    answered_at: datetime | None = None) -> str | None:
        item = self.table.get_item(ticket_id)
        if item.dial_id != dial_id or not item.dial_token:
            return None
        actions = [TicketItem.status.set(status.value), TicketItem.dial_id.remove(), TicketItem.dial_token.remove(),
                   TicketItem.attempts.set(attempts), TicketItem.last_outcome.set(outcome)]
        actions.append(TicketItem.next_attempt_at.set(next_attempt_at) if next_attempt_at
                       else TicketItem.next_attempt_at.remove())
        if status in (TicketStatus.SERVED, TicketStatus.LOST, TicketStatus.CANCELLED):
            actions.append(TicketItem.ended_at.set(now))
        if status is TicketStatus.SERVED:  # when the callee was reached, unless a leg event said so first
            if answered_at is not None:
                actions.append(TicketItem.answered_at.set(TicketItem.answered_at | answered_at))
        else:  # this attempt reached nobody
            actions.append(TicketItem.answered_at.remove())
        if status is TicketStatus.LOST:  # on the lost-call list from now (GiveUp keeps an earlier time)
            actions.append(TicketItem.lost_at.set(TicketItem.lost_at | now))
        if not self.table.update(ticket_id, actions, TicketItem.dial_id == dial_id):
            return None
        return item.dial_token

    def note_leg(self, ticket_id: str, agent_id: str, leg: str, at: datetime, answered: bool = False) -> bool:
        condition = (TicketItem.status == TicketStatus.CONNECTING.value) & (TicketItem.agent_id == agent_id)
        actions = [TicketItem.leg.set(leg), TicketItem.leg_at.set(at)]
        if answered:  # recorded once, whatever leg events came before
            condition &= TicketItem.answered_at.does_not_exist()
            actions.append(TicketItem.answered_at.set(at))
        else:
            condition &= TicketItem.leg.does_not_exist() | ((TicketItem.leg != leg) & (TicketItem.leg != "talking"))
        return self.table.update(ticket_id, actions, condition)

    def note_dialed(self, ticket_id: str, dial_id: str) -> bool:
        # `dialed` names the attempt counted, so a repeated note counts nothing; not conditional on the
        # attempt being open: its outcome may have been reported already (a fast provider)
        return self.table.update(ticket_id, [TicketItem.dials.add(1), TicketItem.dialed.set(dial_id)],
                                 TicketItem.pk.exists() & (TicketItem.dialed.does_not_exist() | (TicketItem.dialed != dial_id)))

    def drop_agent(self, ticket_id: str, agent_id: str) -> None:
        self.table.update(ticket_id, [TicketItem.agent_id.remove()], TicketItem.agent_id == agent_id)

    def cancel_callback(self, ticket_id: str, now: datetime) -> bool:
        cancel = [TicketItem.status.set(TicketStatus.CANCELLED.value), TicketItem.ended_at.set(now),
                  *leave_line(), TicketItem.task_token.remove()]
        pending = (TicketItem.kind == TicketKind.CALLBACK.value) & TicketItem.status.is_in(
            TicketStatus.SCHEDULED.value, TicketStatus.WAITING.value)

        def plan(found: Ticket | None) -> Move | None:
            if found is None:  # likely: scheduled for later, out of the line
                return Move(cancel, pending & out_of_line(0))
            if found.kind is not TicketKind.CALLBACK or found.status not in (TicketStatus.SCHEDULED,
                                                                              TicketStatus.WAITING):
                return None
            if found.in_line:
                return Move(cancel, pending & in_line(found.priority), LEFT, found.priority)
            return Move(cancel, pending & out_of_line(found.priority))

        return self.table.move(ticket_id, plan) is None

    def expedite_callback(self, ticket_id: str, execution_id: str | None, not_before: datetime) -> int | None:
        queue_id, number = split_ticket_id(ticket_id)
        item = TicketItem(queue_pk(queue_id), ticket_sk(number))
        same_run = (TicketItem.execution_id == execution_id) if execution_id else TicketItem.execution_id.does_not_exist()
        try:
            item.update(actions=[TicketItem.not_before.set(not_before), TicketItem.next_attempt_at.remove(),
                                 TicketItem.execution_id.remove(), TicketItem.bookings.add(1)],
                        condition=(TicketItem.kind == TicketKind.CALLBACK.value)
                        & (TicketItem.status == TicketStatus.SCHEDULED.value) & same_run)
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return None
            raise
        return int(item.bookings)
