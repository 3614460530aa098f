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

Agents not serving (away with a reason, in wrap-up, on a call of their own: `BusyAgent.state`) are
free for the line when their state's learned length, given how long it has lasted, is over
(`presence`); a Holdfast call is followed by the learned wrap-up as often as one was seen. Priority
classes: a lower class's wait stretches by the share of departures the classes above take as they
come, and each class's ranges are calibrated per band, shrunk toward the band's levels.

The rooms: `events` (what is observed), `talk` (talk-time models), `agents` (busy agents: departures),
`presence` (agents' other states),
`linewait` (the stages and the gamma fit), `calibration` (bands and levels), `wait` (WaitEstimator and
its state).

The state is a few dozen numbers and the histogram's occupied bins (`state()` / `from_state()`;
states saved before the histogram load with an empty one), kept per queue in one store item."""
from __future__ import annotations

from .agents import LIGHT_C2, REGULAR_C2
from .calibration import BAND_EDGES, CLAMP_FACTOR, SHRINK_WEIGHT, Calibration, band_of, shrunk_levels
from .events import AGENT_STATES, AWAY, HANDLING, OWN_CALL, WRAP_UP, BusyAgent, QueueEvent, QueueEventKind
from .linewait import fit_gamma_shape
from .talk import (HIST_BINS, HIST_MAX_C2, HIST_PRIOR, HIST_RATIO, LearnedTalkTime, TalkHistogram, TalkTime, Window,
                   hist_bin, mean_residual)
from .presence import Presence
from .wait import AGE_EDGES, FIT_TAIL, MODEL_CV, WaitEstimator

__all__ = ["AGENT_STATES", "AGE_EDGES", "AWAY", "HANDLING", "OWN_CALL", "Presence", "WRAP_UP", "BAND_EDGES", "CLAMP_FACTOR", "FIT_TAIL", "HIST_BINS", "HIST_MAX_C2", "HIST_PRIOR", "HIST_RATIO",
           "LIGHT_C2", "MODEL_CV", "REGULAR_C2", "SHRINK_WEIGHT", "BusyAgent", "Calibration", "LearnedTalkTime",
           "QueueEvent", "QueueEventKind", "TalkHistogram", "TalkTime", "WaitEstimator", "Window", "band_of",
           "fit_gamma_shape", "hist_bin", "mean_residual", "shrunk_levels"]
