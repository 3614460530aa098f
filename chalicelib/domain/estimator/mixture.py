"""Talk times of two kinds: a two-component lognormal mixture fitted by EM to the queue's finished
calls (the histogram, weighted as it decays) and its calls still going (right-censored at their
elapsed time), kept only where it fits clearly better than one lognormal (BIC) and its humps are
apart; `MixtureTalkTime` then stands for talk times (same interface as `TalkTime`), so a busy
agent's residual follows the hump its call has outlasted."""
from __future__ import annotations

import math
from typing import Sequence

from .talk import _HIST_EDGES, _SQRT2, _phi

EM_STEPS = 40  # fixed: the fit's cost is bounded (a few ms on ~100 points)
FIT_GROUP = 4  # histogram bins (1% each) merged into one point of the fit
BIC_MARGIN = 10.0  # the mixture's BIC must beat one lognormal's by this ("very strong" evidence)
MIN_SEPARATION = 2.0  # humps apart by at least this many (larger) log standard deviations
MIN_SHARE = 0.05  # the smaller hump holds at least this share
MIN_CALLS = 60.0  # weighted calls before a mixture is fitted at all
MIN_SIGMA = 0.05

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)

Component = tuple[float, float, float]  # (weight, mu, sigma) of ln(talk time)


def _mills(z: float) -> float:
    """phi(z) / (1 - Phi(z))."""
    tail = 0.5 * math.erfc(z / _SQRT2)
    if tail < 1e-300 or z > 30.0:
        return z + 1.0 / max(z, 1e-9)
    return math.exp(-0.5 * z * z - _LOG_SQRT_2PI) / tail


def _log_pdf(y: float, mu: float, s: float) -> float:
    z = (y - mu) / s
    return -0.5 * z * z - math.log(s) - _LOG_SQRT_2PI


def _log_sf(c: float, mu: float, s: float) -> float:
    return math.log(max(0.5 * math.erfc((c - mu) / (s * _SQRT2)), 1e-300))


def _shares(logs: list[float]) -> tuple[list[float], float]:
    """Each component's share of one observation from its log joint likelihoods, and their log-sum."""
    top = max(logs)
    r = [math.exp(v - top) for v in logs]
    tot = sum(r)
    return [v / tot for v in r], top + math.log(tot)


def _em(done: Sequence[tuple[float, float]], going: Sequence[tuple[float, float]],
        comps: list[Component]) -> tuple[list[Component], float]:
    """EM for a lognormal mixture on ln(talk time): `done` (log talk time, weight) finished calls,
    `going` (log elapsed, weight) calls still going. A censored call's share of each component is
    by its survival there, and it contributes the component's moments beyond its elapsed time
    (those of a truncated normal). Returns the components and the log-likelihood."""
    k = len(comps)
    loglik = -math.inf
    for step in range(EM_STEPS + 1):
        sw = [0.0] * k
        s1 = [0.0] * k
        s2 = [0.0] * k
        loglik = 0.0
        for y, w in done:
            shares, ll = _shares([math.log(p) + _log_pdf(y, mu, s) for p, mu, s in comps])
            loglik += w * ll
            for j in range(k):
                rw = w * shares[j]
                sw[j] += rw
                s1[j] += rw * y
                s2[j] += rw * y * y
        for c, w in going:
            shares, ll = _shares([math.log(p) + _log_sf(c, mu, s) for p, mu, s in comps])
            loglik += w * ll
            for j, (_, mu, s) in enumerate(comps):
                rw = w * shares[j]
                z = (c - mu) / s
                lam = _mills(z)
                ey = mu + s * lam
                vy = s * s * max(1e-6, 1.0 + z * lam - lam * lam)
                sw[j] += rw
                s1[j] += rw * ey
                s2[j] += rw * (vy + ey * ey)
        if step == EM_STEPS:
            break
        total = sum(sw)
        new = []
        for j in range(k):
            if sw[j] <= 1e-9:
                return comps, -math.inf  # a component emptied: no mixture here
            mu = s1[j] / sw[j]
            new.append((sw[j] / total, mu, math.sqrt(max(MIN_SIGMA ** 2, s2[j] / sw[j] - mu * mu))))
        comps = new
    return comps, loglik


def fit_mixture(raw: Sequence[float], factor: float, elapsed: Sequence[float]) -> list[Component] | None:
    """The two-hump fit of talk times from the histogram's raw bin weights (true weight = raw *
    `factor`) and the elapsed times of calls in progress; None where one lognormal does as well
    (by BIC with a margin), the humps overlap, or there are too few calls."""
    done: list[tuple[float, float]] = []
    for start in range(1, len(raw), FIT_GROUP):  # (bin 0, under a second, is left out)
        w = sum(raw[start:start + FIT_GROUP]) * factor
        if w > 1e-9:
            lo, hi = _HIST_EDGES[start], _HIST_EDGES[min(start + FIT_GROUP, len(_HIST_EDGES) - 1)]
            done.append((0.5 * (math.log(lo) + math.log(hi)), w))
    going = [(math.log(e), 1.0) for e in elapsed if e >= 1.0]
    n = sum(w for _, w in done) + len(going)
    if n < MIN_CALLS or len(done) < 3:
        return None
    return fit_points(done, going, n)


def fit_points(done: Sequence[tuple[float, float]], going: Sequence[tuple[float, float]],
               n: float | None = None) -> list[Component] | None:
    """`fit_mixture` on points of ln(talk time) (finished, weight) and ln(elapsed) (going, weight)."""
    if n is None:
        n = sum(w for _, w in done) + sum(w for _, w in going)
    wsum = sum(w for _, w in done)
    mean = sum(y * w for y, w in done) / wsum
    sd = math.sqrt(max(MIN_SIGMA ** 2, sum(w * (y - mean) ** 2 for y, w in done) / wsum))
    one, ll1 = _em(done, going, [(1.0, mean, sd)])
    # start the humps at the finished calls' quartiles (the lower and upper halves' centres)
    ordered = sorted(done)
    acc, q1, q3 = 0.0, ordered[0][0], ordered[-1][0]
    for y, w in ordered:
        if acc < 0.25 * wsum <= acc + w:
            q1 = y
        if acc < 0.75 * wsum <= acc + w:
            q3 = y
        acc += w
    two, ll2 = _em(done, going, [(0.5, q1, sd / 2.0), (0.5, q3, sd / 2.0)])
    if not math.isfinite(ll2):
        return None
    bic_gain = 2.0 * (ll2 - ll1) - 3.0 * math.log(max(n, 2.0))  # 5 parameters against 2
    two.sort(key=lambda c: c[1])
    (p1, mu1, sd1), (p2, mu2, sd2) = two
    if bic_gain < BIC_MARGIN or min(p1, p2) < MIN_SHARE or mu2 - mu1 < MIN_SEPARATION * max(sd1, sd2):
        return None
    return two


def mixture_mean(comps: Sequence[Component]) -> float:
    return sum(p * math.exp(mu + s * s / 2.0) for p, mu, s in comps)


class MixtureTalkTime:
    """A lognormal mixture scaled to mean m: survival and partial expectations as sums over its
    components. Same interface as `TalkTime`; `mu`/`s` are the longest hump's (the tail beyond
    every call seen)."""

    lognormal = False
    pure = None

    def __init__(self, comps: Sequence[Component], mean: float) -> None:
        shift = math.log(mean / mixture_mean(comps))
        self.parts = [(p, mu + shift, s, s * s, p * math.exp(mu + shift + s * s / 2.0),
                       p * math.exp(2 * (mu + shift) + 2 * s * s)) for p, mu, s in comps]
        self.m = sum(part[4] for part in self.parts)
        self.m2 = sum(part[5] for part in self.parts)
        self.m3 = sum(p * math.exp(3 * mu + 4.5 * s2) for p, mu, _, s2, _, _ in self.parts)
        self.c2 = max(1e-4, self.m2 / (self.m * self.m) - 1.0)
        self.kappa = (self.c2 - 1.0) / 2.0
        tail = max(self.parts, key=lambda part: part[1])
        self.mu, self.s, self.s2 = tail[1], tail[2], tail[3]

    def sf(self, x: float) -> float:
        if x <= 0:
            return 1.0
        lx = math.log(x)
        return sum(p * 0.5 * math.erfc((lx - mu) / (s * _SQRT2)) for p, mu, s, _, _, _ in self.parts)

    def cdf(self, x: float) -> float:
        return 1.0 - self.sf(x)

    def sf_lim(self, x: float) -> tuple[float, float]:
        """(sf(x), lim_mean(x))."""
        if x <= 0:
            return 1.0, 0.0
        lx = math.log(x)
        erfc = math.erfc
        if len(self.parts) == 2:  # (unrolled: the estimator's inner loops call this)
            (p1, mu1, s1, _, pm1, _), (p2, mu2, s2, _, pm2, _) = self.parts
            z1, z2 = (lx - mu1) / (s1 * _SQRT2), (lx - mu2) / (s2 * _SQRT2)
            sf = 0.5 * (p1 * erfc(z1) + p2 * erfc(z2))
            return sf, 0.5 * (pm1 * erfc(s1 / _SQRT2 - z1) + pm2 * erfc(s2 / _SQRT2 - z2)) + x * sf
        sf = lim = 0.0
        for p, mu, s, s2, pm, _ in self.parts:
            z = (lx - mu) / s
            sk = p * 0.5 * erfc(z / _SQRT2)
            sf += sk
            lim += pm * _phi(z - s) + x * sk
        return sf, lim

    def lim_mean(self, x: float) -> float:
        """E[min(X, x)]."""
        return self.sf_lim(x)[1]

    def lim_second(self, x: float) -> float:
        """E[min(X, x)^2]."""
        if x <= 0:
            return 0.0
        lx = math.log(x)
        out = 0.0
        for p, mu, s, s2, _, pm2 in self.parts:
            z = (lx - mu) / s
            out += pm2 * _phi(z - 2 * s) + x * x * p * 0.5 * math.erfc(z / _SQRT2)
        return out
