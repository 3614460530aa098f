"""Starting and stopping `python -m devstack` (what `make run` runs) for the end-to-end tests."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
QUEUES = Path(__file__).with_name("queues.json")


@contextmanager
def devstack(port: int, moto_port: int, *extra: str, queues: Path = QUEUES) -> Iterator[subprocess.Popen]:
    """The local stack on these ports, with the e2e queue file, no provider credentials and its own
    empty state directory (so no test sees what an earlier run left)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOLDFAST_", "TWILIO_"))}
    env["HOLDFAST_QUEUES_FILE"] = str(queues)
    state = tempfile.TemporaryDirectory(prefix="holdfast-e2e-")
    proc = subprocess.Popen([sys.executable, "-m", "devstack", "--port", str(port), "--moto-port", str(moto_port),
                             "--state-dir", state.name, *extra], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"local stack exited: {proc.stdout.read() if proc.stdout else ''}")
            try:
                # /health builds the app (its first request): on a loaded machine that takes seconds
                if requests.get(f"http://127.0.0.1:{port}/health", timeout=10).ok:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass
            if time.monotonic() > deadline:
                pytest.fail("local stack did not come up in 60 s")
            time.sleep(0.2)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        state.cleanup()
