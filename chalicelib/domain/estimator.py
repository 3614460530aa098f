"""Online wait estimation for one queue: the same object serves production and simulation.

`observe` takes what the queue does (arrivals, service starts and ends, abandonments, staffing
changes, each with its timestamp); `estimate(now, position, busy=...)` answers with the mean, a
range and the probability of being served.

The model, in three parts:

1. Talk times are learned online as a lognormal (the mean from the arithmetic mean of finished
   calls, the spread from their second moment, so the renewal offset below is right whatever the
   shape) and as a histogram of finished talk times on a 1% log grid (`TalkHistogram`). Up to cv^2
   HIST_MAX_C2 the estimate uses the histogram's shape scaled to the learned mean, blended with the
   lognormal while it holds few calls (`LearnedTalkTime`); heavier tails keep the lognormal.
   Two windows learn side by side, a long one (half-life `half_life_seconds`, 4 h) and a short one
   (10 min); a two-sided CUSUM of each call's standardised log talk time against the long window
   raises an alarm on a lasting shift, and the long window then adopts the short one (counted as a
   few calls). Before that, calls begun lately (weighted by when they began) estimate a shift of the
   log talk time by a censored likelihood: a finished call counts by its talk time, a call still in
   progress by having lasted its elapsed time, so calls lasting longer than the learned distribution
   says reveal a change before any of them ends. The shift counts as far as it stands out of its
   noise (soft threshold), so a stationary queue keeps its long memory.
2. Departures (an agent freeing up for the line) are counted from what every agent is doing now:
   a busy agent's call has lasted `elapsed` seconds, so its residual is the talk-time distribution
   conditioned on lasting longer; after it the agent serves fresh calls (for regular talk times the
   j-th ends at the residual plus j talk times, normal: `_Agents._agent_regular`); else the next one counted by its
   own distribution (a fresh lognormal call rarely ends in its first minutes), the later ones at rate
   1/m with the asymptotic offset (c^2-1)/2 (reached slowly when talk times are heavy-tailed). An agent who has
   announced a sign-off frees nobody after it; one expected to sign in frees a place when they do.
   M(t), the expected number of departures within t, is a sum over agents grouped by elapsed time.
   Elapsed times count as far as talk times look lognormal: for memoryless-like ones (many very
   short calls, log-spread far above ln(1 + cv^2)) agents are counted as anywhere in their calls.
3. The caller with n ahead needs the (n+1)-th departure, less those ahead who abandon. Patience is
   learned per waiting-time bin (abandonments over all waiting exposure, served callers' too), and
   those ahead abandon at the rate of the waits they have (the head of the line's wait bounds
   them). In departure-count time this is the hypoexponential sum of stages 1/(1 + k theta'),
   theta' = theta / departure rate; the mean wait is M^-1 of that count (half a step earlier where
   departures are regular; a second-order term where they slow down; the exact first departure for
   the caller next in line, whose range is fitted to that distribution's own quantiles). Up to
   INTEGRATE_MAX ahead with regular talk times the wait's distribution is integrated instead
   (`_Agents.wait_moments`): departures and abandonments among those ahead against n + 1, normal
   with continuity correction. Its variance: departures' share scaled by their index of dispersion
   (Poisson only for exponential talk times), abandonments' share as it is, mapped through M'
   (delta method), widened by the uncertainty of the learned rates. The range is a gamma matched
   to mean and variance, at quantile levels calibrated online per position band (Kaplan-Meier over
   the PITs of what callers were told, abandoners censored), each band shrunk toward the nominal
   levels (not toward the pooled calibration, which is mostly another band's error) and clamped,
   so that few or one-sided outcomes cannot run away (issue 9 item 20).

The state is a few dozen numbers and the histogram's occupied bins (`state()` / `from_state()`;
states saved before the histogram load with an empty one), kept per queue in one store item."""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Any, NamedTuple, Sequence

from .ewt import WaitEstimate, gamma_quantile


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
    # How many were ahead of the caller when told (its position band is calibrated on its own); None: unknown.
    ahead: int | None = None


class BusyAgent(NamedTuple):
    """An agent on a call: how long the call has lasted (None: unknown) and, if they announced a
    sign-off, in how many seconds they stop taking calls (None: not announced)."""

    elapsed: float | None
    leaves_in: float | None = None


# Patience is learned per waiting-time bin (seconds): abandonments over exposure in each.
AGE_EDGES = (0.0, 30.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, math.inf)


def _age_bins(wait: float) -> list[tuple[int, float]]:
    """(bin, seconds spent in it) for a wait that lasted `wait`."""
    out = []
    for b in range(len(AGE_EDGES) - 1):
        lo, hi = AGE_EDGES[b], AGE_EDGES[b + 1]
        if wait <= lo:
            break
        out.append((b, min(wait, hi) - lo))
    return out


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
FIT_TAIL = 0.1  # the next caller's gamma is fitted to the first departure's 10% and 90% quantiles
MODEL_CV = 0.08  # relative model error assumed in every range (beyond the count's and the rates' own)

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


# --- talk times ------------------------------------------------------------------------------------

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


REGULAR_C2 = 0.1  # talk times up to this squared cv count later calls as sums (see `_Agents._agent_regular`)
LIGHT_C2 = 1.5  # talk times up to this squared cv count their next call exactly (see `_Agents._agent`)


class _Agents:
    """Busy agents grouped by elapsed time, and agents expected to sign in: M(t) and its variance."""

    def __init__(self, talk: TalkTime | LearnedTalkTime, busy: Sequence[BusyAgent], joining: Sequence[float] = (),
                 trust: float = 1.0) -> None:
        self.talk = talk
        self._bump_weight = min(1.0, max(0.0, (talk.c2 - 0.1) / 0.2))  # see `_agent`
        self._fast = not talk.lognormal and talk.pure is not None and talk.c2 <= LIGHT_C2  # see `_agent_hist`
        # agents expected to sign in (seconds from now): a free agent then, fresh calls after
        self.joining: dict[int, list[float]] = {}
        for d in joining:
            slot = self.joining.setdefault(int(max(0.0, d) / (talk.m / 20.0)), [0.0, 0.0])
            slot[0] += 1.0
            slot[1] += max(0.0, d)
        # elapsed times closer than this share a group: finer where talk times are regular
        quantum = talk.m * min(0.1, max(0.05, math.sqrt(talk.c2) / 2.0))
        groups: dict[tuple[int, int], list[float]] = {}
        for agent in busy:
            e = -1.0 if agent.elapsed is None else max(0.0, agent.elapsed)
            h = math.inf if agent.leaves_in is None else max(0.0, agent.leaves_in)
            # `trust`: the share of each agent counted from their elapsed time, the rest as unknown
            for weight, ee in ((trust, e), (1.0 - trust, -1.0)) if e >= 0 and trust < 1.0 else ((1.0, e),):
                if weight <= 0:
                    continue
                key = (-1 if ee < 0 else int(ee / quantum if ee < 4 * talk.m else 80 + math.log(ee / (4 * talk.m)) * 10),
                       -1 if h == math.inf else int(h / quantum))
                g = groups.get(key)
                if g is None:
                    groups[key] = [weight, ee * weight, h]
                else:
                    g[0] += weight
                    g[1] += ee * weight
                    g[2] = min(g[2], h)
        # (count, elapsed, leaves_in, S(elapsed), E[min(X, elapsed)], Var(residual) / m^2 capped)
        self.groups: list[tuple[float, float | None, float, float, float, float]] = []
        self._lines: list[tuple[float, float]] = []  # per group: mean residual, when it has surely ended
        self._resid: list[tuple[float, float]] = []  # per group: mean and variance of the residual
        # Regular talk times (cv^2 <= REGULAR_C2): each agent's later calls end at the residual plus
        # whole talk times, spread as their sum (see `_agent_regular`), not on a straight line.
        self.regular = talk.c2 <= REGULAR_C2
        for n, e_sum, h in groups.values():
            e = e_sum / n
            if e < 0:
                self.groups.append((n, None, h, 1.0, 0.0, self._spread(None, 1.0)))
            else:
                sa = talk.sf(e)
                self.groups.append((n, e, h, sa, talk.lim_mean(e), self._spread(e, sa)))
        # agents who will still be serving a talk time from now: they set the pace of the line
        self.capacity = sum(g[0] for g in self.groups if g[2] >= talk.m)
        # Once every current call has surely ended (and nobody signs off or in), each agent's expected
        # count is the straight line 1 + (t + kappa m - r)/m (regular or exponential-like talk times):
        # estimates far down the line then cost O(1) per step.
        self.linear_after = math.inf
        if talk.c2 <= LIGHT_C2 and not self.regular and not self.joining and all(g[2] == math.inf for g in self.groups):
            self.linear_after = max((done for _, done in self._lines), default=0.0) - talk.kappa * talk.m
            n_total = sum(g[0] for g in self.groups)
            r_sum = sum(g[0] * r for g, (r, _) in zip(self.groups, self._lines))
            self._n_total, self._r_mean = n_total, r_sum / max(n_total, 1e-9)
            spread_sum = sum(g[0] * g[5] for g in self.groups)
            self._slope = n_total / talk.m
            self._base = n_total * (1.0 + talk.kappa) - r_sum / talk.m  # M(t) = base + slope t
            self._var_base = spread_sum + talk.c2 * (self._base - n_total)

    def _residual(self, e: float | None, sa: float) -> tuple[float, float]:
        """Mean and variance of the residual talk time of a call that has lasted e (None: unknown)."""
        talk = self.talk
        if e is None:  # equilibrium residual: E[X^2]/(2m) and E[X^3]/(3m) - (E[X^2]/(2m))^2
            mean_r = talk.m2 / (2 * talk.m)
            return mean_r, max(0.0, talk.m3 / (3 * talk.m) - mean_r ** 2)
        if sa < 1e-12:
            rho = max(1.0, e * talk.s2 / max(talk.s2, math.log(max(e, 1e-9)) - talk.mu))
            return rho, rho * rho
        tail1 = talk.m - (talk.lim_mean(e) - e * sa)  # E[X; X > e]
        tail2 = talk.m2 - (talk.lim_second(e) - e * e * sa)  # E[X^2; X > e]
        mean_r = tail1 / sa - e
        return mean_r, max(0.0, (tail2 - 2 * e * tail1 + e * e * sa) / sa - mean_r ** 2)

    def _spread(self, e: float | None, sa: float) -> float:
        """Variance of the residual talk time over m^2, capped at max(1, cv^2): how much the random
        end of the current call moves the count of the calls after it. (Also notes when the
        agent's count becomes a straight line: see `count`.)"""
        mean_r, var_r = self._residual(e, sa)
        self._lines.append((mean_r, mean_r + 8.0 * math.sqrt(var_r)))
        self._resid.append((mean_r, var_r))
        return min(max(1.0, self.talk.c2), var_r / self.talk.m ** 2)

    def _first(self, e: float | None, sa: float, psi_a: float, t: float) -> tuple[float, float]:
        """(G(t), I(t)): P(first completion <= t) and its integral over [0, t]."""
        talk = self.talk
        if t <= 0:
            return 0.0, 0.0
        if e is None:  # unknown elapsed: the equilibrium residual
            lm = talk.lim_mean(t)
            return lm / talk.m, (t * lm - 0.5 * talk.lim_second(t)) / talk.m
        if sa < 1e-12:  # beyond what the model has seen: a short exponential residual (Mills ratio)
            rho = max(1.0, e * talk.s2 / max(talk.s2, math.log(max(e, 1e-9)) - talk.mu))
            g = 1.0 - math.exp(-t / rho)
            return g, t - rho * g
        x = e + t
        if not talk.lognormal:
            shape = talk.pure
            if shape is None:
                sf, lim_mean = talk.sf_lim(x)
                return 1.0 - sf / sa, t - (lim_mean - psi_a) / sa
            # (the histogram's sf_lim inlined, as the lognormal's below)
            y = x * talk.inv_c
            j = (0 if y < 1.0 else min(HIST_BINS - 1, 1 + int(math.log(y) * _HIST_ILR))) - shape.lo
            if j < 0:
                return 0.0, 0.0  # (no call ends before the first occupied bin)
            if j > shape.hi - shape.lo:
                return 1.0, t - (talk.m - psi_a) / sa
            d = y - shape.a[j]
            s, pw = 1.0 - shape.cdf[j], shape.p[j] / shape.width[j]
            return 1.0 - max(0.0, s - pw * d) / sa, t - (talk.c * (shape.lim1[j] + s * d - pw * d * d / 2.0) - psi_a) / sa
        # (lim_mean inlined: this is the estimator's innermost loop)
        z = (math.log(x) - talk.mu) / (talk.s * _SQRT2)
        sf = 0.5 * math.erfc(z)
        lim_mean = talk.m * 0.5 * math.erfc(talk.s / _SQRT2 - z) + x * sf
        return 1.0 - sf / sa, t - (lim_mean - psi_a) / sa

    def count(self, t: float) -> tuple[float, float]:
        """Expected departures within t and their variance."""
        talk = self.talk
        if t >= self.linear_after:  # (plus what the fresh calls' slow start still holds back: see `_agent`)
            return (self._base + self._slope * t + self._n_total * self._bump(t - self._r_mean),
                    self._var_base + talk.c2 * self._slope * t)
        mean = var = 0.0
        if self.regular:
            for (n, e, h, sa, psi_a, _), (r, vr) in zip(self.groups, self._resid):
                m_i, v_i = self._agent_regular(e, sa, psi_a, min(t, h), r, vr)
                mean += n * m_i
                var += n * v_i
            for n, d_sum in self.joining.values():
                d = d_sum / n
                if t > d:
                    m_i, v_i = self._agent_regular(0.0, 1.0, 0.0, t - d, talk.m, talk.c2 * talk.m ** 2)
                    mean += n * (1.0 + m_i)
                    var += n * v_i
            return mean, var
        for n, e, h, sa, psi_a, spread in self.groups:
            g, renewals = self._agent(e, sa, psi_a, min(t, h))
            mean += n * (g + renewals)
            var += n * (g * (1.0 - g) + talk.c2 * renewals + spread * g * g)
        for n, d_sum in self.joining.values():
            d = d_sum / n
            if t > d:
                g, renewals = self._agent(0.0, 1.0, 0.0, t - d)
                mean += n * (1.0 + g + renewals)
                var += n * (g * (1.0 - g) + talk.c2 * renewals)
        return mean, var

    def first_departure(self, scale: float, points: int = 400,
                        levels: Sequence[float] = ()) -> tuple[float, float, list[float]]:
        """Mean and variance of the first departure, exactly: the shortest of the calls in progress
        (nothing else can end first), and its quantiles at `levels`. Trapezoid rule in steps of
        scale/16 until no call is left (quantiles interpolated between the steps)."""
        step = max(scale, 1.0) / 16.0
        m1 = m2 = 0.0
        previous = 1.0
        wanted = sorted(levels)
        quantiles: list[float] = []
        for i in range(1, points + 1):
            t = i * step
            alive = 1.0
            for n, e, h, sa, psi_a, _ in self.groups:
                alive *= (1.0 - self._first(e, sa, psi_a, min(t, h))[0]) ** n
            for _n, d_sum in self.joining.values():
                if t >= d_sum / _n:
                    alive = 0.0
            m1 += step * (previous + alive) / 2.0
            m2 += step * ((t - step) * previous + t * alive)  # 2 * integral of t * P(T > t)
            while len(quantiles) < len(wanted) and 1.0 - alive >= wanted[len(quantiles)]:
                q = wanted[len(quantiles)]
                quantiles.append(t - step * (1.0 - (q - (1.0 - previous)) / max(previous - alive, 1e-12)))
            previous = alive
            if alive < 1e-6:
                break
        quantiles += [t] * (len(wanted) - len(quantiles))
        return m1, max(m2 - m1 * m1, 1e-6), quantiles

    def _bump(self, since: float) -> float:
        """U(r) - (r + kappa m)^+ / m at r = `since` (see `_agent`): F(r) - E[min(X, r + kappa m)] / m."""
        if self._bump_weight <= 0 or since <= 0:
            return 0.0
        talk = self.talk
        if not talk.lognormal:
            sf = talk.sf_lim(since)[0]
            return self._bump_weight * (1.0 - sf - talk.sf_lim(max(0.0, since + talk.kappa * talk.m))[1] / talk.m)
        return self._bump_weight * (talk.cdf(since) - talk.lim_mean(max(0.0, since + talk.kappa * talk.m)) / talk.m)

    def _agent_regular(self, e: float | None, sa: float, psi_a: float, t: float, r: float,
                       vr: float) -> tuple[float, float]:
        """One agent's departures within t, mean and variance, for regular talk times: the current
        call ends at its residual (exactly, G(t)); the j-th call after it at residual + j talk times,
        normal with variance vr + j sigma^2 (a sum of regular calls is close to normal). The events
        "k calls have ended" are nested, so E N^2 = sum (2k - 1) P(k ended)."""
        if t <= 0:
            return 0.0, 0.0
        talk = self.talk
        g = self._first(e, sa, psi_a, t)[0]
        mean = second = g
        m, s2 = talk.m, talk.c2 * talk.m * talk.m
        fit = (t - r) / m  # calls after the current one that fit in t, on average
        if fit > -1.0:
            width = 6.0 * math.sqrt(vr + max(fit, 1.0) * s2) / m + 1.0
            j_lo = max(1, int(fit - width))  # calls before j_lo have surely ended
            mean += j_lo - 1.0
            second += j_lo * j_lo - 1.0  # sum of (2k - 1) over k = 2..j_lo
            for j in range(j_lo, int(fit + width) + 2):
                p = 0.5 * math.erfc((r + j * m - t) / math.sqrt(2.0 * (vr + j * s2)))
                if p < 1e-12:
                    break
                mean += p
                second += (2 * j + 1) * p
        return mean, max(0.0, second - mean * mean)

    def _agent_hist(self, e: float, sa: float, psi_a: float, t: float) -> tuple[float, float]:
        """`_agent` for the learned histogram alone and light tails: the same sums, lookups inlined."""
        talk = self.talk
        look, ic, c, m, shift = talk.pure.sf_lim, talk.inv_c, talk.c, talk.m, talk.kappa * talk.m
        sf, lim = look((e + t) * ic)
        g = 1.0 - sf / sa
        renewals = 0.0
        if t + shift > 0:
            renewals = (t + shift - (c * look((e + t + shift) * ic)[1] - psi_a) / sa) / m
        if g > 1e-12 and self._bump_weight > 0:
            since = (t - (c * lim - psi_a) / sa) / g
            if since > 0:
                renewals += g * self._bump_weight * (
                    1.0 - look(since * ic)[0] - c * look(max(0.0, since + shift) * ic)[1] / m)
        return g, max(0.0, renewals)

    def _agent(self, e: float | None, sa: float, psi_a: float, t: float) -> tuple[float, float]:
        """One agent: P(its current call ends within t) and the expected calls after it that do."""
        talk = self.talk
        if self._fast and e is not None and sa >= 1e-12 and t > 0:
            return self._agent_hist(e, sa, psi_a, t)
        g, integral = self._first(e, sa, psi_a, t)
        if talk.c2 <= LIGHT_C2:
            # Calls after the first: the renewal function U(r) = F(r) + E[(r - X + kappa m)^+] / m, the
            # next call exactly and the rest at their asymptotic rate (exact for exponential talk times;
            # a fresh lognormal call rarely ends early, so U stays below r/m + kappa for a talk time or
            # two), taken as I(t + kappa m) / m, its straight-line part, plus the bump at the mean time
            # since the first call ended. Regular talk times (cv^2 below 0.1) keep the straight line: there
            # F is a step as wide as the spread of the first end, and F at its mean time is no average of F.
            shifted = t + talk.kappa * talk.m
            renewals = self._first(e, sa, psi_a, shifted)[1] / talk.m if shifted > 0 else 0.0
            if g > 1e-12 and self._bump_weight > 0:
                renewals += g * self._bump(integral / g)
            return g, max(0.0, renewals)
        # heavy tails approach the offset slowly: about as the equilibrium residual's CDF squared
        # (F_e^2, checked against simulated lognormal renewals, cv 1.5-3), taken at the mean
        # time since the first completion, I(t)/G(t)
        since = integral / g if g > 1e-12 else 0.0
        return g, integral / talk.m + talk.kappa * g * (talk.lim_mean(since) / talk.m) ** 2

    def wait_moments(self, n: int, theta: float, near: float, slope: float,
                     points: int = 24) -> tuple[float, float]:
        """Mean and variance of the wait of a caller with n ahead: the time T at which the departures
        N(t) and the abandonments among those ahead A(t) reach n + 1. P(T > t) = P(N(t) + A(t) <= n),
        taken as normal with continuity correction (N: mean M(t), variance V(t); A: Poisson-like, its
        mean growing at `theta` per caller still ahead), integrated on a grid around `near` (~E T)."""
        target = n + 0.5
        spread = math.sqrt(max(self.count(near)[1] + theta * near * n, 1e-6)) / max(slope, 1e-9)
        lo = max(0.0, near - 6.0 * spread - 1.0 / max(slope, 1e-9))
        hi = near + 6.0 * spread + 1.0
        m_lo = self.count(lo)[0] if lo > 0 else 0.0
        # abandonments up to `lo`: those ahead leave at theta each while M rises (taken as linear) to m_lo
        ahead_lo = max(0.0, n - m_lo)
        abandoned = theta * lo * (n + ahead_lo) / 2.0 if lo > 0 else 0.0
        abandoned = min(abandoned, float(n))
        step = (hi - lo) / points
        m1, m2 = lo, lo * lo  # below `lo` the line surely has not moved enough: P(T > t) = 1
        m, v = m_lo, (self.count(lo)[1] if lo > 0 else 0.0)
        t, previous = lo, None
        while True:
            tail = 0.5 * math.erfc((m + abandoned - target) / math.sqrt(2.0 * max(v + abandoned, 1e-9)))
            if previous is not None:
                m1 += step * (previous + tail) / 2.0
                m2 += step * ((t - step) * previous + t * tail)
            previous = tail
            if (t >= hi and tail < 1e-4) or t > 20.0 * (near + self.talk.m):  # surely reached by now
                break
            t += step
            m, v = self.count(t)
            abandoned += theta * step * max(0.0, n - m - abandoned)
        return m1, max(m2 - m1 * m1, 1e-6)

    def invert(self, target: float, near: float | None = None) -> tuple[float, float, float, float]:
        """t with M(t) = target, M'(t) and M''(t) there, and the index of dispersion of the count.
        `near`: a time known to be close (narrows the first bracket)."""
        talk = self.talk
        rate = max(self.capacity, 1.0) / talk.m
        lo, m_lo = 0.0, 0.0
        if near is not None and near > 1.0:
            m_near = self.count(0.95 * near)[0]
            if m_near <= target:
                lo, m_lo = 0.95 * near, m_near
        hi = max(1.0, lo + max(1.0, (target - m_lo) / rate) * 1.2)
        m_hi, v_hi = self.count(hi)
        steps = 0
        while m_hi < target and steps < 60:
            lo, m_lo = hi, m_hi
            hi = hi * 2.0 + talk.m
            m_hi, v_hi = self.count(hi)
            steps += 1
        if m_hi < target:  # everyone signs off before this caller's turn: they wait for the next shift
            return hi + (target - m_hi) * talk.m, 1.0 / talk.m, 0.0, 1.0
        # Illinois regula falsi on a monotone function
        f_lo, f_hi, side = m_lo - target, m_hi - target, 0
        t, v = hi, v_hi
        for _ in range(40):
            t = hi - f_hi * (hi - lo) / (f_hi - f_lo) if f_hi != f_lo else (lo + hi) / 2.0
            m_t, v = self.count(t)
            f_t = m_t - target
            if abs(f_t) < 1e-3 or hi - lo < 0.05:
                break
            if f_t > 0:
                hi, f_hi = t, f_t
                if side == 1:
                    f_lo /= 2.0
                side = 1
            else:
                lo, f_lo = t, f_t
                if side == -1:
                    f_hi /= 2.0
                side = -1
        step = max(1.0, 0.02 * t)
        before, after = self.count(max(0.0, t - step))[0], self.count(t + step)[0]
        slope = (after - before) / (t + step - max(0.0, t - step))
        curvature = (after - 2.0 * target + before) / (step * step) if t > step else 0.0
        return t, max(slope, 1e-9), curvature, v / max(target, 1e-9)


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


def _mills(u: float) -> float:
    """phi(u) / (1 - Phi(u)): d/d(shift) of the log survival of a standard normal at u."""
    if u > 30.0:
        return u + 1.0 / u
    tail = 0.5 * math.erfc(u / _SQRT2)
    return math.exp(-0.5 * u * u) / (2.5066282746310002 * tail) if tail > 1e-300 else u


class WaitEstimator:
    CUSUM_K, CUSUM_H = 0.25, 16.0  # change detection: allowance and alarm level, in standard deviations
    SHORT_HALF_LIFE = 600.0
    MIN_SHORT = 15.0  # calls the short window needs before it may overrule the long one
    ADOPTED_WEIGHT = 10.0  # calls an adopted short window counts as: the calls after the change soon outweigh it
    # Calls that began recently (weight exp(-age / RECENT_TAU) by when they began) estimate a shift of
    # the log talk time, those still going as censored: evidence of a change before any of them ends.
    CAL_DECAY_RATE = math.log(2) / (24 * 3600.0)
    RECENT_TAU = 480.0
    RECENT_PRIOR = 3.0  # pseudo-calls at no shift
    HIST_ADOPTED = 30.0  # calls the histogram counts as after a change is adopted
    SHIFT_Z = 1.5
    INTEGRATE_MAX = 60  # callers ahead up to which the wait's distribution is integrated (see `estimate`)  # a shift counts from this many standard errors on (soft threshold, see `estimate`)

    def __init__(self, prior_service_seconds: float = 300.0, prior_patience_seconds: float = 600.0,
                 half_life_seconds: float = 4 * 3600.0, prior_weight: float = 5.0, staffed: int = 1,
                 prior_service_cv: float = 1.0) -> None:
        self.decay_rate = math.log(2) / half_life_seconds
        self.short_decay_rate = math.log(2) / self.SHORT_HALF_LIFE
        # Priors act as `prior_weight` pseudo-observations until real ones outweigh them.
        self.talk_long = Window.prior(prior_service_seconds, prior_service_cv, prior_weight)
        self.talk_short = Window.prior(prior_service_seconds, prior_service_cv, min(prior_weight, 2.0))
        self.exposure = prior_patience_seconds * prior_weight
        self.abandons = prior_weight
        self.age_exposure = [0.0] * (len(AGE_EDGES) - 1)
        self.age_abandons = [0.0] * (len(AGE_EDGES) - 1)
        self.staffed = staffed
        self.updated_at: float | None = None
        self.calibration = Calibration()  # pooled over positions (and outcomes without a band)
        self.bands = [Calibration() for _ in range(len(BAND_EDGES) + 1)]
        self.changes = 0  # talk-time changes adopted (for reports)
        self.cusum_up = self.cusum_down = 0.0
        # finished calls weighted by when they began: sum of weights, of weight * ln(talk time)
        self.recent_w = self.recent_l = self.recent_w2 = 0.0  # (and of weight squared)
        self.hist = TalkHistogram()  # finished talk times (the learned distribution's shape)

    # --- learning ------------------------------------------------------------------------------

    def _age(self, at: float) -> None:
        if self.updated_at is not None and at > self.updated_at:
            dt = at - self.updated_at
            keep = math.exp(-self.decay_rate * dt)
            self.talk_long.scale(keep)
            self.talk_short.scale(math.exp(-self.short_decay_rate * dt))
            self.hist.scale(keep)
            self.exposure *= keep
            self.abandons *= keep
            self.age_exposure = [w * keep for w in self.age_exposure]
            self.age_abandons = [w * keep for w in self.age_abandons]
            # ranges' shape errors change slowly: calibration keeps a day's outcomes (each band needs many)
            keep_cal = math.exp(-self.CAL_DECAY_RATE * dt)
            self.calibration.decay(keep_cal)
            for band in self.bands:
                band.decay(keep_cal)
            fade = math.exp(-dt / self.RECENT_TAU)
            self.recent_w *= fade
            self.recent_l *= fade
            self.recent_w2 *= fade * fade
        self.updated_at = at if self.updated_at is None else max(self.updated_at, at)

    def _talk_ended(self, seconds: float) -> None:
        long, short = self.talk_long, self.talk_short
        # Two-sided CUSUM of the standardised log talk time against the long window: a lasting shift
        # of half a standard deviation raises an alarm after some 70 calls, steady noise about once in 10,000 or more.
        z = (math.log(max(seconds, 1e-3)) - long.log_mean) / math.sqrt(long.log_var)
        self.cusum_up = max(0.0, self.cusum_up + z - self.CUSUM_K)
        self.cusum_down = max(0.0, self.cusum_down - z - self.CUSUM_K)
        long.add(seconds)
        short.add(seconds)
        self.hist.add(seconds)
        began = math.exp(-seconds / self.RECENT_TAU)
        self.recent_w += began
        self.recent_w2 += began * began
        self.recent_l += began * math.log(max(seconds, 1e-3))
        if max(self.cusum_up, self.cusum_down) > self.CUSUM_H and short.w >= self.MIN_SHORT and long.w >= 50:
            adopted = Window(short.w, short.sx, short.sx2, short.sl, short.sl2)
            adopted.scale(min(1.0, self.ADOPTED_WEIGHT / short.w))
            self.talk_long = adopted
            # the shape learned before the change counts as a few calls too (it is rescaled to the new mean)
            self.hist.scale(min(1.0, self.HIST_ADOPTED / max(self.hist.weight, 1e-9)))
            self.cusum_up = self.cusum_down = 0.0
            self.changes += 1

    def _outcome(self, pit: float | None, ahead: int | None, observed: bool) -> None:
        if pit is None:
            return
        self.calibration.add(pit, observed)
        if ahead is not None:
            self.bands[band_of(ahead)].add(pit, observed)

    def observe(self, event: QueueEvent) -> None:
        self._age(event.at)
        if event.kind is QueueEventKind.SERVICE_END:
            self._talk_ended(max(event.value, 1.0))
        elif event.kind is QueueEventKind.SERVICE_START:
            self._waited(event.value, abandoned=False)
            self._outcome(event.pit, event.ahead, observed=True)
        elif event.kind is QueueEventKind.ABANDON:
            self._waited(event.value, abandoned=True)
            self._outcome(event.pit, event.ahead, observed=False)
        elif event.kind is QueueEventKind.STAFFING:
            self.staffed = max(0, int(event.value))

    @property
    def mu(self) -> float:
        return 1.0 / self.talk_long.mean

    def _waited(self, wait: float, abandoned: bool) -> None:
        self.exposure += wait
        self.abandons += abandoned
        spent = _age_bins(wait)
        for b, seconds in spent:
            self.age_exposure[b] += seconds
        if abandoned and spent:
            self.age_abandons[spent[-1][0]] += 1.0

    @property
    def theta(self) -> float:
        return self.abandons / self.exposure

    def theta_ahead(self, head_wait: float, t: float, points: int = 8) -> float:
        """The abandonment rate of callers ahead over the next t seconds: they have waited from 0
        (just ahead) to `head_wait` (the head of the line), taken as spread evenly between, and a
        caller who has waited w abandons over the next t at the mean hazard from w to w + t."""
        if t <= 0:
            return self.theta_until(head_wait)
        def cumulative(age: float) -> float:
            return age * self.theta_until(age)
        total = 0.0
        for i in range(points):
            w = head_wait * (i + 0.5) / points
            total += cumulative(w + t) - cumulative(w)
        return total / (points * t)

    def theta_until(self, age: float) -> float:
        """The abandonment rate averaged over waits from 0 to `age`: the rate of callers ahead who
        have waited up to `age`. Each bin is shrunk toward the bin before it (the first toward the
        overall rate), by as much exposure as holds two abandonments at the overall rate: the hazard of patience changes smoothly with the wait,
        and a bin few callers reach (the longest waits) carries the last well-learned rate on."""
        theta = self.theta
        prior = 2.0 / theta  # the exposure in which the overall rate expects two abandonments
        cumulative = 0.0
        for b, seconds in _age_bins(age):
            theta = (self.age_abandons[b] + prior * theta) / (self.age_exposure[b] + prior)
            cumulative += seconds * theta
        return cumulative / age if age > 0 else self.theta

    def talk_time(self, shift: float = 0.0) -> TalkTime | LearnedTalkTime:
        """The talk-time distribution: the learned histogram (blended with the lognormal while it
        holds few calls), scaled to the long window's mean moved by `shift` (log). Only regular
        talk times (cv^2 up to HIST_MAX_C2) use it: wider-spread ones keep the lognormal, whose tail
        is smooth and reaches beyond the longest call seen, where the histogram's is thin and jagged
        and the residual of a long call in progress depends on it (the benchmark's lognormal
        scenarios lost 0.1-0.2 of their efficiency with the histogram, its regular ones gained)."""
        mean = self.talk_long.mean * math.exp(shift)
        shape = self.hist.shape() if self.talk_long.cv2 <= HIST_MAX_C2 else None
        if shape is None:
            return TalkTime(mean, self.talk_long.cv2)
        return LearnedTalkTime(shape, self.hist.weight, mean, self.talk_long.cv2)

    def recent_shift(self, now: float, busy: Sequence[BusyAgent]) -> tuple[float, float]:
        """The shift of the log talk time of calls begun lately (weighted by exp(-age / RECENT_TAU))
        against the long window, and its standard error: a censored lognormal likelihood in which a
        finished call counts by its talk time and a call still going by having lasted `elapsed`."""
        mu0, var = self.talk_long.log_mean, self.talk_long.log_var
        sigma = math.sqrt(var)
        going = []
        for agent in busy:
            e = agent.elapsed
            if e is not None and 1.0 <= e < 4.0 * self.RECENT_TAU:
                going.append((math.exp(-e / self.RECENT_TAU), (math.log(e) - mu0) / sigma))
        fade = math.exp(-max(0.0, now - self.updated_at) / self.RECENT_TAU) if self.updated_at is not None else 1.0
        w_done, l_done = fade * self.recent_w, fade * (self.recent_l - self.recent_w * mu0)  # sum w (ln x - mu0)
        shift = 0.0  # Newton's method on the score, from no shift (concave: converges in a few steps)
        info = info2 = 1.0
        for _ in range(2):  # the one-step estimator and one refinement: the soft threshold needs no finer
            score = (l_done - (w_done + self.RECENT_PRIOR) * shift) / var
            info = (w_done + self.RECENT_PRIOR) / var
            info2 = (self.recent_w2 * fade * fade + self.RECENT_PRIOR) / var
            for w, u0 in going:
                u = u0 - shift / sigma
                h = _mills(u)
                score += w * h / sigma
                i = w * h * (h - u) / var
                info += i
                info2 += w * i
            step = score / info
            shift += max(-1.0, min(1.0, step))
            if abs(step) < 1e-2:
                break
        # weighted scores: the variance is sum w^2 i / (sum w i)^2 (sandwich), not 1 / sum w i
        return shift, math.sqrt(info2) / info

    def levels(self, coverage: float, ahead: int) -> tuple[float, float]:
        """Calibrated quantile levels for a caller with `ahead` in front: the band's calibration
        shrunk toward the nominal levels (the model's own claim), not toward the pooled calibration.
        The bands' ranges come from different computations (the caller next in line from the exact
        first departure, further down from the departure count) whose errors differ in size and
        sign, and the pooled calibration is mostly the largest band's: as a prior for a thin band it
        imported that band's error (in the benchmark's surge the next caller's ranges were narrowed
        because the 20+ band's were too wide, 76% covered for 80%). The pooled calibration is still
        kept (and in the state) as the queue's overall record."""
        tail = (1.0 - coverage) / 2.0
        return shrunk_levels(self.bands[band_of(ahead)], coverage, (tail, 1.0 - tail))

    # --- answering -----------------------------------------------------------------------------

    def estimate(self, now: float, position: int, idle: int = 0, servers: int | None = None,
                 coverage: float = 0.8, busy: Sequence[BusyAgent] | None = None,
                 joining: Sequence[float] = (), head_wait: float | None = None) -> WaitEstimate:
        """EWT for the caller at `position` (1 = next), with `idle` agents free right now and the
        `busy` ones on calls (elapsed times and announced sign-offs; unknown ones are assumed to
        be anywhere in their call). `servers` is how many are signed in (busy, idle or between);
        `joining`, in how many seconds each agent expected on a roster signs in; `head_wait`, how
        long the caller at the head of the line has waited (the line's own state: callers ahead
        abandon at the rate of their waits, not the average one)."""
        ahead = position - 1
        if idle > ahead:
            return WaitEstimate.zero()
        n = ahead - idle
        s = max(1, servers if servers is not None else self.staffed)
        agents = list(busy) if busy is not None else []
        agents += [BusyAgent(0.0)] * idle  # idle agents take the first `idle` callers now: fresh calls
        agents += [BusyAgent(None)] * max(0, s - len(agents))  # signed in, nothing known
        c2 = self.talk_long.cv2
        # How far elapsed times can be trusted: lognormal talk times spread their logarithms by
        # ln(1 + cv^2); memoryless-like ones (many very short calls) spread them far more, and there
        # how long a call has lasted says little about when it ends. Regular talk times (cv^2 < 0.5)
        # are always trusted: there a mixture of regimes, not memorylessness, widens the logarithms.
        spread = self.talk_long.log_var / math.log1p(c2)
        trust = 1.0 if c2 < 0.5 else min(1.0, max(0.0, 2.0 - spread))
        # A recent shift of talk times, as far as it stands out of its noise (soft threshold at SHIFT_Z
        # standard errors) and as far as the lognormal it is measured against fits (`trust`).
        shift, shift_se = self.recent_shift(now, agents) if trust > 0 else (0.0, 1.0)
        shift = trust * shift * (1.0 - (self.SHIFT_Z * shift_se / shift) ** 2) \
            if abs(shift) > self.SHIFT_Z * shift_se else 0.0
        talk = self.talk_time(shift)
        model = _Agents(talk, agents, joining, trust=trust)
        rate = max(model.capacity, 1.0) / talk.m
        theta_t = self.theta / rate  # abandonment per departure
        tau, tau_var, tau_sens, tau_ab = _stages(n, theta_t)
        # the learned talk time's relative error; a shift taken from recent calls adds its own
        mu_cv = math.sqrt(1.0 / self.talk_long.w + (shift_se ** 2 if shift else 0.0))
        t, slope, curvature, dispersion = model.invert(tau)
        if head_wait is not None and n > 0:  # callers ahead have waited 0..head_wait and wait on ~t
            theta_t = self.theta_ahead(max(0.0, head_wait), t) / rate
            tau, tau_var, tau_sens, tau_ab = _stages(n, theta_t)
            t, slope, curvature, dispersion = model.invert(tau, near=t)
        if n == 0:  # next in line: the first call to end, computed exactly
            tail = FIT_TAIL  # (one gamma for every coverage: `range_at` reads other ranges off it)
            mean, var, (q_lo, q_hi) = model.first_departure(t, levels=(tail, 1.0 - tail))
            # its range from its own quantiles (a gamma matched by moments misplaces them: the
            # shortest of many bounded residuals piles up near 0), widened by the model's own error
            widen = math.sqrt(1.0 + ((mean * mu_cv) ** 2 + (MODEL_CV * mean) ** 2) / var)
            q_lo = max(mean - (mean - q_lo) * widen, 0.25 * q_lo)
            q_hi = mean + (q_hi - mean) * widen
            return self._answer(mean, var * widen * widen, n, coverage, 1.0, quantiles=(tail, q_lo, q_hi))
        theta_cv = 1.0 / math.sqrt(self.abandons)
        if model.regular and n <= self.INTEGRATE_MAX:
            # Regular talk times, not far down the line: the wait's distribution itself, from the
            # departures N(t) and the abandonments among those ahead A(t): P(wait > t) =
            # P(N(t) + A(t) <= n), normal with continuity correction (see `_Agents.wait_moments`).
            mean, var = model.wait_moments(n, theta_t * rate, t, slope)
            var += (tau_sens * theta_cv / slope) ** 2 + (mean * mu_cv) ** 2 + (MODEL_CV * mean) ** 2
            return self._answer(max(mean, 1e-3), var, n, coverage, 1.0 / (1.0 + (n + 1) * theta_t))
        if dispersion < 1.0:
            # Where departures come regularly the (n+1)-th falls, on average, half a step before the
            # expected count reaches n+1 (exact for a lattice; no shift for Poisson departures).
            t, slope, curvature, dispersion = model.invert(max(0.5, tau - 0.5 * (1.0 - dispersion)), near=t)
        # departures are as random as their dispersion says; abandonments ahead stay Poisson-like
        d = min(1.0, max(dispersion, 0.02))
        count_var = tau_var * d + tau_ab * (1.0 - d)
        # model error (talk times not quite lognormal, patience not quite per-bin constant...): a few
        # percent of the mean, so that uncalibrated ranges err wide; the band calibration narrows them
        var = (count_var + (tau_sens * theta_cv) ** 2) / (slope * slope) + (t * mu_cv) ** 2 + (MODEL_CV * t) ** 2
        # E[M^-1(count)] to second order: where departures slow down, the mean wait lies beyond M^-1(E count)
        jensen = -0.5 * curvature / slope ** 3 * count_var if tau >= 5 else 0.0  # (the count is far from normal below)
        mean = max(t + max(-0.5 * t, min(jensen, t)), 1e-3)
        return self._answer(mean, var, n, coverage, 1.0 / (1.0 + (n + 1) * theta_t))

    def _answer(self, mean: float, var: float, n: int, coverage: float, p_served: float,
                quantiles: tuple[float, float, float] | None = None) -> WaitEstimate:
        """The range: a gamma with the mean, matched to the variance or, given `quantiles` (a tail
        level and the wait's quantiles at it and at 1 - it), to those; at the calibrated levels."""
        shape, scale = mean * mean / var, var / mean
        if quantiles is not None:
            shape = fit_gamma_shape(mean, *quantiles, start=shape)
            scale = mean / shape
        low, high = self._range(shape, scale, coverage, n)
        return WaitEstimate(mean=mean, low=low, high=high, p_served=p_served, shape=shape, scale=scale, ahead=n)

    def _range(self, shape: float, scale: float, coverage: float, n: int) -> tuple[float, float]:
        lo_level, hi_level = self.levels(coverage, n)
        return gamma_quantile(shape, scale, lo_level), gamma_quantile(shape, scale, hi_level)

    def range_at(self, estimate: WaitEstimate, coverage: float) -> tuple[float, float]:
        """The range covering `coverage` of the same estimate (its gamma at this coverage's
        calibrated levels): a second coverage without computing the estimate again."""
        if estimate.shape <= 0 or estimate.ahead is None:
            return estimate.low, estimate.high
        return self._range(estimate.shape, estimate.scale, coverage, estimate.ahead)

    # --- persistence ---------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {"talk_long": self.talk_long.as_list(), "talk_short": self.talk_short.as_list(),
                "exposure": self.exposure, "abandons": self.abandons, "staffed": self.staffed,
                "age_exposure": [round(w, 3) for w in self.age_exposure],
                "age_abandons": [round(w, 4) for w in self.age_abandons],
                "updated_at": self.updated_at, "decay_rate": self.decay_rate, "changes": self.changes,
                "cusum": [self.cusum_up, self.cusum_down], "recent": [self.recent_w, self.recent_l, self.recent_w2],
                "hist": self.hist.as_state(),
                "cal_events": [round(w, 4) for w in self.calibration.events],
                "cal_censored": [round(w, 4) for w in self.calibration.censored],
                "bands": [[[round(w, 4) for w in b.events], [round(w, 4) for w in b.censored]]
                          for b in self.bands]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "WaitEstimator":
        est = cls()
        est.decay_rate = float(state["decay_rate"])
        if "talk_long" in state:
            est.talk_long = Window(*(float(v) for v in state["talk_long"]))
            est.talk_short = Window(*(float(v) for v in state["talk_short"]))
        else:  # a state from before talk-time shapes were learned: its mean, an exponential's shape
            n, total = float(state["service_n"]), float(state["service_sum"])
            est.talk_long = Window.prior(total / n, 1.0, n)
            est.talk_short = Window.prior(total / n, 1.0, min(n, 2.0))
        est.exposure = float(state["exposure"])
        est.abandons = float(state["abandons"])
        est.age_exposure = [float(w) for w in state.get("age_exposure", est.age_exposure)]
        est.age_abandons = [float(w) for w in state.get("age_abandons", est.age_abandons)]
        est.changes = int(state.get("changes", 0))
        est.cusum_up, est.cusum_down = (float(v) for v in state.get("cusum", (0.0, 0.0)))
        est.recent_w, est.recent_l, est.recent_w2 = (float(v) for v in state.get("recent", (0.0, 0.0, 0.0)))
        est.hist = TalkHistogram.from_state(state.get("hist"))  # (absent from states saved before it)
        est.updated_at = None if state.get("updated_at") is None else float(state["updated_at"])
        est.staffed = int(state.get("staffed", 1))
        est.calibration.events = [float(w) for w in state.get("cal_events", est.calibration.events)]
        est.calibration.censored = [float(w) for w in state.get("cal_censored", est.calibration.censored)]
        for band, saved in zip(est.bands, state.get("bands", [])):
            band.events = [float(w) for w in saved[0]]
            band.censored = [float(w) for w in saved[1]]
        return est
