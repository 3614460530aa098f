"""The line-wait formula: the hypoexponential stages 1/(1 + k theta') of the caller's wait in
departure-count time, and the gamma fitted to a distribution's quantiles."""
from __future__ import annotations

import math

from ..ewt import gamma_quantile


# The unit gamma's log quantiles at a tail level, tabulated over log shape (`_log_quantiles`): the
# fit below searches the table, not the incomplete gamma function (the caller next in line's range
# took 3 ms of gamma quantiles per estimate). Linear interpolation on this grid errs by ~1e-4 in log.
_LOG_K_LO, _LOG_K_HI, _LOG_K_STEP = math.log(0.2), math.log(1600.0), 0.04
_TABLES: dict[float, tuple[list[float], list[float]]] = {}


def _log_quantiles(tail: float) -> tuple[list[float], list[float]]:
    """ln Q(k, tail) and ln Q(k, 1 - tail) of Gamma(k, 1) on the log-shape grid (built once per tail)."""
    table = _TABLES.get(tail)
    if table is None:
        ks = [math.exp(_LOG_K_LO + i * _LOG_K_STEP)
              for i in range(int((_LOG_K_HI - _LOG_K_LO) / _LOG_K_STEP) + 2)]
        table = ([math.log(max(gamma_quantile(k, 1.0, tail), 1e-300)) for k in ks],
                 [math.log(gamma_quantile(k, 1.0, 1.0 - tail)) for k in ks])
        _TABLES[tail] = table
    return table


def fit_gamma_shape(mean: float, tail: float, q_lo: float, q_hi: float, start: float = 1.0) -> float:
    """The shape of the gamma with this mean whose quantiles at `tail` and 1 - `tail` come
    closest (in log) to q_lo and q_hi: golden-section search over log shape."""
    lows, highs = _log_quantiles(tail)
    log_mean = math.log(mean)
    targets = (math.log(max(q_lo, 1e-9)) - log_mean, math.log(max(q_hi, 1e-9)) - log_mean)
    last = len(lows) - 2

    def misfit(log_k: float) -> float:  # quantiles of Gamma(k, mean / k): ln Q(k, .) + ln mean - ln k
        x = (log_k - _LOG_K_LO) / _LOG_K_STEP
        i = min(last, max(0, int(x)))
        f = x - i
        lo = lows[i] + f * (lows[i + 1] - lows[i]) - log_k
        hi = highs[i] + f * (highs[i + 1] - highs[i]) - log_k
        return (max(lo, -27.6) - targets[0]) ** 2 + (hi - targets[1]) ** 2  # (-27.6: ln 1e-12, as before)

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
