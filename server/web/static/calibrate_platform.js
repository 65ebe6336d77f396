/* Knot Coach tablet: the platform calibration wizard (after calibrate.js, which it builds on).
 *
 * Tare, the known mass at the centre and over each cell, the mass off again: a diagram shows where the
 * mass goes, a bar and "2.0 s left, steady to ±0.3 N" while measuring, a refusal says what to fix, then
 * the result per cell and the centre-of-pressure error; Save stores it and the device uses it from then on.
 * Everything shown comes from /api/calibrate/platform/... ; text is set with textContent only.
 */
(function () {
  "use strict";

  const root = document.getElementById("wizard");
  if (!root || !window.KC || !window.KC.calibrate || root.dataset.wizard !== "platform") return;
  const { api, setText } = window.KC;
  const { $, show, errorText, markSimulated, POLL_MS } = window.KC.calibrate;

  function platformWizard() {
    const SVG = "http://www.w3.org/2000/svg";
    const s = { timer: null, total: 3.5, status: null };

    function view(name) {
      show("setup", name === "setup");
      show("steps-view", name === "steps");
      show("result", name === "result" || (name === "steps" && s.status && s.status.result));
    }

    function poll() {
      stopPolling();
      s.timer = setInterval(async () => {
        try {
          const st = await api("GET", "/api/calibrate/platform/status");
          render(st);
          if (!st.active || !st.sampling) stopPolling();
        } catch (e) {
          stopPolling();
          showRefusal(errorText(e));
        }
      }, POLL_MS * 2);
    }
    function stopPolling() { if (s.timer) clearInterval(s.timer); s.timer = null; }

    function showRefusal(text) {
      show("refusal", !!text);
      setText("refusal", text || "");
    }

    function render(st) {
      s.status = st;
      if (!st.active) { view("setup"); return; }
      view("steps");
      const n = st.steps.length;
      const current = st.current;
      setText("step-count", current ? `Step ${st.step + 1} of ${n}` : `All ${n} steps done`);
      setText("instruction", st.failed ? "This calibration cannot be used" : current ? current.instruction :
        "Every step is done: check the result and save it");
      drawDiagram(st);
      show("sampling", st.sampling);
      if (st.sampling) {
        const left = st.seconds_left === null ? s.total : st.seconds_left;
        $("progress-bar").style.width = `${(100 * (1 - left / s.total)).toFixed(1)}%`;
        setText("progress-text", st.progress_text || `${left.toFixed(1)} s left`);
      }
      showRefusal(st.failed ? st.refusal || st.failed : st.refusal);
      $("measure").disabled = st.sampling;
      show("measure", !!current && !st.failed);
      setText("measure", st.refusal ? "Measure again" : "Measure");
      renderList(st);
      renderResult(st);
      show("again", !!st.failed);
      if (st.failed) show("result", true);
    }

    function renderList(st) {
      const list = $("step-list");
      list.textContent = "";
      st.steps.forEach((step, i) => {
        const li = document.createElement("li");
        li.textContent = step.label === "empty" ? "mass off" : step.label;
        li.dataset.state = step.result ? "done" : i === st.step ? "now" : "todo";
        list.appendChild(li);
      });
    }

    function renderResult(st) {
      const result = st.result;
      if (!result) return;
      show("result", true);
      const cop = result.cop_error_mm === null ? "One cell: no position to check."
        : `Centre of pressure within ${result.cop_error_mm} mm of the mass (limit ${result.cop_limit_mm} mm); ` +
          `weight within ${Math.abs(result.force_error_n)} N.`;
      setText("cop-text", cop);
      const body = $("cells");
      body.textContent = "";
      for (const c of result.cells) {
        const tr = document.createElement("tr");
        for (const text of [`${c.index}`, c.name, c.counts_per_newton.toFixed(2), `${Math.round(c.offset)}`]) {
          const td = document.createElement("td");
          td.textContent = text;
          tr.appendChild(td);
        }
        body.appendChild(tr);
      }
      $("save").disabled = !st.can_finish;
      if (!st.can_finish && !st.failed) setText("result-note", "Take the mass off and measure the last step, then save.");
      else if (st.can_finish) setText("result-note", st.saves ? "Nothing is stored until you save." :
        "Simulated platform: it will not be stored (start the coach with --data-dir to keep it).");
    }

    function el(name, attrs, text) {
      const node = document.createElementNS(SVG, name);
      for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
      if (text !== undefined) node.textContent = text;
      return node;
    }

    /** The platform seen from above, near side at the bottom; where the mass goes now. */
    function drawDiagram(st) {
      const svg = $("diagram");
      const cells = st.cells_xy;
      const xs = cells.map((c) => c[0]);
      const ys = cells.map((c) => c[1]);
      const pad = 90;
      const x0 = Math.min(...xs) - pad;
      const y0 = Math.min(...ys) - pad;
      const w = Math.max(...xs) - Math.min(...xs) + 2 * pad;
      const h = Math.max(...ys) - Math.min(...ys) + 2 * pad;
      const flip = (y) => y0 + h - (y - y0);   // y grows away from the viewer: draw it upwards
      svg.setAttribute("viewBox", `${x0} ${y0} ${w} ${h}`);
      svg.textContent = "";
      svg.appendChild(el("rect", { class: "dia-plate", x: x0 + 10, y: y0 + 10, width: w - 20, height: h - 20, rx: 24 }));
      const done = st.steps.filter((step) => step.result && step.where && step.where.cell !== null)
        .map((step) => step.where.cell);
      cells.forEach(([x, y], i) => {
        svg.appendChild(el("rect", { class: `dia-cell${done.includes(i) ? " done" : ""}`, x: x - 30, y: flip(y) - 30,
                                     width: 60, height: 60, rx: 8 }));
        svg.appendChild(el("text", { class: "dia-label", x, y: flip(y) + 62 }, `${i}`));
      });
      const step = st.steps[st.step];
      if (!step || st.failed) return;
      if (step.where) {
        const { x_mm: x, y_mm: y } = step.where;
        svg.appendChild(el("circle", { class: "dia-target", cx: x, cy: flip(y), r: 55 }));
        svg.appendChild(el("circle", { class: "dia-target-core", cx: x, cy: flip(y), r: 18 }));
      } else {
        svg.appendChild(el("text", { class: "dia-empty", x: x0 + w / 2, y: y0 + h / 2 }, "EMPTY"));
      }
    }

    async function begin() {
      setText("setup-error", "");
      const mass = $("mass").value.trim();
      if (!mass) { setText("setup-error", "Type the known mass, e.g. 5kg or 11lb."); return; }
      const body = { mass };
      const preset = $("preset").value.trim();
      if (preset) body.preset = preset;
      if ($("fresh").checked) body.fresh = true;
      try {
        setText("result-note", "");
        setText("save-error", "");
        show("save", true);
        render(await api("POST", "/api/calibrate/platform/begin", body));
      } catch (e) {
        setText("setup-error", errorText(e));
      }
    }

    async function measure() {
      $("measure").disabled = true;
      try {
        const reply = await api("POST", "/api/calibrate/platform/step", {});
        s.total = reply.seconds_left || 3.5;
        showRefusal("");
        render(await api("GET", "/api/calibrate/platform/status"));
        poll();
      } catch (e) {
        $("measure").disabled = false;
        showRefusal(errorText(e));
      }
    }

    async function save() {
      $("save").disabled = true;
      try {
        const reply = await api("POST", "/api/calibrate/platform/finish", {});
        view("result");
        show("save", false);
        show("again", true);
        setText("result-note", !reply.saved ? reply.note : reply.applied ? "Saved. The coach uses it from now on." :
          `Saved, but the coach did not take it up: ${reply.reason || "restart it"}.`);
      } catch (e) {
        $("save").disabled = false;
        setText("save-error", errorText(e));
      }
    }

    async function cancel() {
      stopPolling();
      try { await api("POST", "/api/calibrate/platform/cancel", {}); } catch (e) { /* nothing runs either way */ }
      s.status = null;
      view("setup");
      setText("setup-error", "Cancelled. Nothing was changed.");
    }

    $("begin").addEventListener("click", begin);
    $("measure").addEventListener("click", measure);
    $("save").addEventListener("click", save);
    $("cancel").addEventListener("click", cancel);
    $("again").addEventListener("click", () => { s.status = null; view("setup"); setText("setup-error", ""); });

    markSimulated().then((state) => {
      const cells = state && state.platform && state.platform.cells_xy;
      if (cells) setText("geometry-now", `${cells.length} cell(s) over ${Math.round(state.platform.width_mm)} × ${Math.round(state.platform.depth_mm)} mm`);
    });
    api("GET", "/api/calibrate/platform/status").then((st) => { if (st.active) { render(st); if (st.sampling) poll(); } })
      .catch(() => {});
  }

  document.addEventListener("DOMContentLoaded", platformWizard);
})();
