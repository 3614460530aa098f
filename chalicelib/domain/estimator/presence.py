"""Agents' states beyond a Holdfast call, learned per queue: how long an agent stays away (per reason,
the queue's away time standing in while a reason has few of its own), in wrap-up after a call (and how
often a call is followed by one), and on a call of their own. An agent in one of these serves nobody
and is free for the line again when it ends: its residual is the learned duration conditioned on
having lasted what it has (`returning`)."""
from __future__ import annotations

import math
from typing import Any

from .events import AWAY, OWN_CALL, WRAP_UP
from .talk import TalkTime, Window

# Prior (mean seconds, cv) of each state's duration, counted as PRIOR_WEIGHT observations: a break
# about a quarter of an hour, a wrap-up a minute, a call of one's own five.
PRIORS = {AWAY: (900.0, 0.5), WRAP_UP: (60.0, 1.0), OWN_CALL: (300.0, 1.0)}  # (own calls: see `duration`)
PRIOR_WEIGHT = 2.0
MAX_AWAY_SHARE = 0.5  # (a team that went away after every call would serve nobody)
AWAY_PRIOR_CALLS = 5.0  # calls without time away the share starts from (a few breaks are not a habit yet)
REASON_WEIGHT = 5.0  # an away reason's own durations count once they weigh this many (shrinkage)


class Presence:
    """Exponentially weighted durations of each non-serving state (keys: the state, or `away:<reason>`),
    and the shares of Holdfast calls followed by a wrap-up and by time away."""

    def __init__(self) -> None:
        self.windows: dict[str, Window] = {}
        self.wraps = 0.0  # wrap-ups ended (decayed as the talk window: compared with its calls)
        self.aways = 0.0  # times away ended (decayed alike)
        self.calls = 0.0  # Holdfast calls ended (decayed alike: the away share's own count, see `away_share`)

    def add(self, state: str, reason: str | None, seconds: float) -> None:
        if state not in PRIORS:
            return
        seconds = max(1.0, seconds)
        self._window(state).add(seconds)
        if state == AWAY and reason:
            self._window(f"{AWAY}:{reason}").add(seconds)
        if state == WRAP_UP:
            self.wraps += 1.0
        elif state == AWAY:
            self.aways += 1.0

    def _window(self, key: str) -> Window:
        window = self.windows.get(key)
        if window is None:
            mean, cv = PRIORS[key.split(":")[0]]
            window = self.windows[key] = Window.prior(mean, cv, PRIOR_WEIGHT)
        return window

    def scale(self, keep: float) -> None:
        for window in self.windows.values():
            window.scale(keep)
        self.wraps *= keep
        self.aways *= keep
        self.calls *= keep

    def duration(self, state: str, reason: str | None = None, talk: Window | None = None) -> TalkTime:
        """The state's duration as a lognormal: an away reason's own, shrunk toward the queue's away
        time by weight (REASON_WEIGHT pseudo-observations of it). A call of an agent's own is taken
        as long as the queue's calls (`talk`) until some have been seen."""
        pooled = self.windows.get(state)
        if pooled is None:
            pooled = talk if state == OWN_CALL and talk is not None else Window.prior(*PRIORS.get(state, PRIORS[AWAY]),
                                                                                        PRIOR_WEIGHT)
        own = self.windows.get(f"{AWAY}:{reason}") if state == AWAY and reason else None
        if own is None:
            return TalkTime(pooled.mean, pooled.cv2)
        k = own.w / (own.w + REASON_WEIGHT)
        log_mean = k * math.log(own.mean) + (1.0 - k) * math.log(pooled.mean)
        return TalkTime(math.exp(log_mean), k * own.cv2 + (1.0 - k) * pooled.cv2)

    def after_call(self, calls: float) -> float:
        """Expected wrap-up after a Holdfast call: the share of `calls` (ended, as weighted) that a
        wrap-up followed, times its mean (0 until wrap-ups are seen)."""
        if self.wraps <= 0 or calls <= 0:
            return 0.0
        return min(1.0, self.wraps / calls) * self.duration(WRAP_UP).m

    def call_ended(self) -> None:
        self.calls += 1.0

    def away_share(self) -> float:
        """The share of Holdfast calls after which the agent went away instead of taking the next
        caller: times away ended over calls ended, both counted here (the talk window's weight is
        reset when a change of talk times is adopted). An agent goes away between calls; time away
        begun from idle counts too, which errs toward longer waits."""
        if self.aways <= 0:
            return 0.0
        return min(MAX_AWAY_SHARE, self.aways / (self.calls + AWAY_PRIOR_CALLS))

    def as_state(self) -> dict[str, Any]:
        return {"w": {k: [round(v, 6) for v in window.as_list()] for k, window in self.windows.items()},
                "wraps": round(self.wraps, 4), "aways": round(self.aways, 4), "calls": round(self.calls, 4)}

    @classmethod
    def from_state(cls, saved: dict[str, Any] | None) -> "Presence":
        presence = cls()
        if saved:
            presence.windows = {k: Window(*(float(v) for v in values)) for k, values in saved.get("w", {}).items()
                                if k.split(":")[0] in PRIORS}
            presence.wraps = float(saved.get("wraps", 0.0))
            presence.aways = float(saved.get("aways", 0.0))  # (absent from states saved before them)
            presence.calls = float(saved.get("calls", 0.0))
        return presence
