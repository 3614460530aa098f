"""The parties and calls of the simulated network: phones that callers hold (and their caller model),
agents, calls; call ids; waiting on a condition."""
from __future__ import annotations

import itertools
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable


_sids = itertools.count(1)


def new_sid(prefix: str = "CA") -> str:
    return f"{prefix}{next(_sids):032x}"


class Gone(Exception):
    """The call ended (hung up) while a verb was running."""


class Redirected(Exception):
    """The call was given new TwiML over REST while a verb was running."""


@dataclass
class CallerModel:
    """How a simulated caller behaves. None fields mean 'a person at the demo page decides'."""

    patience: float | None = None  # seconds before hanging up while not talking to an agent
    press_one: float = 0.0  # chance of pressing 1 when offered a callback
    answer: float = 1.0  # chance of answering a callback
    voicemail: bool = False  # a callback is answered by voicemail (answering-machine detection: machine)


@dataclass
class Phone:
    number: str
    model: CallerModel = field(default_factory=CallerModel)
    ringing: str | None = None  # call sid ringing this phone


@dataclass
class Agent:
    name: str
    handle_seconds: float = 60.0
    answer: float = 1.0
    status: str = "offline"  # as Holdfast last accepted it
    since: str = ""  # when that status began (the stack's clock)


@dataclass
class Call:
    sid: str
    direction: str  # inbound / outbound-api
    frm: str
    to: str
    status_url: str | None
    party: Phone | Agent | None
    transcript: list[str] = field(default_factory=list)
    state: str = "ringing"
    keys: "queue.Queue[str]" = field(default_factory=queue.Queue)
    ended: threading.Event = field(default_factory=threading.Event)
    interrupt: threading.Event = field(default_factory=threading.Event)
    redirect_twiml: str | None = None
    started: float = field(default_factory=time.monotonic)
    answered_by: str | None = None
    queue_name: str | None = None
    reported: bool = False
    connected: bool = False  # talking to someone: patience no longer applies


def wait_until(check: Callable[[], object], timeout: float = 30.0, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(every)
