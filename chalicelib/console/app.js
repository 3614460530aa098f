// Holdfast operations console: plain JS, no libraries, charts drawn as SVG here.
"use strict";
(function () {
  const API = "console/api/";
  const REFRESH_MS = 3000;
  let csrf = null;
  let timer = null;
  let tab = "monitor";
  const $ = (sel) => document.querySelector(sel);

  async function call(name, options = {}) {
    const init = { credentials: "same-origin", headers: {} };
    if (options.body !== undefined) {
      init.method = "POST";
      init.headers["Content-Type"] = "application/json";
      init.headers["X-CSRF-Token"] = csrf || "";
      init.body = JSON.stringify(options.body);
    }
    const reply = await fetch(API + name + (options.query ? "?" + new URLSearchParams(options.query) : ""), init);
    if (reply.status === 401 && name !== "session") { showSignIn(); throw new Error("signed out"); }
    const data = await reply.json();
    if (!reply.ok) throw new Error(data.error || reply.statusText);
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
        tr.append(td);
      });
      if (row.ticket) tr.dataset.ticket = row.ticket;
      body.append(tr);
    }
  }
  function wrap(node) { const td = el("td"); td.append(node); return td; }

  const time = (iso) => (iso ? new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" }) : "");
  const dur = (s) => (s === null || s === undefined ? "–" : s < 60 ? `${Math.round(s)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`);
  const pct = (x) => (x === null || x === undefined ? "–" : `${Math.round(x * 1000) / 10}%`);
  const queue = () => $("#queue").value;

  function counters(box, items) {
    box.replaceChildren();
    for (const [label, value] of items) {
      const div = el("div", null, { class: "counter" });
      div.append(el("b", value), el("span", label));
      box.append(div);
    }
  }

  // --- monitor -------------------------------------------------------------------------------
  async function refreshMonitor() {
    const m = await call("monitor", { query: { queue: queue() } });
    const t = m.today;
    counters($("#counters"), [["offered", t.offered], ["answered live", t.answered_live],
      ["service level", pct(t.service_level)], ["abandoned", t.abandoned_short + t.abandoned_long],
      ["lost", t.lost], ["recovered", t.recovered_by_callback + t.recovered_by_calling_again],
      ["unrecovered", t.unrecovered], ["callbacks connected", t.callbacks_connected],
      ...(m.dialing ? [["dials waiting their turn", m.dialing.backlog],
                       ["calls a second allowed", m.dialing.calls_per_second]] : [])]);
    const waiting = m.waiting.filter((w) => w.status === "waiting" || w.status === "connecting");
    $("#waiting-count").textContent = waiting.length;
    fill($("#waiting"), waiting, (w) => [w.position ?? (w.status === "connecting" ? "→" : ""), w.ticket, w.caller,
      time(w.since), dur(w.waited_seconds), w.told_seconds ? `~${dur(w.told_seconds)}` : ""]);
    $("#callbacks-count").textContent = m.callbacks.length;
    fill($("#callbacks"), m.callbacks, (c) => [c.ticket, c.number, c.status + (c.lost_cause ? ` (lost: ${c.lost_cause})` : ""),
      c.attempts, time(c.next_attempt), time(c.promised)]);
    $("#agents-count").textContent = m.agents.length;
    fill($("#agents"), m.agents, (a) => [a.id, el("span", a.status, { class: `status-${a.status}` }),
      el("span", a.doing_since ? `${a.doing} since ${time(a.doing_since)}` : a.doing, { class: `doing-${a.doing}` }), a.with || a.ticket || "", time(a.since)]);
    $("#updated").textContent = `Updated ${time(m.at)}.`;
  }

  // --- lost calls ----------------------------------------------------------------------------
  const lostNotes = new Map(); // ticket -> what "call back now" answered, kept across refreshes
  function callBackNow(ticket) {
    const box = el("span");
    const button = el("button", "Call back now", { "data-action": "call-back-now" });
    const note = el("span", lostNotes.get(ticket) || "", { class: "action-result", role: "status" });
    button.addEventListener("click", async () => {
      button.disabled = true;
      let said;
      try {
        said = (await call("call-back-now", { body: { ticket } })).message;
      } catch (e) {
        said = e.message;
      }
      lostNotes.set(ticket, said);
      note.textContent = said;
      button.disabled = false;
    });
    box.append(button, note);
    return box;
  }
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
    $("#lost-count").textContent = lost.length + (next ? "+" : "");
    $("#lost-more").hidden = !next;
    fill($("#lost-calls"), lost, (c) => {
      const actions = el("span");
      const reveal = el("button", "Reveal", { "data-action": "reveal" });
      reveal.addEventListener("click", async () => {
        const r = await call("reveal", { body: { ticket: c.ticket } });
        reveal.replaceWith(el("b", r.number, { class: "revealed" }));
      });
      const opt = el("button", "Opt out", { "data-action": "opt-out" });
      opt.addEventListener("click", async () => {
        if (!window.confirm(`Never call ${c.number} back automatically?`)) return;
        await call("opt-out", { body: { ticket: c.ticket } });
        opt.replaceWith(el("span", "opted out"));
      });
      const stop = el("button", "Stop calling", { "data-action": "stop-calling" });
      stop.addEventListener("click", async () => {
        if (!window.confirm(`No more callback attempts for ${c.ticket}?`)) return;
        await call("stop-calling", { body: { ticket: c.ticket } });
        stop.replaceWith(el("span", "stopped"));
      });
      actions.append(reveal);
      if (c.can_call_back) actions.append(callBackNow(c.ticket));
      if (c.can_stop) actions.append(stop);
      if (c.can_opt_out) actions.append(opt);
      return [c.ticket, c.number, c.cause, time(c.lost_at), dur(c.waited_seconds), c.callback, c.attempts,
        time(c.next_attempt), actions];
    });
  }

  // --- reports -------------------------------------------------------------------------------
  function barChart(box, labels, series, lineSeries) {
    const W = 900, H = 240, P = 30, n = Math.max(labels.length, 1);
    const max = Math.max(1, ...series.flatMap((s) => s.values));
    const bw = (W - 2 * P) / n;
    const svgNS = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(svgNS, "svg");
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.setAttribute("role", "img");
    const add = (tag, attrs, text) => {
      const node = document.createElementNS(svgNS, tag);
      for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
      if (text !== undefined) node.textContent = text;
      svg.append(node);
      return node;
    };
    add("line", { x1: P, y1: H - P, x2: W - P, y2: H - P, stroke: "#ccc" });
    add("text", { x: 2, y: P }, String(max));
    labels.forEach((label, i) => {
      series.forEach((s, j) => {
        const h = ((H - 2 * P) * s.values[i]) / max;
        const w = (bw * 0.8) / series.length;
        add("rect", { x: P + i * bw + j * w, y: H - P - h, width: Math.max(1, w - 1), height: h, fill: s.color }, undefined)
          .append(Object.assign(document.createElementNS(svgNS, "title"), { textContent: `${s.name} ${label}: ${s.values[i]}` }));
      });
      if (n <= 24 || i % Math.ceil(n / 12) === 0) add("text", { x: P + i * bw, y: H - 8 }, label.slice(11) || label);
    });
    if (lineSeries) {
      const pts = lineSeries.values.map((v, i) => (v === null ? null : `${P + i * bw + bw / 2},${H - P - (H - 2 * P) * v}`)).filter(Boolean);
      if (pts.length) add("polyline", { points: pts.join(" "), fill: "none", stroke: lineSeries.color, "stroke-width": 2 });
    }
    let x = P;
    for (const s of [...series, ...(lineSeries ? [lineSeries] : [])]) {
      add("rect", { x, y: 6, width: 10, height: 10, fill: s.color });
      add("text", { x: x + 14, y: 15 }, s.name);
      x += 20 + s.name.length * 6;
    }
    box.replaceChildren(svg);
  }

  function reportQuery() {
    return { queue: queue(), from: $("#report-from").value, to: $("#report-to").value, target: $("#report-target").value };
  }

  async function refreshReport() {
    const q = reportQuery();
    $("#report-csv").href = API + "report.csv?" + new URLSearchParams(q);
    const r = await call("report", { query: q });
    const rows = r.rows;
    barChart($("#report-chart"), rows.map((x) => x.period),
      [{ name: "offered", color: "#9db4d6", values: rows.map((x) => x.offered) },
       { name: "answered live", color: "#1f6feb", values: rows.map((x) => x.answered_live) },
       { name: "unrecovered", color: "#c62828", values: rows.map((x) => x.unrecovered) }],
      { name: "service level", color: "#2e7d32", values: rows.map((x) => x.service_level) });
    const t = r.total;
    counters($("#report-total"), [["offered", t.offered], ["answered live", t.answered_live],
      ["service level", pct(t.service_level)], ["ASA", dur(t.asa_seconds)],
      ["abandoned short/long", `${t.abandoned_short}/${t.abandoned_long}`], ["lost", t.lost],
      ["recovered (callback)", t.recovered_by_callback], ["recovered (again)", t.recovered_by_calling_again],
      ["unrecovered", t.unrecovered], ["callback attempts", t.callback_attempts], ["connect rate", pct(t.connect_rate)],
      ["time to callback", dur(t.time_to_callback_seconds)], ["EWT mean error", dur(t.ewt_mean_error_seconds)],
      ["EWT inside range", pct(t.ewt_inside_range)]]);
    const head = $("#report-table thead");
    head.replaceChildren();
    const tr = el("tr");
    r.columns.forEach((c) => tr.append(el("th", c.replaceAll("_", " "))));
    head.append(tr);
    fill($("#report-table"), [...rows, t], (x) => r.columns.map((c) => (x[c] === null ? "" : x[c])));
  }

  // --- staffing ------------------------------------------------------------------------------
  async function refreshStaffing() {
    const s = await call("staffing", { query: { queue: queue(), from: $("#staffing-day").value } });
    $("#staffing-note").textContent = `Goal: ${pct(s.service_goal)} answered within ${s.target_seconds} s, at most ` +
      `${pct(s.abandon_goal)} abandoning. Handle time ${dur(s.handle_seconds)}, patience ${dur(s.patience_seconds)} (learned).`;
    barChart($("#staffing-chart"), s.rows.map((x) => x.bucket),
      [{ name: "Erlang C", color: "#9db4d6", values: s.rows.map((x) => x.erlang_c_agents) },
       { name: "Erlang A", color: "#1f6feb", values: s.rows.map((x) => x.erlang_a_agents) },
       { name: "signed in now", color: "#2e7d32", values: s.rows.map(() => s.signed_in) }]);
    fill($("#staffing-table"), s.rows, (x) => [x.bucket.slice(11), x.arrivals, x.handle_s, x.erlang_c_agents,
      x.erlang_a_agents, s.signed_in]);
  }

  // --- navigation ------------------------------------------------------------------------------
  const refreshers = { monitor: refreshMonitor, lost: refreshLost, reports: refreshReport, staffing: refreshStaffing };

  function show(name) {
    tab = name;
    document.querySelectorAll(".view").forEach((v) => { v.hidden = v.id !== name; });
    document.querySelectorAll("#tabs button").forEach((b) => b.classList.toggle("active", b.dataset.tab === name));
    tick();
  }

  async function tick() {
    clearTimeout(timer);
    try { await refreshers[tab](); } catch (e) { console.warn(e); }
    if (tab === "monitor" || tab === "lost") timer = setTimeout(tick, REFRESH_MS);
  }

  function showSignIn() {
    clearTimeout(timer);
    csrf = null;
    $("#sign-in-view").hidden = false;
    $("#tabs").hidden = $("#session").hidden = true;
    document.querySelectorAll(".view").forEach((v) => { v.hidden = true; });
  }

  function signedIn(data) {
    csrf = data.csrf;
    const select = $("#queue");
    if (!select.options.length) data.queues.forEach((q) => select.append(el("option", q.name, { value: q.id })));
    $("#sign-in-view").hidden = true;
    $("#tabs").hidden = $("#session").hidden = false;
    // The queue's own today, by Holdfast's clock (not this browser's, which may be in another day).
    const today = (data.queues.find((q) => q.id === select.value) || data.queues[0]).today;
    for (const id of ["#report-from", "#report-to", "#staffing-day"]) if (!$(id).value) $(id).value = today;
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
      } catch (err) { $("#sign-in-error").textContent = "Wrong token."; }
    });
    $("#sign-out").addEventListener("click", async () => { await call("sign-out", { body: {} }); showSignIn(); });
    document.querySelectorAll("#tabs button").forEach((b) => b.addEventListener("click", () => show(b.dataset.tab)));
    $("#queue").addEventListener("change", () => { lostPages = 1; tick(); });
    $("#lost-more").addEventListener("click", () => { lostPages += 1; tick(); });
    $("#report-form").addEventListener("submit", (e) => { e.preventDefault(); tick(); });
    $("#staffing-form").addEventListener("submit", (e) => { e.preventDefault(); tick(); });
    try { signedIn(await call("me")); } catch (e) { showSignIn(); }
  });
})();
