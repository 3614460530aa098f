"""`make run ARGS=--demo-load`: a steady stream of simulated callers and a small team of agents, so
the console has something to show (people waiting, agents ringing and talking, lost calls being
called back, half-hour reports filling in)."""
from __future__ import annotations

import random
import threading
from datetime import datetime
from typing import Any, Callable

from chalicelib.domain.queues import QueueDirectory

from .demo import caller_choices
from .network import CallerModel


class DemoLoad(threading.Thread):
    """Callers from the demo's list, as the stack's clock stands at each call: those a queue may call back
    now first (its countries, its hours, their calling window), so lost calls are recovered at any hour."""

    def __init__(self, network: Any, queues: QueueDirectory, now: Callable[[], datetime], agents: int = 3,
                 calls_per_minute: float = 4.0, seed: int = 7) -> None:
        super().__init__(name="demo-load", daemon=True)
        self.network = network
        self.queues = queues
        self.now = now  # the stack's clock (--clock moves it), never the wall clock
        self.agents = [f"agent{n + 1}" for n in range(agents)]
        self.rate = calls_per_minute / 60.0
        self.rng = random.Random(seed)
        self.stopping = threading.Event()

    def caller(self, n: int) -> tuple[str, str]:
        """The n-th caller's number and the queue number they dial: a number of their own (one ticket per
        caller), in the country and area of a demo caller a queue takes, one who can be called back now
        if any can."""
        choices = caller_choices(self.queues, self.now())
        if not choices:
            raise RuntimeError("no demo caller's country is allowed by any queue")
        ready = [c for c in choices if c["callback_now"]] or choices
        chosen = ready[n % len(ready)]
        return f"{chosen['from'][:-4]}{n % 10000:04d}", chosen["to"]

    def run(self) -> None:
        for name in self.agents:
            self.network.set_agent(name, "available", handle_seconds=150)
        n = 0
        while not self.stopping.wait(self.rng.expovariate(self.rate)):
            n += 1
            model = CallerModel(patience=self.rng.lognormvariate(4.6, 0.7), press_one=0.3, answer=0.85)
            frm, to = self.caller(n)
            self.network.dial_in(frm, to=to, model=model)
            if n % 15 == 0:  # someone takes a break, someone comes back: presence changes to watch
                name = self.rng.choice(self.agents)
                away = self.rng.random() < 0.5
                self.network.set_agent(name, "offline" if away else "available", handle_seconds=150)

    def stop(self) -> None:
        self.stopping.set()
