"""`make run`: Holdfast locally on its embedded default.

Starts an in-process moto server (DynamoDB, SQS, Step Functions executing the real ASL), creates
the resources infra/ declares, and serves the Chalice app with `chalice local`'s server."""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from .clock import offset_to, parse_clock
from .admission import SWITCH_INTERVAL, Limits
from .stack import LocalStack, StartError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("HOLDFAST_PORT", "8000")))
    parser.add_argument("--moto-port", type=int, default=int(os.environ.get("MOTO_PORT", "5000")))
    parser.add_argument("--network-port", type=int, default=None, help="the simulated network (default: port+1)")
    parser.add_argument("--pace", type=float, default=1.0, help="simulated durations x this (0.1: ten times faster)")
    parser.add_argument("--chaos", action="store_true",
                        help="the simulated network sends every status callback twice and some out of order")
    parser.add_argument("--clock", default=os.environ.get("HOLDFAST_CLOCK") or None, type=parse_clock,
                        help="start the stack's clock at this instant, e.g. 2026-11-24T18:00:00Z (default: the real "
                             "clock); the app and the workflow timer both follow it")
    parser.add_argument("--state-dir", default=os.environ.get("HOLDFAST_STATE_DIR", ".holdfast"),
                        help="where state and a generated admin token are kept (default .holdfast)")
    parser.add_argument("--fresh", action="store_true",
                        help="start empty (default: the state the last run left in the state directory)")
    parser.add_argument("--provider", choices=["twilio", "telnyx", "vonage"], default="twilio",
                        help="the provider the simulated network behaves like (TwiML, TeXML or NCCO)")
    parser.add_argument("--max-concurrent", type=int, default=int(os.environ.get("HOLDFAST_LOCAL_MAX_CONCURRENT", "4")),
                        help="requests let into the app at once, per lane (voice webhooks, the rest); beyond, they "
                             "wait (0: every request let in at once, as chalice local comes)")
    parser.add_argument("--max-queued", type=int, default=int(os.environ.get("HOLDFAST_LOCAL_MAX_QUEUED", "32")),
                        help="requests waiting for a place, per lane; beyond, refused at once (503, Retry-After)")
    parser.add_argument("--max-wait", type=float, default=float(os.environ.get("HOLDFAST_LOCAL_MAX_WAIT", "5")),
                        help="seconds a request may wait for a place before it is refused (503, Retry-After)")
    parser.add_argument("--demo-load", action="store_true",
                        help="simulated callers and agents keep coming, so the console has something to show")
    args = parser.parse_args(argv)
    if args.max_concurrent > 0:
        sys.setswitchinterval(SWITCH_INTERVAL)  # this process is the stack: its door gets the interpreter sooner
    stack = LocalStack(host=args.host, port=args.port, moto_port=args.moto_port, network_port=args.network_port,
                       pace=args.pace, chaos=args.chaos, state_dir=args.state_dir, fresh=args.fresh,
                       clock_offset_seconds=offset_to(args.clock) if args.clock else 0.0, provider=args.provider,
                       limits=Limits(args.max_concurrent, args.max_queued, args.max_wait) if args.max_concurrent > 0
                       else None)
    try:
        stack.start()
    except StartError as exc:
        print(f"make run: {exc}", file=sys.stderr, flush=True)
        return 2
    print(stack.banner(), flush=True)
    if args.demo_load and stack.network is not None:
        from .demo_load import DemoLoad

        DemoLoad(stack.network, stack.queues, stack.now).start()
        print("  Demo load: a caller every ~15 s, three agents (--demo-load)", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
