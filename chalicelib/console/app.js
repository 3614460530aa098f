// Holdfast operations console: plain JS; charts by Chart.js, served with the page (console/chart.umd.min.js).
// Every time is shown on the queue's clock (its IANA zone, from the API), with the zone's name.
"use strict";
(function () {
  const API = "console/api/";
  const REFRESH_MS = 3000;
  const STALE_MS = 2.5 * REFRESH_MS; // data older than this is said to be stale
  let csrf = null;
  let timer = null;
  let tab = "monitor";
  let queues = [];
  let zone = "UTC";
  let lastOk = null; // when the live data last refreshed (browser time) and what it said the time was
  let lastAt = null;
  let failure = null;
  const charts = {};
  const revealed = new Map(); // ticket -> number: revealed stays revealed for this page's session
  const notes = new Map(); // ticket -> what an action answered, kept across refreshes
  const $ = (sel) => document.querySelector(sel);

  class Unreachable extends Error {}

  async function call(name, options = {}) {
    const init = { credentials: "same-origin", headers: {} };
    if (options.body !== undefined) {
      init.method = "POST";
      init.headers["Content-Type"] = "application/json";
      init.headers["X-CSRF-Token"] = csrf || "";
      init.body = JSON.stringify(options.body);
    }
    let reply;
    try {
      reply = await fetch(API + name + (options.query ? "?" + new URLSearchParams(options.query) : ""), init);
    } catch (e) {
      throw new Unreachable("the app cannot be reached");
    }
    if (reply.status === 401 && name !== "session") { showSignIn(); throw new Error("signed out"); }
    let data = {};
    try { data = await reply.json(); } catch (e) { if (reply.ok) throw new Unreachable("a reply that is not JSON"); }
    if (reply.status >= 500 && !data.error) throw new Unreachable(`the app answered ${reply.status}`);
    if (!reply.ok) { const err = new Error(data.error || reply.statusText); err.data = data; err.status = reply.status; throw err; }
    return data;
  }

  function el(tag, text, attrs) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    return node;
  }

  function fill(table, rows, render) {
    const body = table.querySelector("tbody");
    const labels = [...table.querySelectorAll("thead th")].map((th) => th.textContent);
    body.replaceChildren();
    if (!rows.length) {
      const tr = el("tr");
      tr.append(el("td", "none", { colspan: String(labels.length || 1), class: "empty" }));
      body.append(tr);
      return;
    }
    for (const row of rows) {
      const tr = el("tr");
      render(row).forEach((cell, i) => {
        const td = cell instanceof Node ? wrap(cell) : el("td", cell === null || cell === undefined ? "" : cell);
        if (labels[i]) td.dataset.label = labels[i];
        if (typeof cell === "number") td.className = "num";
        tr.append(td);
      });
      if (row.ticket) tr.dataset.ticket = row.ticket;
      body.append(tr);
    }
  }
  function wrap(node) { const td = el("td"); td.append(node); return td; }

  // --- one clock: the queue's ------------------------------------------------------------------
  const parts = (iso, opts) => new Intl.DateTimeFormat("en-US", { timeZone: zone, hourCycle: "h23", ...opts })
    .formatToParts(new Date(iso)).reduce((o, p) => ({ ...o, [p.type]: p.value }), {});
  function zoneName(iso) { return parts(iso || Date.now(), { timeZoneName: "short" }).timeZoneName; }
  function dayOf(iso) { const p = parts(iso, { year: "numeric", month: "2-digit", day: "2-digit" }); return `${p.year}-${p.month}-${p.day}`; }
  // "10:05:03 PST"; another day than the queue's today: "Tue 18 Nov 08:00 PST"
  function time(iso, seconds = true) {
    if (!iso) return "";
    const p = parts(iso, { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
      second: "2-digit", timeZoneName: "short" });
    const clock = seconds ? `${p.hour}:${p.minute}:${p.second}` : `${p.hour}:${p.minute}`;
    const today = (queues.find((q) => q.id === queue()) || {}).today;
    return (today && dayOf(iso) !== today ? `${p.weekday} ${p.day} ${p.month} ` : "") + `${clock} ${p.timeZoneName}`;
  }
  const hhmm = (iso) => { const p = parts(iso, { hour: "2-digit", minute: "2-digit" }); return `${p.hour}:${p.minute}`; };
  const dayHhmm = (iso) => { const p = parts(iso, { weekday: "short", hour: "2-digit", minute: "2-digit" }); return `${p.weekday} ${p.hour}:${p.minute}`; };
  const dur = (s) => (s === null || s === undefined ? "–" : s < 60 ? `${Math.round(s)} s`
    : s < 3600 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`);
  const signedDur = (s) => (s === null || s === undefined ? "–" : `${s > 0 ? "+" : s < 0 ? "−" : ""}${dur(Math.abs(s))}`);
  const pct = (x) => (x === null || x === undefined ? "–" : `${Math.round(x * 1000) / 10}%`);
  const num = (x, digits = 1) => (x === null || x === undefined ? "–" : String(Math.round(x * 10 ** digits) / 10 ** digits));
  const queue = () => $("#queue").value;

  function setZone() {
    const q = queues.find((x) => x.id === queue()) || queues[0];
    zone = q ? q.zone : "UTC";
    $("#zone").textContent = `Times: ${zone} (${zoneName()})`;
  }

  function counters(box, items) {
    box.replaceChildren();
    for (const [label, value, level] of items) {
      const div = el("div", null, { class: `counter${level && level !== "ok" ? " level-" + level : ""}` });
      div.append(el("b", value), el("span", label + (level && level !== "ok" ? ` (${level})` : "")));
      box.append(div);
    }
  }

  // --- health: stale data, the app unreachable ---------------------------------------------------
  function healthy(at) {
    lastOk = Date.now();
    lastAt = at;
    failure = null;
    showHealth();
  }
  function unhealthy(message) { failure = message; showHealth(); }
  function showHealth() {
    const box = $("#health");
    const live = tab === "monitor" || tab === "lost" || tab === "wallboard";
    const age = lastOk ? Date.now() - lastOk : null;
    let text = "";
    if (live && failure) {
      text = `Not updating: ${failure}. ` + (lastAt ? `Showing data from ${time(lastAt)} (${dur(age / 1000)} old). ` : "") +
        "Trying again every 3 s.";
    } else if (live && age !== null && age > STALE_MS) {
      text = `Data is ${dur(age / 1000)} old: the app has not answered since ${time(lastAt)}.`;
    }
    box.hidden = !text;
    box.textContent = text;
    document.body.classList.toggle("stale", Boolean(text));
  }

  // --- wallboard ---------------------------------------------------------------------------------
  const MEASURE_LABELS = [
    ["waiting", "waiting", (v) => v], ["longest_wait_seconds", "longest wait", dur],
    ["service_level_now", "SL now (15 min)", pct], ["service_level_30m", "SL 30 min", pct],
    ["service_level_today", "SL today", pct], ["agents", "agents avail / busy / away", null],
    ["callbacks_due_next_hour", "callbacks due ≤ 1 h", (v) => v], ["unrecovered_today", "unrecovered today", (v) => v]];

  async function refreshWallboard() {
    const w = await call("wallboard");
    healthy(w.at);
    const box = $("#tiles");
    box.replaceChildren();
    for (const t of w.queues) {
      const tile = el("article", null, { class: `tile level-${t.level}`, "aria-labelledby": `tile-${t.queue}`, "data-queue": t.queue });
      const h = el("h3");
      h.append(el("span", t.name, { id: `tile-${t.queue}` }), el("span", t.level === "ok" ? "OK" : t.level.toUpperCase(), { class: "state" }));
      tile.append(h);
      const figures = el("div", null, { class: "figures" });
      for (const [key, label, format] of MEASURE_LABELS) {
        const level = (t.levels || {})[key] || "ok";
        const value = key === "agents" ? `${t.agents.available} / ${t.agents.busy} / ${t.agents.away}` : format(t[key]);
        const fig = el("div", null, { class: `figure level-${level}`, "data-measure": key });
        fig.append(el("b", value), el("span", label + (level !== "ok" ? ` (${level})` : "")));
        figures.append(fig);
      }
      tile.append(figures);
      const alerts = Object.entries(t.alerts || {});
      if (alerts.length) {
        tile.append(el("p", alerts.map(([m, a]) => `${m.replaceAll("_", " ")} past its alert level since ${timeIn(a.since, t.zone)}` +
          (a.notified_at ? " (notified)" : "")).join("; "), { class: "alerts" }));
      }
      const open = el("button", `Open ${t.name}`, { type: "button", "data-open": t.queue });
      open.addEventListener("click", () => { $("#queue").value = t.queue; setZone(); show("monitor"); });
      tile.append(open);
      box.append(tile);
    }
  }
  function timeIn(iso, z) { const saved = zone; zone = z; try { return time(iso, false); } finally { zone = saved; } }

  // --- monitor -------------------------------------------------------------------------------
  const STATE_WORDS = { busy: "own call", wrap_up: "wrap-up" };
  async function refreshMonitor() {
    const m = await call("monitor", { query: { queue: queue() } });
    healthy(m.at);
    const v = m.live, lv = m.levels || {};
    counters($("#live"), [["waiting", v.waiting, lv.waiting], ["longest wait", dur(v.longest_wait_seconds), lv.longest_wait_seconds],
      ["SL now (15 min)", pct(v.service_level_now), lv.service_level_now], ["SL 30 min", pct(v.service_level_30m), lv.service_level_30m],
      ["SL 60 min", pct(v.service_level_60m)], ["SL today", pct(m.today.service_level)],
      ["agents available", v.agents_available, lv.agents_available],
      ["callbacks due ≤ 1 h", v.callbacks_due_next_hour, lv.callbacks_due_next_hour]]);
    const t = m.today;
    counters($("#counters"), [["offered", t.offered], ["answered live", t.answered_live],
      ["ASA", dur(t.asa_seconds)], ["abandoned", t.abandoned_short + t.abandoned_long],
      ["lost", t.lost], ["recovered", t.recovered_by_callback + t.recovered_by_calling_again],
      ["unrecovered", t.unrecovered, lv.unrecovered_today], ["callbacks connected", t.callbacks_connected],
      ["calls handled by agents", m.team_today.handled], ["AHT (agents)", dur(m.team_today.aht_seconds)],
      ["occupancy (agents)", pct(m.team_today.occupancy)],
      ...(m.dialing ? [["dials waiting their turn", m.dialing.backlog],
                       ["calls a second allowed", m.dialing.calls_per_second]] : [])]);
    $("#waiting-count").textContent = m.waiting.length;
    fill($("#waiting"), m.waiting, (w) => [w.position, w.ticket, w.kind === "callback" ? "callback (parked)" : "caller",
      w.caller, time(w.since), w.kind === "live" ? dur(w.waited_seconds) : "",
      w.kind === "live" ? (w.told_seconds ? `told ~${dur(w.told_seconds)}` : "") : (w.due ? `due ${time(w.due)}` : "")]);
    $("#on-calls-count").textContent = m.on_calls.length;
    fill($("#on-calls"), m.on_calls, (o) => [o.ticket, o.kind === "callback" ? "callback" : "caller", o.caller, o.agent || "",
      el("span", o.state + (o.state_since ? ` since ${time(o.state_since)}` : ""), { class: `state-${o.state}` }),
      o.waited_seconds === null ? "" : dur(o.waited_seconds)]);
    $("#callbacks-count").textContent = m.callbacks.length;
    fill($("#callbacks"), m.callbacks, (c) => [c.ticket, c.number, c.status + (c.position ? ` (#${c.position} in line)` : "") +
      (c.lost_cause ? ` (lost: ${c.lost_cause})` : ""), c.attempts, time(c.next_attempt), time(c.promised)]);
    // callbacks at a chosen time, slot by slot (issue 27): only the slots holding any, and none where
    // the queue offers no chosen times
    const slots = (await call("scheduled", { query: { queue: queue() } })).slots.filter((s) => s.booked > 0);
    $("#scheduled-count").textContent = slots.reduce((n, s) => n + s.booked, 0);
    fill($("#scheduled"), slots, (s) => [time(s.start, false), s.booked, s.capacity, s.left]);
    $("#agents-count").textContent = m.agents.length;
    fill($("#agents"), m.agents, (a) => [a.id,
      el("span", (STATE_WORDS[a.state] || a.state) + (a.reason ? ` (${a.reason})` : ""), { class: `state-${a.state}` }),
      a.seconds_in_state === null ? "" : `${dur(a.seconds_in_state)} (since ${time(a.since, false)})`, a.with || a.ticket || "",
      a.handled ?? "–", dur(a.aht_seconds), pct(a.occupancy)]);
    $("#updated").textContent = `Updated ${time(m.at)}.`;
  }

  // --- lost calls ----------------------------------------------------------------------------
  function remember(ticket, said) { notes.set(ticket, said); }

  function actionButton(label, action, ticket, run) {
    const button = el("button", label, { type: "button", "data-action": action });
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const said = await run();
        if (said) remember(ticket, said);
      } catch (e) {
        remember(ticket, e instanceof Unreachable ? `not done: ${e.message}` : whenSaid(e));
      }
      tick();
    });
    return button;
  }
  // a refusal says why and, where there is one, when instead (on the queue's clock, in its words)
  function whenSaid(e) { return e.data && e.data.error ? e.data.error : e.message; }

  let lostPages = 1; // pages of the work list shown: "Show more" adds one, each refresh reloads them
  async function refreshLost() {
    const lost = [];
    let next = null;
    for (let n = 0; n < lostPages; n++) {
      const data = await call("lost-calls", { query: next ? { queue: queue(), next } : { queue: queue() } });
      lost.push(...data.lost_calls);
      next = data.next;
      if (!next) break;
    }
    healthy(new Date().toISOString());
    $("#lost-count").textContent = lost.length + (next ? "+" : "");
    $("#lost-more").hidden = !next;
    fill($("#lost-calls"), lost, (c) => {
      const number = revealed.has(c.ticket) ? el("b", revealed.get(c.ticket), { class: "revealed" }) : el("span", c.number);
      const lostCell = el("span");
      lostCell.append(el("span", `${c.cause.replace("_", " ")} at ${time(c.lost_at)}`),
        el("span", `waited ${dur(c.waited_seconds)}`, { class: "note" }));
      const plan = el("span");
      plan.append(el("span", c.callback, { class: c.opted_out ? "opted-out" : "" }),
        el("span", `${c.attempts} attempt${c.attempts === 1 ? "" : "s"}` + (c.next_attempt ? `, next ${time(c.next_attempt)}` : ""), { class: "note" }));
      const actions = el("div", null, { class: "actions" });
      if (!revealed.has(c.ticket)) {
        actions.append(actionButton("Reveal", "reveal", c.ticket, async () => {
          revealed.set(c.ticket, (await call("reveal", { body: { ticket: c.ticket } })).number);
          return null;
        }));
      }
      if (c.can_call_back) {
        actions.append(actionButton("Call back now", "call-back-now", c.ticket,
          async () => (await call("call-back-now", { body: { ticket: c.ticket } })).message));
      }
      if (c.can_stop) {
        actions.append(actionButton("Stop calling", "stop-calling", c.ticket, async () => {
          if (!window.confirm(`No more callback attempts for ${c.ticket}?`)) return null;
          await call("stop-calling", { body: { ticket: c.ticket } });
          return "stopped: no more attempts";
        }));
      }
      if (c.can_opt_out) {
        actions.append(actionButton("Opt out", "opt-out", c.ticket, async () => {
          if (!window.confirm(`Never call ${c.number} back automatically?`)) return null;
          await call("opt-out", { body: { ticket: c.ticket } });
          return "opted out: never called back automatically";
        }));
      }
      if (!c.dialable) actions.append(el("span", "not dialable (number rules)", { class: "note" }));
      const said = notes.get(c.ticket);
      if (said) actions.append(el("span", said, { class: "action-result", role: "status" }));
      return [c.ticket, number, lostCell, plan, actions];
    });
  }

  // --- charts ------------------------------------------------------------------------------------
  function chart(id, config) {
    if (charts[id]) charts[id].destroy();
    const small = window.matchMedia("(max-width: 700px)").matches;
    Chart.defaults.font.size = small ? 12 : 13;
    Chart.defaults.color = "#3d4451";
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false,
      interaction: { mode: "index", intersect: false },
      plugins: { legend: { position: "bottom", labels: { boxWidth: 14, padding: small ? 8 : 12 } } } }, config.options);
    charts[id] = new Chart(document.getElementById(id), config);
    return charts[id];
  }
  const axis = (title, extra) => Object.assign({ title: { display: true, text: title }, grid: { color: "#e6e8ec" },
    beginAtZero: true, ticks: { precision: 0 } }, extra || {});
  const percentAxis = (title) => axis(title, { position: "right", min: 0, max: 100, grid: { drawOnChartArea: false },
    ticks: { callback: (v) => `${v}%` } });

  // --- reports -------------------------------------------------------------------------------
  function reportQuery() {
    return { queue: queue(), from: $("#report-from").value, to: $("#report-to").value, target: $("#report-target").value };
  }
  const PERCENT_COLUMNS = new Set(["service_level", "connect_rate", "ewt_inside_range"]);
  const DURATION_COLUMNS = new Set(["asa_seconds", "time_to_callback_seconds", "ewt_rms_error_seconds"]);
  function cell(column, value) {
    if (value === null || value === undefined) return "–";
    if (PERCENT_COLUMNS.has(column)) return pct(value);
    if (column === "ewt_mean_error_seconds") return signedDur(value);
    if (DURATION_COLUMNS.has(column)) return dur(value);
    return value;
  }
  function columnTitle(c) {
    return c.replace(/_seconds$/, "").replaceAll("_", " ").replace(/^asa$/, "ASA").replace(/^ewt/, "EWT");
  }

  async function refreshReport() {
    const q = reportQuery();
    if (!q.target) delete q.target;
    $("#report-csv").href = API + "report.csv?" + new URLSearchParams(q);
    const r = await call("report", { query: q });
    const rows = r.rows;
    const multiDay = new Set(rows.map((x) => dayOf(x.period))).size > 1;
    const label = (x) => (multiDay ? dayHhmm(x.period) : hhmm(x.period));
    chart("report-chart", {
      data: { labels: rows.map(label), datasets: [
        { type: "bar", label: "offered", data: rows.map((x) => x.offered), backgroundColor: "#9db4d6", yAxisID: "calls" },
        { type: "bar", label: "answered live", data: rows.map((x) => x.answered_live), backgroundColor: "#1f5fcc", yAxisID: "calls" },
        { type: "bar", label: "unrecovered", data: rows.map((x) => x.unrecovered), backgroundColor: "#c62828", yAxisID: "calls" },
        { type: "line", label: `service level (≤ ${r.target_seconds} s)`, data: rows.map((x) => (x.service_level === null ? null : x.service_level * 100)),
          borderColor: "#1f6b2a", backgroundColor: "#1f6b2a", yAxisID: "pct", spanGaps: true, tension: 0.2 }] },
      options: { scales: { x: { title: { display: true, text: `half hour starting (${zone})` }, grid: { display: false } },
        calls: axis("calls"), pct: percentAxis("service level") },
        plugins: { tooltip: { callbacks: { label: (c) => (c.dataset.yAxisID === "pct" ? `${c.dataset.label}: ${num(c.parsed.y)}%` : `${c.dataset.label}: ${c.parsed.y} calls`) } } } },
    });
    const t = r.total;
    counters($("#report-total"), [["offered", t.offered], ["answered live", t.answered_live],
      [`service level (≤ ${r.target_seconds} s)`, pct(t.service_level)], ["ASA", dur(t.asa_seconds)],
      ["abandoned short / long", `${t.abandoned_short} / ${t.abandoned_long}`], ["lost", t.lost],
      ["recovered by callback", t.recovered_by_callback], ["recovered by calling again", t.recovered_by_calling_again],
      ["unrecovered", t.unrecovered], ["callback attempts", t.callback_attempts], ["connect rate", pct(t.connect_rate)],
      ["time to callback", dur(t.time_to_callback_seconds)], ["EWT mean error", signedDur(t.ewt_mean_error_seconds)],
      ["EWT RMS error", dur(t.ewt_rms_error_seconds)], ["EWT inside range", pct(t.ewt_inside_range)]]);
    $("#report-note").textContent = `Half hours on the queue's clock (${r.zone}). EWT error is ${r.ewt_error_sign}. ` +
      "The CSV has the raw numbers (fractions, seconds) with each half hour's UTC offset.";
    const head = $("#report-table thead");
    head.replaceChildren();
    const tr = el("tr");
    r.columns.forEach((c) => tr.append(el("th", columnTitle(c), { scope: "col", "data-column": c })));
    head.append(tr);
    fill($("#report-table"), [...rows, t], (x) => r.columns.map((c) => (c === "period" ? (x.period === "total" ? "total" : time(x.period, false)) : cell(c, x[c]))));
  }

  // --- staffing ------------------------------------------------------------------------------
  async function refreshStaffing() {
    const s = await call("staffing", { query: { queue: queue() } });
    $("#staffing-note").textContent = `Forecast: ${s.method}` + (s.history_from ? `; history from ${time(s.history_from, false)}` : "; no history yet") +
      `. Goals: ${pct(s.service_goal)} answered within ${s.target_seconds} s, at most ${pct(s.abandon_goal)} abandoning. ` +
      `Handle time ${dur(s.handle_seconds)}, patience ${dur(s.patience_seconds)} (${s.learned ? "learned" : "configured"}). ` +
      `Half hours on the queue's clock (${s.zone}).`;
    const e = s.error;
    counters($("#staffing-error"), [["half hours compared (last 7 days)", e.half_hours], ["mean absolute error", e.mean_absolute === null ? "–" : `${num(e.mean_absolute)} calls`],
      ["mean error (bias)", e.bias === null ? "–" : `${e.bias > 0 ? "+" : ""}${num(e.bias)} calls`], ["weighted % error", pct(e.weighted_percent)]]);
    $("#staffing-error-note").textContent = `Each completed half hour of the last week, forecast by the same method from the weeks before it; ` +
      `error is ${e.sign}. Closed half hours (nothing forecast, nothing came) are left out.`;
    const rows = s.rows;
    chart("staffing-chart", {
      data: { labels: rows.map((x) => dayHhmm(x.start)), datasets: [
        { type: "bar", label: "arrivals forecast", data: rows.map((x) => x.arrivals), backgroundColor: "#9db4d6", yAxisID: "calls" },
        { type: "line", label: "agents needed (Erlang A)", data: rows.map((x) => x.erlang_a_agents), borderColor: "#1f5fcc", backgroundColor: "#1f5fcc", yAxisID: "agents", stepped: true },
        { type: "line", label: "roster", data: rows.map((x) => x.roster), borderColor: "#7a4a00", backgroundColor: "#7a4a00", borderDash: [6, 4], yAxisID: "agents", stepped: true },
        { type: "line", label: "signed in now", data: rows.map((x) => x.signed_in), borderColor: "#1f6b2a", backgroundColor: "#1f6b2a", pointRadius: 6, showLine: false, yAxisID: "agents" }] },
      options: { scales: { x: { title: { display: true, text: `half hour starting (${zone})` }, grid: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 12 } },
        calls: axis("calls per half hour"), agents: axis("agents", { position: "right", grid: { drawOnChartArea: false } }) },
        plugins: { tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${c.parsed.y === null ? "–" : num(c.parsed.y)}${c.dataset.yAxisID === "calls" ? " calls" : " agents"}` } } } },
    });
    fill($("#staffing-table"), rows, (x) => [time(x.start, false) + (x.now ? " (now)" : "") + (x.open ? "" : " (closed)"), num(x.arrivals),
      x.erlang_a_agents ?? "–", x.erlang_c_agents ?? "–", x.roster ?? "–", x.signed_in ?? ""]);
  }

  // --- navigation ------------------------------------------------------------------------------
  const refreshers = { wallboard: refreshWallboard, monitor: refreshMonitor, lost: refreshLost, reports: refreshReport, staffing: refreshStaffing };
  const LIVE = new Set(["wallboard", "monitor", "lost"]);

  function show(name) {
    tab = name;
    failure = null;
    document.querySelectorAll(".view").forEach((v) => { v.hidden = v.id !== name; });
    document.querySelectorAll("#tabs button").forEach((b) => {
      b.classList.toggle("active", b.dataset.tab === name);
      if (b.dataset.tab === name) b.setAttribute("aria-current", "page"); else b.removeAttribute("aria-current");
    });
    tick();
  }

  async function tick() {
    clearTimeout(timer);
    try {
      await refreshers[tab]();
    } catch (e) {
      if (e instanceof Unreachable) unhealthy(e.message);
      else if (e.message !== "signed out") unhealthy(e.message);
    }
    if (LIVE.has(tab) && csrf !== null) timer = setTimeout(tick, REFRESH_MS);
  }

  function showSignIn() {
    clearTimeout(timer);
    csrf = null;
    $("#sign-in-view").hidden = false;
    $("#tabs").hidden = $("#session").hidden = true;
    $("#health").hidden = true;
    document.querySelectorAll(".view").forEach((v) => { v.hidden = true; });
  }

  function signedIn(data) {
    csrf = data.csrf;
    queues = data.queues;
    const select = $("#queue");
    if (!select.options.length) data.queues.forEach((q) => select.append(el("option", q.name, { value: q.id })));
    $("#sign-in-view").hidden = true;
    $("#tabs").hidden = $("#session").hidden = false;
    setZone();
    // The queue's own today, by Holdfast's clock (not this browser's, which may be in another day).
    const q = queues.find((x) => x.id === select.value) || queues[0];
    for (const id of ["#report-from", "#report-to"]) if (!$(id).value) $(id).value = q.today;
    if (!$("#report-target").value) $("#report-target").value = q.target_seconds;
    show(tab);
  }

  document.addEventListener("DOMContentLoaded", async () => {
    $("#sign-in").addEventListener("submit", async (e) => {
      e.preventDefault();
      $("#sign-in-error").textContent = "";
      try {
        const data = await call("session", { body: { token: $("#token").value } });
        $("#token").value = "";
        signedIn(data);
      } catch (err) {
        // too many tries (429): the app's own words, with how long to wait
        $("#sign-in-error").textContent = err instanceof Unreachable ? "The app cannot be reached."
          : err.status === 429 ? err.message : "Wrong token.";
      }
    });
    $("#sign-out").addEventListener("click", async () => { await call("sign-out", { body: {} }); showSignIn(); });
    document.querySelectorAll("#tabs button").forEach((b) => b.addEventListener("click", () => show(b.dataset.tab)));
    $("#queue").addEventListener("change", () => { lostPages = 1; setZone(); tick(); });
    $("#lost-more").addEventListener("click", () => { lostPages += 1; tick(); });
    $("#report-form").addEventListener("submit", (e) => { e.preventDefault(); tick(); });
    setInterval(showHealth, 1000);
    try { signedIn(await call("me")); } catch (e) { showSignIn(); }
  });
})();
