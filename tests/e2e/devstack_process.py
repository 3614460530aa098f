"""Starting and stopping `python -m devstack` (what `make run` runs) for the end-to-end tests
(devstack/launch.py, shared with bench/local_capacity.py)."""
from __future__ import annotations

import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping

import pytest

from devstack.launch import StackFailedError, launched, printed

QUEUES = Path(__file__).with_name("queues.json")


@contextmanager
def devstack(port: int, moto_port: int, *extra: str, queues: Path = QUEUES,
             env: Mapping[str, str] | None = None) -> Iterator[subprocess.Popen]:
    """The local stack on these ports, with the e2e queue file (and `env`'s settings), no provider
    credentials and its own empty state directory (so no test sees what an earlier run left)."""
    try:
        with launched(port, moto_port, *extra, env={"HOLDFAST_QUEUES_FILE": str(queues), **(env or {})},
                      prefix="holdfast-e2e-") as proc:
            yield proc
    except StackFailedError as exc:  # raised only while starting
        pytest.fail(str(exc))


def stack_output(proc: subprocess.Popen, tail: int = 6000) -> str:
    """The last of what the local stack printed (to explain a failure)."""
    return printed(proc, tail)
