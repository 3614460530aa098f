"""Real-time smoke load through the full local HTTP stack.

Starts the local stack (moto server, the Chalice app over HTTP, the workers, the simulated phone
network), then lets simulated callers ring in over a few minutes: some hold until an agent takes
them, some press 1, some give up (and are called back). Simulated agents answer and talk. Retry
delays are short and every duration runs at `--pace`.

Printed: calls placed and how they ended, webhook latency p50/p99 as the network measured it (the
network and Holdfast share this machine's two cores), and DynamoDB calls per webhook (every
DynamoDB request moto saw, the workflow's and the workers' included, over the webhooks posted).

Usage: python bench/smoke.py [--callers 120] [--minutes 3] [--agents 6] [--pace 0.05]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--callers", type=int, default=120)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--agents", type=int, default=6)
    parser.add_argument("--pace", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)

    workdir = tempfile.mkdtemp(prefix="holdfast-smoke-")
    queues = Path(workdir) / "queues.json"
    queues.write_text(json.dumps({"queues": [{
        "id": "support", "name": "Holdfast support", "numbers": ["+18005550100"], "assumed_agents": args.agents,
        "allowed_countries": ["US", "GB", "UA", "JP"], "retry_delays_seconds": [0, 5, 5, 5],
        "average_handle_seconds": 240, "average_patience_seconds": 120, "short_abandon_seconds": 1}]}))
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["HOLDFAST_QUEUES_FILE"] = str(queues)
    os.environ["MOTO_RECORDER_FILEPATH"] = str(Path(workdir) / "moto_recording")
    for key in [k for k in os.environ if k.startswith("TWILIO_")]:
        del os.environ[key]  # the simulated network stands in for Twilio

    import requests

    from devstack.network import CallerModel
    from devstack.clock import offset_to, parse_clock
    from devstack.stack import LocalStack

    # The stack's clock at 10:00 in San Francisco (the callers' zone): the same run at any hour.
    stack = LocalStack(port=free_port(), moto_port=free_port(), network_port=free_port(), pace=args.pace,
                       clock_offset_seconds=offset_to(parse_clock("2026-11-24T18:00:00Z")),
                       state_dir=Path(workdir) / "state", fresh=True)
    stack.start()
    net = stack.network
    assert net is not None
    for n in range(args.agents):
        net.set_agent(f"agent{n}", "available", handle_seconds=90)
    requests.post(f"{stack.moto_url}/moto-api/recorder/reset-recording", timeout=10)
    requests.post(f"{stack.moto_url}/moto-api/recorder/start-recording", timeout=10)
    webhooks_before = len(net.latencies)

    rng = random.Random(args.seed)
    prefix = "+1415867"  # San Francisco callers, inside their calling window on the stack's clock
    started = time.monotonic()
    span = args.minutes * 60
    calls = []
    for i in range(args.callers):
        target = started + span * (i / args.callers)
        time.sleep(max(0.0, target - time.monotonic()))
        model = CallerModel(patience=rng.lognormvariate(4.3, 0.8), press_one=0.4, answer=0.85)
        calls.append(net.dial_in(f"{prefix}{1000 + i:04d}", model=model))
        if i % 20 == 0:
            print(f"  {i}/{args.callers} callers in, {len(net.latencies) - webhooks_before} webhooks so far",
                  flush=True)
    import boto3

    ddb = boto3.client("dynamodb", endpoint_url=stack.moto_url, region_name="us-east-1")

    def tickets() -> dict[str, int]:
        counts: dict[str, int] = {}
        for page in ddb.get_paginator("scan").paginate(TableName="holdfast"):
            for item in page["Items"]:
                if item["sk"]["S"].startswith("TICKET#"):
                    key = f"{item['kind']['S']}/{item['status']['S']}"
                    counts[key] = counts.get(key, 0) + 1
        return counts

    deadline = time.monotonic() + 180
    open_statuses = ("WAITING", "SCHEDULED", "CONNECTING")
    while time.monotonic() < deadline:  # until every caller is served, lost or given up on
        if all(c.ended.is_set() for c in calls) and not any(k.split("/")[1] in open_statuses for k in tickets()):
            break
        time.sleep(1)
    requests.post(f"{stack.moto_url}/moto-api/recorder/stop-recording", timeout=10)

    latencies = net.latencies[webhooks_before:]
    recording = requests.get(f"{stack.moto_url}/moto-api/recorder/download-recording", timeout=30).text
    ddb_calls = sum(1 for line in recording.splitlines() if "DynamoDB_20120810." in line)
    outbound = [c for c in net.calls.values() if c.direction == "outbound-api"]
    served_live = sum(1 for c in calls if any(t.startswith("(connected to") for t in c.transcript))
    pressed_one = sum(1 for c in calls if any("We will call you back at" in t for t in c.transcript))
    print()
    print(f"callers: {len(calls)} over {args.minutes:g} min; {served_live} reached an agent live, "
          f"{pressed_one} booked a callback by pressing 1, {len(outbound)} outbound callback legs placed, "
          f"{sum(1 for c in outbound if c.state == 'completed')} completed")
    print(f"tickets by kind/status: {tickets()}")
    agents = [ddb.get_item(TableName="holdfast", Key={"pk": {"S": f"AGENT#agent{n}"}, "sk": {"S": "AGENT"}})["Item"]
              for n in range(args.agents)]
    print(f"agents: {sorted((a['status']['S'], a.get('ticket_id', {}).get('S', '-')) for a in agents)}")
    print(f"webhooks: {len(latencies)}; latency p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
          f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms, mean {statistics.mean(latencies) * 1000:.0f} ms")
    print(f"DynamoDB calls: {ddb_calls} in all, {ddb_calls / max(1, len(latencies)):.1f} per webhook "
          f"(workflow and workers included)")
    stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
