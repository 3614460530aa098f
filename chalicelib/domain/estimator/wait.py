"""WaitEstimator: one queue's online estimator (learning from its events, answering with a mean, a
calibrated range and the probability of being served), and its state as a few numbers (`state()` /
`from_state()`, kept per queue in one store item)."""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

from ..ewt import WaitEstimate, gamma_quantile
from .agents import _Agents
from .calibration import BAND_EDGES, Calibration, band_of, shrunk_levels
from .events import AWAY, HANDLING, OWN_CALL, BusyAgent, QueueEvent, QueueEventKind
from .linewait import _log_quantiles, _stages, fit_gamma_shape
from .mixture import Component, MixtureTalkTime, fit_mixture
from .presence import Presence
from .talk import HIST_MAX_C2, LearnedTalkTime, TalkHistogram, TalkTime, Window, _SQRT2


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
FIT_TAIL = 0.1  # the next caller's gamma is fitted to the first departure's 10% and 90% quantiles
_log_quantiles(FIT_TAIL)  # its table of gamma quantiles, built once at import (some 20 ms), not in an estimate
MODEL_CV = 0.08  # relative model error assumed in every range (beyond the count's and the rates' own)
MAX_CLASSES = 4  # priority classes calibrated on their own (a queue's few); others use their band's levels
MAX_AHEAD_SHARE = 0.8  # callers of classes above take at most this share of the departures (see `estimate`)


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
    FIT_EVERY = 25  # finished calls between fits of the talk-time mixture
    # The mixture in the estimate: off by default (bench/ewt.py --only "two call types": efficiency
    # 0.915 -> 0.973, the next caller 1.94 ms since first_departure got cheaper; it stays off until a
    # full run shows every other scenario holds with it: see docs/ewt.md)
    USE_MIXTURE = False
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
        # two kinds of calls: the mixture fitted to the histogram and the calls going (see `_refit`)
        self.mixture: list[Component] | None = None
        self.use_mixture = self.USE_MIXTURE
        self._since_fit = 0
        self._going: list[float] = []  # elapsed times of the calls going at the last estimate (censored)
        self.presence = Presence()  # how long away, wrap-up and calls of agents' own last
        # per priority class: calibration per band (shrunk toward the band's), and callers served
        # (weighted as the long window) over the time observed (weighted alike): the class's rate
        self.class_bands: dict[int, list[Calibration]] = {}
        self.class_served: dict[int, float] = {}
        self.class_time = 0.0

    # --- learning ------------------------------------------------------------------------------

    def _age(self, at: float) -> None:
        if self.updated_at is not None and at > self.updated_at:
            dt = at - self.updated_at
            keep = math.exp(-self.decay_rate * dt)
            self.talk_long.scale(keep)
            self.talk_short.scale(math.exp(-self.short_decay_rate * dt))
            self.hist.scale(keep)
            self.presence.scale(keep)
            self.class_served = {k: w * keep for k, w in self.class_served.items()}
            self.class_time = self.class_time * keep + (1.0 - keep) / self.decay_rate
            self.exposure *= keep
            self.abandons *= keep
            self.age_exposure = [w * keep for w in self.age_exposure]
            self.age_abandons = [w * keep for w in self.age_abandons]
            # ranges' shape errors change slowly: calibration keeps a day's outcomes (each band needs many)
            keep_cal = math.exp(-self.CAL_DECAY_RATE * dt)
            self.calibration.decay(keep_cal)
            for band in self.bands:
                band.decay(keep_cal)
            for bands in self.class_bands.values():
                for band in bands:
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
        self.presence.call_ended()
        self.hist.add(seconds)
        self._since_fit += 1
        if self._since_fit >= self.FIT_EVERY and self.use_mixture:
            self._refit()
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

    def _refit(self) -> None:
        """Fit the two-hump talk-time mixture again (every FIT_EVERY finished calls, bounded EM):
        the histogram's finished calls and, censored, the calls going at the last estimate."""
        self._since_fit = 0
        self.mixture = fit_mixture(self.hist.raw, self.hist.factor, self._going)

    def _outcome(self, pit: float | None, ahead: int | None, observed: bool, klass: int | None = None) -> None:
        if pit is None:
            return
        self.calibration.add(pit, observed)
        if ahead is not None:
            self.bands[band_of(ahead)].add(pit, observed)
            bands = self._class_bands(klass)
            if bands is not None:
                bands[band_of(ahead)].add(pit, observed)

    def _class_bands(self, klass: int | None) -> list[Calibration] | None:
        if klass is None:
            return None
        bands = self.class_bands.get(klass)
        if bands is None and len(self.class_bands) < MAX_CLASSES:
            bands = self.class_bands[klass] = [Calibration() for _ in range(len(BAND_EDGES) + 1)]
        return bands

    def observe(self, event: QueueEvent) -> None:
        self._age(event.at)
        if event.kind is QueueEventKind.SERVICE_END:
            self._talk_ended(max(event.value, 1.0))
        elif event.kind is QueueEventKind.SERVICE_START:
            self._waited(event.value, abandoned=False)
            self._outcome(event.pit, event.ahead, observed=True, klass=event.klass)
            if event.klass is not None and (event.klass in self.class_served or len(self.class_served) < MAX_CLASSES):
                self.class_served[event.klass] = self.class_served.get(event.klass, 0.0) + 1.0
        elif event.kind is QueueEventKind.ABANDON:
            self._waited(event.value, abandoned=True)
            self._outcome(event.pit, event.ahead, observed=False, klass=event.klass)
        elif event.kind is QueueEventKind.STAFFING:
            self.staffed = max(0, int(event.value))
        elif event.kind is QueueEventKind.STATE_END and event.state is not None:
            self.presence.add(event.state, event.reason, event.value)

    def rate_above(self, klass: int) -> float:
        """Callers per second served from classes above `klass` (they go ahead of it as they come)."""
        if self.class_time <= 0:
            return 0.0
        return sum(w for k, w in self.class_served.items() if k > klass) / self.class_time

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
        # an agent is free again after the call and the wrap-up that follows it (as often as one does)
        mean = self.talk_long.mean * math.exp(shift) + self.presence.after_call(self.talk_long.w)
        shape = self.hist.shape() if self.talk_long.cv2 <= HIST_MAX_C2 else None
        if shape is None and self.mixture is not None and self.use_mixture:
            return MixtureTalkTime(self.mixture, mean)
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

    def levels(self, coverage: float, ahead: int, klass: int | None = None) -> tuple[float, float]:
        """Calibrated quantile levels for a caller with `ahead` in front: the band's calibration
        shrunk toward the nominal levels (the model's own claim), not toward the pooled calibration.
        The bands' ranges come from different computations (the caller next in line from the exact
        first departure, further down from the departure count) whose errors differ in size and
        sign, and the pooled calibration is mostly the largest band's: as a prior for a thin band it
        imported that band's error (in the benchmark's surge the next caller's ranges were narrowed
        because the 20+ band's were too wide, 76% covered for 80%). The pooled calibration is still
        kept (and in the state) as the queue's overall record."""
        tail = (1.0 - coverage) / 2.0
        band = band_of(ahead)
        levels = shrunk_levels(self.bands[band], coverage, (tail, 1.0 - tail))
        # a priority class's own outcomes in the band, shrunk toward the band's levels while it has few
        bands = self.class_bands.get(klass) if klass is not None else None
        return levels if bands is None else shrunk_levels(bands[band], coverage, levels)

    # --- answering -----------------------------------------------------------------------------

    def estimate(self, now: float, position: int, idle: int = 0, servers: int | None = None,
                 coverage: float = 0.8, busy: Sequence[BusyAgent] | None = None,
                 joining: Sequence[float] = (), head_wait: float | None = None,
                 klass: int | None = None) -> WaitEstimate:
        """EWT for the caller at `position` (1 = next), with `idle` agents free right now and the
        `busy` ones on calls (elapsed times and announced sign-offs; unknown ones are assumed to
        be anywhere in their call). `servers` is how many are signed in (busy, idle or between);
        `joining`, in how many seconds each agent expected on a roster signs in; `head_wait`, how
        long the caller at the head of the line has waited (the line's own state: callers ahead
        abandon at the rate of their waits, not the average one). Agents away, in wrap-up or on a
        call of their own (`busy` with that state) serve nobody until their state's learned time is
        over. `klass`: the caller's priority class (callers of classes above go ahead of it as they
        come; its ranges are calibrated on its class's outcomes)."""
        ahead = position - 1
        if idle > ahead:
            return WaitEstimate.zero()
        n = ahead - idle
        agents, returning = [], []
        for agent in busy or ():
            if agent.state == HANDLING:
                agents.append(agent)
            else:  # back when the state's learned duration (given how long it has lasted) is over
                returning.append((agent.elapsed if agent.elapsed is not None else -1.0,
                                  self.presence.duration(agent.state, agent.reason, self.talk_long),
                                  math.inf if agent.leaves_in is None else max(0.0, agent.leaves_in)))
        own_calls = sum(agent.state == OWN_CALL for agent in busy or ())  # (they count among `servers`)
        self._going = [agent.elapsed for agent in agents if agent.elapsed is not None]  # (for `_refit`)
        # nobody serving while some agents are away is a team that comes back, not an unknown one
        s = max(0 if returning else 1, servers if servers is not None else self.staffed)
        agents += [BusyAgent(0.0)] * idle  # idle agents take the first `idle` callers now: fresh calls
        agents += [BusyAgent(None)] * max(0, s - len(agents) - own_calls)  # signed in, nothing known
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
        # agents who go away between calls: that share of call ends frees nobody for the line
        serve = 1.0 - self.presence.away_share()
        model = _Agents(talk, agents, joining, trust=trust, returning=returning, serve=serve,
                        away=self.presence.duration(AWAY) if serve < 1.0 else None)
        rate = max(model.capacity, 1.0) / talk.m
        theta_t = self.theta / rate  # abandonment per departure
        # Callers of classes above who come while this one waits go ahead of it: of the departures a
        # share rho is theirs, so the wait stretches by 1 / (1 - rho) (their arrivals' own noise added).
        rho = min(MAX_AHEAD_SHARE, self.rate_above(klass) / rate) if klass is not None else 0.0
        answer = self._answer if rho <= 0 else self._stretched(1.0 / (1.0 - rho), rho)
        tau, tau_var, tau_sens, tau_ab = _stages(n, theta_t)
        # the learned talk time's relative error; a shift taken from recent calls adds its own
        mu_cv = math.sqrt(1.0 / self.talk_long.w + (shift_se ** 2 if shift else 0.0))
        t, slope, curvature, dispersion = model.invert(tau, derivatives=n > 0)  # (next in line: t only)
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
            return answer(mean, var * widen * widen, n, coverage, 1.0, quantiles=(tail, q_lo, q_hi), klass=klass)
        theta_cv = 1.0 / math.sqrt(self.abandons)
        if model.regular and n <= self.INTEGRATE_MAX:
            # Regular talk times, not far down the line: the wait's distribution itself, from the
            # departures N(t) and the abandonments among those ahead A(t): P(wait > t) =
            # P(N(t) + A(t) <= n), normal with continuity correction (see `_Agents.wait_moments`).
            mean, var = model.wait_moments(n, theta_t * rate, t, slope)
            var += (tau_sens * theta_cv / slope) ** 2 + (mean * mu_cv) ** 2 + (MODEL_CV * mean) ** 2
            return answer(max(mean, 1e-3), var, n, coverage, 1.0 / (1.0 + (n + 1) * theta_t), klass=klass)
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
        return answer(mean, var, n, coverage, 1.0 / (1.0 + (n + 1) * theta_t), klass=klass)

    def _stretched(self, factor: float, rho: float) -> Callable[..., WaitEstimate]:
        """`_answer` for a wait stretched by `factor` (callers of classes above taking a share rho of
        the departures): mean and quantiles scaled, the variance too, plus their arrivals' Poisson noise
        (about rate_above * wait in departures, each worth the stretched time per departure)."""
        def answer(mean: float, var: float, n: int, coverage: float, p_served: float,
                   quantiles: tuple[float, float, float] | None = None, klass: int | None = None) -> WaitEstimate:
            stretched = mean * factor
            extra = rho * factor * stretched * mean / max(n + 1, 1)
            q = None if quantiles is None else (quantiles[0], quantiles[1] * factor, quantiles[2] * factor)
            return self._answer(stretched, var * factor * factor + extra, n, coverage, p_served, q, klass)
        return answer

    def _answer(self, mean: float, var: float, n: int, coverage: float, p_served: float,
                quantiles: tuple[float, float, float] | None = None, klass: int | None = None) -> WaitEstimate:
        """The range: a gamma with the mean, matched to the variance or, given `quantiles` (a tail
        level and the wait's quantiles at it and at 1 - it), to those; at the calibrated levels."""
        shape, scale = mean * mean / var, var / mean
        if quantiles is not None:
            shape = fit_gamma_shape(mean, *quantiles, start=shape)
            scale = mean / shape
        low, high = self._range(shape, scale, coverage, n, klass)
        return WaitEstimate(mean=mean, low=low, high=high, p_served=p_served, shape=shape, scale=scale, ahead=n,
                            klass=klass)

    def _range(self, shape: float, scale: float, coverage: float, n: int,
               klass: int | None = None) -> tuple[float, float]:
        lo_level, hi_level = self.levels(coverage, n, klass)
        return gamma_quantile(shape, scale, lo_level), gamma_quantile(shape, scale, hi_level)

    def range_at(self, estimate: WaitEstimate, coverage: float) -> tuple[float, float]:
        """The range covering `coverage` of the same estimate (its gamma at this coverage's
        calibrated levels): a second coverage without computing the estimate again."""
        if estimate.shape <= 0 or estimate.ahead is None:
            return estimate.low, estimate.high
        return self._range(estimate.shape, estimate.scale, coverage, estimate.ahead, estimate.klass)

    # --- persistence ---------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {"talk_long": self.talk_long.as_list(), "talk_short": self.talk_short.as_list(),
                "exposure": self.exposure, "abandons": self.abandons, "staffed": self.staffed,
                "age_exposure": [round(w, 3) for w in self.age_exposure],
                "age_abandons": [round(w, 4) for w in self.age_abandons],
                "updated_at": self.updated_at, "decay_rate": self.decay_rate, "changes": self.changes,
                "cusum": [self.cusum_up, self.cusum_down], "recent": [self.recent_w, self.recent_l, self.recent_w2],
                "hist": self.hist.as_state(),
                "mixture": None if self.mixture is None else [[round(v, 6) for v in c] for c in self.mixture],
                "cal_events": [round(w, 4) for w in self.calibration.events],
                "cal_censored": [round(w, 4) for w in self.calibration.censored],
                "bands": [_saved(b) for b in self.bands],
                "presence": self.presence.as_state(),
                "classes": {str(k): {"served": round(self.class_served.get(k, 0.0), 4),
                                     "bands": [_saved(b) for b in bands]} for k, bands in self.class_bands.items()},
                "class_time": round(self.class_time, 3)}

    @staticmethod
    def means_in(state: dict[str, Any]) -> tuple[float, float]:
        """The learned mean talk time and mean patience of a saved state, read without rebuilding the
        estimator (the callback plan reads them every minute)."""
        if "talk_long" in state:
            talk = Window(*(float(v) for v in state["talk_long"])).mean
        else:  # a state from before talk-time shapes were learned
            talk = float(state["service_sum"]) / float(state["service_n"])
        return talk, float(state["exposure"]) / float(state["abandons"])

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
        saved_mix = state.get("mixture")  # (absent from states saved before it)
        est.mixture = None if not saved_mix else [(float(p), float(mu), float(s)) for p, mu, s in saved_mix]
        est.updated_at = None if state.get("updated_at") is None else float(state["updated_at"])
        est.staffed = int(state.get("staffed", 1))
        est.calibration.events = [float(w) for w in state.get("cal_events", est.calibration.events)]
        est.calibration.censored = [float(w) for w in state.get("cal_censored", est.calibration.censored)]
        for band, saved in zip(est.bands, state.get("bands", [])):
            _load(band, saved)
        est.presence = Presence.from_state(state.get("presence"))  # (absent from states saved before it)
        for k, saved in list(state.get("classes", {}).items())[:MAX_CLASSES]:
            est.class_served[int(k)] = float(saved.get("served", 0.0))
            est.class_bands[int(k)] = [Calibration() for _ in range(len(BAND_EDGES) + 1)]
            for band, b in zip(est.class_bands[int(k)], saved.get("bands", [])):
                _load(band, b)
        est.class_time = float(state.get("class_time", 0.0))
        return est


def _saved(band: Calibration) -> list[list[float]]:
    return [[round(w, 4) for w in band.events], [round(w, 4) for w in band.censored]]


def _load(band: Calibration, saved: list[list[float]]) -> None:
    band.events = [float(w) for w in saved[0]]
    band.censored = [float(w) for w in saved[1]]
