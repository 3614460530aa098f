"""Starting and stopping `python -m devstack` (what `make run` runs) in a process of its own: for the
end-to-end tests (tests/e2e/devstack_process.py) and the local-capacity bench (bench/local_capacity.py)."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping

import requests

ROOT = Path(__file__).resolve().parents[1]


class StackFailedError(RuntimeError):
    """The stack exited, or did not answer /health in time (the message ends with what it printed)."""


@contextmanager
def launched(port: int, moto_port: int, *extra: str, env: Mapping[str, str] | None = None, prefix: str = "holdfast-",
             up_within: float = 60.0) -> Iterator[subprocess.Popen]:
    """The local stack on these ports, with its own empty state directory (so no run sees what an earlier
    one left), no HOLDFAST_/TWILIO_ settings from this environment but `env`'s; yielded once /health
    answers. Its output goes to a file (`proc.output_path`), not a pipe: a pipe nobody reads fills up
    and stalls the stack."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("HOLDFAST_", "TWILIO_"))} | dict(env or {})
    state = tempfile.TemporaryDirectory(prefix=prefix)
    output = tempfile.NamedTemporaryFile(prefix=prefix, suffix=".log", mode="w+", delete=False)
    proc = subprocess.Popen([sys.executable, "-m", "devstack", "--port", str(port), "--moto-port", str(moto_port),
                             "--state-dir", state.name, *extra], cwd=ROOT, env=environ, stdout=output,
                            stderr=subprocess.STDOUT, text=True)
    proc.output_path = output.name  # type: ignore[attr-defined] - for printed()
    deadline = time.monotonic() + up_within
    try:
        while True:
            if proc.poll() is not None:
                raise StackFailedError(f"local stack exited: {printed(proc)}")
            try:
                # /health builds the app (its first request): on a loaded machine that takes seconds
                if requests.get(f"http://127.0.0.1:{port}/health", timeout=10).ok:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass
            if time.monotonic() > deadline:
                raise StackFailedError(f"local stack did not come up in {up_within:.0f} s: {printed(proc)}")
            time.sleep(0.2)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        state.cleanup()
        output.close()
        os.unlink(output.name)


def printed(proc: subprocess.Popen, tail: int = 6000) -> str:
    """The last of what the local stack printed (to explain a failure)."""
    text = Path(proc.output_path).read_text(errors="replace")  # type: ignore[attr-defined]
    return text[-tail:]
