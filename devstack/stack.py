"""The local stack as an object, so `make run`, the end-to-end tests and the benches share it."""
from __future__ import annotations

import errno
import os
import secrets
import socket
import threading
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from chalicelib.settings import DEFAULT_QUEUES_FILE

from .admission import Limits

if TYPE_CHECKING:
    from chalicelib.domain.queues import QueueDirectory

# Well known, so only ever used with the simulated network (which signs with it); never with a real provider.
LOCAL_AUTH_TOKEN = "holdfast-local-auth-token-simulated-network"
LOCAL_ADMIN_TOKEN = "holdfast-local-admin-token-simulated-network"
LOCAL_AGENT_TOKEN = "holdfast-local-agent-token-simulated-network"
LOCAL_ACCOUNT_SID = "AC" + "0" * 31 + "1"
FAKE_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SECURITY_TOKEN": "testing", "AWS_SESSION_TOKEN": "testing"}


class StartError(Exception):
    """The local stack cannot start; the message says why and what to change."""


def check_port_free(host: str, port: int, setting: str) -> None:
    """A taken port is a clear error naming the setting to change, never a hang."""
    with socket.socket() as probe:
        # as the servers themselves bind: the last run's connections in TIME_WAIT do not take the port
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                raise StartError(f"port {port} on {host} is taken (by another program or an earlier "
                                 f"`make run`); set {setting} to a free port, e.g. {setting}={port + 10}") from None
            raise


def admin_token_file(state_dir: Path, name: str = "admin-token") -> tuple[str, Path]:
    """A token (admin or agent) for a stack that talks to a real provider: generated at first start,
    kept owner-only under the state directory, read back on later starts. Never a well-known value."""
    path = state_dir / name
    if path.exists():
        return path.read_text(encoding="utf-8").strip(), path
    state_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    return token, path


def local_rsa_key() -> str:
    """A Vonage application private key for the simulated network's REST API (which does not check it)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


class LocalStack:
    def __init__(self, host: str = "127.0.0.1", port: int = 8000, moto_port: int = 5000,
                 region: str = "us-east-1", network_port: int | None = None, pace: float = 1.0,
                 chaos: bool = False, clock_offset_seconds: float = 0.0, chaos_seed: int | None = None,
                 stream_faults: float = 0.0,
                 state_dir: Path | str = ".holdfast", fresh: bool = False, provider: str = "twilio",
                 limits: Limits | None = Limits()) -> None:
        self.host, self.port, self.moto_port, self.region = host, port, moto_port, region
        self.provider = provider  # the provider the simulated network behaves like
        self.limits = limits  # the front door's (devstack/admission.py); None: every request let in at once
        self.network_port = port + 1 if network_port is None else network_port
        self.pace = pace
        self.chaos = chaos
        self.chaos_seed = chaos_seed  # seeded disorder of the network's events (devstack/network/chaos.py)
        self.stream_faults = stream_faults  # the share of stream deliveries whose consumer fails
        self.clock_offset_seconds = clock_offset_seconds
        self.state_dir = Path(state_dir)
        self.admin_token_path: Path | None = None
        self.agent_token_path: Path | None = None
        self.fresh = fresh
        self.snapshot = None
        self.restored = 0
        self.redriven = 0
        self.network = None
        self._moto = None
        self._http = None
        self._thread: threading.Thread | None = None
        self.pumps: list[Any] = []  # the event sources' threads (pollers.Pump)
        self.stream = None  # the table stream's poller (its dead letters)
        self.resources = None
        self.queues: QueueDirectory | None = None  # what the simulated network's demo offers callers

    def now(self) -> datetime:
        """The stack's clock: the real one moved by --clock's offset (what the app and the workflow follow)."""
        from chalicelib.bootstrap import OffsetClock

        return OffsetClock(self.clock_offset_seconds).now()

    @property
    def moto_url(self) -> str:
        return f"http://127.0.0.1:{self.moto_port}"

    @property
    def public_url(self) -> str:
        return os.environ.get("HOLDFAST_PUBLIC_URL") or f"http://{self.host}:{self.port}"

    @property
    def simulated(self) -> bool:
        """No provider account given: the simulated network stands in for Twilio."""
        return not os.environ.get("TWILIO_ACCOUNT_SID")

    def preflight(self) -> None:
        """Everything that would stop the stack, checked before anything starts (StartError says what)."""
        check_port_free("127.0.0.1", self.moto_port, "MOTO_PORT")
        check_port_free(self.host, self.port, "HOLDFAST_PORT")
        if self.simulated:
            check_port_free(self.host, self.network_port, "--network-port")
            os.environ.setdefault("TWILIO_AUTH_TOKEN", LOCAL_AUTH_TOKEN)
            os.environ.setdefault("HOLDFAST_ADMIN_TOKEN", LOCAL_ADMIN_TOKEN)
            os.environ.setdefault("HOLDFAST_AGENT_TOKEN", LOCAL_AGENT_TOKEN)
            os.environ.setdefault("HOLDFAST_AGENT_SIP_DOMAINS", "agents.sim")  # the simulated network's agents
        else:
            if os.environ.get("TWILIO_AUTH_TOKEN") == LOCAL_AUTH_TOKEN:
                raise StartError("TWILIO_AUTH_TOKEN is the simulated network's well-known token; "
                                 "give your Twilio account's auth token")
            if os.environ.get("HOLDFAST_ADMIN_TOKEN", LOCAL_ADMIN_TOKEN) == LOCAL_ADMIN_TOKEN:
                token, self.admin_token_path = admin_token_file(self.state_dir)
                os.environ["HOLDFAST_ADMIN_TOKEN"] = token
            if os.environ.get("HOLDFAST_AGENT_TOKEN", LOCAL_AGENT_TOKEN) == LOCAL_AGENT_TOKEN:
                token, self.agent_token_path = admin_token_file(self.state_dir, "agent-token")
                os.environ["HOLDFAST_AGENT_TOKEN"] = token
        from chalicelib.settings import Settings, SettingsError

        try:
            Settings.from_env().require_safe()
        except SettingsError as exc:
            raise StartError(str(exc)) from None
        if self.clock_offset_seconds:
            os.environ["HOLDFAST_CLOCK_OFFSET_SECONDS"] = str(self.clock_offset_seconds)

    def start(self) -> None:
        import logging

        from moto.server import ThreadedMotoServer

        self.preflight()
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per AWS call is noise
        if self.clock_offset_seconds:
            from .clock import shift_workflow_timer

            shift_workflow_timer(self.clock_offset_seconds)

        # moto's Step Functions interpreter calls DynamoDB/SQS back on this port.
        os.environ["MOTO_PORT"] = str(self.moto_port)
        for key, value in FAKE_AWS.items():
            os.environ.setdefault(key, value)
        os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"] = self.region
        from .atomic import atomic_dynamodb

        self._atomic = atomic_dynamodb()  # DynamoDB's per-item atomicity, which moto lacks
        self._atomic.__enter__()
        from .moto_sfn import stoppable_executions

        self._stoppable = stoppable_executions()  # a started execution can be stopped at once, as in AWS
        self._stoppable.__enter__()
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=self.moto_port, verbose=False)
        self._moto.start()
        requests.post(f"{self.moto_url}/moto-api/config",
                      json={"stepfunctions": {"execute_state_machine": True}}, timeout=10).raise_for_status()

        from .resources import create_resources

        self.resources = create_resources(region=self.region, endpoint_url=self.moto_url)
        os.environ.update(self.resources.env())
        os.environ["AWS_ENDPOINT_URL"] = self.moto_url
        os.environ.setdefault("HOLDFAST_METRICS", "off")  # no CloudWatch reads EMF lines locally
        os.environ["HOLDFAST_PUBLIC_URL"] = self.public_url
        open_callbacks = self._restore()
        if self.simulated:
            self._start_network()  # no provider account: the simulated network stands in for Twilio
        self._serve()
        from .state import redrive

        self.redriven = redrive(open_callbacks)

    def _restore(self) -> list[str]:
        """The table as the last run left it (unless --fresh); the open callbacks to re-drive."""
        import boto3

        from .state import TableSnapshot, open_callbacks

        assert self.resources is not None
        ddb = boto3.client("dynamodb", endpoint_url=self.moto_url, region_name=self.region)
        self.snapshot = TableSnapshot(ddb, self.resources.table_name, self.state_dir / "state.json")
        if self.fresh and self.snapshot.path.exists():
            self.snapshot.path.unlink()
        items = self.snapshot.load()
        self.restored = len(items)
        return open_callbacks(items)

    def _start_network(self) -> None:
        from chalicelib.bootstrap import load_queues

        from .demo import demo_state
        from .network import SimNetwork

        os.environ["TWILIO_ACCOUNT_SID"] = LOCAL_ACCOUNT_SID
        self.queues = queues = load_queues(os.environ.get("HOLDFAST_QUEUES_FILE") or DEFAULT_QUEUES_FILE)
        now = self.now
        assert self.snapshot is not None
        self.network = SimNetwork(self.public_url, os.environ["TWILIO_AUTH_TOKEN"], LOCAL_ACCOUNT_SID,
                                  pace=self.pace, host=self.host, port=self.network_port,
                                  admin_token=os.environ["HOLDFAST_AGENT_TOKEN"],
                                  duplicate_status=self.chaos, out_of_order=self.chaos, now=now,
                                  extra_state=demo_state(self.snapshot.items, queues, now, self.provider),
                                  agent_queues=tuple(q.id for q in queues), provider=self.provider,
                                  chaos_seed=self.chaos_seed, behind=self.stream_report).start()
        os.environ["TWILIO_API_BASE_URL"] = self.network.url
        if self.provider == "telnyx":  # Holdfast answers and dials Telnyx, checking the network's own key
            os.environ.update({"HOLDFAST_PROVIDERS": "twilio,telnyx", "HOLDFAST_DIALING_PROVIDER": "telnyx",
                               "TELNYX_PUBLIC_KEY": self.network.public_key, "TELNYX_API_KEY": "KEY-local",
                               "TELNYX_ACCOUNT_SID": LOCAL_ACCOUNT_SID, "TELNYX_APPLICATION_SID": "holdfast-local",
                               "TELNYX_API_BASE_URL": self.network.url})
        if self.provider == "vonage":  # its signature secret; an application key of its own for the REST JWT
            os.environ.update({"HOLDFAST_PROVIDERS": "twilio,vonage", "HOLDFAST_DIALING_PROVIDER": "vonage",
                               "VONAGE_SIGNATURE_SECRET": self.network.signature_secret,
                               "VONAGE_APPLICATION_ID": "holdfast-local", "VONAGE_PRIVATE_KEY": local_rsa_key(),
                               "VONAGE_API_BASE_URL": self.network.url})
        if self.provider == "jambonz":  # its account's webhook secret; an API key for its REST API
            os.environ.update({"HOLDFAST_PROVIDERS": "twilio,jambonz", "HOLDFAST_DIALING_PROVIDER": "jambonz",
                               "JAMBONZ_WEBHOOK_SECRET": self.network.signature_secret,
                               "JAMBONZ_API_KEY": "jz-local-key", "JAMBONZ_ACCOUNT_SID": LOCAL_ACCOUNT_SID,
                               "JAMBONZ_API_BASE_URL": self.network.url})

    def stream_report(self) -> dict[str, Any]:
        """The table stream's consumer: caught up or not, records given up on, deliveries failed on purpose
        (--stream-faults); what the simulated network's /sim/log adds for tests that wait for quiet."""
        if self.stream is None:
            return {}
        consumer = self.stream.handler
        return {**self.stream.report(), "injected_faults": getattr(consumer, "injected", 0)}

    def _serve(self) -> None:
        from chalice.config import Config

        from app import app
        from chalicelib import bootstrap

        from .admission import admitted_server

        bootstrap.reset()
        self._http = admitted_server(app, Config.create(chalice_stage="local"), self.host, self.port, self.limits)
        self._thread = threading.Thread(target=self._http.serve_forever, name="chalice-local", daemon=True)
        self._thread.start()
        self._start_workers()

    def _start_workers(self) -> None:
        """The SQS consumer and stream consumer Chalice runs as Lambda functions in AWS."""
        from chalicelib.edges import workers

        from .pollers import Every, Faulty, Pump, SqsPoller, StreamPoller, deployed_filters

        assert self.resources is not None
        consumer = workers.on_table_change
        if self.stream_faults:
            consumer = Faulty(consumer, self.stream_faults, self.chaos_seed or 0)
        self.stream = StreamPoller(self.resources.table_name, consumer, self.moto_url, with_event_id=True,
                                   filters=deployed_filters())
        # The stream's consumer on a thread of its own, as a stream shard's Lambda runs beside the queues'
        # and the schedule's in AWS: a record never waits behind a sweep or the state being saved.
        self.pumps = [Pump([self.stream], name="holdfast-stream"),
                      Pump([SqsPoller(self.resources.dial_queue_url, workers.on_dial_message, self.moto_url),
                            SqsPoller(self.resources.notify_queue_url, workers.on_notify_message, self.moto_url),
                            Every(2.0, workers.sweep), Every(5.0, self.snapshot.save)])]
        for pump in self.pumps:
            pump.start()

    def banner(self) -> str:
        from chalicelib.adapters.webhook_urls import CONSOLES, console_webhooks, incoming_url

        console = CONSOLES[self.provider]
        if self.provider != "twilio":  # signed with its own key: the network's locally, the account's for real
            signed = f"  Webhook signatures: {console.signed}" + ("; the simulated network's own" if self.simulated else "")
        elif os.environ["TWILIO_AUTH_TOKEN"] != LOCAL_AUTH_TOKEN:
            signed = "  Webhook signing token: (from TWILIO_AUTH_TOKEN)"
        else:
            signed = f"  Webhook signing token: {LOCAL_AUTH_TOKEN}"
        return "\n".join([
            "Holdfast is running locally (embedded AWS: moto server at " + self.moto_url + ").",
            *(line for n, (setting, url) in enumerate(console_webhooks(self.provider,
                                                                       incoming_url(self.public_url, self.provider)))
              for line in (f"  {'Status' if n else 'Voice'} webhook for {console.name} (paste into {setting}):",
                           f"    POST {url}")),
            signed,
            f"  Agents: POST {self.public_url}/agents/{{agent_id}}/status  (Authorization: Bearer "
            + (f"$(cat {self.agent_token_path}); generated at first start, owner-only)"
               if self.agent_token_path else
               "$HOLDFAST_AGENT_TOKEN)" if os.environ["HOLDFAST_AGENT_TOKEN"] != LOCAL_AGENT_TOKEN else
               f"{LOCAL_AGENT_TOKEN}; simulated network only)"),
            f"  Console: {self.public_url}/console  (sign in with "
            + (f"$(cat {self.admin_token_path}); generated at first start, owner-only)"
               if self.admin_token_path else
               "$HOLDFAST_ADMIN_TOKEN)" if os.environ["HOLDFAST_ADMIN_TOKEN"] != LOCAL_ADMIN_TOKEN else
               f"{LOCAL_ADMIN_TOKEN}; simulated network only)"),
            f"  Health: GET {self.public_url}/health",
            f"  State: {self.state_dir / 'state.json'} ({self.restored} items restored, {self.redriven} callbacks' "
            "workflows re-driven; `make run ARGS=--fresh` starts empty)",
            (f"  Simulated phone network, behaving like {console.name} (place calls, press keys, put agents on): "
             f"{self.network.url}/" if self.network else f"  Provider: {console.name} (a real account)"),
            "Press Ctrl-C to stop.",
        ])

    def stop(self) -> None:
        if self.network is not None:
            self.network.stop()
        for pump in self.pumps:
            pump.stop()
        for pump in self.pumps:
            pump.join(timeout=10)
        if self.snapshot is not None:
            self.snapshot.save()
        if self._http is not None:
            self._http.shutdown()
        if self._moto is not None:
            self._moto.stop()
            self._stoppable.__exit__(None, None, None)
            self._atomic.__exit__(None, None, None)
