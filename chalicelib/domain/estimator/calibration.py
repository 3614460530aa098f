"""Calibration of the told ranges: Kaplan-Meier over the PITs of what callers were told (abandoners
censored), per position band, shrunk toward the nominal levels and clamped."""
from __future__ import annotations

# Position bands calibrated separately: callers with 0, 1-4, 5-19 and 20+ ahead (after idle agents).
BAND_EDGES = (1, 5, 20)


def band_of(ahead: int) -> int:
    return sum(ahead >= edge for edge in BAND_EDGES)


class Calibration:
    """The distribution of outcomes' PIT values, Kaplan-Meier over `BINS` bins: a served caller's
    PIT is observed, an abandoner's is right-censored (their wait would have been longer). Weights
    decay with the estimator's, so calibration follows the day. If ranges are honest the PITs are
    uniform and the calibrated levels equal the nominal ones."""

    BINS = 40

    def __init__(self) -> None:
        self.events = [0.0] * self.BINS
        self.censored = [0.0] * self.BINS

    @property
    def weight(self) -> float:
        return sum(self.events) + sum(self.censored)

    def add(self, pit: float, observed: bool) -> None:
        b = min(self.BINS - 1, max(0, int(pit * self.BINS)))
        (self.events if observed else self.censored)[b] += 1.0

    def decay(self, keep: float) -> None:
        self.events = [w * keep for w in self.events]
        self.censored = [w * keep for w in self.censored]

    def raw_levels(self, coverage: float) -> tuple[float | None, float | None]:
        """Kaplan-Meier quantile levels covering `coverage` of outcomes; a side is None where the
        outcomes do not reach it (too few served callers, e.g. when most abandon)."""
        total = self.weight
        if total <= 0:
            return None, None
        tail = (1.0 - coverage) / 2.0
        at_risk, survival, cdf = total, 1.0, [0.0]
        for d, c in zip(self.events, self.censored):
            if at_risk > 1e-9:
                survival *= max(0.0, 1.0 - d / at_risk)
            at_risk -= d + c
            cdf.append(1.0 - survival)

        def inverse(p: float) -> float | None:  # the PIT level below which a share p of outcomes fall
            for b in range(self.BINS):
                if cdf[b + 1] >= p:
                    inside = (p - cdf[b]) / max(1e-12, cdf[b + 1] - cdf[b])
                    return (b + inside) / self.BINS
            return None

        return inverse(tail), inverse(1.0 - tail)


# Calibrated levels move from the nominal ones as evidence accumulates: weight w counts as
# w / (w + SHRINK_WEIGHT) of the way, so a small queue gets part of the correction, not none.
SHRINK_WEIGHT = 25.0

# Each tail's level stays within this factor of its nominal size: 80% ranges use levels within
# [0.033, 0.3] and [0.7, 0.967], never 1 - 1e-6.
CLAMP_FACTOR = 3.0


def shrunk_levels(cal: Calibration, coverage: float, toward: tuple[float, float]) -> tuple[float, float]:
    """`cal`'s levels pulled toward `toward` by its weight, each side clamped around the nominal tail."""
    tail = (1.0 - coverage) / 2.0
    k = cal.weight / (cal.weight + SHRINK_WEIGHT)
    raw_lo, raw_hi = cal.raw_levels(coverage)
    lo = toward[0] if raw_lo is None else toward[0] + k * (raw_lo - toward[0])
    hi = toward[1] if raw_hi is None else toward[1] + k * (raw_hi - toward[1])
    lo = min(max(lo, tail / CLAMP_FACTOR), min(0.5, tail * CLAMP_FACTOR))
    hi = max(min(hi, 1.0 - tail / CLAMP_FACTOR), max(0.5, 1.0 - tail * CLAMP_FACTOR))
    return lo, hi
