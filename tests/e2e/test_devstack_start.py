"""`make run`'s start: a taken port is a clear error, never a hang; outside the simulated network there
is no well-known admin token (issue 9 item 2); bad secrets stop it at start (item 1)."""
from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.stack import LOCAL_ADMIN_TOKEN, LocalStack, StartError, admin_token_file
from tests.e2e.test_local_stack import free_port

ROOT = Path(__file__).resolve().parents[2]
REAL_ACCOUNT = {"TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "TWILIO_AUTH_TOKEN": "9f86d081884c7d659a2feaa0c55ad015"}  # random-looking


def run_devstack(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HOLDFAST_", "TWILIO_"))}
    return subprocess.run([sys.executable, "-m", "devstack", *args], cwd=ROOT, env={**clean, **(env or {})},
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("which, setting", [("--moto-port", "MOTO_PORT"), ("--port", "HOLDFAST_PORT")])
def test_a_taken_port_is_a_clear_error_naming_the_setting(tmp_path: Path, which: str, setting: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ports = {"--port": str(free_port()), "--moto-port": str(free_port()), which: str(port)}
        done = run_devstack(*[x for kv in ports.items() for x in kv], "--state-dir", str(tmp_path))
    assert done.returncode == 2
    assert f"port {port}" in done.stderr and f"set {setting}" in done.stderr, done.stderr


def test_a_port_the_last_run_left_in_time_wait_is_free() -> None:
    """Right after Ctrl-C the last run's connections linger in TIME_WAIT on its ports; the servers bind
    with SO_REUSEADDR and start fine, so the check must not call the port taken either."""
    from devstack.stack import check_port_free

    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as http.server and werkzeug do
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            conn, _ = server.accept()
            conn.close()  # the server closes first: its end of the connection waits in TIME_WAIT
            client.recv(1)
    with socket.socket() as plain, pytest.raises(OSError):  # the scenario is real: a plain bind is refused
        plain.bind(("127.0.0.1", port))
    check_port_free("127.0.0.1", port, "HOLDFAST_PORT")
    with socket.socket() as listening:  # a port someone listens on is still taken
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind(("127.0.0.1", port))
        listening.listen()
        with pytest.raises(StartError, match=f"port {port} on 127.0.0.1 is taken"):
            check_port_free("127.0.0.1", port, "HOLDFAST_PORT")


@pytest.mark.parametrize("provider, console, signed", [
    ("twilio", "the Twilio console, the number's 'A call comes in' and 'Call status changes'",
     "Webhook signing token: holdfast-local-auth-token-simulated-network"),
    ("telnyx", "the Telnyx portal, the TeXML application's 'Voice URL' and 'Status callback URL'",
     "Webhook signatures: Ed25519, checked with the account's public key (TELNYX_PUBLIC_KEY)"),
    ("vonage", "the Vonage dashboard, the application's Voice 'Answer URL' and 'Event URL' (both POST)",
     "Webhook signatures: JWT (HS256) with the signature secret (VONAGE_SIGNATURE_SECRET)")])
def test_the_banner_names_the_chosen_provider_and_where_its_webhook_goes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, provider: str, console: str, signed: str) -> None:
    from devstack.stack import LOCAL_AGENT_TOKEN, LOCAL_AUTH_TOKEN

    for key, value in {"TWILIO_AUTH_TOKEN": LOCAL_AUTH_TOKEN, "HOLDFAST_ADMIN_TOKEN": LOCAL_ADMIN_TOKEN,
                       "HOLDFAST_AGENT_TOKEN": LOCAL_AGENT_TOKEN, "HOLDFAST_PUBLIC_URL": "http://127.0.0.1:8000"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("TWILIO_ACCOUNT_SID", raising=False)
    banner = LocalStack(state_dir=tmp_path, provider=provider).banner()
    assert f"paste into {console}" in banner and f"POST http://127.0.0.1:8000/voice/{provider}/incoming" in banner
    assert signed in banner
    if provider != "twilio":
        assert "Twilio" not in banner and "TwiML" not in banner and "signing token" not in banner


def test_with_a_real_provider_the_admin_token_is_generated_owner_only(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for key in ("HOLDFAST_ADMIN_TOKEN", "HOLDFAST_AGENT_TOKEN", "TWILIO_AUTH_TOKEN", "TWILIO_ACCOUNT_SID"):
        monkeypatch.delenv(key, raising=False)
    for key, value in REAL_ACCOUNT.items():
        monkeypatch.setenv(key, value)
    stack = LocalStack(port=free_port(), moto_port=free_port(), state_dir=tmp_path / ".holdfast")
    stack.preflight()
    token = os.environ["HOLDFAST_ADMIN_TOKEN"]
    assert token != LOCAL_ADMIN_TOKEN and len(token) >= 32
    path = tmp_path / ".holdfast" / "admin-token"
    assert stack.admin_token_path == path and path.read_text().strip() == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    banner = stack.banner()
    assert token not in banner and str(path) in banner
    assert admin_token_file(tmp_path / ".holdfast") == (token, path)  # the next start reads the same one


@pytest.mark.parametrize("env", [{"TWILIO_AUTH_TOKEN": "REPLACE"},
                                 {"TWILIO_AUTH_TOKEN": ""},
                                 {"HOLDFAST_ADMIN_TOKEN": LOCAL_ADMIN_TOKEN}])
def test_with_a_real_provider_bad_or_well_known_secrets_stop_the_start(tmp_path: Path, monkeypatch,
                                                                      env: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    for key in ("HOLDFAST_ADMIN_TOKEN", "HOLDFAST_AGENT_TOKEN", "TWILIO_AUTH_TOKEN", "TWILIO_ACCOUNT_SID"):
        monkeypatch.delenv(key, raising=False)
    for key, value in {**REAL_ACCOUNT, **env}.items():
        monkeypatch.setenv(key, value)
    stack = LocalStack(port=free_port(), moto_port=free_port(), state_dir=tmp_path)
    if "HOLDFAST_ADMIN_TOKEN" in env:  # the well-known token is replaced, never used
        stack.preflight()
        assert os.environ["HOLDFAST_ADMIN_TOKEN"] != LOCAL_ADMIN_TOKEN
        return
    with pytest.raises(StartError, match="TWILIO_AUTH_TOKEN"):
        stack.preflight()


def test_a_placeholder_secret_stops_make_run_with_a_clear_error(tmp_path: Path) -> None:
    done = run_devstack("--port", str(free_port()), "--moto-port", str(free_port()), "--state-dir", str(tmp_path),
                        env={**REAL_ACCOUNT, "TWILIO_AUTH_TOKEN": "REPLACE with your auth token"})
    assert done.returncode == 2 and "TWILIO_AUTH_TOKEN is still a placeholder" in done.stderr, done.stderr
