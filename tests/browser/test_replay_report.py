"""The replay's report page in a real browser (the system Chromium, driven by Playwright): its charts
draw from the vendored uPlot, nothing is fetched from anywhere, and the page states the caller model.
The report comes from `python -m replay` run on a small queue_log, as a user runs it."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from bench.replay import Model, generate
from tests.browser.test_console_browser import CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("replay")
    log = work / "queue_log"
    generate(log, 500, seed=3, model=Model(calls_per_day=250.0))  # two days
    out = work / "report"
    done = subprocess.run([sys.executable, "-m", "replay", str(log), "--format", "queue_log", "--tz", "America/New_York",
                           "--out", str(out), "--reps", "2", "--workers", "1", "--policies", "none,unitalk,holdfast"],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    assert "calls replayed" in done.stderr  # the progress bar, on stderr
    return out


def test_the_csv_has_each_day_and_overall_for_each_policy(report: Path) -> None:
    with open(report / "replay.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    scopes = {(r["day"], r["policy"]) for r in rows if r["measure"] == "unrecovered"}
    days = sorted({d for d, _ in scopes if d != "overall"})
    assert len(days) == 2
    for policy in ("log", "none", "unitalk", "holdfast"):
        assert ("overall", policy) in scopes and all((d, policy) in scopes for d in days)
    measures = {r["measure"] for r in rows if r["policy"] == "holdfast"}
    assert {"lost", "recovered_callback", "unrecovered", "service_level", "ttc_p50", "occupancy"} <= measures
    assert {r["measure"] for r in rows if r["policy"] == "erlang_a"} >= {"advised_agent_hours", "staffed_agent_hours"}
    assert all(r["ci95"] != "" for r in rows if r["policy"] == "holdfast" and r["measure"] == "unrecovered")


def test_the_page_draws_its_charts_offline_and_states_the_caller_model(report: Path) -> None:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("no /usr/bin/chromium: `make test` installs it (make chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        fetched: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("request", lambda r: fetched.append(r.url))
        page.goto((report / "report.html").as_uri())
        page.wait_for_selector("body[data-ready='1']")
        assert not errors
        assert fetched == [(report / "report.html").as_uri()]  # the page alone: no script, style or font from elsewhere
        charts = ["unrecovered", "service", "occupancy", "agent-hours", "week", "patience", "quantiles"]
        for chart in charts:
            assert page.locator(f"#chart-{chart} canvas").count() == 1, chart
        # one line per policy and the log on the per-day charts
        assert page.get_attribute("#chart-unrecovered", "data-series") == "4"
        legend = page.inner_text("#chart-unrecovered")
        assert "Holdfast" in legend and "no callback" in legend and "the log" in legend
        overall = page.inner_text("#overall")
        assert "unrecovered" in overall and "time to callback p90 (min)" in overall and "±" in overall
        assert page.locator("#validation tbody tr").count() == 4  # no callback against the log, per tolerance
        assumptions = page.inner_text("#assumptions")
        for words in ("Patience", "Talk time", "The offer", "Answering a callback", "Calling again", "Staffing",
                      "Erlang A", "Repetitions"):
            assert words in assumptions
        browser.close()
