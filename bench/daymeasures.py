"""The day simulator's measures (DESIGN.md's), per day, and their summary over days with 95% intervals
(split from bench/daysim.py by role: the simulation there, what is measured of it here)."""
from __future__ import annotations

import math
import statistics
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.daysim import Sim

SL_TARGET = 20.0
RECOVERY_HORIZON = 24 * 3600.0  # a call counts as recovered if its caller talked to an agent within this


# --- the measures (DESIGN.md), per day -------------------------------------------------------------------

def percentile(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def measures(sim: "Sim", day: int) -> dict[str, float]:
    lo, hi = sim.day_bounds(day)
    recs = [r for r in sim.records if lo <= r.start < hi]
    offered = len(recs)
    live = [r for r in recs if r.answered_at is not None]
    waits = [r.answered_at - r.start for r in live]  # type: ignore[operator]
    not_live = [r for r in recs if r.answered_at is None]
    short = [r for r in not_live if not r.chose_callback and r.ended_at is not None
             and r.ended_at - r.start < sim.queue.short_abandon_seconds]
    abandoned = [r for r in not_live if not r.chose_callback]
    by_callback, by_call, unrecovered, to_callback = 0, 0, 0, []
    for r in not_live:
        end = r.ended_at if r.ended_at is not None else r.start
        cb = [t for t in sim.reached.get(r.caller.number, ()) if end <= t <= end + RECOVERY_HORIZON]
        talk = [t for t in sim.talked.get(r.caller.number, ()) if end <= t <= end + RECOVERY_HORIZON]
        if cb and (not talk or cb[0] <= talk[0]):
            by_callback += 1
            to_callback.append(cb[0] - end)
        elif talk:
            by_call += 1
        else:
            unrecovered += 1
    unrecovered_long = unrecovered - sum(1 for r in short if not any(
        (r.ended_at or r.start) <= t <= (r.ended_at or r.start) + RECOVERY_HORIZON
        for t in sim.talked.get(r.caller.number, ())))
    chosen = [r for r in recs if r.chose_callback and r.promise is not None]
    # callbacks at a chosen time (issue 27): kept if first dialed by the slot's start (the last one chosen,
    # if moved) plus the queue's tolerance; a callback its caller cancelled is no promise to keep
    policy = sim.queue.scheduled_callbacks
    tolerance = policy.tolerance_seconds if policy is not None else 0.0
    standing = [r for r in chosen if not r.cancelled]
    kept, on_time = 0, 0
    for r in standing:
        first = [t for t in sim.dialed.get(r.caller.number, ()) if t >= (r.ended_at or 0)]
        dialed_by = first and first[0] <= (r.promise or 0.0) + (tolerance if r.scheduled else 0.0)
        kept += bool(dialed_by)
        on_time += bool(dialed_by and r.scheduled)
    scheduled = [r for r in chosen if r.scheduled]
    scheduled_standing = [r for r in standing if r.scheduled]
    nan = float("nan")
    rows = sim.chosen.reported(sim.epoch + timedelta(seconds=lo), sim.epoch + timedelta(seconds=hi)) \
        if sim.chosen is not None else {}
    dialed_on_time = rows.get("scheduled_on_time", 0.0) + rows.get("scheduled_late", 0.0)
    staffed = sim.staffed_seconds(day)
    dials = sum(1 for ts in sim.dialed.values() for t in ts if lo <= t < hi)
    return {
        "offered": offered,
        "answered_live": len(live) / offered,
        "service_level": sum(1 for w in waits if w <= SL_TARGET) / offered,
        "asa": statistics.fmean(waits) if waits else 0.0,
        "abandoned_short": len(short) / offered,
        "abandoned_long": (len(abandoned) - len(short)) / offered,
        "not_answered_live": len(not_live) / offered,
        "chose_callback": sum(r.chose_callback for r in recs) / offered,
        "recovered_callback": by_callback / offered,
        "recovered_call_again": by_call / offered,
        "unrecovered": unrecovered / offered,
        "unrecovered_long": unrecovered_long / offered,
        "ttc_p50": percentile(to_callback, 0.5) / 60,
        "ttc_p90": percentile(to_callback, 0.9) / 60,
        "occupancy": sim.busy.get(day, 0.0) / staffed,
        "dials_per_recovered": dials / by_callback if by_callback else float("nan"),
        "promise_kept": kept / len(standing) if standing else float("nan"),
        "scheduled": len(scheduled) / offered,
        "scheduled_kept": on_time / len(scheduled_standing) if scheduled_standing else float("nan"),
        "scheduled_n": float(len(scheduled)),
        "scheduled_moved": float(sum(r.moved for r in scheduled)),
        "scheduled_cancelled": float(sum(r.cancelled for r in scheduled)),
        # Holdfast's own report rows for the day's calls (domain/reports.py; nan for the peers)
        "hf_scheduled": rows.get("scheduled", nan), "hf_moved": rows.get("scheduled_moved", nan),
        "hf_cancelled": rows.get("scheduled_cancelled", nan),
        "hf_cancelled_by_caller": rows.get("cancelled_by_caller", nan),
        "hf_on_time": rows.get("scheduled_on_time", nan) / dialed_on_time if dialed_on_time else nan,
        "hf_late": rows.get("scheduled_late", nan),
        "web_requests": rows.get("web_requests", nan), "sms_sent": rows.get("sms_sent", nan),
        "sms_delivered": rows.get("sms_delivered", nan), "sms_opt_outs": rows.get("sms_opt_outs", nan),
        "sms_stop_replies": float(sim.chosen.stopped(lo, hi)) if sim.chosen is not None else nan,
        "web_asked": float(sim.chosen.web_booked(lo, hi)) if sim.chosen is not None else nan,
        "backlog_at_closing": float(sim.closing_backlog.get(day, 0)),
        "_ttc": to_callback,  # type: ignore[dict-item]
    }


def summarize(days: list[dict[str, float]]) -> dict[str, tuple[float, float]]:
    """Mean and 95% confidence half-width (t distribution) of each measure over the days."""
    out: dict[str, tuple[float, float]] = {}
    for key in days[0]:
        if key.startswith("_"):
            continue
        xs = [d[key] for d in days if not math.isnan(d[key])]
        if not xs:
            out[key] = (float("nan"), float("nan"))
            continue
        mean = statistics.fmean(xs)
        half = t95(len(xs)) * statistics.stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else float("nan")
        out[key] = (mean, half)
    return out


# Student's t, two-sided 95% (the 0.975 quantile), by degrees of freedom; between listed values the
# smaller df's (wider, never narrower than the truth).
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
         11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093,
         20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048,
         29: 2.045, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980}


def t95(n: int) -> float:
    """The t multiplier of a 95% interval for the mean of `n` values (n - 1 degrees of freedom)."""
    df = max(1, n - 1)
    return _T975[max(k for k in _T975 if k <= df)] if df <= 120 else 1.960
