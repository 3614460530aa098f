"""python -m replay LOG --format queue_log|twilio|connect [options]: import a call log, read it, replay it
with no callback, the peer policies and Holdfast, and write the report (docs/replay.md)."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from bench.daysim import POLICIES

from .analysis import profile
from .load import FORMATS, ChooseQueueError, load
from .records import LogError
from .report import write
from .run import Bar, Options, replay
from .sim import CallerModel


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m replay", description=__doc__)
    parser.add_argument("log", help="the log: a file, or a directory of files")
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("--events", help="twilio: Enqueue action requests or TaskRouter events (file or directory)")
    parser.add_argument("--queue", help="the queue to replay, when the log holds several")
    parser.add_argument("--tz", default=None, help="the queue's time zone (default: the queue file's, else UTC)")
    parser.add_argument("--queue-file", help="Holdfast's settings for the queue: one queue object as in queues.json")
    parser.add_argument("--out", default="replay-report", help="where the report goes")
    parser.add_argument("--policies", default=",".join(POLICIES), help=f"comma-separated, of {','.join(POLICIES)}")
    parser.add_argument("--reps", type=int, default=3, help="runs of the unknowns (intervals need 2 or more)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=Options().workers)
    parser.add_argument("--segment-days", type=int, default=14)
    parser.add_argument("--accept", type=float, default=CallerModel.accept, help="share who press 1 when offered")
    parser.add_argument("--answer-now", type=float, default=CallerModel.answer_now)
    parser.add_argument("--answer-floor", type=float, default=CallerModel.answer_floor)
    parser.add_argument("--answer-tau", type=float, default=CallerModel.answer_tau, help="seconds")
    args = parser.parse_args(argv)
    policies = tuple(p.strip() for p in args.policies.split(",") if p.strip())
    unknown = [p for p in policies if p not in POLICIES]
    if unknown:
        parser.error(f"unknown policies {unknown}; choose from {list(POLICIES)}")
    queue_file = json.loads(Path(args.queue_file).read_text(encoding="utf-8")) if args.queue_file else None
    if queue_file is not None and not isinstance(queue_file, dict):
        parser.error("--queue-file: one queue object, as an entry of queues.json")
    tz = args.tz or (queue_file or {}).get("hours", {}).get("timezone") or "UTC"
    started = time.perf_counter()
    bar = Bar(0, "records read")
    try:
        log = load(args.log, args.format, tz=tz, queue=args.queue, events=args.events,
                   progress=lambda n: bar.update(n))
    except (LogError, ChooseQueueError, FileNotFoundError, ValueError) as exc:
        print(file=sys.stderr)
        print(f"replay: {exc}", file=sys.stderr)
        return 2
    print(f"\rimported {log.calls:,} calls of queue {log.queue!r} ({log.first_day} to {log.last_day}) "
          f"in {time.perf_counter() - started:.0f} s" + " " * 40, file=sys.stderr)
    try:
        prof = profile(log)
        model = CallerModel(accept=args.accept, answer_now=args.answer_now, answer_floor=args.answer_floor,
                            answer_tau=args.answer_tau)
        options = Options(policies=policies, reps=args.reps, seed=args.seed, segment_days=args.segment_days,
                          workers=args.workers, model=model, queue=queue_file)
        result = replay(log, prof, options)
        paths = write(Path(args.out), log, prof, result, f"{args.format}: {args.log}")
    finally:
        log.close()
    for tol, mean, half, ref, ok in result.validation:
        print(f"{'MET    ' if ok else 'NOT MET'} no callback vs log: {tol.label} {mean:.3g} vs {ref:.3g}", file=sys.stderr)
    print(f"report: {paths['html']}  (CSV: {paths['csv']}, {paths['validation']})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
