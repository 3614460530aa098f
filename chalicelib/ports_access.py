"""Ports for who may come in (issue 21), beside chalicelib/ports.py: a signed request is acted on once
(Replays), a console session lives until it expires or is signed out (ConsoleSessions), and sign-in
attempts are counted per client and overall (Throttle). Each is shared by every container of a stage
(DynamoDB, the same single table) and has an in-memory twin."""
from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime, timedelta


class Replays(ABC):
    """Signatures over a timestamp already acted on. A provider's signed request can be replayed by
    whoever saw it until its timestamp leaves the provider's window; remembered here (by a digest of the
    signature) until then, it is refused wherever it lands. Jambonz and any later provider that signs a
    time use the same port."""

    @abstractmethod
    def first_use(self, key: str, keep_until: datetime) -> bool:
        """Record `key` until `keep_until` (when the signature stops verifying anyway). True the first
        time; False if it was recorded before (a replay). StoreUnavailableError if it cannot say."""

    @abstractmethod
    def release(self, key: str) -> None:
        """Unspend `key`: the request it came with was not acted on and its sender was told to try
        again (a 503), so the same signed request, sent again, is a retry, not a replay."""


class ConsoleSessions(ABC):
    """Console sessions, server side: a session is open from sign-in until it expires or is signed out,
    whatever its cookie says. Only a digest of the session id is stored."""

    @abstractmethod
    def open(self, session_id: str, expires_at: datetime) -> None: ...

    @abstractmethod
    def is_open(self, session_id: str, now: datetime) -> bool: ...

    @abstractmethod
    def close(self, session_id: str) -> None:
        """Sign the session out: from now on it opens nothing (closing an unknown one is harmless)."""


class Throttle(ABC):
    """Attempts counted in fixed windows, shared by every container."""

    @abstractmethod
    def take(self, key: str, limit: int, window: timedelta, now: datetime) -> float | None:
        """Count one attempt in `key`'s window containing `now`. None while at most `limit` were counted
        there; else (nothing counted) the seconds until that window ends."""
