"""Staffing advice: agents needed per half hour, by Erlang C and Erlang A (Erlang C with patience).

Exact formulas, computed in a numerically stable way (ratios of Poisson terms, never factorials).
Erlang C (M/M/N): P(wait) = C(N, A), A = lambda/mu offered load in erlangs;
  SL(t) = 1 - C * exp(-(N*mu - lambda) t),  ASA = C / (N*mu - lambda).
Erlang A (M/M/N+M, Palm's model; Garnett, Mandelbaum & Reiman 2002, Mandelbaum & Zeltyn): callers
abandon at rate theta while waiting. With waiting customers j >= 1 the death rate is N*mu + j*theta,
so the stationary distribution is a birth-death chain we sum until its terms vanish; P(abandon) and
P(answered within t) follow from it by conditioning on the state at arrival."""
from __future__ import annotations

import math
from dataclasses import dataclass


def erlang_c(agents: int, load: float) -> float:
    """Probability an arrival waits, M/M/N with offered load `load` erlangs (1.0 if unstable)."""
    if agents <= 0 or load >= agents:
        return 1.0
    if load <= 0:
        return 0.0
    # Erlang B by its recursion, then C from B (stable for hundreds of agents).
    b = 1.0
    for k in range(1, agents + 1):
        b = load * b / (k + load * b)
    return agents * b / (agents - load * (1 - b))


def erlang_c_service_level(agents: int, arrivals_per_s: float, handle_s: float, target_s: float) -> float:
    load = arrivals_per_s * handle_s
    if agents <= load:
        return 0.0
    c = erlang_c(agents, load)
    return 1 - c * math.exp(-(agents - load) * target_s / handle_s)


def erlang_c_asa(agents: int, arrivals_per_s: float, handle_s: float) -> float:
    load = arrivals_per_s * handle_s
    if agents <= load:
        return math.inf
    return erlang_c(agents, load) * handle_s / (agents - load)


@dataclass(frozen=True)
class ErlangA:
    """Steady state of M/M/N+M: probability of waiting, of abandoning, of service within t."""

    agents: int
    arrivals_per_s: float
    handle_s: float
    patience_s: float

    def _states(self) -> tuple[list[float], list[float]]:
        """Unnormalised probabilities of k busy agents (k < N) and of N busy with j >= 0 waiting."""
        lam, mu, theta, n = self.arrivals_per_s, 1 / self.handle_s, 1 / self.patience_s, self.agents
        below = [1.0]
        for k in range(1, n + 1):
            below.append(below[-1] * lam / (k * mu))
        queue = [below.pop()]  # state N (nobody waiting) heads the waiting chain
        j = 0
        while True:
            j += 1
            term = queue[-1] * lam / (n * mu + j * theta)
            queue.append(term)
            if term < 1e-15 * (sum(below) + sum(queue)) and j > 10:
                break
        return below, queue

    def measures(self, target_s: float) -> dict[str, float]:
        if self.agents <= 0:
            return {"p_wait": 1.0, "p_abandon": 1.0, "service_level": 0.0}
        below, queue = self._states()
        total = sum(below) + sum(queue)
        n, mu, theta = self.agents, 1 / self.handle_s, 1 / self.patience_s
        p_wait = sum(queue) / total  # PASTA: an arrival finds all agents busy
        # An arrival finding j waiting joins as j+1-th; it is served unless it abandons first. Its
        # probability of abandoning is theta times its expected time in line, which for the j+1-th
        # in line is the product form below (each step ahead clears at rate n*mu + i*theta).
        p_abandon = 0.0
        p_late = 0.0  # answered after the target, or abandoned: both miss the target
        reached = _reached(len(queue) - 1, n * mu, theta)
        within = _served_within_all(len(queue) - 1, n * mu, theta, target_s)
        for j, weight in enumerate(queue):
            p = weight / total
            p_abandon += p * (1 - reached[j])
            p_late += p * (1 - within[j])
        return {"p_wait": p_wait, "p_abandon": p_abandon, "service_level": max(0.0, 1 - p_late)}


def _reached(last: int, n_mu: float, theta: float) -> list[float]:
    """For j = 0..last: probability that an arrival finding j waiting reaches service (each of the j+1
    stages ahead clears by service rather than by its own abandonment: ratio (n_mu + i*theta) /
    (n_mu + (i+1)*theta) for stage i)."""
    out, reach = [], 1.0
    for i in range(last + 1):
        reach *= (n_mu + i * theta) / (n_mu + (i + 1) * theta)
        out.append(reach)
    return out


def _served_within(j: int, n_mu: float, theta: float, t: float) -> float:
    """Probability that an arrival finding j waiting reaches an agent within t."""
    return _served_within_all(j, n_mu, theta, t)[j]


def _served_within_all(last: int, n_mu: float, theta: float, t: float) -> list[float]:
    """For j = 0..last: probability that an arrival finding j waiting reaches an agent within t.

    With m callers ahead, the next event is one ahead leaving (rate n_mu + m*theta) or this caller
    giving up (theta): stage m lasts Exp(n_mu + (m+1)*theta) whichever happens, independently of which.
    So P = P(every stage advances) * P(sum of the j+1 stage times <= t). The second factor is a
    hypoexponential CDF; the stage times of j are those of j-1 and one more, so all of them are one
    pure-death chain (level m leaves at rate n_mu + (m+1)*theta) started at each level, computed by
    uniformization in one pass (stable for any number of stages)."""
    if t <= 0:
        return [0.0] * (last + 1)
    rates = [n_mu + (m + 1) * theta for m in range(last + 1)]
    top = max(rates)
    lt = top * t
    # finished[m]: probability that from level m the chain is absorbed within k uniformized jumps
    finished = [0.0] * (last + 1)
    weight = math.exp(-lt)
    done = [0.0] * (last + 1)
    k = 0
    while k < lt + 12 * math.sqrt(lt) + 30:
        k += 1
        below = 1.0  # level -1 is absorbed
        nxt = []
        for m in range(last + 1):
            go = rates[m] / top
            nxt.append(go * below + (1 - go) * finished[m])
            below = finished[m]
        finished = nxt
        weight *= lt / k
        for m in range(last + 1):
            done[m] += weight * finished[m]
    return [a * min(1.0, d) for a, d in zip(_reached(last, n_mu, theta), done)]


def agents_needed(arrivals_per_s: float, handle_s: float, patience_s: float, target_s: float,
                  service_goal: float, abandon_goal: float, max_agents: int = 500) -> tuple[int, int]:
    """Fewest agents meeting the service-level goal by Erlang C, and both goals by Erlang A."""
    if arrivals_per_s <= 0:
        return 0, 0
    load = arrivals_per_s * handle_s
    n = max(1, math.floor(load) + 1)
    while n < max_agents and erlang_c_service_level(n, arrivals_per_s, handle_s, target_s) < service_goal:
        n += 1
    c_agents = n
    # Fewer than load * (1 - abandon_goal) agents cannot meet the abandonment goal (they serve at most
    # N * mu of the lambda arriving): the search starts there, not at one agent.
    a_agents = max(1, math.floor(load * (1 - abandon_goal)))
    while a_agents < max_agents:
        m = ErlangA(a_agents, arrivals_per_s, handle_s, patience_s).measures(target_s)
        if m["service_level"] >= service_goal and m["p_abandon"] <= abandon_goal:
            break
        a_agents += 1
    return c_agents, a_agents
