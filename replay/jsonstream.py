"""JSON records streamed from a file of any size, each with the line it starts on.

A file may hold one array of records, JSON Lines (one record per line), records written one after
another (as Amazon Connect's contact-record stream lands in S3), or pages of an API listing: an object
whose `container` key (Twilio's "calls", TaskRouter's "events") holds the records' array, the page's
other keys skipped; several such pages may follow each other. Only one record is in memory at a time."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

CHUNK = 1 << 20
_WS = " \t\r\n"


class JsonError(ValueError):
    def __init__(self, line: int, expected: str, got: str = "") -> None:
        super().__init__(expected)
        self.line, self.expected, self.got = line, expected, got


class _Reader:
    def __init__(self, path: Path) -> None:
        self.f = open(path, encoding="utf-8", errors="replace")
        self.buf = ""
        self.pos = 0
        self.line = 1
        self.eof = False
        self.decoder = json.JSONDecoder()

    def close(self) -> None:
        self.f.close()

    def _fill(self) -> bool:
        if self.eof:
            return False
        chunk = self.f.read(CHUNK)
        if not chunk:
            self.eof = True
            return False
        self.buf = self.buf[self.pos:] + chunk
        self.pos = 0
        return True

    def _advance(self, to: int) -> None:
        self.line += self.buf.count("\n", self.pos, to)
        self.pos = to

    def peek(self) -> str:
        """The next non-blank character ('' at the end of the file)."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in _WS:
                if self.buf[self.pos] == "\n":
                    self.line += 1
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._fill():
                return ""

    def take(self, char: str, expected: str) -> None:
        if self.peek() != char:
            raise JsonError(self.line, expected, self.buf[self.pos:self.pos + 40])
        self._advance(self.pos + 1)

    def value(self) -> Any:
        self.peek()
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if self._fill():
                    continue
                raise JsonError(self.line, f"a JSON value ({exc.msg})", self.buf[self.pos:self.pos + 40]) from None
            if end == len(self.buf) and not self.eof and isinstance(value, (int, float)):
                if self._fill():  # a number cut by the chunk's end
                    continue
            self._advance(end)
            return value


def records(path: Path, container: str) -> Iterator[tuple[int, Any]]:
    """(line, record) for each record in the file; JsonError where the file stops being JSON."""
    r = _Reader(path)
    try:
        while True:
            c = r.peek()
            if c == "":
                return
            if c == "[":
                yield from _array(r)
            elif c == "{":
                yield from _object(r, container)
            else:
                raise JsonError(r.line, "a JSON array or object", r.buf[r.pos:r.pos + 40])
    finally:
        r.close()


def _array(r: _Reader) -> Iterator[tuple[int, Any]]:
    r.take("[", "[")
    if r.peek() == "]":
        r.take("]", "]")
        return
    while True:
        r.peek()
        line = r.line
        yield line, r.value()
        if not _more(r, "]", "the array's records"):
            return


def _object(r: _Reader, container: str) -> Iterator[tuple[int, Any]]:
    """A record, or a page whose `container` array holds the records."""
    start = r.line
    r.take("{", "{")
    kept: dict[str, Any] = {}
    paged = False
    if r.peek() == "}":
        r.take("}", "}")
        yield start, kept
        return
    while True:
        key = r.value()
        if not isinstance(key, str):
            raise JsonError(r.line, "an object key (a string)", str(key))
        r.take(":", "':' after an object key")
        if key == container and r.peek() == "[":
            paged = True
            yield from _array(r)
        else:
            value = r.value()
            if not paged:
                kept[key] = value
        if not _more(r, "}", "an object's members"):
            break
    if not paged:
        yield start, kept


def _more(r: _Reader, close: str, between: str) -> bool:
    """After a member: a ',' (True: another follows) or the closing bracket (False)."""
    c = r.peek()
    if c == ",":
        r.take(",", ",")
        return True
    if c == close:
        r.take(close, close)
        return False
    raise JsonError(r.line, f"',' or '{close}' between {between}", r.buf[r.pos:r.pos + 40])
