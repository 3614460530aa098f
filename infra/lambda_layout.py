"""The built package laid out as AWS Lambda's Python runtime lays it out, and a process that imports
`app` there and serves events, as a Lambda container does.

    task/   the app zip (LAMBDA_TASK_ROOT, /var/task)
    opt/    the layer zip (/opt; packages under opt/python/lib/python3.11/site-packages)
    runtime/  only what the python3.11 runtime ships besides the standard library (boto3, botocore
              and their dependencies), linked from this interpreter's copies

The process is `python -I -S -B`: isolated (no PYTHON* variables, no user site), without site-packages,
so nothing from the development environment can make an import succeed that would fail in Lambda, and
writing no bytecode (Lambda's task root and /opt are read-only: what is not compiled in the package is
compiled again on every cold start)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

# The runtime's own packages (python3.11): boto3 and what it needs.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six.py", "urllib3")

MARK = "@@lambda@@ "
RUNNER = r'''
import json, os, sys, time, traceback
MARK = "@@lambda@@ "  # our replies; the app's JSON log lines share stdout, as in Lambda
task, opt, runtime = sys.argv[1:4]
# Lambda's order: the task root, the layers, the standard library, the runtime's packages.
sys.path[:0] = [task, opt + "/python/lib/python3.11/site-packages", opt + "/python"]
sys.path.append(runtime)
os.chdir(task)

class Context:
    function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "holdfast")
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + function_name
    memory_limit_in_mb = 1024
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/" + function_name
    log_stream_name = "local"
    def get_remaining_time_in_millis(self):
        return 10000

wall, cpu = time.perf_counter(), time.process_time()
try:
    import app as module
except BaseException:
    print(MARK + json.dumps({"ready": False, "error": traceback.format_exc()}), flush=True)
    sys.exit(1)
print(MARK + json.dumps({"ready": True, "import_seconds": time.perf_counter() - wall,
                  "import_cpu_seconds": time.process_time() - cpu,
                  "modules": sorted(m.__file__ for m in list(sys.modules.values())
                                    if getattr(m, "__file__", None))}), flush=True)
for line in sys.stdin:
    request = json.loads(line)
    wall = time.perf_counter()
    try:
        result, error = getattr(module, request["handler"])(request["event"], Context()), None
    except BaseException:
        result, error = None, traceback.format_exc()
    print(MARK + json.dumps({"result": result, "error": error, "seconds": time.perf_counter() - wall}, default=str),
          flush=True)
'''


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def task(self) -> Path:
        return self.root / "task"

    @property
    def opt(self) -> Path:
        return self.root / "opt"

    @property
    def runtime(self) -> Path:
        return self.root / "runtime"


def lay_out(app_zip: Path, layer_zip: Path, root: Path) -> Layout:
    layout = Layout(root)
    for zip_path, target in ((app_zip, layout.task), (layer_zip, layout.opt)):
        target.mkdir(parents=True)
        with zipfile.ZipFile(zip_path) as zf:
            zf.extractall(target)
    layout.runtime.mkdir(parents=True)
    import boto3

    site = Path(boto3.__file__).resolve().parent.parent
    for name in RUNTIME_PACKAGES:
        (layout.runtime / name).symlink_to(site / name)
    return layout


class LambdaProcess:
    """One warm Lambda container: imports `app` once, then serves events in order."""

    def __init__(self, layout: Layout, env: Mapping[str, str]) -> None:
        base = {k: os.environ[k] for k in ("PATH", "LANG", "TZ") if k in os.environ}
        self.proc = subprocess.Popen(
            [sys._base_executable, "-I", "-S", "-B", "-c", RUNNER, str(layout.task), str(layout.opt),  # type: ignore[attr-defined]
             str(layout.runtime)],
            env={**base, "LAMBDA_TASK_ROOT": str(layout.task), **env}, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=layout.task)
        self.log: list[str] = []  # what the app printed (its JSON logs)
        self.started = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise RuntimeError(f"the Lambda process exited: {err[-4000:]}")
            if line.startswith(MARK):
                return json.loads(line[len(MARK):])
            self.log.append(line)

    def invoke(self, handler: str, event: Mapping[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"handler": handler, "event": event}) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> str:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.proc.stderr.read() if self.proc.stderr else ""


def api_event(method: str, path: str, resource: str, path_parameters: Mapping[str, str],
              headers: Mapping[str, str], body: str = "", query: Mapping[str, str] | None = None,
              domain: str = "abc123.execute-api.us-east-1.amazonaws.com") -> dict[str, Any]:
    """An API Gateway REST (proxy) event, as the API Chalice packages sends it."""
    return {"resource": resource, "path": path, "httpMethod": method, "headers": dict(headers),
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": dict(query) if query else None,
            "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
            "pathParameters": dict(path_parameters), "stageVariables": None, "body": body,
            "isBase64Encoded": False,
            "requestContext": {"resourcePath": resource, "httpMethod": method, "path": f"/api{path}",
                               "stage": "api", "domainName": domain, "requestId": "req-1",
                               "identity": {"sourceIp": "203.0.113.9"}}}


def sqs_event(body: str, queue_arn: str) -> dict[str, Any]:
    return {"Records": [{"messageId": "m-1", "receiptHandle": "r-1", "body": body, "attributes": {},
                         "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                         "eventSourceARN": queue_arn, "awsRegion": "us-east-1"}]}


def stage_on_moto(moto_url: str, auth_token: str, admin_token: str, agent_token: str, public_url: str,
                  path: str = "/holdfast/dev") -> dict[str, str]:
    """A stage's resources (from infra/) and Parameter Store secrets on a moto server, and the
    environment CloudFormation would give the functions for it."""
    import boto3

    from devstack.resources import create_resources

    resources = create_resources(endpoint_url=moto_url)
    ssm = boto3.client("ssm", endpoint_url=moto_url, region_name="us-east-1")
    for name, value, kind in (("twilio-auth-token", auth_token, "SecureString"),
                              ("admin-token", admin_token, "SecureString"),
                              ("agent-token", agent_token, "SecureString"), ("public-url", public_url, "String")):
        ssm.put_parameter(Name=f"{path}/{name}", Value=value, Type=kind, Overwrite=True)
    return {**resources.env(), "AWS_ENDPOINT_URL": moto_url, "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "HOLDFAST_PARAMETERS_PATH": path}
