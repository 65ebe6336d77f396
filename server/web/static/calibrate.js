/* Knot Coach tablet: the calibration wizards' shared helpers and the personal-scale wizard
 * (the page says which wizard in #wizard[data-wizard]; the platform's is in calibrate_platform.js).
 *
 * person:   the slow press. A pacer bar rises; the live force follows it; one huge tap target marks each
 *           rating; when the press is over the scale is fitted and drawn (uPlot) with the 4-5 band in N.
 *           Pacing ticks quicken as the pacer rises, so it can be followed with eyes closed.
 * Everything shown comes from /api/calibrate/... ; text is set with textContent only.
 */
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const root = $("wizard");
  if (!root || !window.KC) return;
  const { api, setText } = window.KC;
  const POLL_MS = 150;

  function show(id, on) { const el = $(id); if (el) el.hidden = !on; }
  function errorText(e) { return (e && e.message) || "something went wrong"; }
  function newtons(v) { return typeof v === "number" ? `${Math.round(v)} N` : "–"; }

  async function markSimulated() {
    try {
      const state = await api("GET", "/api/state");
      show("sim-note", state.source === "simulated");
      return state;
    } catch (e) {
      return null;
    }
  }

  /** A short tick through the page's audio (unlocked by the Start tap); silent when sound is off. */
  function tick(high) {
    const sound = window.KC.sound;
    if (!sound.enabled || !sound.ctx || sound.ctx.state !== "running") return;
    const ctx = sound.ctx;
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    const t0 = ctx.currentTime + 0.01;
    osc.frequency.value = high ? 1320 : 880;
    gain.gain.setValueAtTime(0, t0);
    gain.gain.linearRampToValueAtTime(0.3, t0 + 0.005);
    gain.gain.linearRampToValueAtTime(0, t0 + 0.06);
    osc.connect(gain).connect(ctx.destination);
    osc.start(t0);
    osc.stop(t0 + 0.08);
  }

  // =================================================================== the slow press
  function personWizard() {
    const s = { region: null, timer: null, status: null, lastTick: 0, finishing: false, chart: null };

    for (const button of document.querySelectorAll("[data-region]")) {
      button.addEventListener("click", () => {
        s.region = button.dataset.region;
        for (const b of document.querySelectorAll("[data-region]")) {
          b.setAttribute("aria-pressed", b === button ? "true" : "false");
        }
      });
    }

    async function fillPeople() {
      try {
        const people = await api("GET", "/api/people");
        const list = $("people");
        for (const p of people) {
          const option = document.createElement("option");
          option.value = p.person;
          list.appendChild(option);
        }
      } catch (e) { /* names are typed then */ }
    }

    function view(name) {
      show("setup", name === "setup");
      show("press", name === "press");
      show("result", name === "result");
    }

    function poll() {
      stopPolling();
      s.timer = setInterval(async () => {
        try {
          render(await api("GET", "/api/calibrate/person/status"));
        } catch (e) {
          setText("press-error", errorText(e));
        }
      }, POLL_MS);
    }
    function stopPolling() { if (s.timer) clearInterval(s.timer); s.timer = null; }

    function render(st) {
      s.status = st;
      if (!st.active) { stopPolling(); view("setup"); return; }
      view("press");
      setText("phase-text", st.text);
      const full = st.top_n * 1.1;
      const pct = (v) => `${Math.max(0, Math.min(100, (100 * (v || 0)) / full)).toFixed(1)}%`;
      $("pacer-target").style.width = pct(st.target_n);
      $("pacer-you").style.width = pct(st.force_n);
      setText("target-n", newtons(st.target_n));
      setText("force-n", newtons(st.force_n));
      const gap = (st.force_n || 0) - st.target_n;
      const pacer = document.querySelector(".pacer");
      pacer.dataset.keep = st.phase !== "ramping" ? "" : gap < -0.08 * st.top_n ? "behind" : gap > 0.08 * st.top_n ? "ahead" : "";
      const tapping = st.next_rating !== null && ["settling", "ramping", "holding"].includes(st.phase);
      $("tap").disabled = !tapping;
      setText("tap-ask", st.ask || (st.phase === "done" ? "All marks in" : "Stopped"));
      setText("tap-words", st.next_words || "");
      renderMarks(st.marks);
      show("finish", st.can_finish);
      pace(st);
      if (st.phase === "done" && !s.finishing) finish();  // hands-free: the person is lying down
      if (st.phase === "stopped") stopPolling();
    }

    function renderMarks(marks) {
      const list = $("marks");
      if (list.childElementCount === marks.length) return;
      list.textContent = "";
      for (const m of marks) {
        const li = document.createElement("li");
        li.textContent = `${m.rating}/10 at ${Math.round(m.force_n)} N`;
        list.appendChild(li);
      }
    }

    /** Ticks from one a second at the start of the rise to four a second at the top. */
    function pace(st) {
      if (st.phase !== "ramping") return;
      const fraction = Math.max(0, Math.min(1, (st.target_n - st.start_n) / (st.top_n - st.start_n)));
      const now = performance.now();
      if (now - s.lastTick >= 1000 * (1 - 0.75 * fraction)) {
        s.lastTick = now;
        tick(fraction > 0.5);
      }
    }

    async function begin() {
      window.KC.sound.unlock();
      setText("setup-error", "");
      const person = $("person").value.trim();
      if (!person) { setText("setup-error", "Type the name of who is calibrating."); return; }
      if (!s.region) { setText("setup-error", "Choose a body region."); return; }
      const bodyKg = Number($("body-kg").value);
      const rampS = Number($("ramp-s").value);
      try {
        const st = await api("POST", "/api/calibrate/person/begin",
                             { person, region: s.region, body_kg: bodyKg, ramp_s: rampS });
        s.finishing = false;
        $("marks").textContent = "";
        setText("press-error", "");
        render(st);
        poll();
      } catch (e) {
        setText("setup-error", errorText(e));
      }
    }

    async function tap() {
      const button = $("tap");
      if (button.disabled) return;
      button.classList.add("hit");
      setTimeout(() => button.classList.remove("hit"), 180);
      try {
        const reply = await api("POST", "/api/calibrate/person/mark", {});
        setText("press-error", "");
        tick(true);
        window.KC.vibrate([60]);
        setText("phase-text", `Marked ${reply.rating}/10 at ${Math.round(reply.mark.force_n)} N`);
      } catch (e) {
        setText("press-error", errorText(e));
      }
    }

    async function finish() {
      s.finishing = true;
      stopPolling();
      try {
        showResult(await api("POST", "/api/calibrate/person/finish", {}));
      } catch (e) {
        view("setup");
        setText("setup-error", errorText(e));
      }
    }

    async function cancel() {
      stopPolling();
      try { await api("POST", "/api/calibrate/person/cancel", {}); } catch (e) { /* it is stopped either way */ }
      view("setup");
      setText("setup-error", "Stopped. Nothing was saved.");
    }

    function showResult(result) {
      view("result");
      const [lo, hi] = result.band_n;
      const band = $("band-text");
      band.textContent = `Your 4–5/10 band for ${window.KC.regionName(result.region)}: `;
      const strong = document.createElement("strong");
      strong.textContent = `${Math.round(lo)}–${Math.round(hi)} N`;
      band.appendChild(strong);
      const marks = result.marks.map((m) => `${m.rating}/10 at ${Math.round(m.force_n)} N`).join(", ");
      const skipped = result.skipped.length ? ` Not reached: ${result.skipped.map((r) => `${r.rating}/10`).join(", ")}.` : "";
      setText("result-note", `${result.person}'s marks: ${marks}.${skipped} ${result.saved ? "Saved: sessions use it from now on." : result.note || ""}`);
      drawCurve(result);
    }

    function drawCurve(result) {
      const el = $("curve");
      if (!window.uPlot || !el) return;
      if (s.chart) { s.chart.destroy(); s.chart = null; }
      const xs = result.curve.force_n;
      const at = new Map(result.marks.map((m) => [m.force_n, m.rating]));  // the curve has each mark's force
      const markYs = xs.map((x) => (at.has(x) ? at.get(x) : null));
      const styles = getComputedStyle(document.body);
      const bandFill = styles.getPropertyValue("--band-fill").trim() || "rgba(48,209,88,0.32)";
      const axis = { stroke: "#fff", grid: { stroke: "rgba(255,255,255,0.14)" }, ticks: { stroke: "rgba(255,255,255,0.3)" },
                     font: "bold 16px system-ui, sans-serif" };
      const [lo, hi] = result.band_n;
      const opts = {
        width: el.clientWidth || 600,
        height: el.clientHeight || 300,
        legend: { show: false },
        cursor: { show: false },
        scales: { x: { time: false }, y: { range: [0, 10] } },
        axes: [{ ...axis, label: "newtons", labelFont: "bold 16px system-ui, sans-serif" },
               { ...axis, size: 48, splits: () => [0, 2, 4, 5, 6, 8, 10] }],
        series: [{}, { stroke: "#ffffff", width: 4 },
                 { stroke: "#000", width: 3, paths: () => null, points: { show: true, size: 22, fill: "#ffd60a" } }],
        hooks: {
          drawAxes: [(u) => {  // the band in newtons and in ratings, behind the curve
            const ctx = u.ctx;
            ctx.save();
            ctx.fillStyle = bandFill;
            const x0 = u.valToPos(lo, "x", true);
            const x1 = u.valToPos(hi, "x", true);
            ctx.fillRect(x0, u.bbox.top, x1 - x0, u.bbox.height);
            const y5 = u.valToPos(5, "y", true);
            const y4 = u.valToPos(4, "y", true);
            ctx.fillRect(u.bbox.left, y5, u.bbox.width, y4 - y5);
            ctx.restore();
          }],
        },
      };
      s.chart = new window.uPlot(opts, [xs, result.curve.rating, markYs], el);
      new ResizeObserver(() => s.chart && s.chart.setSize({ width: el.clientWidth, height: el.clientHeight || 300 })).observe(el);
    }

    $("begin").addEventListener("click", begin);
    $("tap").addEventListener("click", tap);
    $("finish").addEventListener("click", finish);
    $("cancel").addEventListener("click", cancel);
    $("again").addEventListener("click", () => { view("setup"); setText("setup-error", ""); });
    document.addEventListener("keydown", (e) => {  // a keyboard or a Bluetooth clicker taps too
      if ($("press").hidden || e.repeat || (e.target && e.target.closest("button, input, a"))) return;
      if (e.key === " " || e.key === "Enter") { e.preventDefault(); tap(); }
      if (e.key === "Escape") cancel();
    });

    fillPeople();
    markSimulated();
    api("GET", "/api/calibrate/person/status").then((st) => { if (st.active) { render(st); poll(); } }).catch(() => {});
  }

  // The platform wizard (calibrate_platform.js) shares these.
  window.KC.calibrate = { $, show, errorText, markSimulated, POLL_MS };
  document.addEventListener("DOMContentLoaded", () => {
    if (root.dataset.wizard === "person") personWizard();
  });
})();
