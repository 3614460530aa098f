"""`python -m replay` (what `make replay` runs): a log with a bad line stops with the line and what was
expected, and writes no report."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_bad_log_is_refused_with_its_line_and_no_report(tmp_path: Path) -> None:
    log = tmp_path / "queue_log"
    log.write_text("1767621600|c1|support|NONE|ENTERQUEUE||+14155550101|1\n"
                   "1767621640|c1|support|NONE|ABANDON|1|1\n", encoding="utf-8")
    out = tmp_path / "report"
    done = subprocess.run([sys.executable, "-m", "replay", str(log), "--format", "queue_log", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "queue_log:2: expected ABANDON(position|origposition|waittime): waittime missing" in done.stderr
    assert "nothing was imported" in done.stderr
    assert not out.exists()


def test_make_replay_runs_the_replay_command() -> None:
    done = subprocess.run(["make", "-n", "replay", "LOG=/logs/queue_log", "FORMAT=queue_log", "ZONE=America/New_York",
                           "QUEUE=support"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    command = " ".join(done.stdout.replace("\\\n", " ").split())  # the recipe's lines joined
    assert '-m replay "/logs/queue_log" --format queue_log --out "replay-report" --tz America/New_York --queue "support"' \
        in command
