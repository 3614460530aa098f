"""Estimated wait time: the queue-length predictor with abandonment.

A caller with n others waiting ahead, s busy servers serving at rate mu each, and waiting
callers abandoning at rate theta each, moves up one place at rate s*mu + k*theta while k others
are still ahead. Their wait is hypoexponential: the sum of n+1 exponential stages with rates
r_k = s*mu + k*theta, k = n..0. Mean and variance are exact; the 80% range uses a gamma
distribution matched to them (exact for theta = 0, where the wait is Erlang)."""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class WaitEstimate:
    mean: float  # seconds
    low: float  # 10th percentile
    high: float  # 90th percentile
    p_served: float  # probability of being served before abandoning

    @classmethod
    def zero(cls) -> "WaitEstimate":
        return cls(0.0, 0.0, 0.0, 1.0)


def _lower_gamma_regularized(a: float, x: float) -> float:
    """P(a, x), the regularized lower incomplete gamma function (Numerical Recipes gammp)."""
    if x <= 0:
        return 0.0
    gln = math.lgamma(a)
    if x < a + 1.0:
        term = total = 1.0 / a
        ap = a
        for _ in range(1000):
            ap += 1.0
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-14:
                break
        return total * math.exp(-x + a * math.log(x) - gln)
    # continued fraction for Q(a, x)
    b = x + 1.0 - a
    c = 1.0 / 1e-300
    d = 1.0 / b
    h = d
    for i in range(1, 1000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = 1e-300 if abs(d) < 1e-300 else d
        c = b + an / c
        c = 1e-300 if abs(c) < 1e-300 else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-14:
            break
    return 1.0 - math.exp(-x + a * math.log(x) - gln) * h


def gamma_quantile(shape: float, scale: float, q: float) -> float:
    """Quantile of Gamma(shape, scale) by bisection on the CDF (monotone, so this always converges)."""
    lo, hi = 0.0, max(1.0, shape) * scale
    while _lower_gamma_regularized(shape, hi / scale) < q:
        hi *= 2.0
    for _ in range(100):
        mid = (lo + hi) / 2.0
        if _lower_gamma_regularized(shape, mid / scale) < q:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-6 * max(1.0, hi):
            break
    return (lo + hi) / 2.0


def queue_length_predictor(ahead: int, servers: int, mu: float, theta: float,
                           coverage: float = 0.8) -> WaitEstimate:
    """Wait of a caller with `ahead` callers waiting before them while all `servers` are busy."""
    if ahead < 0 or servers <= 0 or mu <= 0:
        raise ValueError("need ahead >= 0, servers > 0, mu > 0")
    rates = [servers * mu + k * theta for k in range(ahead + 1)]
    mean = sum(1.0 / r for r in rates)
    var = sum(1.0 / (r * r) for r in rates)
    shape, scale = mean * mean / var, var / mean
    tail = (1.0 - coverage) / 2.0
    p_served = 1.0
    for r in rates:
        p_served *= r / (r + theta)
    return WaitEstimate(mean=mean, low=gamma_quantile(shape, scale, tail),
                        high=gamma_quantile(shape, scale, 1.0 - tail), p_served=p_served)


def estimate_wait(ahead: int, staffed: int, idle: int, aht_seconds: float, patience_seconds: float,
                  coverage: float = 0.8) -> WaitEstimate:
    """EWT for a caller with `ahead` waiting before them.

    An idle agent for every caller ahead (and this one) means no wait."""
    if idle > ahead:
        return WaitEstimate.zero()
    servers = max(1, staffed)
    theta = 1.0 / patience_seconds if patience_seconds > 0 else 0.0
    # Idle agents take the first callers ahead at once; the rest wait for busy servers.
    return queue_length_predictor(ahead - idle, servers, 1.0 / aht_seconds, theta, coverage)
