"""A contact center's day, five ways: what a manager measures when Holdfast (its own code, in virtual
time through the in-memory adapters) and the peer policies meet the same callers.

Scenarios: `case`, shaped like the published CoMagic/Angstrem case (13 agents, 4x midday surge, talk
about 9 minutes, 3% hang up within 5 s, 37% accept the offer, no callback loses about 23%); `overload`,
the same queue overloaded all day. Every measure is DESIGN.md's, as mean and 95% interval over the
simulated days. The caller model and the results are in docs/day.md (this script writes it).

Usage: python bench/day.py [--days 20] [--quick] [--seed 7] [--out docs]
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.daysim import PEERS, POLICIES, Scenario, Sim, summarize, with_queue  # noqa: E402

CASE = Scenario("case", calls_per_hour=40.0)
OVERLOAD = Scenario("overload", calls_per_hour=27.0, all_day=True)  # 108 calls/h against ~82 agents can take
PUBLISHED_MISSED = "7.6% (Sep-Nov 2020) to about 9% (Apr 2021)"
# Holdfast settings swept for the trade-off curve (queue fields, docs/queues.md)
SWEEP: list[dict[str, Any]] = [
    {"live_guard": False},
    {},
    {"callback_reserve_agents": 2},
    {"callback_reserve_agents": 6},
    {"callback_guard_seconds": 20},
    {"callback_min_talk_seconds": 0},
    {"retry_delays_seconds": [0, 300, 600, 900]},
    {"offer_callback_within_day": False},
    {"recover_lost_calls": False},
]
# The same for the all-day overload: the offer cut-off against none
OVERLOAD_SWEEP: list[dict[str, Any]] = [{"offer_callback_within_day": False}]

ROWS = [("offered (calls/day)", "offered", "{:.0f}", 1), ("answered live", "answered_live", "{:.1f}%", 100),
        ("service level (20 s, of offered)", "service_level", "{:.1f}%", 100), ("ASA (s)", "asa", "{:.0f}", 1),
        ("abandoned under 5 s", "abandoned_short", "{:.1f}%", 100),
        ("abandoned 5 s and over", "abandoned_long", "{:.1f}%", 100),
        ("chose a callback (pressed 1)", "chose_callback", "{:.1f}%", 100),
        ("not answered live", "not_answered_live", "{:.1f}%", 100),
        ("recovered by callback", "recovered_callback", "{:.1f}%", 100),
        ("recovered by calling again", "recovered_call_again", "{:.1f}%", 100),
        ("unrecovered", "unrecovered", "{:.1f}%", 100),
        ("unrecovered, short hang-ups left out", "unrecovered_long", "{:.1f}%", 100),
        ("time to callback p50 (min)", "ttc_p50", "{:.0f}", 1), ("time to callback p90 (min)", "ttc_p90", "{:.0f}", 1),
        ("agent occupancy", "occupancy", "{:.1f}%", 100), ("dials per call recovered by callback", "dials_per_recovered", "{:.2f}", 1),
        ("promise kept (first dial by the time told)", "promise_kept", "{:.1f}%", 100)]


class Progress:
    def __init__(self, total: int) -> None:
        self.total, self.done, self.started = total, 0, time.perf_counter()

    def tick(self, label: str) -> None:
        self.done += 1
        width = 30
        filled = int(width * self.done / self.total)
        elapsed = time.perf_counter() - self.started
        print(f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} simulated days "
              f"{elapsed:5.0f} s  {label:<34}", end="", file=sys.stderr, flush=True)


def simulate(s: Scenario, policy: str, days: int, seed: int, progress: Progress) -> tuple[dict, list[float]]:
    label = f"{s.name} {policy} {s.queue or ''}"[:34]
    sim = Sim(s, policy, days, seed)
    sim.on_day = lambda: progress.tick(label)
    per_day = sim.run().day_metrics()
    return summarize(per_day), [x for d in per_day for x in d["_ttc"]]


def cell(stat: tuple[float, float], fmt: str, scale: float) -> str:
    mean, half = stat
    if math.isnan(mean):
        return "-"
    text = fmt.format(mean * scale)
    return text if math.isnan(half) else f"{text} ± {fmt.format(half * scale).rstrip('%')}"


def table(results: dict[str, dict], columns: list[str]) -> str:
    lines = ["| measure | " + " | ".join(columns) + " |", "| --- |" + " ---: |" * len(columns)]
    for label, key, fmt, scale in ROWS:
        lines.append(f"| {label} | " + " | ".join(cell(results[c][key], fmt, scale) for c in columns) + " |")
    return "\n".join(lines)


def verdicts(case: dict[str, dict], overload: dict[str, dict]) -> list[tuple[bool, str]]:
    hf, none = case["holdfast"], case["none"]
    unrec, sl = hf["unrecovered"][0], hf["service_level"][0]
    beats = all(unrec < case[p]["unrecovered"][0] and sl >= case[p]["service_level"][0] for p in PEERS)
    kept = hf["promise_kept"][0]
    o_hf, o_none = overload["holdfast"], overload["none"]
    return [
        (unrec <= 0.03, f"case: Holdfast unrecovered {unrec:.1%} <= 3% (short hang-ups included)"),
        (sl >= none["service_level"][0], f"case: Holdfast service level {sl:.1%} >= no callback's "
                                         f"{none['service_level'][0]:.1%}"),
        (beats, "case: Holdfast beats every peer policy on unrecovered and service level at once"),
        (kept >= 0.9, f"case: promise kept {kept:.1%} >= 90% (first attempt dialed by the time told)"),
        (o_hf["unrecovered"][0] <= o_none["unrecovered"][0],
         f"overload: Holdfast unrecovered {o_hf['unrecovered'][0]:.1%} <= no callback's {o_none['unrecovered'][0]:.1%}"),
        (o_hf["service_level"][0] >= o_none["service_level"][0],
         f"overload: Holdfast service level {o_hf['service_level'][0]:.1%} >= no callback's "
         f"{o_none['service_level'][0]:.1%}"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--days", type=int, default=20, help="simulated days per policy (>= 20 for the report)")
    parser.add_argument("--quick", action="store_true", help="4 days and no trade-off sweep: a smoke run")
    parser.add_argument("--out", default=str(ROOT / "docs"))
    args = parser.parse_args(argv)
    days = 4 if args.quick else args.days
    sweep = SWEEP[:2] if args.quick else SWEEP
    started = time.perf_counter()
    overload_sweep = [] if args.quick else OVERLOAD_SWEEP
    progress = Progress(days * (2 * len(POLICIES) + len(sweep) + len(overload_sweep)))
    case: dict[str, dict] = {}
    overload: dict[str, dict] = {}
    ttc: dict[str, list[float]] = {}
    for policy in POLICIES:
        case[policy], ttc[policy] = simulate(CASE, policy, days, args.seed, progress)
    for policy in POLICIES:
        overload[policy], _ = simulate(OVERLOAD, policy, days, args.seed, progress)
    curve: list[tuple[dict[str, Any], dict]] = []
    for settings in sweep:
        if not settings:
            curve.append((settings, case["holdfast"]))
            progress.done += days
            continue
        curve.append((settings, simulate(with_queue(CASE, **settings), "holdfast", days, args.seed, progress)[0]))
    overload_curve = [({}, overload["holdfast"])] + [
        (settings, simulate(with_queue(OVERLOAD, **settings), "holdfast", days, args.seed, progress)[0])
        for settings in overload_sweep]
    print(file=sys.stderr)
    checks = verdicts(case, overload)
    out = []
    out.append(f"Day like the published case ({days} simulated days per policy, seed {args.seed}):")
    out.append(table(case, list(POLICIES)))
    out.append("")
    out.append(f"All-day overload ({days} days):")
    out.append(table(overload, list(POLICIES)))
    out.append("")
    out.append("Validation against the published case: CoMagic-style callback, missed calls "
               f"(not answered live and never recovered) {PUBLISHED_MISSED} published; simulated: "
               f"strict {case['comagic_strict']['unrecovered'][0]:.1%}, waiting {case['comagic_waiting']['unrecovered'][0]:.1%}"
               f" (no callback: not answered live {case['none']['not_answered_live'][0]:.1%}, published 23%).")
    out.append("")
    out += [f"{'MET ' if ok else 'NOT MET'} {text}" for ok, text in checks]
    if curve:
        out.append("")
        out.append("Trade-off curve (Holdfast settings on the case day):")
        out.append(curve_table(curve))
    if overload_sweep:
        out.append("")
        out.append(f"All-day overload, Holdfast settings (no callback: unrecovered {overload['none']['unrecovered'][0]:.1%}, "
                   f"service level {overload['none']['service_level'][0]:.1%}):")
        out.append(curve_table(overload_curve))
    out.append(f"\n({time.perf_counter() - started:.0f} s)")
    text = "\n".join(out)
    print(text)
    write_report(Path(args.out), text, case, ttc, curve, days, args)
    return 0


def curve_table(curve: list[tuple[dict[str, Any], dict]]) -> str:
    lines = ["| settings | unrecovered | service level | p90 time to callback (min) | promise kept |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for settings, r in curve:
        name = ", ".join(f"{k}={v}" for k, v in settings.items()) or "defaults"
        lines.append(f"| {name} | {cell(r['unrecovered'], '{:.1f}%', 100)} | {cell(r['service_level'], '{:.1f}%', 100)}"
                     f" | {cell(r['ttc_p90'], '{:.0f}', 1)} | {cell(r['promise_kept'], '{:.1f}%', 100)} |")
    return "\n".join(lines)


def save(plt: Any, fig: Any, ax: Any, path: Path, xlabel: str, ylabel: str, title: str) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(out: Path, text: str, case: dict, ttc: dict[str, list[float]],
                 curve: list[tuple[dict[str, Any], dict]], days: int, args: argparse.Namespace) -> None:
    out.mkdir(parents=True, exist_ok=True)
    doc = (ROOT / "bench" / "day_model.md").read_text(encoding="utf-8")
    parts = [doc, "", "## Results", "",
             f"Produced by `python bench/day.py --days {days} --seed {args.seed}` (`make bench-day`).", "",
             "```", text, "```", ""]
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 5))
        for policy, r in case.items():
            ax.errorbar(100 * r["service_level"][0], 100 * r["unrecovered"][0], xerr=100 * r["service_level"][1],
                        yerr=100 * r["unrecovered"][1], fmt="o", label=policy, capsize=3)
        for settings, r in curve:
            if settings:
                name = ",".join(f"{k}={v}" for k, v in settings.items())
                ax.plot(100 * r["service_level"][0], 100 * r["unrecovered"][0], "k+")
                ax.annotate(name, (100 * r["service_level"][0], 100 * r["unrecovered"][0]), fontsize=6)
        ax.axhline(3, color="grey", linestyle=":", linewidth=0.8)
        save(plt, fig, ax, out / "day-tradeoff.png", "service level: answered live within 20 s, % of offered",
             "unrecovered, % of offered", "Case day: unrecovered vs service level (95% intervals; + Holdfast settings)")
        fig, ax = plt.subplots(figsize=(7, 4))
        for policy, xs in ttc.items():
            if xs:
                ax.hist([x / 60 for x in xs], bins=40, range=(0, 240), histtype="step", label=policy)
        save(plt, fig, ax, out / "day-ttc.png", "time to callback, minutes (call ended -> first attempt a person "
             "answered)", "recovered calls", "Case day: time to callback")
        parts += ["![unrecovered vs service level](day-tradeoff.png)", "", "![time to callback](day-ttc.png)", ""]
    except ImportError:
        parts += ["(plots need matplotlib: `make bench-day` installs it)"]
    parts += ["", (ROOT / "bench" / "day_findings.md").read_text(encoding="utf-8")]
    (out / "day.md").write_text("\n".join(parts) + "\n", encoding="utf-8")
    stale = out / "day-holding.png"
    if stale.exists():
        stale.unlink()


if __name__ == "__main__":
    sys.exit(main())
