/* The live page: reading, gauge, step and timer, platform map, 20 s chart, warnings, controls.
 * Frames arrive about 25 times a second; the page redraws at most once per animation frame. */
(function () {
  "use strict";
  const { api, stream, sound, words, seconds, setText } = window.KC;
  const $ = (id) => document.getElementById(id);

  const CHART_S = 20;        // the chart's window, in the device's seconds
  const TRAIL_S = 1.5;       // the map's trail behind the current position
  // the band out of 10 and the no-go radius, as the coach is set up (the page carries them)
  const setup = document.querySelector(".live").dataset;
  const BAND_LO = Number(setup.bandLo) || 4;
  const BAND_HI = Number(setup.bandHi) || 5;
  const ZONE_MM = Number(setup.zoneMm) || 50.8;
  const HINTS = new Set(["below_band"]);   // shown, but no full-screen flash
  // Steps in which the warning strip keeps its room even with nothing to say, so a warning
  // coming or going never moves the reading (nor shrinks it, in landscape).
  const STRIP_STEPS = ["ready", "find", "around", "reset"];
  // the most urgent first: it names the strip's colour and leads its text
  const URGENCY = ["sensor_fault", "on_knot", "over_band", "time_cap", "lingering", "fast_stroke", "below_band"];
  const byUrgency = (a, b) => (URGENCY.indexOf(a) + 1 || 99) - (URGENCY.indexOf(b) + 1 || 99);

  const live = {
    state: null,   // the last /api/state-like body (source, platform, ...)
    frame: null,   // the latest frame (with .coach)
    history: [],   // [t_s, rating, force_n] over the last CHART_S
    trail: [],     // [t_s, x_mm, y_mm] over the last TRAIL_S
    active: new Set(),
    dirty: false,
    chart: null,
  };

  // ------------------------------------------------------------ incoming
  function onState(body) {
    live.state = body;
    if (body.frame) onFrame(body.frame);
    buildMap();
    document.dispatchEvent(new CustomEvent("kc:state", { detail: body }));
  }

  function onFrame(frame) {
    live.frame = frame;
    const t = frame.t_s;
    if (typeof t === "number") {
      const last = live.history.length ? live.history[live.history.length - 1][0] : -Infinity;
      if (t < last) { live.history = []; live.trail = []; }   // the device restarted: a new clock
      live.history.push([t, frame.rating, frame.force_n]);
      while (live.history.length && live.history[0][0] < t - CHART_S) live.history.shift();
      if (frame.x_mm !== null && frame.x_mm !== undefined) live.trail.push([t, frame.x_mm, frame.y_mm]);
      while (live.trail.length && live.trail[0][0] < t - TRAIL_S) live.trail.shift();
    }
    updateWarnings(frame);
    checkScale(frame.coach && frame.coach.session);
    schedule();
  }

  /** Whose 0-10 the reading is: the person's own scale for this muscle, or the default band. */
  async function checkScale(session) {
    const key = session ? `${session.person}|${session.region}` : "";
    if (key === live.scaleKey) return;
    live.scaleKey = key;
    let own = false;
    if (session) {
      try {
        const people = await api("GET", "/api/people");
        const person = people.find((p) => p.person === session.person);
        own = !!(person && person.regions.some((r) => r.region === session.region && r.band_n));
      } catch (e) {
        own = false;
      }
    }
    if (live.scaleKey !== key) return;   // a newer session meanwhile
    setText("scale-note", own ? "on your own 0–10 scale" : "default scale: calibrate yours under My scale");
  }

  function onCue(ev) {
    const name = ev.cue || ev.name;
    if (name) sound.play(name);
  }

  function schedule() {
    if (!live.dirty) { live.dirty = true; requestAnimationFrame(render); }
  }

  // ------------------------------------------------------------ warnings
  function sessionRunning(coach) {
    return coach && ["find", "around", "reset"].includes(coach.step);
  }

  /** In a session the coach decides what is wrong; outside one, the device's own rules do. */
  function currentWarnings(frame) {
    const coach = frame.coach;
    const names = new Set();
    if (sessionRunning(coach) && !coach.paused) {
      for (const [name, view] of Object.entries(coach.warnings || {})) if (view && view.active) names.add(name);
      if ((frame.warnings || []).includes("sensor_fault")) names.add("sensor_fault");
    } else if (!coach || coach.step !== "rerate") {
      for (const name of frame.warnings || []) names.add(name);
    }
    return names;
  }

  function updateWarnings(frame) {
    const now = currentWarnings(frame);
    for (const name of now) {
      if (!live.active.has(name)) {
        if (!HINTS.has(name)) flash(name);
        sound.play(words.warningCue[name] || "fault");
      }
    }
    live.active = now;
  }

  function flash(name) {
    const el = $("flash");
    el.dataset.warning = name;
    el.classList.remove("go");
    void el.offsetWidth;   // restart the animation
    el.classList.add("go");
  }

  function renderWarnings() {
    const el = $("warning");
    const names = [...live.active].sort(byUrgency);
    const alarms = names.filter((n) => !HINTS.has(n));
    const shown = alarms.length ? alarms : names;
    const reserved = STRIP_STEPS.includes(document.body.dataset.step);
    const key = (reserved ? "room:" : "") + shown.join(",");
    el.hidden = shown.length === 0 && !reserved;
    el.classList.toggle("calm", shown.length === 0);
    el.dataset.warning = shown[0] || "";
    setText("warning", shown.map((n) => words.warnings[n] || n).join(" · "));
    document.body.classList.toggle("alarm", alarms.length > 0);
    document.body.dataset.alarm = alarms[0] || "";
    if (key !== live.stripKey) {   // the strip came, went or changed (its height may have too)
      live.stripKey = key;
      fitLive();
    }
  }

  /** Newtons from which the platform counts as loaded (just over the zero tracking's band). */
  const LOADED_N = 3;

  // ------------------------------------------------------------ reading
  function renderReading(frame) {
    const rating = frame.rating;
    const force = frame.force_n;
    // Anything over the zero tracking's 2 N band is a load, however light (a ball lying there).
    const loaded = typeof force === "number" && force >= LOADED_N;
    const useRating = typeof rating === "number";
    if (useRating) {
      const shown = loaded ? rating.toFixed(1) : "0.0";
      const [whole, tenth] = shown.split(".");
      setText("reading-int", whole);
      setText("reading-dec", `.${tenth}`);
      setText("reading-unit", "/10");
    } else {
      setText("reading-int", typeof force === "number" ? String(Math.round(force)) : "–");
      setText("reading-dec", "");
      setText("reading-unit", "N");
    }
    setText("force", typeof force === "number" ? `${Math.round(force)} N on the platform` : "no reading");
    const value = useRating ? (loaded ? rating : 0) : null;
    const x = value === null ? 0 : Math.max(0, Math.min(10, value)) * 100;
    $("gauge-fill").setAttribute("width", String(x));
    $("gauge-needle").setAttribute("x", String(x - 6));
    let zone = "off";
    let text = "Nobody on the roller";
    if (!loaded) zone = "off";
    else if (value === null) { zone = "unknown"; text = "No 0–10 scale: showing newtons"; }
    else if (value > BAND_HI) { zone = "over"; text = "Too hard"; }
    else if (value >= BAND_LO) [zone, text] = inBandWords();
    else { zone = "under"; text = "Light"; }
    const band = $("band-state");
    band.dataset.zone = zone;
    setText("band-state", text);
    document.querySelector(".reading-panel").dataset.zone = zone;
  }

  /** A reading inside the band, as the coach sees it: a too-hard warning ends only a little
   *  below the band's top (its hysteresis), and on the knot no pressure is right, so while
   *  either is on the label agrees with the warning strip rather than saying "In the band". */
  function inBandWords() {
    if (live.active.has("on_knot")) return ["knot", "Move off the knot"];
    if (live.active.has("over_band")) return ["over", "Ease off a little more"];
    return ["in", "In the band"];
  }

  // --------------------------------------------------------- step panel
  function renderStep(coach) {
    const step = coach ? coach.step : "screen";
    setText("step-name", (coach && coach.paused ? "Paused · " : "") + (words.steps[step] || step));
    setText("step-help", coach && coach.paused ? "Timers are stopped. Tap Resume to carry on."
      : (words.stepHelp[step] || "").replace("4–5", `${BAND_LO}–${BAND_HI}`));
    let label = "";
    let value = "";
    let note = "";
    const cycle = coach && coach.cycle;
    if (step === "reset" && cycle) {
      label = words.phases[cycle.phase] || cycle.phase;
      value = String(Math.max(0, Math.ceil(cycle.seconds_left - 1e-6)));
      note = cycle.phase === "place" ? "then contract" : `cycle ${cycle.n} of ${cycle.of}`;
    } else if (step === "around") {
      label = "Time left";
      value = seconds(coach.step_remaining_s);
      note = coach.next_in_s > 0 ? `Next opens in ${Math.ceil(coach.next_in_s)} s` : "You may go on: tap Next";
    } else if (step === "find") {
      label = coach.knot ? "Knot marked" : "Exploring";
      value = seconds(coach.step_elapsed_s);
      note = coach.knot ? "Tap Next to roll around it" : "";
    }
    if (coach && coach.paused && (step === "around" || step === "find")) note = "Paused: tap Resume to go on";
    const box = $("countdown");
    box.dataset.phase = step === "reset" && cycle ? cycle.phase : step;
    setText("countdown-label", label);
    setText("countdown-value", value);
    setText("countdown-note", note);
    box.hidden = !label && !value;
    const inSession = !!(coach && coach.session);
    setText("fact-cycle", step === "reset" && cycle && cycle.phase !== "place" ? `${cycle.n} of ${cycle.of}`
      : coach && coach.cycles_done ? `${coach.cycles_done} done` : "–");
    setText("fact-band", inSession ? seconds(coach.time_in_band_s) : "–");
    const sides = (coach && coach.sides_covered) || [];
    setText("fact-sides", inSession ? (sides.length ? `${sides.length} of 4` : "none yet") : "–");
    setText("fact-session", inSession ? seconds(coach.running_s) : "–");
  }

  // ----------------------------------------------------------- controls
  function renderControls(coach) {
    const step = coach ? coach.step : "screen";
    const running = ["ready", "find", "around", "reset"].includes(step);
    const show = (id, on) => { $(id).hidden = !on; };
    show("btn-start", step === "screen" || step === "done");
    show("btn-mark", step === "find" && !coach.knot);
    show("btn-next", running);
    show("btn-pause", ["find", "around", "reset"].includes(step));
    show("btn-stop", running || step === "rerate");
    const next = $("btn-next");
    next.disabled = !(coach && coach.can_next);
    let nextLabel = "Next";
    if (coach && coach.paused) { nextLabel = "Paused"; next.disabled = true; }   // Resume comes first
    else if (step === "ready") nextLabel = "Begin now";
    else if (step === "find") nextLabel = coach.knot ? "Next: roll around it" : "Next (mark first)";
    else if (step === "around") nextLabel = coach.can_next ? "Next: contract–relax" : `Next in ${Math.ceil(coach.next_in_s || 0)} s`;
    else if (step === "reset") nextLabel = coach.can_next ? "Finish cycles" : "Next (after one cycle)";
    setText("btn-next", nextLabel);
    setText("btn-start", step === "done" ? "New session" : "Start");
    setText("btn-stop", step === "rerate" ? "Skip the rating" : "Stop");
    const pause = $("btn-pause");
    pause.dataset.command = coach && coach.paused ? "resume" : "pause";
    setText("btn-pause", coach && coach.paused ? "Resume" : "Pause");
    $("btn-mark").disabled = !!(coach && coach.paused);
    // the rating after and the summary
    $("rerate").hidden = step !== "rerate";
    if (step === "rerate") setText("rerate-before", coach.pain_before === null ? "–" : `${coach.pain_before}/10`);
    const done = step === "done" && coach.session;
    $("summary").hidden = !done;
    if (done) renderSummary(coach);
  }

  function renderSummary(coach) {
    setText("summary-title", coach.aborted ? "Session stopped early" : "Session finished");
    const before = coach.pain_before === null ? "–" : coach.pain_before;
    const after = coach.pain_after === null ? "not rated" : coach.pain_after;
    setText("sum-pain", `${before} → ${after}`);
    setText("sum-band", seconds(coach.time_in_band_s));
    const seen = (coach.cycles || []).filter((c) => c.contracted).length;
    setText("sum-cycles", `${coach.cycles_done}` + (coach.cycles_done ? ` (contraction seen in ${seen})` : ""));
    setText("sum-time", seconds(coach.running_s));
    const counts = Object.entries(coach.warnings || {}).filter(([, v]) => v && v.count > 0)
      .map(([name, v]) => `${words.warningNames[name] || name} ${v.count}×`);
    setText("sum-warnings", counts.length ? `Warnings: ${counts.join(", ")}` : "No warnings: well paced.");
  }

  // ----------------------------------------------------------------- map
  const map = window.KCMap($("map"), ZONE_MM);

  function buildMap() {
    map.build(live.state && live.state.platform);
  }

  function renderMap(frame) {
    const here = frame.x_mm !== null && frame.x_mm !== undefined ? [frame.x_mm, frame.y_mm] : null;
    map.render(frame.coach && frame.coach.knot, here, live.trail, live.active.has("on_knot"));
  }

  // --------------------------------------------------------------- chart
  function makeChart() {
    const el = $("chart");
    if (!window.uPlot || !el) return null;
    const styles = getComputedStyle(document.body);
    const band = styles.getPropertyValue("--band-fill").trim() || "rgba(34,197,94,0.3)";
    const line = styles.getPropertyValue("--fg").trim() || "#fff";
    const axis = { stroke: line, grid: { stroke: "rgba(255,255,255,0.12)" }, ticks: { stroke: "rgba(255,255,255,0.3)" },
                   font: "bold 16px system-ui, sans-serif" };
    const opts = {
      width: el.clientWidth || 600,
      height: el.clientHeight || 220,
      legend: { show: false },
      cursor: { show: false },
      scales: { x: { time: false, range: [-CHART_S, 0] }, y: { range: [0, 10] } },
      axes: [{ ...axis, splits: () => [-20, -15, -10, -5, 0],
               values: (u, ticks) => ticks.map((t) => (t === 0 ? "now" : `${Math.round(t)} s`)) },
             { ...axis, size: 48 }],
      series: [{}, { stroke: "#ffd60a", width: 4 }],
      hooks: {
        drawAxes: [(u) => {   // the band behind the line
          if (live.chartUnit !== "rating") return;
          const top = u.valToPos(BAND_HI, "y", true);
          const bottom = u.valToPos(BAND_LO, "y", true);
          u.ctx.save();
          u.ctx.fillStyle = band;
          u.ctx.fillRect(u.bbox.left, top, u.bbox.width, bottom - top);
          u.ctx.restore();
        }],
      },
    };
    const chart = new window.uPlot(opts, [[], []], el);
    new ResizeObserver(() => chart.setSize({ width: el.clientWidth, height: el.clientHeight || 220 })).observe(el);
    return chart;
  }

  function renderChart() {
    if (!live.chart) live.chart = makeChart();
    if (!live.chart || !live.history.length) return;
    const hasRating = live.history.some((h) => typeof h[1] === "number");
    live.chartUnit = hasRating ? "rating" : "force";
    const tEnd = live.history[live.history.length - 1][0];
    const xs = live.history.map((h) => h[0] - tEnd);
    const ys = live.history.map((h) => (hasRating ? h[1] : h[2]));
    if (!hasRating) {
      const top = Math.max(100, ...ys.filter((v) => typeof v === "number"));
      live.chart.setScale("y", { min: 0, max: top * 1.1 });
    }
    live.chart.setData([xs, ys], hasRating);
  }

  // -------------------------------------------------------------- render
  function render() {
    live.dirty = false;
    const frame = live.frame;
    if (!frame) return;
    const coach = frame.coach || null;
    const step = coach ? coach.step : "screen";
    if (typeof frame.t_s === "number") document.body.dataset.t = frame.t_s.toFixed(2);  // the device's clock
    if (document.body.dataset.step !== step) {
      document.body.dataset.step = step;
      if (step === "rerate" || step === "done") window.scrollTo(0, 0);
      fitLive();
    }
    renderReading(frame);
    renderStep(coach);
    renderControls(coach);
    renderWarnings();
    renderMap(frame);
    renderChart();
  }

  /** Landscape tablet: the dashboard fills the screen below whatever sits above it (header,
   *  banner, warning strip), so the buttons never fall below the fold. */
  function fitLive() {
    const el = document.querySelector(".live");
    const footer = document.querySelector(".disclaimer");
    if (!el) return;
    const top = el.getBoundingClientRect().top + window.scrollY;
    const room = window.innerHeight - top - (footer ? footer.offsetHeight : 0) - 12;
    document.documentElement.style.setProperty("--live-h", `${Math.max(room, 420)}px`);
  }
  window.addEventListener("resize", fitLive);
  document.addEventListener("kc:banner", fitLive);

  // ------------------------------------------------------------ commands
  async function send(name, body) {
    setText("command-error", "");
    try {
      return await api("POST", `/api/command/${name}`, body || {});
    } catch (e) {
      setText("command-error", e.message);
      return null;
    }
  }

  document.addEventListener("click", (e) => {
    const button = e.target.closest("button[data-command]");
    if (button) { send(button.dataset.command); return; }
    const rate = e.target.closest("button[data-pain-after]");
    if (rate) send("rate", { pain_after: Number(rate.dataset.painAfter) });
  });

  document.addEventListener("DOMContentLoaded", () => {
    stream({ state: onState, frame: onFrame, cue: onCue, warning: () => {}, device: () => {} });
  });
  window.KCLive = { send };
})();
