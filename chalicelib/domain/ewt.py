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
    low: float  # lower end of the range (10th percentile for 80%)
    high: float  # upper end (90th percentile for 80%)
    p_served: float  # probability of being served before abandoning
    shape: float = 0.0  # the gamma the range came from (0: no wait), kept to score the outcome later
    scale: float = 0.0
    ahead: int | None = None  # callers counted ahead (after idle agents): the range's position band
    klass: int | None = None  # the caller's priority class, if the estimate was for one (its calibration)

    @classmethod
    def zero(cls) -> "WaitEstimate":
        return cls(0.0, 0.0, 0.0, 1.0)

    def pit(self, wait: float) -> float:
        """Where an observed wait fell in this estimate's distribution (0..1)."""
        if self.shape <= 0 or self.scale <= 0:
            return 1.0 if wait > 0 else 0.0
        return _lower_gamma_regularized(self.shape, wait / self.scale)


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


# Acklam's rational approximation of the normal quantile (relative error < 1.2e-9): central (a/b)
# and tail (c/d) coefficients. The benchmark's vectorised version uses the same ones.
ACKLAM = ((-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02,
           -3.066479806614716e+01, 2.506628277459239e+00),
          (-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01,
           -1.328068155288572e+01),
          (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00,
           4.374664141464968e+00, 2.938163982698783e+00),
          (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00))


def _normal_quantile(q: float) -> float:
    """Acklam's rational approximation (relative error < 1.2e-9)."""
    a, b, c, d = ACKLAM
    if q < 0.02425:
        r = math.sqrt(-2 * math.log(q))
        return (((((c[0] * r + c[1]) * r + c[2]) * r + c[3]) * r + c[4]) * r + c[5]) / \
            ((((d[0] * r + d[1]) * r + d[2]) * r + d[3]) * r + 1)
    if q > 1 - 0.02425:
        return -_normal_quantile(1 - q)
    r = (q - 0.5) ** 2
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * (q - 0.5) / \
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)


def gamma_quantile(shape: float, scale: float, q: float) -> float:
    """Quantile of Gamma(shape, scale): Wilson-Hilferty start, Newton steps on the exact CDF,
    bisection as the fallback that always converges."""
    z = _normal_quantile(q)
    c = 1.0 / (9.0 * shape)
    x = shape * max(1e-3, 1.0 - c + z * math.sqrt(c)) ** 3  # in units of scale
    log_norm = math.lgamma(shape)
    for _ in range(8):
        cdf = _lower_gamma_regularized(shape, x)
        pdf = math.exp((shape - 1.0) * math.log(x) - x - log_norm) if x > 0 else 0.0
        if pdf <= 0:
            break
        step = (cdf - q) / pdf
        x_new = x - step
        if x_new <= 0:
            break
        x = x_new
        if abs(step) < 1e-9 * max(1.0, x):
            return x * scale
    lo, hi = 0.0, max(1.0, shape)
    while _lower_gamma_regularized(shape, hi) < q:
        hi *= 2.0
    for _ in range(100):
        mid = (lo + hi) / 2.0
        if _lower_gamma_regularized(shape, mid) < q:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-9 * max(1.0, hi):
            break
    return (lo + hi) / 2.0 * scale


def queue_length_predictor(ahead: int, servers: int, mu: float, theta: float,
                           coverage: float = 0.8, mu_cv: float = 0.0, theta_cv: float = 0.0,
                           levels: tuple[float, float] | None = None) -> WaitEstimate:
    """Wait of a caller with `ahead` callers waiting before them while all `servers` are busy.

    mu_cv and theta_cv are the relative standard errors of the rate estimates; their effect on the
    mean (delta method) widens the range, so that a range from few observations is honest about it.
    `levels` replaces the nominal quantile levels by calibrated ones (see estimator.Calibration)."""
    if ahead < 0 or servers <= 0 or mu <= 0:
        raise ValueError("need ahead >= 0, servers > 0, mu > 0")
    rates = [servers * mu + k * theta for k in range(ahead + 1)]
    mean = sum(1.0 / r for r in rates)
    var = sum(1.0 / (r * r) for r in rates)
    if mu_cv or theta_cv:
        d_mu = sum(servers * mu / (r * r) for r in rates)  # |d mean / d log mu|
        d_theta = sum(k * theta / (r * r) for k, r in enumerate(rates))  # |d mean / d log theta|
        var += (d_mu * mu_cv) ** 2 + (d_theta * theta_cv) ** 2
    shape, scale = mean * mean / var, var / mean
    tail = (1.0 - coverage) / 2.0
    lo_level, hi_level = levels if levels is not None else (tail, 1.0 - tail)
    p_served = 1.0
    for r in rates:
        p_served *= r / (r + theta)
    return WaitEstimate(mean=mean, low=gamma_quantile(shape, scale, lo_level),
                        high=gamma_quantile(shape, scale, hi_level), p_served=p_served, shape=shape, scale=scale)
