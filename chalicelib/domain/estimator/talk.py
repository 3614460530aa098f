"""Talk-time models: the lognormal (`TalkTime`) learned from exponentially weighted sums (`Window`), the
histogram of finished talk times on a 1% log grid (`TalkHistogram`), and the two blended
(`LearnedTalkTime`)."""
from __future__ import annotations

import math
from typing import Any


_SQRT2 = math.sqrt(2.0)


def _phi(z: float) -> float:
    return 0.5 * math.erfc(-z / _SQRT2)


class Window:
    """Exponentially weighted sums of talk times: weight, sum x, sum x^2, sum ln x, sum (ln x)^2."""

    __slots__ = ("w", "sx", "sx2", "sl", "sl2")

    def __init__(self, w: float, sx: float, sx2: float, sl: float, sl2: float) -> None:
        self.w, self.sx, self.sx2, self.sl, self.sl2 = w, sx, sx2, sl, sl2

    @classmethod
    def prior(cls, mean: float, cv: float, weight: float) -> "Window":
        s2 = math.log(1.0 + cv * cv)
        mu = math.log(mean) - s2 / 2.0
        return cls(weight, weight * mean, weight * mean * mean * (1.0 + cv * cv), weight * mu, weight * (mu * mu + s2))

    def add(self, x: float) -> None:
        lx = math.log(max(x, 1e-3))
        self.w += 1.0
        self.sx += x
        self.sx2 += x * x
        self.sl += lx
        self.sl2 += lx * lx

    def scale(self, keep: float) -> None:
        self.w *= keep
        self.sx *= keep
        self.sx2 *= keep
        self.sl *= keep
        self.sl2 *= keep

    @property
    def mean(self) -> float:
        return self.sx / self.w

    @property
    def cv2(self) -> float:
        """Squared coefficient of variation (from the moments: it sets the renewal offset exactly)."""
        return max(1e-4, self.sx2 * self.w / (self.sx * self.sx) - 1.0)

    @property
    def log_mean(self) -> float:
        return self.sl / self.w

    @property
    def log_var(self) -> float:
        return max(1e-4, self.sl2 / self.w - self.log_mean ** 2)

    def as_list(self) -> list[float]:
        return [self.w, self.sx, self.sx2, self.sl, self.sl2]


class TalkTime:
    """A lognormal with mean m and squared coefficient of variation cv2: survival, partial expectations."""

    lognormal = True  # (`_Agents._first` inlines its survival)
    pure = None

    def __init__(self, mean: float, cv2: float) -> None:
        self.m = mean
        self.s2 = min(max(math.log1p(cv2), 1e-4), 3.0)
        self.s = math.sqrt(self.s2)
        self.mu = math.log(mean) - self.s2 / 2.0
        self.c2 = math.exp(self.s2) - 1.0
        self.kappa = (self.c2 - 1.0) / 2.0  # renewal offset: E N(t) ~ t/m + kappa
        self.m2 = math.exp(2 * self.mu + 2 * self.s2)  # E[X^2]
        self.m3 = math.exp(3 * self.mu + 4.5 * self.s2)  # E[X^3]

    def sf(self, x: float) -> float:
        if x <= 0:
            return 1.0
        return 0.5 * math.erfc((math.log(x) - self.mu) / (self.s * _SQRT2))

    def cdf(self, x: float) -> float:
        return 1.0 - self.sf(x)

    def pdf(self, x: float) -> float:
        if x <= 0:
            return 0.0
        z = (math.log(x) - self.mu) / self.s
        return math.exp(-0.5 * z * z) / (x * self.s * 2.5066282746310002)

    def lim_mean(self, x: float) -> float:
        """E[min(X, x)]."""
        if x <= 0:
            return 0.0
        lx = math.log(x)
        return self.m * _phi((lx - self.mu - self.s2) / self.s) + x * self.sf(x)

    def lim_second(self, x: float) -> float:
        """E[min(X, x)^2]."""
        if x <= 0:
            return 0.0
        lx = math.log(x)
        return self.m2 * _phi((lx - self.mu - 2 * self.s2) / self.s) + x * x * self.sf(x)


# --- the learned (empirical) talk-time distribution -------------------------------------------------

# Finished talk times are counted on a log grid: bin 0 holds [0, 1 s), bin i >= 1 holds
# [r^(i-1), r^i) with r = 1.01 (1% wide: the edges of a 480-600 s spread fall within 5 s), up to a
# day; longer calls count in the last bin. Inside a bin the density is flat, so survival is
# piecewise linear. The state keeps the occupied bins only (a few dozen to a few hundred).
HIST_RATIO = 1.01
_HIST_LR = math.log(HIST_RATIO)
_HIST_ILR = 1.0 / _HIST_LR
HIST_BINS = 2 + int(math.log(86400.0) / _HIST_LR)
_HIST_EDGES = [0.0] + [HIST_RATIO ** i for i in range(HIST_BINS)]  # bin i is [_HIST_EDGES[i], _HIST_EDGES[i + 1])


def hist_bin(x: float) -> int:
    return 0 if x < 1.0 else min(HIST_BINS - 1, 1 + int(math.log(x) / _HIST_LR))


class _Shape:
    """A normalised histogram with flat density in each bin: survival and partial expectations in
    O(1) per point (cumulative sums precomputed over the occupied bins)."""

    __slots__ = ("lo", "hi", "a", "width", "p", "cdf", "lim1", "lim2", "mean", "m2", "m3",
                 "start", "end", "last", "surv", "dens")

    def __init__(self, weights: list[float]) -> None:
        occupied = [i for i, w in enumerate(weights) if w > 0]
        self.lo, self.hi = occupied[0], occupied[-1]
        total = sum(weights)
        self.a, self.width, self.p, self.cdf, self.lim1, self.lim2 = [], [], [], [], [], []
        f = m3 = 0.0
        i1, i2 = _HIST_EDGES[self.lo], _HIST_EDGES[self.lo] ** 2  # nothing ends before the first occupied bin
        for i in range(self.lo, self.hi + 1):
            a, b = _HIST_EDGES[i], _HIST_EDGES[i + 1]
            p = weights[i] / total
            self.a.append(a)
            self.width.append(b - a)
            self.p.append(p)
            self.cdf.append(f)
            self.lim1.append(i1)  # E[min(X, a)]
            self.lim2.append(i2)  # E[min(X, a)^2]
            s = 1.0 - f  # survival at a; within the bin it falls linearly by p
            i1 += s * (b - a) - p * (b - a) / 2.0
            i2 += s * (b * b - a * a) - 2.0 * p / (b - a) * ((b ** 3 - a ** 3) / 3.0 - a * (b * b - a * a) / 2.0)
            m3 += p * (b ** 4 - a ** 4) / (4.0 * (b - a))
            f += p
        self.mean, self.m2, self.m3 = i1, i2, m3
        self.start, self.end, self.last = _HIST_EDGES[self.lo], _HIST_EDGES[self.hi + 1], self.hi - self.lo
        self.surv = [1.0 - f for f in self.cdf]
        self.dens = [p / w for p, w in zip(self.p, self.width)]

    def sf(self, x: float) -> float:
        j = hist_bin(x) - self.lo
        if j < 0:
            return 1.0
        if j > self.hi - self.lo:
            return 0.0
        return max(0.0, 1.0 - self.cdf[j] - self.p[j] * (x - self.a[j]) / self.width[j])

    def sf_lim(self, x: float) -> tuple[float, float]:
        """sf(x) and lim_mean(x) at once (the estimator's innermost loop: one bin lookup)."""
        if x < self.start:
            return 1.0, x
        if x >= self.end:
            return 0.0, self.mean
        j = (int(math.log(x) * _HIST_ILR) + 1 if x >= 1.0 else 0) - self.lo
        j = 0 if j < 0 else self.last if j > self.last else j  # (rounding at a bin's edge)
        d = x - self.a[j]
        s, pw = self.surv[j], self.dens[j]
        sf = s - pw * d
        return (sf if sf > 0.0 else 0.0), self.lim1[j] + d * (s - 0.5 * pw * d)

    def lim_mean(self, x: float) -> float:
        """E[min(X, x)]."""
        j = hist_bin(x) - self.lo
        if j < 0:
            return x
        if j > self.hi - self.lo:
            return self.mean
        d = x - self.a[j]
        return self.lim1[j] + (1.0 - self.cdf[j]) * d - self.p[j] * d * d / (2.0 * self.width[j])

    def lim_second(self, x: float) -> float:
        """E[min(X, x)^2]."""
        j = hist_bin(x) - self.lo
        if j < 0:
            return x * x
        if j > self.hi - self.lo:
            return self.m2
        a, k = self.a[j], self.p[j] / self.width[j]
        return (self.lim2[j] + (1.0 - self.cdf[j]) * (x * x - a * a)
                - 2.0 * k * ((x ** 3 - a ** 3) / 3.0 - a * (x * x - a * a) / 2.0))


class TalkHistogram:
    """Finished talk times on the log grid, weighted as the long window weights them (decaying with
    the same half-life). Decay multiplies one factor, not every bin; the normalised shape is built
    once per change of the counts and cached (decay leaves it as it is)."""

    def __init__(self) -> None:
        self.raw = [0.0] * HIST_BINS
        self.factor = 1.0  # true weight = raw * factor
        self.raw_total = 0.0
        self._shape: _Shape | None = None

    @property
    def weight(self) -> float:
        return self.raw_total * self.factor

    def add(self, x: float) -> None:
        self.raw[hist_bin(x)] += 1.0 / self.factor
        self.raw_total += 1.0 / self.factor
        self._shape = None

    def scale(self, keep: float) -> None:
        self.factor *= keep
        if self.factor < 1e-100:  # fold the factor in before raw weights overflow
            self.raw = [w * self.factor for w in self.raw]
            self.raw_total *= self.factor
            self.factor = 1.0

    def shape(self) -> _Shape | None:
        if self._shape is None and self.raw_total > 0:
            self._shape = _Shape(self.raw)
        return self._shape

    def as_state(self) -> dict[str, Any]:
        """Sparse: the first occupied bin and the weights from there, to 6 significant digits; bins
        that have faded below a millionth of the total drop out (the state stays bounded)."""
        floor = 1e-6 * self.raw_total
        w = [float(f"{v * self.factor:.6g}") if v > floor else 0.0 for v in self.raw]
        occupied = [i for i, v in enumerate(w) if v > 0]
        if not occupied:
            return {"lo": 0, "w": []}
        return {"lo": occupied[0], "w": w[occupied[0]:occupied[-1] + 1]}

    @classmethod
    def from_state(cls, saved: dict[str, Any] | None) -> "TalkHistogram":
        hist = cls()
        if saved:
            lo = int(saved["lo"])
            for i, v in enumerate(saved["w"]):
                if 0 <= lo + i < HIST_BINS and float(v) > 0:
                    hist.raw[lo + i] = float(v)
            hist.raw_total = sum(hist.raw)
        return hist


class LearnedTalkTime:
    """The talk-time distribution the estimate uses: the learned histogram's shape scaled to mean m
    (so a change the windows follow moves it at once), blended with the lognormal of the same mean
    while the histogram has few calls (weight w / (w + HIST_PRIOR) on the histogram; the lognormal
    is left out once its share is below 2%). Same interface as TalkTime."""

    lognormal = False

    def __init__(self, shape: _Shape, weight: float, mean: float, cv2: float) -> None:
        self.logn = TalkTime(mean, cv2)
        self.shape = shape
        self.c = mean / shape.mean  # the histogram scaled to the learned mean
        w = weight / (weight + HIST_PRIOR)
        self.w = 1.0 if w > 0.98 else w
        self.pure = shape if self.w == 1.0 else None  # the histogram alone (`_Agents._first` inlines it)
        self.inv_c = 1.0 / self.c
        self.m = mean
        self.mu, self.s2, self.s = self.logn.mu, self.logn.s2, self.logn.s  # the tail beyond every call seen
        c, w, ln = self.c, self.w, self.logn
        self.m2 = w * c * c * shape.m2 + (1.0 - w) * ln.m2
        self.m3 = w * c ** 3 * shape.m3 + (1.0 - w) * ln.m3
        self.c2 = max(1e-4, self.m2 / (mean * mean) - 1.0)
        self.kappa = (self.c2 - 1.0) / 2.0

    def sf(self, x: float) -> float:
        if self.w == 1.0:
            return self.shape.sf(x / self.c)
        return self.w * self.shape.sf(x / self.c) + (1.0 - self.w) * self.logn.sf(x)

    def cdf(self, x: float) -> float:
        return 1.0 - self.sf(x)

    def sf_lim(self, x: float) -> tuple[float, float]:
        """(sf(x), lim_mean(x))."""
        sf, lim = self.shape.sf_lim(x * self.inv_c)
        if self.w == 1.0:
            return sf, self.c * lim
        return (self.w * sf + (1.0 - self.w) * self.logn.sf(x),
                self.w * self.c * lim + (1.0 - self.w) * self.logn.lim_mean(x))

    def lim_mean(self, x: float) -> float:
        if self.w == 1.0:
            return self.c * self.shape.lim_mean(x / self.c)
        return self.w * self.c * self.shape.lim_mean(x / self.c) + (1.0 - self.w) * self.logn.lim_mean(x)

    def lim_second(self, x: float) -> float:
        if self.w == 1.0:
            return self.c * self.c * self.shape.lim_second(x / self.c)
        return (self.w * self.c * self.c * self.shape.lim_second(x / self.c)
                + (1.0 - self.w) * self.logn.lim_second(x))


def mean_residual(talk: TalkTime | LearnedTalkTime, elapsed: float) -> float:
    """E[X - e | X > e]: how much longer a call that has lasted `elapsed` is expected to go on."""
    sf = talk.sf(elapsed)
    return (talk.m - talk.lim_mean(elapsed)) / sf if sf > 1e-12 else 0.0


# The histogram counts as this many calls' worth of doubt: below it the lognormal carries weight.
HIST_PRIOR = 20.0
HIST_MAX_C2 = 0.1  # squared cv above which the lognormal stands for talk times (see `WaitEstimator.talk_time`)
