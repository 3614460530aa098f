"""What `make` says and runs, read from its dry run (`make -n`: every command, none executed)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def dry_run(*args: str) -> list[str]:
    # Under a parent make (`make test` runs pytest) MAKEFLAGS says -w, and the child would add
    # "Entering/Leaving directory" lines around its commands: this dry run reads only the commands.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    done = subprocess.run(["make", "-n", "--no-print-directory", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_the_first_make_run_says_what_it_is_doing_before_pip_runs(tmp_path: Path) -> None:
    lines = dry_run("run", f"VENV={tmp_path / 'venv'}")  # a fresh clone: nothing installed yet
    pip = next(i for i, line in enumerate(lines) if "pip install" in line)
    said = [line for line in lines[:pip] if line.startswith("echo ")]
    assert said and "Installing" in said[0] and "a few minutes" in said[0], lines
    assert any(line.startswith("echo ") and "Installed" in line for line in lines[pip:]), lines
    assert lines[-1].endswith("-m devstack ")  # then the stack itself
