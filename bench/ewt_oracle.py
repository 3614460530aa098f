"""bench/ewt.py's oracle: the Monte Carlo conditional mean of a caller's wait given everything the
simulation knows (every elapsed talk time and wait ahead, the true distributions, the staffing)."""
from __future__ import annotations

import math

import numpy as np

from bench.ewt_scenarios import Dist, Scenario, shift_end


ORACLE_PATHS = 400


def oracle_mean(sc: Scenario, g: np.random.Generator, now: float, busy: dict[int, tuple[float, Dist]],
                free: list[int], ahead_waits: list[float], away: dict[int, float] | None = None) -> float | None:
    """Monte Carlo E[wait] of a caller with `ahead_waits` (elapsed waits of the live callers ahead);
    `away`: agents on a break and since when (the scenario's breaks follow calls at random)."""
    n, R = len(ahead_waits), ORACLE_PATHS
    fresh = sc.service(now)
    on = sc.staffing(now)
    joins = [(c, a) for c in sc.staffing_changes if c > now for a in range(sc.staffing(c - 1e-6), sc.staffing(c))]
    away = {a: since for a, since in (away or {}).items() if a < on}
    agents = len(busy) + len(free) + len(joins) + len(away)
    if agents == 0:
        return None
    renewals = int(math.ceil((n + 1) / max(1, on))) + 4
    columns: list[np.ndarray] = []

    def pause() -> np.ndarray | float:  # the break that may follow a call
        if sc.breaks is None:
            return 0.0
        return np.where(g.random(R) < sc.breaks[0], sc.breaks[1].above(g, 0.0, R), 0.0)

    def chain(first: np.ndarray, leaves: float) -> None:
        times = np.cumsum(np.concatenate([first[:, None], np.stack(
            [fresh.above(g, 0.0, R) + pause() for _ in range(renewals)], axis=1)], axis=1), axis=1)
        times[times > leaves - now] = np.inf  # a slot after the shift ends frees nobody for the line
        columns.append(times)

    for agent, (start, dist) in busy.items():
        chain(dist.above(g, now - start, R) - (now - start) + pause(), shift_end(sc, agent, now))
    for agent, since in away.items():
        chain(sc.breaks[1].above(g, now - since, R) - (now - since), shift_end(sc, agent, now))  # type: ignore[index]
    for agent in free:
        chain(np.zeros(R), shift_end(sc, agent, now))
    for c, agent in joins:
        chain(np.full(R, c - now), shift_end(sc, agent, c))
    slots = np.sort(np.concatenate(columns, axis=1), axis=1)[:, :n + 1]
    rows = np.arange(R)
    p = np.zeros(R, dtype=np.int64)
    for w in ahead_waits:
        left = (sc.patience.above(g, w, R) - w) if sc.patience is not None else np.full(R, np.inf)
        p += left >= slots[rows, p]  # present at their turn: takes that slot
        np.minimum(p, n, out=p)
    wait = slots[rows, p]
    if not np.all(np.isfinite(wait)):
        return None
    return float(wait.mean())
