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
    # The stack's output goes to a file, not a pipe: a pipe nobody reads fills up and stalls the stack.
    output = tempfile.NamedTemporaryFile(prefix="holdfast-e2e-", suffix=".log", mode="w+", delete=False)
    proc = subprocess.Popen([sys.executable, "-m", "devstack", "--port", str(port), "--moto-port", str(moto_port),
                             "--state-dir", state.name, *extra], cwd=ROOT, env=env, stdout=output,
                            stderr=subprocess.STDOUT, text=True)
    proc.output_path = output.name  # type: ignore[attr-defined] - for stack_output()
    deadline = time.monotonic() + 60
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"local stack exited: {stack_output(proc)}")
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
        output.close()
        os.unlink(output.name)


def stack_output(proc: subprocess.Popen, tail: int = 6000) -> str:
    """The last of what the local stack printed (to explain a failure)."""
    text = Path(proc.output_path).read_text(errors="replace")  # type: ignore[attr-defined]
    return text[-tail:]
