"""Rows from the files an export gives, CSV or JSON alike, as (file, line, fields) with the field names
folded (lower case, letters and digits only: `parent_call_sid`, `ParentCallSid` and "Parent Call Sid"
are one name), so an importer reads the API's, the console's and the CLI's spellings the same way."""
from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any, Iterator

from .jsonstream import JsonError, records
from .records import BadLine, Report

_FOLD = re.compile(r"[^a-z0-9]")


def fold(name: str) -> str:
    return _FOLD.sub("", name.lower())


def folded(record: dict[str, Any]) -> dict[str, Any]:
    return {fold(k): v for k, v in record.items()}


def is_json(path: Path) -> bool:
    if path.suffix.lower() in (".json", ".jsonl", ".ndjson"):
        return True
    if path.suffix.lower() == ".csv":
        return False
    with open(path, encoding="utf-8", errors="replace") as f:
        head = f.read(4096).lstrip()
    return head[:1] in ("[", "{")


def rows(paths: list[Path], container: str, bad: Report) -> Iterator[tuple[str, int, dict[str, Any]]]:
    for path in paths:
        if is_json(path):
            try:
                for line, record in records(path, container):
                    if not isinstance(record, dict):
                        bad(BadLine(path.name, line, "a JSON object for each record", str(record)[:80]))
                        continue
                    yield path.name, line, folded(record)
            except JsonError as exc:
                bad(BadLine(path.name, exc.line, exc.expected, exc.got))
            continue
        with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                continue
            names = [fold(h) for h in header]
            for fields in reader:
                if not any(x.strip() for x in fields):
                    continue
                if len(fields) != len(names):
                    bad(BadLine(path.name, reader.line_num, f"{len(names)} fields as in the header",
                                f"{len(fields)} fields"))
                    continue
                yield path.name, reader.line_num, dict(zip(names, fields))
