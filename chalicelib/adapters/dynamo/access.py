"""The access ports (chalicelib/ports_access.py) on DynamoDB, in the single table (schema.py lists the keys):
conditional writes with a TTL, so every container of the stage sees the same spent signatures, open
sessions and attempt counts."""
from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta, timezone

from botocore.exceptions import BotoCoreError
from pynamodb.exceptions import DeleteError, DoesNotExist, GetError, PutError, UpdateError

from ...domain.errors import StoreUnavailableError
from ...ports_access import ConsoleSessions, Replays, Throttle
from .schema import MarkerItem
from .table import OnTable

CONDITION = "ConditionalCheckFailedException"


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class DynamoReplays(OnTable, Replays):
    """REPLAY#{key}: put once, conditionally; TTL at the end of the signature's window."""

    def first_use(self, key: str, keep_until: datetime) -> bool:
        try:
            MarkerItem(f"REPLAY#{key}", "REPLAY", expires_at=keep_until).save(
                condition=MarkerItem.pk.does_not_exist())
        except PutError as exc:
            if exc.cause_response_code == CONDITION:
                return False
            raise StoreUnavailableError(f"replay marker: {exc.cause_response_code}") from exc
        except BotoCoreError as exc:
            raise StoreUnavailableError(f"replay marker: {type(exc).__name__}") from exc
        return True

    def release(self, key: str) -> None:
        try:
            MarkerItem(f"REPLAY#{key}", "REPLAY").delete()
        except (DeleteError, BotoCoreError) as exc:
            raise StoreUnavailableError("replay marker not released") from exc


class DynamoConsoleSessions(OnTable, ConsoleSessions):
    """SESSION#{sha256 of the id}: present while open; TTL at its expiry (read back, since TTL deletion lags)."""

    def open(self, session_id: str, expires_at: datetime) -> None:
        try:
            MarkerItem(f"SESSION#{digest(session_id)}", "SESSION", expires_at=expires_at).save()
        except (PutError, BotoCoreError) as exc:
            raise StoreUnavailableError("console session not stored") from exc

    def is_open(self, session_id: str, now: datetime) -> bool:
        try:
            item = MarkerItem.get(f"SESSION#{digest(session_id)}", "SESSION", consistent_read=True)
        except DoesNotExist:
            return False
        except (GetError, BotoCoreError) as exc:
            raise StoreUnavailableError("console session not read") from exc
        return item.expires_at is not None and item.expires_at > now

    def close(self, session_id: str) -> None:
        try:
            MarkerItem(f"SESSION#{digest(session_id)}", "SESSION").delete()
        except (DeleteError, BotoCoreError) as exc:
            raise StoreUnavailableError("console session not closed") from exc


class DynamoThrottle(OnTable, Throttle):
    """THROTTLE#{key}#{window start}: ADD 1 unless `limit` were counted; TTL a window after it ends."""

    def take(self, key: str, limit: int, window: timedelta, now: datetime) -> float | None:
        seconds = int(window.total_seconds())
        start = int(now.timestamp()) // seconds * seconds
        ends = datetime.fromtimestamp(start + seconds, timezone.utc)
        item = MarkerItem(f"THROTTLE#{key}#{start}", "THROTTLE")
        try:
            item.update(actions=[MarkerItem.count.add(1), MarkerItem.expires_at.set(ends + window)],
                        condition=MarkerItem.count.does_not_exist() | (MarkerItem.count < limit))
        except UpdateError as exc:
            if exc.cause_response_code == CONDITION:
                return float(max(1, math.ceil((ends - now).total_seconds())))
            raise StoreUnavailableError(f"throttle: {exc.cause_response_code}") from exc
        except BotoCoreError as exc:
            raise StoreUnavailableError(f"throttle: {type(exc).__name__}") from exc
        return None
