"""The line-wait formula: the hypoexponential stages 1/(1 + k theta') of the caller's wait in
departure-count time, and the gamma fitted to a distribution's quantiles."""
from __future__ import annotations

import math

from ..ewt import gamma_quantile


def fit_gamma_shape(mean: float, tail: float, q_lo: float, q_hi: float, start: float = 1.0) -> float:
    """The shape of the gamma with this mean whose quantiles at `tail` and 1 - `tail` come
    closest (in log) to q_lo and q_hi: golden-section search over log shape."""
    targets = (math.log(max(q_lo, 1e-9)), math.log(max(q_hi, 1e-9)))

    def misfit(log_k: float) -> float:
        k = math.exp(log_k)
        lo, hi = gamma_quantile(k, mean / k, tail), gamma_quantile(k, mean / k, 1.0 - tail)
        return (math.log(max(lo, 1e-12)) - targets[0]) ** 2 + (math.log(max(hi, 1e-12)) - targets[1]) ** 2

    a, b = math.log(0.2), math.log(max(0.5, min(400.0, 4.0 * start)))
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = misfit(c), misfit(d)
    for _ in range(18):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = misfit(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = misfit(d)
    return math.exp((a + b) / 2.0)


def _stages(n: int, theta: float) -> tuple[float, float, float, float]:
    """Over k = 0..n, with r = 1/(1+k theta): sum r, sum r^2, sum k theta r^2 (d/d log theta) and
    sum k theta r^3 (the part of the variance that abandonments, not departures, contribute)."""
    if theta <= 0:
        return n + 1.0, n + 1.0, 0.0, 0.0
    if n <= 200:
        mean = var = sens = ab = 0.0
        for k in range(n + 1):
            r = 1.0 / (1.0 + k * theta)
            mean += r
            var += r * r
            sens += k * theta * r * r
            ab += k * theta * r * r * r
        return mean, var, sens, ab
    # Euler-Maclaurin: integral + end corrections (error far below a second at these n)
    end = 1.0 + n * theta
    mean = math.log(end) / theta + (1.0 + 1.0 / end) / 2.0 + theta * (1.0 - 1.0 / end ** 2) / 12.0
    var = n / end + (1.0 + 1.0 / end ** 2) / 2.0 + theta * (1.0 - 1.0 / end ** 3) / 6.0
    sens = (math.log(end) + 1.0 / end - 1.0) / theta + (n * theta / end ** 2) / 2.0
    ab = (1.0 - 1.0 / end) ** 2 / (2.0 * theta) + (n * theta / end ** 3) / 2.0
    return mean, var, sens, ab
