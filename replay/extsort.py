"""Sorting more items than memory should hold: runs of `chunk` items are sorted and spilled to temporary
files, then merged. Memory holds one run while adding and one item per run while merging."""
from __future__ import annotations

import heapq
import os
import pickle
import tempfile
from typing import Any, Callable, Generic, Iterator, TypeVar

T = TypeVar("T")

DEFAULT_CHUNK = 100_000


class ExternalSort(Generic[T]):
    def __init__(self, key: Callable[[T], Any], chunk: int = DEFAULT_CHUNK, workdir: str | None = None) -> None:
        self.key, self.chunk, self.workdir = key, chunk, workdir
        self.run: list[T] = []
        self.files: list[str] = []
        self.count = 0

    def add(self, item: T) -> None:
        self.run.append(item)
        self.count += 1
        if len(self.run) >= self.chunk:
            self._spill()

    def _spill(self) -> None:
        self.run.sort(key=self.key)
        fd, path = tempfile.mkstemp(prefix="replay-sort-", suffix=".pickle", dir=self.workdir)
        with os.fdopen(fd, "wb") as out:
            pickler = pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)
            for item in self.run:
                pickler.dump(item)
                pickler.clear_memo()
        self.files.append(path)
        self.run = []

    def __iter__(self) -> Iterator[T]:
        """The items in key order (stable within a run). Spilled runs are removed once read."""
        if not self.files:
            self.run.sort(key=self.key)
            yield from self.run
            return
        if self.run:
            self._spill()
        try:
            yield from heapq.merge(*(_read(path) for path in self.files), key=self.key)
        finally:
            self.close()

    def close(self) -> None:
        for path in self.files:
            try:
                os.remove(path)
            except FileNotFoundError:
                pass
        self.files = []
        self.run = []


def _read(path: str) -> Iterator[Any]:
    with open(path, "rb") as f:
        unpickler = pickle.Unpickler(f)
        while True:
            try:
                yield unpickler.load()
            except EOFError:
                return
