"""Paginated lists: the page size an admin may ask for, and opaque cursors (base64url of JSON)."""
from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any, Callable, TypeVar

from ..ports import DEFAULT_PAGE, MAX_PAGE, Page
from .errors import BadPageError

T = TypeVar("T")


def page_limit(raw: str | None) -> int:
    """`limit` from a query string: DEFAULT_PAGE when absent, else an integer in 1..MAX_PAGE."""
    if raw is None or raw == "":
        return DEFAULT_PAGE
    # ASCII digits only: str.isdigit() takes '²', which int() refuses
    if not re.fullmatch(r"[0-9]{1,6}", raw) or not 1 <= int(raw) <= MAX_PAGE:
        raise BadPageError(f"limit must be a whole number from 1 to {MAX_PAGE}")
    return int(raw)


def encode_cursor(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Any:
    """The value `encode_cursor` made; BadPageError for anything else."""
    try:
        return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadPageError("the cursor does not decode: use the `next` of the page before") from None


def across(lists: list[str], fetch: Callable[[str, int, str | None], Page[T]], limit: int,
           cursor: str | None) -> Page[T]:
    """One page over several lists read in turn (every queue's lost calls): `fetch(list, limit,
    cursor)` reads one. The cursor carries the list it stopped in and that list's own cursor."""
    at, after = 0, None
    if cursor:
        where = decode_cursor(cursor)
        if not (isinstance(where, dict) and where.get("list") in lists
                and isinstance(where.get("after"), (str, type(None)))):
            raise BadPageError("the cursor is not one of this list's")
        at, after = lists.index(where["list"]), where["after"]
    items: list[T] = []
    for i in range(at, len(lists)):
        page = fetch(lists[i], limit - len(items), after if i == at else None)
        items += page.items
        if page.next:
            return Page(items, encode_cursor({"list": lists[i], "after": page.next}))
        if len(items) == limit:  # full, and this list is done: the next page starts at the next non-empty one
            later = next((name for name in lists[i + 1:] if fetch(name, 1, None).items), None)
            return Page(items, encode_cursor({"list": later, "after": None}) if later else None)
    return Page(items)
