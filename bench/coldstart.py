"""Cold start of the Lambda package, before and after slimming and bytecode, side by side in one run.

Builds the package twice with infra/build.py: as `chalice package` makes it ("before": full layer, no
bytecode; Lambda's read-only file system means every cold start compiles from source) and as
`make deploy` ships it ("after": slim layer, compiled). Each is laid out as Lambda does
(infra/lambda_layout.py) and started --runs times against a moto server: import time of `app`
(wall and CPU) and the first request (a signed incoming webhook, which builds the container: one
botocore session, Parameter Store reads, DynamoDB). Medians printed; the machine's cores are shared,
so compare the columns of one run, not runs with each other.

Usage: python bench/coldstart.py [--runs 5]
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

AUTH_TOKEN = "bench-auth-token-0123456789abcdef0123"
ADMIN_TOKEN = "bench-admin-token-0123456789abcdef012"
AGENT_TOKEN = "bench-agent-token-0123456789abcdef012"
DOMAIN = "bench.execute-api.us-east-1.amazonaws.com"
PUBLIC_URL = f"https://{DOMAIN}/api"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(package, env: dict[str, str], work: Path, runs: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    from twilio.request_validator import RequestValidator
    from urllib.parse import urlencode

    from infra.lambda_layout import LambdaProcess, api_event, lay_out

    layout = lay_out(package.app_zip, package.layer_zip, work)
    imports, cpus, firsts, seconds = [], [], [], []
    for run in range(runs):
        proc = LambdaProcess(layout, env)
        try:
            assert proc.started["ready"], proc.started
            imports.append(proc.started["import_seconds"])
            cpus.append(proc.started["import_cpu_seconds"])
            for target in (firsts, seconds):
                params = {"CallSid": f"CA{run:032d}", "From": "+14158675309", "To": "+18005550100",
                          "CallStatus": "ringing", "AccountSid": "AC" + "0" * 32}
                url = PUBLIC_URL + "/voice/twilio/incoming"
                headers = {"Content-Type": "application/x-www-form-urlencoded",
                           "X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, params)}
                served = proc.invoke("app", api_event("POST", "/voice/twilio/incoming", "/voice/{provider}/{step}",
                                                      {"provider": "twilio", "step": "incoming"}, headers,
                                                      urlencode(params), None, DOMAIN))
                assert served["error"] is None and served["result"]["statusCode"] == 200, served
                target.append(served["seconds"])
        finally:
            proc.close()
    return {"import_s": statistics.median(imports), "import_cpu_s": statistics.median(cpus),
            "first_request_s": statistics.median(firsts), "second_request_s": statistics.median(seconds)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    from moto.server import ThreadedMotoServer

    from infra.build import build
    from infra.lambda_layout import stage_on_moto

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        env = {**stage_on_moto(f"http://127.0.0.1:{port}", AUTH_TOKEN, ADMIN_TOKEN, AGENT_TOKEN, PUBLIC_URL),
               "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
               "HOLDFAST_QUEUES_FILE": str(ROOT / "tests/e2e/queues.json")}
        results, sizes = {}, {}
        with tempfile.TemporaryDirectory() as tmp:
            for name, slim in (("before", False), ("after", True)):
                package = build("dev", Path(tmp) / name / "build", slim=slim, compile_=slim)
                sizes[name] = package.sizes["layer_after"] / 1e6
                results[name] = measure(package, env, Path(tmp) / name / "lambda", args.runs)
    finally:
        server.stop()
    print(f"Cold start in the Lambda layout, median of {args.runs} starts (this machine, moto for AWS)")
    print(f"{'':28}{'before':>10}{'after':>10}")
    print(f"{'layer, MB unzipped':28}{sizes['before']:>10.1f}{sizes['after']:>10.1f}")
    for key, label in (("import_s", "import app, s"), ("import_cpu_s", "import app, CPU s"),
                       ("first_request_s", "first request, s"), ("second_request_s", "second request, s")):
        print(f"{label:28}{results['before'][key]:>10.3f}{results['after'][key]:>10.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
