"""The replay's report: one HTML page (uPlot, vendored in replay/static and inlined: the page loads
nothing from anywhere) and CSV files, per day and overall."""
from __future__ import annotations

import csv
import html
import json
import math
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench.day import ROWS as DAY_ROWS
from bench.day import cell as day_cell

from .analysis import ABANDON_GOAL, SERVICE_GOAL, Profile
from .load import ImportedLog
from .run import Result
from .sim import MAX_PATIENCE

STATIC = Path(__file__).with_name("static")
# (label, key, format, scale): day.md's table of DESIGN.md's measures, with "lost" beside "not answered live"
ROWS = [("calls offered", *row[1:]) if row[1] == "offered" else row for row in DAY_ROWS]
ROWS.insert(next(i for i, row in enumerate(ROWS) if row[1] == "not_answered_live") + 1,
            ("lost (abandoned, put out)", "lost", "{:.1f}%", 100))
POLICY_NAMES = {"log": "the log", "none": "no callback", "unitalk": "UniTalk-style", "comagic_strict": "CoMagic strict",
                "comagic_waiting": "CoMagic waiting", "holdfast": "Holdfast"}
COLORS = {"log": "#333333", "none": "#7f7f7f", "unitalk": "#1f77b4", "comagic_strict": "#ff7f0e",
          "comagic_waiting": "#9467bd", "holdfast": "#2ca02c"}


def with_lost(m: dict[str, Any]) -> dict[str, Any]:
    """'lost': not answered live and no callback chosen (DESIGN.md)."""
    out = dict(m)
    nal, chose = out.get("not_answered_live"), out.get("chose_callback")
    if isinstance(nal, tuple):
        out["lost"] = (nal[0] - chose[0], nal[1])  # type: ignore[index]
    elif nal is not None and chose is not None:
        out["lost"] = nal - chose
    return out


def cell(value: Any, fmt: str, scale: float) -> str:
    """A measure as day.md prints it (mean ± 95% half-width); a bare value (the log's) alone."""
    mean, half = value if isinstance(value, tuple) else (value, float("nan"))
    return day_cell((float("nan") if mean is None else mean, float("nan") if not half else half), fmt, scale)


def write(out: Path, log: ImportedLog, prof: Profile, result: Result, source: str) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {"html": out / "report.html", "csv": out / "replay.csv", "validation": out / "validation.csv",
             "queue": out / "queue.json", "estimator": out / "estimator_state.json"}
    _csv(paths["csv"], result)
    _validation_csv(paths["validation"], result)
    paths["queue"].write_text(json.dumps(result.settings, indent=2) + "\n", encoding="utf-8")
    from chalicelib.domain.queues import parse_queue

    from .analysis import seed_state
    end = log.midnight(log.last_day) + 86400
    state = seed_state(log, parse_queue(result.base_queue), end)
    paths["estimator"].write_text(json.dumps(state) + "\n", encoding="utf-8")
    paths["html"].write_text(page(log, prof, result, source), encoding="utf-8")
    return paths


def _csv(path: Path, result: Result) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["day", "policy", "measure", "mean", "ci95"])
        keys = [k for _, k, _, _ in ROWS]
        for policy, overall in [("log", {k: (v, None) for k, v in result.log_overall.items()}), *result.overall.items()]:
            m = with_lost(overall)
            for key in keys:
                if key in m:
                    w.writerow(["overall", policy, key, _num(m[key][0]), _num(m[key][1])])
        for d, m in sorted(result.log_days.items()):
            m = with_lost(m)
            for key in keys:
                if key in m:
                    w.writerow([d.isoformat(), "log", key, _num(m[key]), ""])
        for policy, days in result.per_day.items():
            for d, m in sorted(days.items()):
                m = with_lost(m)
                for key in keys:
                    if key in m:
                        w.writerow([d.isoformat(), policy, key, _num(m[key][0]), _num(m[key][1])])
        for d, a in sorted(result.advice_days.items()):
            for key, value in a.items():
                w.writerow([d.isoformat(), "erlang_a", key, _num(value), ""])
        totals = {k: sum(a[k] for a in result.advice_days.values()) for k in ("advised_agent_hours", "staffed_agent_hours")}
        for key, value in totals.items():
            w.writerow(["overall", "erlang_a", key, _num(value), ""])


def _validation_csv(path: Path, result: Result) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["measure", "replay_no_callback", "ci95", "log", "tolerance_absolute", "tolerance_relative", "met"])
        for tol, mean, half, ref, ok in result.validation:
            w.writerow([tol.measure, _num(mean), _num(half), _num(ref), tol.absolute, tol.relative, "MET" if ok else "NOT MET"])


def _num(x: Any) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return ""
    return f"{x:.6g}" if isinstance(x, float) else str(x)


# --- the page -----------------------------------------------------------------------------------

def _js(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, (list, tuple)):
        return [_js(v) for v in x]
    if isinstance(x, dict):
        return {k: _js(v) for k, v in x.items()}
    return x


def _series(log: ImportedLog, prof: Profile, result: Result) -> dict[str, Any]:
    zone = ZoneInfo(log.tz)
    days = sorted(result.log_days)
    xs = [datetime.combine(d, time(12), tzinfo=zone).timestamp() for d in days]

    def per(policy_days: dict[date, Any], key: str, tuple_: bool = True) -> list[Any]:
        out = []
        for d in days:
            m = policy_days.get(d)
            v = None if m is None else with_lost(m).get(key)
            out.append(None if v is None else (v[0] if tuple_ else v))
        return out

    daily = {}
    for key in ("unrecovered", "service_level", "lost", "occupancy"):
        series = {"log": per(result.log_days, key, tuple_=False)}
        for policy, pd in result.per_day.items():
            series[policy] = per(pd, key)
        daily[key] = series
    advised = [result.advice_days[d]["advised_agent_hours"] for d in days]
    staffed = [result.advice_days[d]["staffed_agent_hours"] for d in days]
    grid = [t for t in range(0, 1801, 15)]
    survival = [prof.patience.survival(t) for t in grid]
    talks = sorted(prof.talk.values)
    talk_q = [talks[min(len(talks) - 1, int(q / 100 * len(talks)))] / 60 for q in range(1, 100)] if talks else []
    waits = sorted(prof.waits_answered.values)
    wait_q = [waits[min(len(waits) - 1, int(q / 100 * len(waits)))] for q in range(1, 100)] if waits else []
    return _js({"days": xs, "daily": daily, "advised": advised, "staffed": staffed,
                "week": {"x": list(range(48 * 7)), "arrivals": prof.arrivals_week, "staffed": prof.staffed_week,
                         "advised": result.advice_week},
                "patience": {"x": grid, "survival": survival},
                "quantiles": {"x": list(range(1, 100)), "talk": talk_q, "wait": wait_q},
                "colors": COLORS, "names": POLICY_NAMES})


def page(log: ImportedLog, prof: Profile, result: Result, source: str) -> str:
    e = html.escape
    policies = ["log", *result.overall]
    overall = {"log": with_lost({k: (v, float("nan")) for k, v in result.log_overall.items()}),
               **{p: with_lost(m) for p, m in result.overall.items()}}
    head = "".join(f"<th>{e(POLICY_NAMES.get(p, p))}</th>" for p in policies)
    body = []
    for label, key, fmt, scale in ROWS:
        cells = "".join(f"<td>{e(cell(overall[p].get(key, (float('nan'), float('nan'))), fmt, scale))}</td>"
                        for p in policies)
        body.append(f"<tr data-measure='{key}'><th>{e(label)}</th>{cells}</tr>")
    vrows = []
    for tol, mean, half, ref, ok in result.validation:
        scale, unit = (1, " s") if tol.measure == "asa" else (100, "%")
        width = f"± {tol.absolute * scale:g}{unit}" + (f" or {tol.relative:.0%}" if tol.relative else "")
        half_text = "" if math.isnan(half) else f" ± {half * scale:.1f}"
        vrows.append(f"<tr class='{'met' if ok else 'notmet'}'><th>{e(tol.label)}</th><td>{mean * scale:.1f}{unit}"
                     f"{half_text}</td><td>{ref * scale:.1f}{unit}</td><td>{e(width)}</td>"
                     f"<td>{'MET' if ok else 'NOT MET'}</td></tr>")
    advised_total = sum(a["advised_agent_hours"] for a in result.advice_days.values())
    staffed_total = sum(a["staffed_agent_hours"] for a in result.advice_days.values())
    o = result.options
    m = o.model
    notes = {k: v for k, v in log.notes.items() if v}
    settings_json = json.dumps({"shared by every policy": result.base_queue, "Holdfast's own": result.holdfast}, indent=2)
    skipped = ", ".join(f"{POLICY_NAMES.get(p, p)} {v:,.0f}" for p, v in result.skipped_repeats.items())
    assumptions = [
        f"<b>Arrivals</b> are the log's: each call at its time, {prof.calls:,} calls from {log.first_day} to "
        f"{log.last_day} (time zone {e(log.tz)}).",
        "<b>Calling again</b> is the log's: a call within 24 h of the same number's call that was not answered "
        "live is that caller calling again; it is made in a replay only if the caller has not talked to an "
        f"agent since (calls not made, per run: {e(skipped) or 'none'}). A caller the log saw answered whom a "
        f"replay leaves unanswered calls again with the log's own chance ({prof.redial_share:.0%} of missed "
        "callers did) after one of the log's own delays.",
        "<b>Staffing</b> is the log's: as many agents signed in (and not paused) as the log had, minute by minute"
        + (" (the log signs nobody in: agents are taken as present from the half hour of their first call of a "
           "day to that of their last)" if log.agents_inferred else "") + ". An agent signed off mid-call finishes it.",
        "<b>Patience</b> is the log's: a caller who hung up waited exactly as long as the log says; one it saw "
        "answered, put out or leaving by a key would have waited longer, and is drawn from the log's patience "
        "curve (abandonments over exposure per waiting-time bin, as Holdfast's estimator learns it) beyond "
        f"the wait they had (mean patience {prof.patience_mean:,.0f} s; capped at {MAX_PATIENCE / 3600:.0f} h).",
        f"<b>Talk time</b> is the log's for every call it saw answered (mean {prof.talk_mean:,.0f} s); callers "
        "it never saw answered take one of the log's talk times, drawn. A callback's conversation lasts the "
        f"caller's talk time. <b>Wrap-up</b>: {prof.wrap:,.0f} s after each call"
        + (" (the log's after-call work)." if prof.wrap_recorded else " (the log does not record it; assumed).")
        + " An agent picks up a bridge in 3 s.",
        f"<b>The offer</b>: a caller who hears \"press 1\" presses it with probability {m.accept:.0%}, once, "
        "15 s after the offer starts, if still holding (the published US bank figure).",
        f"<b>Answering a callback</b>: a person answers with probability {m.answer_floor:.2f} + "
        f"{m.answer_now - m.answer_floor:.2f} × exp(−d / {m.answer_tau / 60:.0f} min), d how late it is (after "
        "the time told, or after the call ended); otherwise it rings out, or an answering machine "
        f"({m.machine:.0%} of those) picks up. Each attempt an independent draw.",
        f"<b>Repetitions</b>: {o.reps} run(s) of the unknowns above (seeds {o.seed}-{o.seed + o.reps - 1}); every "
        "policy meets the same draws. ± is the 95% interval (t) over the runs.",
        f"<b>Erlang A</b> (M/M/N+M) advises, per half hour, the fewest agents answering {SERVICE_GOAL:.0%} within "
        f"20 s with at most {ABANDON_GOAL:.0%} abandoning, for that half hour's arrivals, the log's handle time "
        f"(talk + wrap-up, {prof.talk_mean + prof.wrap:,.0f} s) and patience ({prof.patience_mean:,.0f} s): "
        f"{advised_total:,.0f} agent-hours over the log, against {staffed_total:,.0f} signed in.",
        f"<b>Segments</b>: the replay runs {o.segment_days}-day segments, each from {o.warm_days} day(s) before "
        f"(the line and the estimator fill up, seeded with the log's last 48 h) to {o.cool_days} day(s) after "
        "(the last days' callbacks are made, the next days' calls competing); a day counts in its own segment only.",
        "The peer policies and Holdfast are described in docs/day.md; Holdfast runs with the settings below.",
    ]
    data = json.dumps(_series(log, prof, result))
    uplot_js = (STATIC / "uPlot.iife.min.js").read_text(encoding="utf-8")
    uplot_css = (STATIC / "uPlot.min.css").read_text(encoding="utf-8")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>What Holdfast would have done with these calls</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<style>{uplot_css}
body{{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1180px;color:#222;padding:0 16px}}
table{{border-collapse:collapse;margin:8px 0 20px}} th,td{{padding:3px 9px;border-bottom:1px solid #ddd;text-align:right}}
th:first-child{{text-align:left}} tr.met td:last-child{{color:#17692b;font-weight:600}}
tr.notmet td:last-child{{color:#b00020;font-weight:600}} .chart{{margin:6px 0 22px}} h2{{margin-top:30px}}
pre{{background:#f5f5f5;padding:8px;overflow:auto}} li{{margin:4px 0}} .muted{{color:#666}}</style></head>
<body>
<h1>What Holdfast would have done with these calls</h1>
<p class="muted">{e(source)} · {prof.calls:,} calls, {log.first_day} to {log.last_day} · queue {e(log.queue or '(the only one)')}
 · replayed in {result.seconds:,.0f} s</p>
<h2>Overall</h2>
<table id="overall"><thead><tr><th>measure</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>
<p>Shares are of calls offered. "Unrecovered": not answered live and the caller never talked to an agent
afterwards (by callback or by calling again). Per day in <code>replay.csv</code>.</p>
<h2>Checked against the log</h2>
<p>The no-callback replay should do what the log says happened; how far it may differ, and why, is in docs/replay.md.</p>
<table id="validation"><thead><tr><th>measure</th><th>replay, no callback</th><th>the log</th><th>tolerance</th><th></th></tr></thead>
<tbody>{''.join(vrows)}</tbody></table>
<h2>Per day</h2>
<div class="chart" id="chart-unrecovered"></div>
<div class="chart" id="chart-service"></div>
<div class="chart" id="chart-occupancy"></div>
<div class="chart" id="chart-agent-hours"></div>
<h2>The log</h2>
<div class="chart" id="chart-week"></div>
<div class="chart" id="chart-patience"></div>
<div class="chart" id="chart-quantiles"></div>
<h2>The caller model: what is the log's and what is assumed</h2>
<ul id="assumptions">{''.join(f'<li>{a}</li>' for a in assumptions)}</ul>
<h2>Settings</h2>
<pre>{e(settings_json)}</pre>
<p>The queue the log suggests (its prior, hours and roster) is in <code>queue.json</code>; the estimator's state
at the log's end in <code>estimator_state.json</code>.</p>
<h2>What the import left out</h2>
<pre>{e(json.dumps(notes, indent=2, default=str))}</pre>
<script>{uplot_js}</script>
<script>
const D = {data};
const W = Math.min(1140, document.body.clientWidth - 20);
function lines(id, title, x, series, opts) {{
  const el = document.getElementById(id);
  const data = [x];
  const s = [{{}}];
  for (const [name, ys, color, dash] of series) {{
    data.push(ys);
    s.push({{label: name, stroke: color, width: 2, dash: dash, spanGaps: true,
            value: (u, v) => v == null ? "-" : (opts.fmt ? opts.fmt(v) : v.toFixed(1))}});
  }}
  const xr = opts.time ? {{time: true, auto: false, range: [x[0] - 43200, x[x.length - 1] + 43200]}} : {{time: false}};
  const o = {{title, width: W, height: 260, series: s, scales: {{x: xr}},
             axes: [{{label: opts.xlabel || ""}}, {{label: opts.ylabel || "", size: 60}}]}};
  el.dataset.series = String(series.length);
  el.uplot = new uPlot(o, data, el);
}}
const pct = (v) => (100 * v).toFixed(1) + "%";
const percent = (obj) => Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, v.map(x => x == null ? null : 100 * x)]));
function perPolicy(key) {{
  const d = percent(D.daily[key]);
  return Object.keys(d).map(p => [D.names[p] || p, d[p], D.colors[p], p === "log" ? [4, 4] : undefined]);
}}
lines("chart-unrecovered", "Unrecovered calls per day (% of offered)", D.days, perPolicy("unrecovered"), {{time: true, ylabel: "%"}});
lines("chart-service", "Service level per day (answered live within 20 s, % of offered)", D.days, perPolicy("service_level"), {{time: true, ylabel: "%"}});
lines("chart-occupancy", "Agent occupancy per day (%)", D.days, perPolicy("occupancy"), {{time: true, ylabel: "%"}});
lines("chart-agent-hours", "Agent-hours per day: signed in (the log) and what Erlang A would have advised", D.days,
      [["signed in", D.staffed, "#333"], ["Erlang A advised", D.advised, "#d62728"]], {{time: true, ylabel: "agent-hours"}});
lines("chart-week", "Per half hour of the week (Monday 00:00 first): calls, agents signed in, agents Erlang A advises", D.week.x,
      [["calls per half hour", D.week.arrivals, "#1f77b4"], ["agents signed in", D.week.staffed, "#333"],
       ["Erlang A advised", D.week.advised, "#d62728"]], {{xlabel: "half hour of the week"}});
lines("chart-patience", "Patience: share of callers still holding after t seconds (censored by service, as the estimator learns it)",
      D.patience.x, [["P(patience > t)", D.patience.survival.map(v => 100 * v), "#9467bd"]], {{xlabel: "seconds", ylabel: "%"}});
lines("chart-quantiles", "Quantiles: talk time (min) and wait of calls answered live (s)", D.quantiles.x,
      [["talk time (min)", D.quantiles.talk, "#2ca02c"], ["wait answered (s)", D.quantiles.wait, "#ff7f0e"]], {{xlabel: "percentile"}});
document.body.dataset.ready = "1";
</script>
</body></html>
"""
