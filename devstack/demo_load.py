"""`make run ARGS=--demo-load`: a steady stream of simulated callers and a small team of agents, so
the console has something to show (people waiting, agents ringing and talking, lost calls being
called back, half-hour reports filling in)."""
from __future__ import annotations

import random
import threading
from typing import Any

from .network import CallerModel


class DemoLoad(threading.Thread):
    def __init__(self, network: Any, prefix: str, agents: int = 3, calls_per_minute: float = 4.0,
                 seed: int = 7) -> None:
        super().__init__(name="demo-load", daemon=True)
        self.network = network
        self.prefix = prefix  # callers in a time zone whose calling window is open now
        self.agents = [f"agent{n + 1}" for n in range(agents)]
        self.rate = calls_per_minute / 60.0
        self.rng = random.Random(seed)
        self.stopping = threading.Event()

    def run(self) -> None:
        for name in self.agents:
            self.network.set_agent(name, "available", handle_seconds=150)
        n = 0
        while not self.stopping.wait(self.rng.expovariate(self.rate)):
            n += 1
            model = CallerModel(patience=self.rng.lognormvariate(4.6, 0.7), press_one=0.3, answer=0.85)
            self.network.dial_in(f"{self.prefix}{n % 10000:04d}", model=model)
            if n % 15 == 0:  # someone takes a break, someone comes back: presence changes to watch
                name = self.rng.choice(self.agents)
                away = self.rng.random() < 0.5
                self.network.set_agent(name, "offline" if away else "available", handle_seconds=150)

    def stop(self) -> None:
        self.stopping.set()
