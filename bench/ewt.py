"""How good is Holdfast's wait estimate? A discrete-event simulation of multi-server queues.

Every caller who has to wait is told an estimate at arrival by each method; the estimate is scored
against the caller's *potential* wait (how long they would have waited had they stayed: an
abandoner keeps its place as a shadow caller that takes no agent, and its potential wait ends when
its place reaches a free agent). Agents are individuals: each busy agent's call has an elapsed time,
and on a roster an agent's sign-off is known in advance. Methods:

  holdfast   the production estimator (chalicelib.domain.estimator), fed the same events production
             feeds it, every busy agent's elapsed talk time and (on a roster) announced sign-offs
  v1         the previous estimator's model: queue-length predictor with abandonment, exponential
             talk times, mu and theta as holdfast learns them, no elapsed times
  asterisk   app_queue's holdtime: H <- (3H + w)/4 per answered caller, announced (H + 30)/60 minutes
  hol        head of line: how long the caller at the head of the queue has waited so far
  les        last to enter service: the wait of the caller who most recently reached an agent
  oracle     Monte Carlo conditional mean (400 paths) given everything: every elapsed talk time and
             wait of those ahead, the true talk-time and patience distributions (each call in progress
             from the distribution it started under) and the staffing schedule, sign-ins included

Figures per scenario: efficiency = oracle ASE / method ASE on the callers the oracle scored (a
random 25% of delayed callers, plus every caller who arrived within 15 minutes after a change);
RRASE = sqrt(ASE) / mean wait and bias over all delayed callers; 80%/90% coverage of holdfast's
ranges overall and per position band (callers ahead: 0, 1-4, 5-19, 20+), over runs that follow
one another as one queue's days (each starts from the range calibration the one before left, as the
queue's saved state carries it; a cold first run is shown apart and not scored); in scenarios with a
change, holdfast's ASE / oracle's ASE in the 15 minutes after each change and 80% coverage in the
15 minutes either side. Finally the time of one estimate at 2,000 ahead with 100 busy agents.

Usage: python bench/ewt.py [--quick] [--out docs]   (writes docs/ewt.md and PNG plots)
Needs numpy (the oracle); the estimator itself is pure Python.

Rooms: bench/ewt_scenarios.py (distributions, scenarios, callers), bench/ewt_oracle.py (the oracle),
bench/ewt_sim.py (the simulation and a queue's consecutive runs), bench/ewt_report.py (scoring, targets,
docs/ewt.md and its plots); this file is the command.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ewt_report import Result, table, targets, time_one_estimate, write_report  # noqa: E402
from bench.ewt_scenarios import Exponential, LogNormal, Mixture, Scenario, Uniform, scenarios  # noqa: E402
from bench.ewt_sim import run, simulate  # noqa: E402

__all__ = ["Exponential", "LogNormal", "Mixture", "Result", "Scenario", "Uniform", "main", "run", "simulate"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter runs (a smoke test of the bench)")
    parser.add_argument("--only", help="run the scenarios whose name contains this")
    parser.add_argument("--out", default=str(ROOT / "docs"), help="where ewt.md and the plots go")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results = []
    for sc in scenarios(0.15 if args.quick else 1.0):
        if args.only and args.only not in sc.name:
            continue
        results.append(run(sc, seeds=[1]))
        print(table(results[-1]), flush=True)
    timing = time_one_estimate()
    print(f"one estimate at 2,000 ahead with 100 busy agents: {timing:.0f} us (CPU time)")
    verdicts = targets(results, timing)
    for line in verdicts:
        print(line)
    total = time.perf_counter() - started
    print(f"total {total:.0f} s")
    if not args.only:
        write_report(Path(args.out), results, verdicts, args.quick, total)
    return 0


if __name__ == "__main__":
    sys.exit(main())
