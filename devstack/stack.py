"""The local stack as an object, so `make run`, the end-to-end tests and the benches share it."""
from __future__ import annotations

import os
import threading

import requests

LOCAL_AUTH_TOKEN = "holdfast-local-auth-token"
LOCAL_ADMIN_TOKEN = "holdfast-local-admin-token"
LOCAL_AGENT_TOKEN = "holdfast-local-agent-token"
LOCAL_ACCOUNT_SID = "AC" + "0" * 31 + "1"
FAKE_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SECURITY_TOKEN": "testing", "AWS_SESSION_TOKEN": "testing"}


class LocalStack:
    def __init__(self, host: str = "127.0.0.1", port: int = 8000, moto_port: int = 5000,
                 region: str = "us-east-1", network_port: int | None = None, pace: float = 1.0,
                 chaos: bool = False) -> None:
        self.host, self.port, self.moto_port, self.region = host, port, moto_port, region
        self.network_port = port + 1 if network_port is None else network_port
        self.pace = pace
        self.chaos = chaos
        self.network = None
        self._moto = None
        self._http = None
        self._thread: threading.Thread | None = None
        self._pump = None
        self.resources = None

    @property
    def moto_url(self) -> str:
        return f"http://127.0.0.1:{self.moto_port}"

    @property
    def public_url(self) -> str:
        return os.environ.get("HOLDFAST_PUBLIC_URL") or f"http://{self.host}:{self.port}"

    def start(self) -> None:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per AWS call is noise

        # moto's Step Functions interpreter calls DynamoDB/SQS back on this port.
        os.environ["MOTO_PORT"] = str(self.moto_port)
        for key, value in FAKE_AWS.items():
            os.environ.setdefault(key, value)
        os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"] = self.region
        from .atomic import atomic_dynamodb

        self._atomic = atomic_dynamodb()  # DynamoDB's per-item atomicity, which moto lacks
        self._atomic.__enter__()
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=self.moto_port, verbose=False)
        self._moto.start()
        requests.post(f"{self.moto_url}/moto-api/config",
                      json={"stepfunctions": {"execute_state_machine": True}}, timeout=10).raise_for_status()

        from .resources import create_resources

        self.resources = create_resources(region=self.region, endpoint_url=self.moto_url)
        os.environ.update(self.resources.env())
        os.environ["AWS_ENDPOINT_URL"] = self.moto_url
        os.environ.setdefault("TWILIO_AUTH_TOKEN", LOCAL_AUTH_TOKEN)
        os.environ.setdefault("HOLDFAST_ADMIN_TOKEN", LOCAL_ADMIN_TOKEN)
        os.environ.setdefault("HOLDFAST_AGENT_TOKEN", LOCAL_AGENT_TOKEN)
        os.environ.setdefault("HOLDFAST_METRICS", "off")  # no CloudWatch reads EMF lines locally
        os.environ["HOLDFAST_PUBLIC_URL"] = self.public_url
        if not os.environ.get("TWILIO_ACCOUNT_SID"):
            self._start_network()  # no provider account: the simulated network stands in for Twilio
        self._serve()

    def _start_network(self) -> None:
        from .network import SimNetwork

        os.environ["TWILIO_ACCOUNT_SID"] = LOCAL_ACCOUNT_SID
        self.network = SimNetwork(self.public_url, os.environ["TWILIO_AUTH_TOKEN"], LOCAL_ACCOUNT_SID,
                                  pace=self.pace, host=self.host, port=self.network_port,
                                  admin_token=os.environ["HOLDFAST_AGENT_TOKEN"],
                                  duplicate_status=self.chaos, out_of_order=self.chaos).start()
        os.environ["TWILIO_API_BASE_URL"] = self.network.url

    def _serve(self) -> None:
        from chalice.config import Config
        from chalice.local import create_local_server

        from app import app
        from chalicelib import bootstrap

        bootstrap.reset()
        self._http = create_local_server(app, Config.create(chalice_stage="local"), self.host, self.port)
        self._thread = threading.Thread(target=self._http.serve_forever, name="chalice-local", daemon=True)
        self._thread.start()
        self._start_workers()

    def _start_workers(self) -> None:
        """The SQS consumer and stream consumer Chalice runs as Lambda functions in AWS."""
        from chalicelib import workers

        from .pollers import Every, Pump, SqsPoller, StreamPoller

        assert self.resources is not None
        self._pump = Pump([SqsPoller(self.resources.dial_queue_url, workers.on_dial_message, self.moto_url),
                           SqsPoller(self.resources.notify_queue_url, workers.on_notify_message, self.moto_url),
                           StreamPoller(self.resources.table_name, workers.on_table_change, self.moto_url),
                           Every(2.0, workers.sweep)])
        self._pump.start()

    def banner(self) -> str:
        return "\n".join([
            "Holdfast is running locally (embedded AWS: moto server at " + self.moto_url + ").",
            "  Voice webhook (paste into the Twilio console, 'A call comes in' and 'Call status changes'):",
            f"    POST {self.public_url}/voice/twilio/incoming",
            f"  Webhook signing token: {'(from TWILIO_AUTH_TOKEN)' if os.environ['TWILIO_AUTH_TOKEN'] != LOCAL_AUTH_TOKEN else LOCAL_AUTH_TOKEN}",
            f"  Agents: POST {self.public_url}/agents/{{agent_id}}/status  (Authorization: Bearer {os.environ['HOLDFAST_AGENT_TOKEN']})",
            f"  Console: {self.public_url}/console  (sign in with HOLDFAST_ADMIN_TOKEN"
            f"{'' if os.environ['HOLDFAST_ADMIN_TOKEN'] != LOCAL_ADMIN_TOKEN else ': ' + LOCAL_ADMIN_TOKEN})",
            f"  Health: GET {self.public_url}/health",
            (f"  Simulated phone network (place calls, press keys, put agents on): {self.network.url}/"
             if self.network else "  Provider: Twilio (TWILIO_ACCOUNT_SID is set)"),
            "Press Ctrl-C to stop.",
        ])

    def stop(self) -> None:
        if self.network is not None:
            self.network.stop()
        if self._pump is not None:
            self._pump.stop()
        if self._http is not None:
            self._http.shutdown()
        if self._moto is not None:
            self._moto.stop()
            self._atomic.__exit__(None, None, None)
