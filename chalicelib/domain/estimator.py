"""Online wait estimation for one queue: the same object serves production and simulation.

`observe` takes what the queue does (arrivals, service starts and ends, abandonments, staffing
changes, each with its timestamp); `estimate(now, position)` answers with the mean, an 80% range
and the probability of being served, from the queue-length predictor with abandonment:

    E[W | n ahead] = sum_{k=0..n} 1 / (s*mu + k*theta)

mu is learned from service durations, theta from abandonments over all waiting exposure (served
callers' waits count as exposure too: estimating patience from abandoners alone would be biased).
Both are exponentially weighted in time (half-life `half_life_seconds`, 4 h by default), so the
estimate follows service and patience as they drift; arrivals and staffing enter through the queue
length and the current staffing. The range also carries the uncertainty of the learned rates. The state is a handful of numbers (`state()` /
`from_state()`), small enough to keep per queue in one DynamoDB item."""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .ewt import WaitEstimate, queue_length_predictor


class QueueEventKind(str, Enum):
    ARRIVAL = "arrival"
    SERVICE_START = "service_start"  # value: how long the caller waited
    SERVICE_END = "service_end"  # value: how long the service took
    ABANDON = "abandon"  # value: how long the caller waited before giving up
    STAFFING = "staffing"  # value: agents now signed in


@dataclass(frozen=True)
class QueueEvent:
    kind: QueueEventKind
    at: float  # seconds (epoch in production, virtual time in simulation)
    value: float = 0.0
    # For SERVICE_START / ABANDON: where the wait fell in the distribution the caller was given
    # (WaitEstimate.pit); it calibrates later ranges. None when the caller was told nothing.
    pit: float | None = None


class Calibration:
    """The distribution of outcomes' PIT values, Kaplan-Meier over `BINS` bins: a served caller's
    PIT is observed, an abandoner's is right-censored (their wait would have been longer). Weights
    decay with the estimator's, so calibration follows the day. If ranges are honest the PITs are
    uniform and the calibrated levels equal the nominal ones."""

    BINS = 40
    MIN_WEIGHT = 200.0  # outcomes needed before calibrated levels replace nominal ones

    def __init__(self) -> None:
        self.events = [0.0] * self.BINS
        self.censored = [0.0] * self.BINS

    def add(self, pit: float, observed: bool) -> None:
        b = min(self.BINS - 1, max(0, int(pit * self.BINS)))
        (self.events if observed else self.censored)[b] += 1.0

    def decay(self, keep: float) -> None:
        self.events = [w * keep for w in self.events]
        self.censored = [w * keep for w in self.censored]

    def levels(self, coverage: float) -> tuple[float, float] | None:
        """Quantile levels of the model distribution that cover `coverage` of outcomes."""
        total = sum(self.events) + sum(self.censored)
        if total < self.MIN_WEIGHT:
            return None
        tail = (1.0 - coverage) / 2.0
        at_risk, survival, cdf = total, 1.0, [0.0]
        for d, c in zip(self.events, self.censored):
            if at_risk > 0:
                survival *= 1.0 - d / at_risk
            at_risk -= d + c
            cdf.append(1.0 - survival)

        def inverse(p: float) -> float:  # the PIT level below which a share p of outcomes fall
            for b in range(self.BINS):
                if cdf[b + 1] >= p:
                    inside = (p - cdf[b]) / max(1e-12, cdf[b + 1] - cdf[b])
                    return (b + inside) / self.BINS
            return 1.0 - 1e-6

        lo, hi = inverse(tail), inverse(1.0 - tail)
        return (min(max(lo, 1e-6), 0.5), max(min(hi, 1 - 1e-6), 0.5))


class WaitEstimator:
    def __init__(self, prior_service_seconds: float = 300.0, prior_patience_seconds: float = 600.0,
                 half_life_seconds: float = 4 * 3600.0, prior_weight: float = 5.0, staffed: int = 1) -> None:
        self.decay_rate = math.log(2) / half_life_seconds
        # Weighted sums: service durations and their count; waiting exposure and abandonments.
        # Priors act as `prior_weight` pseudo-observations until real ones outweigh them.
        self.service_sum = prior_service_seconds * prior_weight
        self.service_n = prior_weight
        self.exposure = prior_patience_seconds * prior_weight
        self.abandons = prior_weight
        self.staffed = staffed
        self.updated_at: float | None = None
        self.calibration = Calibration()

    # --- learning ------------------------------------------------------------------------------

    def _age(self, at: float) -> None:
        if self.updated_at is not None and at > self.updated_at:
            keep = math.exp(-self.decay_rate * (at - self.updated_at))
            self.service_sum *= keep
            self.service_n *= keep
            self.exposure *= keep
            self.abandons *= keep
            self.calibration.decay(keep)
        self.updated_at = at if self.updated_at is None else max(self.updated_at, at)

    def observe(self, event: QueueEvent) -> None:
        self._age(event.at)
        if event.kind is QueueEventKind.SERVICE_END:
            self.service_sum += event.value
            self.service_n += 1
        elif event.kind is QueueEventKind.SERVICE_START:
            self.exposure += event.value
            if event.pit is not None:
                self.calibration.add(event.pit, observed=True)
        elif event.kind is QueueEventKind.ABANDON:
            self.exposure += event.value
            self.abandons += 1
            if event.pit is not None:
                self.calibration.add(event.pit, observed=False)
        elif event.kind is QueueEventKind.STAFFING:
            self.staffed = max(0, int(event.value))

    @property
    def mu(self) -> float:
        return self.service_n / self.service_sum

    @property
    def theta(self) -> float:
        return self.abandons / self.exposure

    # --- answering -----------------------------------------------------------------------------

    def estimate(self, now: float, position: int, idle: int = 0, servers: int | None = None,
                 coverage: float = 0.8) -> WaitEstimate:
        """EWT for the caller at `position` (1 = next), with `idle` agents free right now."""
        ahead = position - 1
        if idle > ahead:
            return WaitEstimate.zero()
        s = max(1, servers if servers is not None else self.staffed)
        # Relative standard errors of the learned rates: 1/sqrt(effective observations).
        return queue_length_predictor(ahead - idle, s, self.mu, self.theta, coverage,
                                      mu_cv=1 / math.sqrt(self.service_n), theta_cv=1 / math.sqrt(self.abandons),
                                      levels=self.calibration.levels(coverage))

    # --- persistence ---------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {"service_sum": self.service_sum, "service_n": self.service_n, "exposure": self.exposure,
                "abandons": self.abandons, "staffed": self.staffed, "updated_at": self.updated_at,
                "decay_rate": self.decay_rate, "cal_events": [round(w, 4) for w in self.calibration.events],
                "cal_censored": [round(w, 4) for w in self.calibration.censored]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "WaitEstimator":
        est = cls()
        for key in ("service_sum", "service_n", "exposure", "abandons", "decay_rate"):
            setattr(est, key, float(state[key]))
        est.updated_at = None if state.get("updated_at") is None else float(state["updated_at"])
        est.staffed = int(state.get("staffed", 1))
        est.calibration.events = [float(w) for w in state.get("cal_events", est.calibration.events)]
        est.calibration.censored = [float(w) for w in state.get("cal_censored", est.calibration.censored)]
        return est
