"""The local stack's front door (issue 21 item 7). `chalice local`'s server starts a thread per
connection and lets them all into the app at once: a hundred concurrent agent events all contend for
the embedded moto server, and most time out. Here at most `limit` requests run inside the app at once,
at most `queue` more wait for a place, and none waits longer than `max_wait` seconds; anything beyond
is refused with `503` and `Retry-After` (a client can tell "try again" from "broken"): at once when
the queue is full or the wait it would have, by the app's recent pace, passes `max_wait`; otherwise
after waiting `max_wait` in vain. The listening socket's backlog is large enough for a burst to reach
the door at all, and past the connections both lanes can hold (`limit + queue` each) a connection is
answered 503 by the accepting thread itself, without a thread of its own: a burst of hundreds would
otherwise start hundreds of threads that starve the app (and the refusals) of the interpreter.

Two lanes: callers' voice webhooks have places of their own, so a flood of agent events or console
polls cannot take the places a caller's next step needs."""
from __future__ import annotations

import json
import queue
import selectors
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from chalice.app import Chalice
from chalice.config import Config
from chalice.local import ChaliceRequestHandler, LocalDevServer, ThreadedHTTPServer

RETRY_AFTER_SECONDS = 1
# How often the interpreter passes from thread to thread (Python's default: 5 ms). The app and moto share
# this process's interpreter; at 1 ms the accepting thread and the refusals get it sooner (bench/local_capacity.py:
# refusals' median 0.6 s against 1.6 s at 100 at once, on a loaded machine).
SWITCH_INTERVAL = 0.001
# Connections the kernel holds until the server accepts them. http.server's 5 drops the rest of a burst
# before any code of ours sees it (the client's connection is reset, or its SYN retried for seconds).
BACKLOG = 1024


@dataclass(frozen=True)
class Limits:
    limit: int = 4  # requests inside the app at once, per lane
    queue: int = 16  # requests waiting for a place, per lane
    max_wait: float = 3.0  # seconds a request may wait for a place


class Gate:
    """At most `limit` inside, `queue` waiting, none waiting past `max_wait`; counts what it did."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._places = threading.BoundedSemaphore(limits.limit)
        self._lock = threading.Lock()
        self.waiting = 0
        self.pace = 0.0  # seconds a request spends inside the app, recently (moving average; 0: not known yet)
        self.admitted = 0
        self.refused_full = 0  # the queue was full, or its wait would pass max_wait: refused without waiting
        self.refused_late = 0  # waited max_wait for a place in vain

    def enter(self) -> bool:
        """True: inside (call `leave` after). False: refused (no room to wait, or no place in time)."""
        if self._places.acquire(blocking=False):
            return self._count_in()
        with self._lock:
            expected = (self.waiting + 1) / self.limits.limit * self.pace  # places free up at the app's pace
            if self.waiting >= self.limits.queue or expected > self.limits.max_wait:
                self.refused_full += 1
                return False
            self.waiting += 1
        try:
            inside = self._places.acquire(timeout=self.limits.max_wait)
        finally:
            with self._lock:
                self.waiting -= 1
        if not inside:
            with self._lock:
                self.refused_late += 1
            return False
        return self._count_in()

    def _count_in(self) -> bool:
        with self._lock:
            self.admitted += 1
        return True

    def leave(self, seconds: float = 0.0) -> None:
        """Out of the app after `seconds` inside."""
        with self._lock:
            self.pace = seconds if not self.pace else 0.8 * self.pace + 0.2 * seconds
        self._places.release()


class Admission:
    """The two lanes: voice webhooks, and everything else."""

    def __init__(self, limits: Limits) -> None:
        self.voice = Gate(limits)
        self.other = Gate(limits)
        self.connections = 2 * (limits.limit + limits.queue)  # what both lanes can hold: past it, refused at the door
        self.refused_at_door = 0

    def gate(self, path: str) -> Gate:
        return self.voice if path.startswith("/voice/") else self.other

    def counts(self) -> dict[str, dict[str, int]]:
        return {name: {"admitted": g.admitted, "refused_full": g.refused_full, "refused_late": g.refused_late}
                for name, g in (("voice", self.voice), ("other", self.other))} | {
            "door": {"refused": self.refused_at_door}}


def refusal(limits: Limits) -> tuple[bytes, list[tuple[str, str]]]:
    body = json.dumps({"error": f"the local stack is at capacity ({limits.limit} requests at once, "
                                f"{limits.queue} waiting); try again in {RETRY_AFTER_SECONDS} s"}).encode()
    return body, [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                  ("Retry-After", str(RETRY_AFTER_SECONDS)), ("Connection", "close")]


class AdmittedHandler(ChaliceRequestHandler):
    """`chalice local`'s handler behind the gate (the server's `admission`)."""

    def _generic_handle(self) -> None:
        gate = self.server.admission.gate(self.path)  # type: ignore[attr-defined]
        if not gate.enter():
            self._refuse(gate.limits)
            return
        started = time.perf_counter()
        try:
            super()._generic_handle()
        finally:
            gate.leave(time.perf_counter() - started)

    # the base class binds its own _generic_handle to every method: bind ours
    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    def _refuse(self, limits: Limits) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length > 0:
            self.rfile.read(length)  # the body, so the connection can carry the answer
        body, headers = refusal(limits)
        self.close_connection = True
        self.send_response(503)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
        if len(args) > 1 and args[1] == "503":
            return  # refusals are counted, not logged one by one
        super().log_message(format, *args)


class Drainer(threading.Thread):
    """Closes connections answered at the door once their client has sent its request and read the
    answer (closing a socket with unread input would reset the connection, answer and all)."""

    LINGER_SECONDS = 5.0

    def __init__(self) -> None:
        super().__init__(name="admission-drainer", daemon=True)
        self.incoming: queue.SimpleQueue[socket.socket] = queue.SimpleQueue()
        self.selector = selectors.DefaultSelector()

    def hand_over(self, conn: socket.socket) -> None:
        self.incoming.put(conn)

    def run(self) -> None:
        deadlines: dict[socket.socket, float] = {}
        while True:
            while not self.incoming.empty():
                conn = self.incoming.get()
                conn.setblocking(False)
                self.selector.register(conn, selectors.EVENT_READ)
                deadlines[conn] = time.monotonic() + self.LINGER_SECONDS
            if not deadlines:
                time.sleep(0.05)
                continue
            for key, _ in self.selector.select(timeout=0.05):
                conn = key.fileobj  # type: ignore[assignment]
                try:
                    more = conn.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    more = b""
                if not more:
                    deadlines[conn] = 0.0  # the client is done
            now = time.monotonic()
            for conn in [c for c, at in deadlines.items() if at <= now]:
                self.selector.unregister(conn)
                conn.close()
                del deadlines[conn]


class GatedServer(ThreadedHTTPServer):
    """`chalice local`'s threaded server with a large backlog, and a cap on its connection threads."""

    request_queue_size = BACKLOG

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.admission: Admission | None = None
        self.live = 0
        self._live_lock = threading.Lock()
        self.drainer = Drainer()
        self.drainer.start()

    def process_request(self, request: Any, client_address: Any) -> None:
        assert self.admission is not None
        with self._live_lock:
            room = self.live < self.admission.connections
            self.live += room
        if room:
            super().process_request(request, client_address)
            return
        self.admission.refused_at_door += 1
        body, headers = refusal(self.admission.voice.limits)
        try:  # answered before the request is read: the drainer reads it, then closes
            request.sendall(b"HTTP/1.1 503 Service Unavailable\r\n" + "".join(
                f"{name}: {value}\r\n" for name, value in headers).encode() + b"\r\n" + body)
            request.shutdown(socket.SHUT_WR)
        except OSError:
            request.close()
            return
        self.drainer.hand_over(request)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._live_lock:
                self.live -= 1


def admitted_server(app: Chalice, config: Config, host: str, port: int, limits: Limits | None) -> LocalDevServer:
    """`chalice local`'s server; behind the gate unless `limits` is None (as it comes, for comparison)."""
    if limits is None:
        return LocalDevServer(app, config, host, port)
    server = LocalDevServer(app, config, host, port, handler_cls=AdmittedHandler, server_cls=GatedServer)
    server.server.admission = Admission(limits)  # type: ignore[attr-defined]
    return server
