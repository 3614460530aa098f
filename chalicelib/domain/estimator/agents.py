"""The busy-agents model: departures (an agent freeing up for the line) counted from what every agent
is doing now, M(t) and its variance, the first departure, and the wait's distribution integrated
over departures and abandonments among those ahead."""
from __future__ import annotations

import math
from typing import Sequence

from .events import BusyAgent
from .talk import HIST_BINS, LearnedTalkTime, TalkTime, _HIST_ILR, _SQRT2


STALE = 1e-4  # a state lasting beyond this survival is taken as of unknown age (see `_Agents`)
REGULAR_C2 = 0.1  # talk times up to this squared cv count later calls as sums (see `_Agents._agent_regular`)
LIGHT_C2 = 1.5  # talk times up to this squared cv count their next call exactly (see `_Agents._agent`)


def shape_is_blended(talk: object) -> bool:
    """A `LearnedTalkTime` still blending its histogram with the lognormal (not the histogram alone)."""
    return getattr(talk, "shape", None) is not None and getattr(talk, "pure", None) is None


class _Agents:
    """Busy agents grouped by elapsed time, and agents expected to sign in: M(t) and its variance."""

    FINE = 16  # the first departure's steps per scale up to 2 scale
    GROW = 1.12  # its step grows by this beyond 2 scale (its tail: see `first_departure`)

    def __init__(self, talk: TalkTime | LearnedTalkTime, busy: Sequence[BusyAgent], joining: Sequence[float] = (),
                 trust: float = 1.0, returning: Sequence[tuple[float, TalkTime, float]] = (),
                 serve: float = 1.0, away: TalkTime | None = None) -> None:
        self.talk = talk
        # the share of call ends after which the agent takes the next caller (the rest go away first,
        # for `away`: the learned time away): those ends are thinned, the returns of agents away now are not
        self.serve, self.away = serve, away
        # agents away, in wrap-up or on a call of their own: (time in the state, its learned duration,
        # sign-off in): free for the line when the state ends, at its residual (see `_returned`). A time
        # in the state beyond what its durations make plausible (a state left set?), or none (negative),
        # says nothing: the agent is taken as anywhere in it (its equilibrium residual).
        self.returning: list[tuple[TalkTime, float, float, float, float]] = []  # (dist, a, S(a), E min(X, a), h)
        for a, dist, h in returning:
            sa = dist.sf(a) if a >= 0 else 0.0
            if sa < STALE:
                self.returning.append((dist, -1.0, 1.0, 0.0, h))
            else:
                self.returning.append((dist, a, sa, dist.lim_mean(a), h))
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
        self.capacity += sum(1.0 for dist, a, sa, psi, h in self.returning  # (back within a talk time)
                             if h >= talk.m and (a < 0 or (dist.m - psi) / sa - a < talk.m))
        # Once every current call has surely ended (and nobody signs off or in), each agent's expected
        # count is the straight line 1 + (t + kappa m - r)/m (regular or exponential-like talk times):
        # estimates far down the line then cost O(1) per step.
        self.linear_after = math.inf
        if (talk.c2 <= LIGHT_C2 and not self.regular and not self.joining and not self.returning
                and all(g[2] == math.inf for g in self.groups)):
            self.linear_after = max((done for _, done in self._lines), default=0.0) - talk.kappa * talk.m
            n_total = sum(g[0] for g in self.groups)
            r_sum = sum(g[0] * r for g, (r, _) in zip(self.groups, self._lines))
            self._n_total, self._r_mean = n_total, r_sum / max(n_total, 1e-9)
            spread_sum = sum(g[0] * g[5] for g in self.groups)
            self._slope = n_total / talk.m
            self._base = n_total * (1.0 + talk.kappa) - r_sum / talk.m  # M(t) = base + slope t
            self._var_base = spread_sum + talk.c2 * (self._base - n_total)

    @staticmethod
    def _returned(dist: TalkTime, a: float, sa: float, psi_a: float, t: float) -> tuple[float, float]:
        """(G(t), I(t)) of a state that has lasted a: P(it ends within t) and the integral of that over [0, t]."""
        if t <= 0:
            return 0.0, 0.0
        if a < 0:  # anywhere in the state: the equilibrium residual
            lm = dist.lim_mean(t)
            return lm / dist.m, (t * lm - 0.5 * dist.lim_second(t)) / dist.m
        return 1.0 - dist.sf(a + t) / sa, t - (dist.lim_mean(a + t) - psi_a) / sa

    def _returns(self, t: float) -> tuple[float, float]:
        """Departures within t from agents not serving now: each is free once when their state ends
        (at D), then takes fresh calls, counted from D's mean given D <= t."""
        talk = self.talk
        mean = var = 0.0
        for dist, a, sa, psi_a, h in self.returning:
            g, integral = self._returned(dist, a, sa, psi_a, min(t, h))
            if g <= 1e-12:
                continue
            after = integral / g  # from the mean return (given it came) to t
            if self.regular:
                m_i, v_i = self._agent_regular(0.0, 1.0, 0.0, after, talk.m, talk.c2 * talk.m ** 2)
            else:
                g2, renewals = self._agent(0.0, 1.0, 0.0, after)
                m_i, v_i = g2 + renewals, g2 * (1.0 - g2) + talk.c2 * renewals
            mean += g * (1.0 + m_i)
            var += g * (1.0 - g) * (1.0 + m_i) ** 2 + g * v_i
        return mean, var

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
        """Expected departures within t and their variance: the calls' ends (thinned by `serve`: an
        end after which the agent goes away frees nobody for the line; a binomial thinning, whose
        variance is p^2 V + p (1 - p) M) and the returns of agents away now."""
        mean, var = self._ends(t)
        if self.serve < 1.0:
            p = self.serve
            mean, var = p * mean, p * p * var + p * (1.0 - p) * mean
        if self.returning:
            m_r, v_r = self._returns(t)
            mean += m_r
            var += v_r
        return mean, var

    def _ends(self, t: float) -> tuple[float, float]:
        """Expected ends of calls (those going now, the calls after them, agents signing in) within t, and their variance."""
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
        scale/16 up to 2 scale (where the quantiles of interest lie), then steps growing by GROW
        each until no call is left (quantiles interpolated between the steps). Each step costs one
        survival per group: a fixed step (scale/16 to the end) took 15-18 ms next in line, where
        the slow tail needs hundreds of steps."""
        step = max(scale, 1.0) / self.FINE
        m1 = m2 = 0.0
        previous = 1.0
        wanted = sorted(levels)
        quantiles: list[float] = []
        t = 0.0
        joins = [d_sum / n for n, d_sum in self.joining.values()]
        talk = self.talk
        # The loop's cost is one survival per group and step: the common kinds are inlined, each a
        # ratio S(e + t) / S(e) multiplied in one list comprehension per kind (the product of ratios
        # at most 1: no overflow; it underflows only where nobody is left anyway).
        fast: list[tuple[float, float]] = []  # lognormal, one agent, no sign-off: (elapsed, 1 / (2 S(elapsed)))
        fast_h: list[tuple[float, float, float]] = []  # one agent who signs off: (elapsed, leaves_in, 1 / 2S)
        fast_n: list[tuple[float, float, float, float]] = []  # the rest of them: (count, elapsed, leaves_in, 1 / 2S)
        shape = None if talk.lognormal else talk.pure  # the learned histogram alone: its survival inlined too
        hist: list[tuple[float, float, float, float]] = []  # (count, elapsed, leaves_in, S(elapsed))
        slow = []  # the rest, through `_first`
        unknown: list[tuple[float, float]] = []  # calls of unknown elapsed time: (count, leaves_in)
        # the histogram blended with the lognormal (`LearnedTalkTime` while it holds few calls): the
        # survival `sf_lim` gives, inlined (`_first` also computed the partial mean, unused here)
        blend = talk.shape if not talk.lognormal and shape_is_blended(talk) else None
        blended: list[tuple[float, float, float, float]] = []  # (count, elapsed, leaves_in, 1 / S(elapsed))
        # two humps (`MixtureTalkTime`): calls of known elapsed time, their survival inlined as well
        mix = getattr(talk, "parts", None)
        mixed: list[tuple[float, float, float, float]] = []  # (count, elapsed, leaves_in, 1 / S(elapsed))
        if mix is not None:
            (p1, mu1, s1, *_), (p2, mu2, s2, *_) = mix
            p1, p2, inv1, inv2 = p1 / 2.0, p2 / 2.0, 1.0 / (s1 * _SQRT2), 1.0 / (s2 * _SQRT2)
        for group in self.groups:
            n, e, h, sa = group[:4]
            if e is not None and e <= 0.0 and h <= 0.0:  # (a fresh call of an agent leaving now: frees nobody)
                slow.append(group)
            elif talk.lognormal and e is not None and sa >= 1e-12:
                if n == 1.0 and h == math.inf:
                    fast.append((e, 0.5 / sa))
                elif n == 1.0:
                    fast_h.append((e, h, 0.5 / sa))
                else:
                    fast_n.append((n, e, h, 0.5 / sa))
            elif shape is not None and e is not None and sa >= 1e-12:
                hist.append((n, e, h, sa))
            elif mix is not None and e is not None and sa >= 1e-12:
                mixed.append((n, e, h, 1.0 / sa))
            elif blend is not None and e is not None and sa >= 1e-12:
                blended.append((n, e, h, 1.0 / sa))
            elif e is None:  # anywhere in its call: P(ended within t) = E[min(X, t)] / m (see `_first`)
                unknown.append((n, h))
            else:
                slow.append(group)
        # agents back from a state of known age (a lognormal): S_state(a + t) / S_state(a), inlined
        back: list[tuple[float, float, float, float, float]] = []  # (mu, 1 / (s sqrt 2), age, leaves_in, 1 / 2S(age))
        back_slow = []  # the rest (a state of unknown age: its equilibrium residual), through `_returned`
        for dist, a, sa, psi_a, h in self.returning:
            if getattr(dist, "lognormal", False) and a >= 0 and (a > 0 or h > 0) and sa >= 1e-12:
                back.append((dist.mu, 1.0 / (dist.s * _SQRT2), a, h, 0.5 / sa))
            else:
                back_slow.append((dist, a, sa, psi_a, h))
        if shape is not None:
            inv_c, first_bin, last_bin = talk.inv_c, shape.lo, shape.hi - shape.lo
            edges, surv, dens = shape.a, shape.surv, shape.dens
        log, erfc, prod = math.log, math.erfc, math.prod
        if blend is not None:
            b_inv_c, b_start, b_end, b_lo, b_last, b_w = talk.inv_c, blend.start, blend.end, blend.lo, blend.last, talk.w
            b_surv, b_dens, b_edges = blend.surv, blend.dens, blend.a
        mu, inv = talk.mu, 1.0 / (talk.s * _SQRT2)
        # a call's end frees its agent for the line with probability p (`serve`): each agent's chance
        # of being still unavailable is q + p S(e + t) / S(e) (with p = 1 exactly the ratio)
        p, q = self.serve, 1.0 - self.serve
        away = self.away if q > 0.0 else None
        for i in range(1, points + 1):
            if i > 2 * self.FINE:
                step *= self.GROW
            t += step
            alive = 1.0
            if away is not None:  # ... and back by t unless the time away outlasts t (taken from 0: R << D)
                q = (1.0 - self.serve) * away.sf(t)
                p = 1.0 - q
            for n, e, h, sa, psi_a, _ in slow:
                alive *= (1.0 - p * self._first(e, sa, psi_a, min(t, h))[0]) ** n
            for n, h in unknown:
                alive *= (1.0 - p * talk.lim_mean(t if t < h else h) / talk.m) ** n
            for n, e, h, inv_sa in blended:  # (`LearnedTalkTime.sf_lim`'s survival, inlined)
                x = e + (t if t < h else h)
                y = x * b_inv_c
                if y < b_start:
                    hs = 1.0
                elif y >= b_end:
                    hs = 0.0
                else:
                    j = (int(log(y) * _HIST_ILR) + 1 if y >= 1.0 else 0) - b_lo
                    j = 0 if j < 0 else b_last if j > b_last else j
                    hs = b_surv[j] - b_dens[j] * (y - b_edges[j])
                    hs = hs if hs > 0.0 else 0.0
                sf = b_w * hs + (1.0 - b_w) * 0.5 * erfc((log(x) - mu) * inv)
                alive *= (1.0 - p * (1.0 - sf * inv_sa)) ** n
            if fast:  # lognormal calls in progress: their survival alone, inlined (the loop's cost)
                alive *= prod([q + p * erfc((log(e + t) - mu) * inv) * r for e, r in fast])
            if fast_h:
                alive *= prod([q + p * erfc((log(e + (t if t < h else h)) - mu) * inv) * r for e, h, r in fast_h])
            if fast_n:
                alive *= prod([(q + p * erfc((log(e + (t if t < h else h)) - mu) * inv) * r) ** n
                               for n, e, h, r in fast_n])
            for n, e, h, inv_sa in mixed:
                lx = log(e + (t if t < h else h))
                v = q + p * (p1 * erfc((lx - mu1) * inv1) + p2 * erfc((lx - mu2) * inv2)) * inv_sa
                alive *= v if n == 1.0 else v ** n
            for n, e, h, sa in hist:  # (`_first`'s histogram survival, inlined)
                y = (e + (t if t < h else h)) * inv_c
                j = (0 if y < 1.0 else 1 + int(log(y) * _HIST_ILR)) - first_bin
                if j > last_bin:  # (the call has surely ended)
                    alive *= q ** n
                    if alive == 0.0:
                        break
                    continue
                if j >= 0:
                    left = surv[j] - dens[j] * (y - edges[j])
                    alive *= (q + p * left / sa) ** n if left > 0.0 else q ** n
            if back:  # an agent back from their state takes the caller
                alive *= prod([erfc((log(a + (t if t < h else h)) - m_b) * i_b) * r for m_b, i_b, a, h, r in back])
            for dist, a, sa, psi_a, h in back_slow:
                alive *= 1.0 - self._returned(dist, a, sa, psi_a, min(t, h))[0]
            if any(t >= d for d in joins):
                alive = 0.0
            m1 += step * (previous + alive) / 2.0
            m2 += step * ((t - step) * previous + t * alive)  # 2 * integral of t * P(T > t)
            while len(quantiles) < len(wanted) and 1.0 - alive >= wanted[len(quantiles)]:
                level = wanted[len(quantiles)]
                quantiles.append(t - step * (1.0 - (level - (1.0 - previous)) / max(previous - alive, 1e-12)))
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
        # (on a plateau of M, where regular departures pause, M' says nothing of the spread: at least a
        # quarter of the average rate sets the grid)
        slope = max(slope, 0.25 * (n + 1) / max(near, 1e-9))
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

    def invert(self, target: float, near: float | None = None,
               derivatives: bool = True) -> tuple[float, float, float, float]:
        """t with M(t) = target, M'(t) and M''(t) there, and the index of dispersion of the count.
        `near`: a time known to be close (narrows the first bracket). `derivatives=False`: t alone
        (M' and M'' returned as nan: two counts fewer, for the caller next in line, who needs only t)."""
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
        if not derivatives:
            return t, math.nan, math.nan, v / max(target, 1e-9)
        step = max(1.0, 0.02 * t)
        before, after = self.count(max(0.0, t - step))[0], self.count(t + step)[0]
        slope = (after - before) / (t + step - max(0.0, t - step))
        curvature = (after - 2.0 * target + before) / (step * step) if t > step else 0.0
        return t, max(slope, 1e-9), curvature, v / max(target, 1e-9)
