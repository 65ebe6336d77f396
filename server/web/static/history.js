/* History: per person and knot, tenderness before/after and time in band over days (uPlot),
 * what to do now (the next-day question, trend, a knot that keeps coming back, maintenance),
 * the list of sessions and the downloads. Everything comes from /api/progress and /api/sessions. */
(function () {
  "use strict";
  const { api, regionName, setText } = window.KC;
  const $ = (id) => document.getElementById(id);
  const PERSON_KEY = "knotcoach.historyPerson";
  const DAY_S = 86400;

  let person = null;

  // --------------------------------------------------------------- people
  async function loadPeople() {
    let people = [];
    try {
      people = await api("GET", "/api/people");
    } catch (e) {
      setText("history-error", e.message);
      return;
    }
    const names = people.map((p) => p.person);
    const asked = new URLSearchParams(window.location.search).get("person");
    const remembered = localStorage.getItem(PERSON_KEY);
    person = [asked, remembered].find((n) => n && names.includes(n)) || names[0] || null;
    $("people").replaceChildren(...names.map((name) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "choice person-name";
      b.textContent = name;
      b.dataset.person = name;
      b.setAttribute("aria-pressed", name === person ? "true" : "false");
      return b;
    }));
    $("history-empty").hidden = names.length > 0;
    if (person) show(person);
  }

  $("people").addEventListener("click", (e) => {
    const b = e.target.closest("button[data-person]");
    if (!b) return;
    for (const other of $("people").children) other.setAttribute("aria-pressed", other === b ? "true" : "false");
    localStorage.setItem(PERSON_KEY, b.dataset.person);
    show(b.dataset.person);
  });

  async function show(name) {
    person = name;
    setText("history-error", "");
    const q = `person=${encodeURIComponent(name)}`;
    try {
      const [progress, sessions] = await Promise.all([api("GET", `/api/progress?${q}`), api("GET", `/api/sessions?${q}`)]);
      renderAdvice(progress.advice || []);
      renderKnots(progress);
      renderSessions(sessions || []);
    } catch (e) {
      setText("history-error", e.message);
    }
  }

  // --------------------------------------------------------------- advice
  function renderAdvice(advice) {
    $("advice").hidden = advice.length === 0;
    $("advice-list").replaceChildren(...advice.map((a) => (a.kind === "next_day" ? nextDayItem(a) : adviceItem(a))));
  }

  function adviceItem(a) {
    const li = document.createElement("li");
    li.className = `notice advice-${a.kind}` + (a.kind === "recurring" ? " stop" : a.kind === "maintenance" ? " go" : "");
    li.dataset.kind = a.kind;
    li.textContent = a.text;
    return li;
  }

  /** "How tender is it now?" the day after: a bruise yes/no, then a tap on 0-10 saves the answer. */
  function nextDayItem(a) {
    const li = $("next-day-template").content.firstElementChild.cloneNode(true);
    li.dataset.kind = a.kind;
    li.querySelector(".next-day-text").textContent = a.text;
    let bruising = false;
    li.addEventListener("click", async (e) => {
      const bruise = e.target.closest("button[data-bruising]");
      if (bruise) {
        bruising = bruise.dataset.bruising === "true";
        for (const b of li.querySelectorAll("button[data-bruising]")) {
          b.setAttribute("aria-pressed", b === bruise ? "true" : "false");
        }
        return;
      }
      const tap = e.target.closest("button[data-tenderness]");
      if (!tap || a.session_id === null || a.session_id === undefined) return;
      const answer = li.querySelector(".next-day-answer");
      try {
        const reply = await api("POST", `/api/sessions/${a.session_id}/next_day`,
          { tenderness: Number(tap.dataset.tenderness), bruising });
        answer.textContent = reply.advice ? reply.advice.text : "Saved.";
        li.querySelector(".next-day-scale").hidden = true;
      } catch (err) {
        answer.textContent = err.message;
      }
      answer.hidden = false;
    });
    return li;
  }

  // ---------------------------------------------------------------- knots
  function dayStart(iso) {
    const [y, m, d] = iso.split("-").map(Number);
    return new Date(y, m - 1, d).getTime() / 1000;
  }

  function renderKnots(progress) {
    const box = $("knots");
    box.replaceChildren();
    const today = (progress.now || "").slice(0, 10);
    const drawn = [];
    for (const knot of progress.knots || []) {
      const card = $("knot-template").content.firstElementChild.cloneNode(true);
      box.appendChild(card);
      card.querySelector(".knot-name").textContent = knotName(knot);
      const days = knot.days || [];
      const last = days.length ? days[days.length - 1].day : null;
      const verdict = knot.trend ? { better: "easing", same: "no clear change yet", worse: "more tender" }[knot.trend.verdict] : null;
      card.querySelector(".knot-meta").textContent = `${knot.sessions} session${knot.sessions === 1 ? "" : "s"}` +
        (last ? `, last on ${last}` : "") + (verdict ? ` · trend: ${verdict}` : "") + (knot.settled ? " · settled" : "");
      const todayNote = card.querySelector(".knot-today");
      if (last === today) {
        const n = days[days.length - 1].sessions;
        todayNote.textContent = (n > 1 ? `Worked ${n} times today. ` : "Worked today. ") +
          "Once a day is enough for a knot that is still tender: more irritates it. Next session tomorrow.";
        todayNote.hidden = false;
      }
      drawn.push([card, days]);
      card.querySelector(".knot-advice").replaceChildren(...(knot.advice || [])
        .filter((a) => a.kind === "recurring").map(adviceItem));
    }
    // charts once every card is in place: a card's width depends on how many share its row
    for (const [card, days] of drawn) drawCharts(card, days);
  }

  function knotName(knot) {
    const region = regionName(knot.region);
    const where = knot.x_mm === null || knot.x_mm === undefined ? "no knot marked"
      : `knot at ${Math.round(knot.x_mm)}` + (knot.y_mm === null || knot.y_mm === undefined ? " mm" : `, ${Math.round(knot.y_mm)} mm`);
    return `${region}: ${where}`;
  }

  /** At least the last week on the x axis, one tick per day while that fits, so one session still reads as a day. */
  function chartOptions(el, xs, series, yRange) {
    const axis = { stroke: "#fff", grid: { stroke: "rgba(255,255,255,0.12)" }, ticks: { stroke: "rgba(255,255,255,0.3)" },
                   font: "bold 15px system-ui, sans-serif" };
    const last = Math.max(...xs);
    const first = Math.min(Math.min(...xs), last - 6 * DAY_S);
    const lo = first - DAY_S * 0.5;
    const hi = last + DAY_S * 0.5;
    const dayCount = Math.round((last - first) / DAY_S) + 1;
    const every = Math.max(1, Math.ceil(dayCount / Math.max(2, Math.floor((el.clientWidth || 480) / 70))));
    const splits = [];
    for (let t = last; t >= first - 1; t -= DAY_S * every) splits.unshift(t);
    return {
      width: el.clientWidth || 480,
      height: 220,
      legend: { show: false },
      cursor: { show: false },
      scales: { x: { time: false, range: [lo, hi] }, y: { range: yRange } },
      axes: [{ ...axis, splits: () => splits, values: (u, ticks) => ticks.map((t) => {
        const d = new Date(t * 1000);
        return `${d.getDate()}/${d.getMonth() + 1}`;
      }) }, { ...axis, size: 50 }],
      series: [{}, ...series],
    };
  }

  function drawCharts(card, days) {
    if (!window.uPlot || !days.length) return;
    const xs = days.map((d) => dayStart(d.day));
    const pain = card.querySelector(".chart-pain");
    const band = card.querySelector(".chart-band");
    pain.setAttribute("aria-label", "Tenderness before and after, by day: " +
      days.map((d) => `${d.day} ${d.pain_before ?? "–"} to ${d.pain_after ?? "–"}`).join("; "));
    band.setAttribute("aria-label", "Seconds in the band, by day: " +
      days.map((d) => `${d.day} ${Math.round(d.time_in_band_s)}`).join("; "));
    const dot = (color) => ({ size: 14, fill: color, stroke: color });
    fitWidth(pain, new window.uPlot(chartOptions(pain, xs, [
      { stroke: "#ff9f0a", width: 4, points: dot("#ff9f0a") },
      { stroke: "#30d158", width: 4, points: dot("#30d158") },
    ], [0, 10]), [xs, days.map((d) => d.pain_before), days.map((d) => d.pain_after)], pain));
    const top = Math.max(60, ...days.map((d) => d.time_in_band_s)) * 1.15;
    const bars = window.uPlot.paths && window.uPlot.paths.bars ? window.uPlot.paths.bars({ size: [0.6, 48] }) : undefined;
    fitWidth(band, new window.uPlot(chartOptions(band, xs, [
      { stroke: "#30d158", fill: "rgba(48,209,88,0.45)", width: 2, paths: bars, points: { show: !bars } },
    ], [0, top]), [xs, days.map((d) => d.time_in_band_s)], band));
  }

  /** Keep a chart as wide as its box (a turned tablet, a resized window). */
  function fitWidth(el, chart) {
    new ResizeObserver(() => {
      if (el.clientWidth && el.clientWidth !== chart.width) chart.setSize({ width: el.clientWidth, height: chart.height });
    }).observe(el);
  }

  // ------------------------------------------------------------- sessions
  function renderSessions(sessions) {
    const labels = [...document.querySelectorAll(".sessions-table thead th")].map((th) => th.textContent);
    document.querySelector(".sessions-table").hidden = sessions.length === 0;
    const rows = sessions.map((s) => {
      const tr = document.createElement("tr");
      const when = new Date(s.started_at);
      const cells = [
        isNaN(when) ? s.started_at : when.toLocaleString([], { dateStyle: "medium", timeStyle: "short" }),
        regionName(s.region),
        `${s.pain_before ?? "–"} → ${s.pain_after ?? "–"}`,
        `${Math.round(s.time_in_band_s || 0)} s`,
        String(s.cycles_done ?? 0),
        { done: "finished", aborted: "stopped early", crashed: "interrupted", running: "running" }[s.outcome] || s.outcome,
      ];
      cells.forEach((text, i) => {
        const td = document.createElement("td");
        td.textContent = text;
        td.dataset.label = labels[i] || "";
        tr.appendChild(td);
      });
      const rec = document.createElement("td");
      rec.dataset.label = labels[cells.length] || "";
      if (s.recording) {
        const a = document.createElement("a");
        a.href = s.recording;
        a.textContent = "download";
        a.setAttribute("download", "");
        rec.appendChild(a);
      } else {
        rec.textContent = "–";
      }
      tr.appendChild(rec);
      tr.dataset.sessionId = s.id;
      return tr;
    });
    $("sessions").replaceChildren(...rows);
  }

  document.addEventListener("DOMContentLoaded", loadPeople);
})();
