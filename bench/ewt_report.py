"""bench/ewt.py's scoring and report: efficiency, RRASE, bias and coverage with their intervals, the
targets MET or NOT MET, the timing of one estimate, docs/ewt.md and its plots."""
from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from chalicelib.domain.estimator import BAND_EDGES, BusyAgent, QueueEvent, QueueEventKind, WaitEstimator, band_of

from bench.ewt_scenarios import CHANGE_WINDOW, COVERAGE_SEEDS, Caller, METHODS, Scenario


BANDS = ("0 ahead", "1-4", "5-19", "20+")
assert len(BANDS) == len(BAND_EDGES) + 1
BATCHES = 20  # coverage intervals: batch means over this many stretches of consecutive callers


# --- scoring ---------------------------------------------------------------------------------------

@dataclass
class Result:
    scenario: Scenario
    callers: list[Caller]
    seconds: float
    cold: list[Caller] = field(default_factory=list)  # the unscored first run, from a cold calibration
    next_times: list[float] = field(default_factory=list)  # CPU seconds of each estimate for a caller next in line

    @property
    def classes(self) -> list[int]:
        return list(range(len(self.scenario.classes))) if self.scenario.classes else []

    def of_class(self, k: int, callers: list[Caller] | None = None) -> list[Caller]:
        return [c for c in (self.callers if callers is None else callers) if c.klass == k]

    def next_ms(self) -> tuple[float, float]:
        """Mean and 90th percentile of the next-in-line estimate's CPU time, in ms (nan: none timed)."""
        if not self.next_times:
            return math.nan, math.nan
        ordered = sorted(self.next_times)
        return 1e3 * sum(ordered) / len(ordered), 1e3 * ordered[int(0.9 * (len(ordered) - 1))]

    def waits(self, cs: list[Caller]) -> list[float]:
        return [c.potential for c in cs]  # type: ignore[misc]

    @staticmethod
    def ase(cs: list[Caller], method: str) -> float:
        if not cs:
            return math.nan
        if method == "oracle":
            return sum((c.oracle - c.potential) ** 2 for c in cs) / len(cs)  # type: ignore[operator]
        return sum((c.preds[method] - c.potential) ** 2 for c in cs) / len(cs)  # type: ignore[operator]

    @property
    def with_oracle(self) -> list[Caller]:
        return [c for c in self.callers if c.oracle is not None]

    def efficiency(self, method: str) -> float:
        cs = self.with_oracle
        return self.ase(cs, "oracle") / self.ase(cs, method) if cs else math.nan

    @staticmethod
    def coverage(cs: list[Caller], level: int) -> float:
        if not cs:
            return math.nan
        lo, hi = (0, 1) if level == 80 else (2, 3)
        return sum(c.ranges[lo] <= c.potential <= c.ranges[hi] for c in cs) / len(cs)  # type: ignore[operator]

    @classmethod
    def interval(cls, cs: list[Caller], level: int) -> tuple[float, float]:
        """95% interval of the coverage by batch means: callers close in time share the line's state,
        so they are not independent draws; stretches of consecutive callers nearly are."""
        k = min(BATCHES, len(cs) // 10)
        if k < 4:
            return math.nan, math.nan
        size = len(cs) / k
        means = [cls.coverage(cs[int(i * size):int((i + 1) * size)], level) for i in range(k)]
        mean = sum(means) / k
        half = 1.96 * math.sqrt(sum((m - mean) ** 2 for m in means) / (k - 1) / k)
        return cls.coverage(cs, level) - half, cls.coverage(cs, level) + half

    def covers(self, cs: list[Caller], level: int) -> str:
        """The coverage, its 95% interval and how many callers it counts."""
        if not cs:
            return "- (n=0)"
        lo, hi = self.interval(cs, level)
        ci = f" [{lo:.1%}, {hi:.1%}]" if not math.isnan(lo) else ""
        return f"{self.coverage(cs, level):.1%}{ci} (n={len(cs)})"

    def band(self, b: int, callers: list[Caller] | None = None) -> list[Caller]:
        return [c for c in (self.callers if callers is None else callers) if band_of(c.ahead) == b]

    def after_change(self) -> list[Caller]:
        return [c for c in self.with_oracle if any(0 <= c.arrival - ch < CHANGE_WINDOW for ch in self.scenario.changes)]

    def since_change(self, lo: float, hi: float) -> list[Caller]:
        return [c for c in self.with_oracle if any(lo <= c.arrival - ch < hi for ch in self.scenario.changes)]

    def around_change(self) -> list[Caller]:
        return [c for c in self.callers if any(abs(c.arrival - ch) < CHANGE_WINDOW for ch in self.scenario.changes)]


def table(r: Result) -> str:
    cs = r.callers
    waits = r.waits(cs)
    mean_wait = sum(waits) / len(waits)
    orc = r.with_oracle
    lines = [f"### {r.scenario.name}", "",
             f"{len(cs)} delayed callers in {1 + len(r.scenario.coverage_seeds)} runs after a cold first run of "
             f"{len(r.cold)} (mean potential wait {mean_wait:.0f} s), "
             f"{len(orc)} of the first run's scored by the oracle; simulated in {r.seconds:.0f} s", "",
             "| method | efficiency vs oracle | RRASE | bias (s) |", "| --- | ---: | ---: | ---: |"]
    for m in METHODS:
        ase = r.ase(cs, m)
        bias = sum(c.preds[m] - c.potential for c in cs) / len(cs)  # type: ignore[operator]
        lines.append(f"| {m} | {r.efficiency(m):.3f} | {math.sqrt(ase) / mean_wait:.3f} | {bias:+.1f} |")
    oase = r.ase(orc, "oracle")
    lines.append(f"| oracle | 1.000 | {math.sqrt(oase) / mean_wait:.3f} (its callers) | "
                 f"{sum(c.oracle - c.potential for c in orc) / len(orc):+.1f} |")  # type: ignore[operator]
    lines += ["", "| holdfast range [95% interval] | overall | " + " | ".join(BANDS) + " |",
              "| --- | ---: |" + " ---: |" * len(BANDS)]
    for level in (80, 90):
        cells = [r.covers(r.band(b), level) for b in range(len(BANDS))]
        lines.append(f"| {level}% covers | {r.covers(cs, level)} | " + " | ".join(cells) + " |")
    for k in r.classes:  # priority classes (higher first)
        for level in (80, 90):
            cells = [r.covers(r.band(b, r.of_class(k)), level) for b in range(len(BANDS))]
            lines.append(f"| {level}% covers, class {k} | {r.covers(r.of_class(k), level)} | " + " | ".join(cells) + " |")
    for level in (80, 90):  # the new queue's first run, calibrated from nothing (not in the targets)
        cells = [r.covers(r.band(b, r.cold), level) for b in range(len(BANDS))]
        lines.append(f"| {level}% covers, first run (cold) | {r.covers(r.cold, level)} | " + " | ".join(cells) + " |")
    for k in r.classes:
        ks = r.of_class(k)
        lines.append(f"\nclass {k}: {len(ks)} callers, holdfast bias {sum(c.preds['holdfast'] - c.potential for c in ks) / max(1, len(ks)):+.1f} s"  # type: ignore[operator]
                     + (" (the oracle scores this class only)" if k == r.classes[-1] else ""))
    mean_ms, p90_ms = r.next_ms()
    lines.append(f"\nnext-in-line estimate: {mean_ms:.2f} ms mean, {p90_ms:.2f} ms at the 90th percentile "
                 f"({len(r.next_times)} estimates, CPU time)")
    if r.scenario.changes:
        after = r.after_change()
        ratio = r.ase(after, "holdfast") / r.ase(after, "oracle") if after else math.nan
        lines += ["", f"15 min after each change ({len(after)} callers): holdfast ASE / oracle ASE = {ratio:.2f} "
                      f"(v1: {r.ase(after, 'v1') / r.ase(after, 'oracle'):.2f}); 80% range covers "
                      f"{r.coverage(r.around_change(), 80):.1%} within 15 min either side", "",
                  "| minutes after a change | callers | holdfast ASE / oracle ASE | holdfast bias (s) | oracle bias (s) |",
                  "| --- | ---: | ---: | ---: | ---: |"]
        for lo, hi in ((0, 15), (15, 30), (30, 60), (60, 120), (120, 240)):
            cs = r.since_change(lo * 60.0, hi * 60.0)
            if cs:
                lines.append(f"| {lo}-{hi} | {len(cs)} | {r.ase(cs, 'holdfast') / r.ase(cs, 'oracle'):.2f} | "
                             f"{sum(c.preds['holdfast'] - c.potential for c in cs) / len(cs):+.1f} | "  # type: ignore[operator]
                             f"{sum(c.oracle - c.potential for c in cs) / len(cs):+.1f} |")  # type: ignore[operator]
    return "\n".join(lines) + "\n"


def targets(results: list[Result], timing_us: float) -> list[str]:
    out = []

    def verdict(ok: bool, text: str) -> None:
        out.append(f"{'MET' if ok else 'NOT MET'} {text}")

    def coverage_verdict(r: Result, cs: list[Caller], level: int, what: str) -> None:
        cov, (lo, hi) = r.coverage(cs, level), r.interval(cs, level)
        ok = abs(cov - level / 100) <= 0.02
        # a miss whose interval reaches the target band may be the run's noise; one beyond it is not
        noise = not ok and lo <= level / 100 + 0.02 and hi >= level / 100 - 0.02
        verdict(ok, f"{level}% coverage within 2 points: {what}: {r.covers(cs, level)}" +
                (" (interval reaches the band: may be noise)" if noise else ""))

    for r in results:
        name = r.scenario.name
        eff = r.efficiency("holdfast")
        verdict(eff >= 0.90, f"efficiency >= 0.90 of the oracle: {name}: {eff:.3f}")
        for level in (80, 90):
            coverage_verdict(r, r.callers, level, name)
            for b in range(len(BANDS)):
                cs = r.band(b)
                if len(cs) < 200:
                    continue  # too few to judge 2 points
                coverage_verdict(r, cs, level, f"{name}, {BANDS[b]}")
            for k in r.classes:
                for b in [None, *range(len(BANDS))]:
                    cs = r.of_class(k) if b is None else r.band(b, r.of_class(k))
                    if len(cs) >= 200:
                        coverage_verdict(r, cs, level, f"{name}, class {k}" + ("" if b is None else f", {BANDS[b]}"))
        mean_ms, _ = r.next_ms()
        if not math.isnan(mean_ms):
            verdict(mean_ms < 2.0, f"next-in-line estimate under 2 ms: {name}: {mean_ms:.2f} ms (mean CPU time)")
        if r.scenario.changes:
            after = r.after_change()
            ratio = r.ase(after, "holdfast") / r.ase(after, "oracle")
            verdict(ratio <= 1.25, f"error 15 min after a change <= 1.25x the oracle's: {name}: {ratio:.2f}x")
    verdict(timing_us < 1000, f"one estimate at 2,000 ahead (100 busy agents) under 1 ms: {timing_us:.0f} us")
    return out


def time_one_estimate() -> float:
    rng = random.Random(9)
    est = WaitEstimator(prior_service_seconds=300.0)
    for i in range(2000):
        est.observe(QueueEvent(QueueEventKind.SERVICE_END, float(i), rng.lognormvariate(5.5, 0.6)))
    busy = [BusyAgent(rng.uniform(0, 900)) for _ in range(100)]
    best = math.inf
    for _ in range(5):
        t0 = time.thread_time()
        for _ in range(50):
            est.estimate(3000.0, 2001, servers=100, busy=busy)
        best = min(best, (time.thread_time() - t0) / 50)
    return best * 1e6


METHOD = [
    "- Talk times are learned two ways over a 4 h half-life: a lognormal (mean from the arithmetic mean, "
    "spread from the second moment) and a histogram of finished talk times on a 1% log grid (bounded: "
    "bins up to a day, only occupied ones kept in the state). For regular talk times (cv^2 <= 0.1) the "
    "estimate uses the histogram, its shape scaled to the learned mean (so that a change the windows follow moves it at once) "
    "and blended with the lognormal while it holds few calls (weight w/(w+20)); wider-spread talk times "
    "keep the lognormal, whose tail is smooth and reaches past the longest call seen. A two-sided CUSUM of each "
    "finished call's standardised log talk time raises an alarm on a lasting shift and the long window "
    "then adopts a 10-minute one (counted as 10 calls; the histogram's old shape as 30).",
    "- Before any of the new calls ends: the calls begun lately (weighted by exp(-age / 8 min) by when "
    "they began) estimate a shift of the log talk time by a censored lognormal likelihood, a finished "
    "call by its talk time, a call in progress by having lasted its elapsed time (calls lasting longer "
    "than the learned distribution says are evidence of a change). The shift counts as far as it "
    "stands out of its noise (soft threshold at 2 standard errors, sandwich variance), so a steady "
    "queue keeps its long memory.",
    "- Each busy agent's call has lasted `elapsed` seconds: its end is the talk-time distribution "
    "conditioned on lasting longer. After it, fresh calls: for regular talk times (cv^2 <= 0.1) the "
    "j-th call after the current one ends at the residual plus j talk times, normal with their summed "
    "variance (the count's variance from the nested events, not a straight line); otherwise the next "
    "one exactly and the later ones at rate 1/m with offset (cv^2-1)/2 (reached slowly for heavy "
    "tails). Agents with an announced sign-off free nobody after it; agents expected to sign in free a "
    "place when they do. M(t) = expected departures within t, summed over agents grouped by elapsed time.",
    "- Elapsed times are trusted as far as the talk times look lognormal (their log-spread against "
    "ln(1 + cv^2)); memoryless-like talk times (many very short calls) make elapsed times nearly "
    "worthless, and the agents are then counted as anywhere in their calls.",
    "- Patience: abandonments over waiting exposure per waiting-time bin, each bin shrunk toward the bin "
    "before it (long waits few callers reach keep the last well-learned hazard); those ahead, taken as "
    "having waited evenly from 0 to the head of the line's wait, abandon at the hazard of their own waits.",
    "- The caller next in line waits for the first call to end: its distribution exactly (the product "
    "of the busy agents' conditional survivals), its range a gamma with that mean fitted to its 10% and "
    "90% quantiles (the shortest of many bounded residuals piles up near 0, which a gamma matched by "
    "moments misses). With 1-60 ahead and regular talk times (cv^2 <= 0.1): P(wait > t) = "
    "P(N(t) + A(t) <= n), departures N (mean M(t), variance from the count) and abandonments among those "
    "ahead A, normal with continuity correction, integrated for the mean and variance. Further down the "
    "line, or with Poisson-like departures: departure n+1 less those ahead who abandon as a "
    "hypoexponential count in departure time, mapped to seconds through M^-1 (half a step earlier "
    "where departures are regular, a second-order term), its variance from the departures' index of dispersion.",
    "- Ranges: a gamma (mean and variance, or fitted as above), at quantile levels calibrated online "
    "per position band (0, 1-4, 5-19, 20+ ahead) by Kaplan-Meier over where past outcomes fell "
    "(abandoners censored, 24 h half-life); each band is shrunk toward the nominal levels (weight "
    "w/(w+25)), not toward the pooled calibration (mostly the largest band's error: it narrowed the surge's "
    "next-in-line ranges to 76% for 80%), and each tail is clamped within a factor 3 of nominal. "
    "The 80% and 90% ranges come from the same estimate (`range_at`).",
    "- Production: `CallFlow.estimate` passes the store's busy agents with the time each went busy "
    "(elapsed) and their announced sign-off (the agents API's `until`); a ticket keeps how many were "
    "ahead when told, so outcomes are calibrated per position band there as here. The estimator's state "
    "(one store item per queue) carries the histogram; states saved before it load with an empty one.",
    "- Agents away (a break, wrap-up, a call of their own) serve nobody until their state's learned length "
    "is over, given how long it has lasted. Agents also go away between calls: the share of call ends "
    "after which they did (times away ended over calls ended, learned per queue) frees nobody for the "
    "line, so the departures are thinned by it, and for the caller next in line each agent is still "
    "unavailable at t with probability q S_away(t) + (1 - q S_away(t)) S(e + t) / S(e) (q the share). "
    "Without it every call's end freed an agent: the breaks scenario's waits were 11 s short on average.",
]


LIMITS = [
    "- A change in talk times cannot be seen in the first minutes: the calls that end then mostly began "
    "before the change, and the oracle is given the new distribution at once. The table of minutes after "
    "the change shows how fast holdfast catches up (CUSUM alarm after some 70 calls).",
    "- The shift scenario tells holdfast of every sign-off and sign-in 2 h ahead. In production agents "
    "announce their sign-off (`until`), and a queue's `roster` (chalicelib/domain/roster.py, "
    "docs/queues.md) announces its step-ups: `CallFlow.estimate` passes `queue.roster.sign_ins(...)`, "
    "the sign-ins within 2 hours, as `joining`. What remains: a roster is the admin's plan, not who "
    "actually signs in (late, absent or extra agents are learned only once they take calls), and only "
    "busy agents' sign-offs reach the estimate (an idle agent takes the next caller at once).",
    "- The recent-shift estimate trusts that every call begun on a Holdfast bridge is either among the "
    "busy agents' calls or has reported its end (a lost end drops that call from the evidence); an "
    "estimator state saved before it has no recent finished calls, and calls in progress then read long "
    "for the first minutes (the prior of 3 calls and the soft threshold hold that back).",
    "- Callers ahead are known by the head of the line's wait only (what the store's snapshot gives), "
    "not each one's wait: the oracle knows them all, which is most of what holdfast still lacks in the "
    "surge's 20+ band. The histogram stands for talk times only up to cv^2 0.1: with it the "
    "lognormal scenarios lost efficiency (heavy tails 0.98 -> 0.93, patience mixture 0.99 -> 0.89, "
    "shift 1.03 -> 0.93 in shorter runs: its thin, jagged tail sets the residual of long calls in "
    "progress), so there the lognormal stays; the regular ones gained (surge 0.89 -> 0.96).",
    "- Some position bands are thin (the caller next in line: some 14 an hour with 40 agents); their "
    "scenarios get more coverage-only runs so that 2 points can be decided, and a miss whose interval "
    "still reaches the band is marked as such.",
    "- A new queue's ranges are calibrated from nothing: each table's 'first run (cold)' rows show "
    "its first run, which the targets do not score. There the 20+ band under-covers where it comes in "
    "a few large bursts (80%: heavy tails 76.7%, M/M/100+M 74.9%, the patience mixture 72.5% of 138 "
    "callers; the talk-time change's is within 2 points): over a whole run the band's "
    "Kaplan-Meier levels agree with the potential waits' PITs within a point (censoring is not the "
    "cause), but the levels in force during the first bursts come from the one or two before, and "
    "callers in one burst share the line's state, so a few hundred outcomes are a handful of "
    "independent ones. The scored runs start from the calibration the run before left, as a queue's "
    "saved state carries it in production (only the calibration: talk times and patience are learned "
    "afresh each run). Learning the band more slowly instead fixed some bands and broke others "
    "(ranges too wide where the raw ranges need their correction early), so it is not in.",
    "- Agents who go away between calls: the share is times away over calls ended, so time away begun "
    "from idle counts as if it followed a call (it errs toward longer waits). The departures are thinned "
    "by the share, but an agent who goes away during a caller's wait and comes back before it ends is "
    "not counted back (only agents away now are): far down the line the team's pace is taken as "
    "s (1 - q) / m where it is s / (m + q D); in the breaks scenario the 20+ band is the one still short.",
]


def write_report(out: Path, results: list[Result], verdicts: list[str], quick: bool, total: float) -> None:
    out.mkdir(parents=True, exist_ok=True)
    parts = ["# Wait-time estimates: benchmark", "",
             "Produced by `python bench/ewt.py`" + (" --quick (short runs)" if quick else "") +
             f" in {total:.0f} s; the method is described in `bench/ewt.py` and `chalicelib/domain/estimator.py`.",
             "", "## Targets", ""]
    parts += [f"- {v}" for v in verdicts] + ["", "## The estimator in brief", "", *METHOD, "", "## Reading the numbers", "",
              "- Scored are callers who had to wait, against their *potential* wait (an abandoner keeps its "
              "place as a shadow caller that takes no agent), so abandonment does not flatter any method.",
              "- The oracle is the Monte Carlo conditional mean given everything the system could know and "
              "the true distributions; efficiency is its squared error over the method's on the same callers. "
              "Sampling noise of a finite run (callers in one run are strongly correlated) is several percent.",
              f"- Coverage is counted over {1 + len(COVERAGE_SEEDS)} runs of each scenario, more where a "
              "position band is thin (each table says how many; the oracle scores "
              "the first). The runs follow one another as one queue's days: an unscored cold first run, "
              "then each run starting from the range calibration the run before left (the queue's saved "
              f"state in production); the cold run's coverage is shown apart. Its 95% interval comes from batch means over {BATCHES} stretches of consecutive "
              "callers (neighbours in time share the line's state, so a binomial interval would be too narrow). "
              "A miss whose interval reaches the target band is marked: it may be noise.",
              "- Coverage per band counts callers by how many were ahead of them when told (after idle agents).",
              "", "## Known limits", "", *LIMITS, "", "## Results", ""]
    parts += [table(r) for r in results]
    try:
        plots = plot(out, results)
        parts += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots]
    except ImportError:
        parts += ["(plots need matplotlib: `make bench` installs it)"]
    (out / "ewt.md").write_text("\n".join(parts) + "\n", encoding="utf-8")


def plot(out: Path, results: list[Result]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r.scenario.name.split(" (")[0].split(",")[0] for r in results]
    fig, ax = plt.subplots(figsize=(11, 5))
    width = 0.16
    for i, m in enumerate(METHODS):
        ax.bar([x + i * width for x in range(len(results))], [r.efficiency(m) for r in results], width, label=m)
    ax.axhline(0.9, color="k", lw=0.8, ls="--")
    ax.set_xticks([x + 2 * width for x in range(len(results))], names, rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("efficiency vs the oracle (higher is better)")
    ax.legend()
    ax.set_title("Wait estimate efficiency by method (dashed: target 0.90)")
    fig.tight_layout()
    eff = out / "ewt-efficiency.png"
    fig.savefig(eff, dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(11, 4))
    for level, marker in ((80, "o"), (90, "s")):
        ax.plot(names, [r.coverage(r.callers, level) for r in results], marker + "-", label=f"{level}% overall")
        for b in range(len(BANDS)):
            ax.plot(names, [r.coverage(r.band(b), level) if len(r.band(b)) >= 200 else math.nan for r in results],
                    marker, alpha=0.5, ms=4)
        ax.axhspan(level / 100 - 0.02, level / 100 + 0.02, alpha=0.15)
    ax.set_ylabel("share of waits inside the range")
    ax.tick_params(axis="x", labelrotation=30, labelsize=7)
    ax.legend()
    ax.set_title("Coverage of holdfast's ranges, overall (lines) and per position band (dots); bands: +/- 2 points")
    fig.tight_layout()
    coverage = out / "ewt-coverage.png"
    fig.savefig(coverage, dpi=110)
    plt.close(fig)
    return [eff, coverage]
