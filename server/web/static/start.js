/* Before a session: person, muscle, tool, the injury screen, tenderness before; then Start.
 * The device has the last word (its decision can stop or redirect); the server may answer 409
 * when this knot was already worked today, and the person can still choose to go on. */
(function () {
  "use strict";
  const { api, sound, words, nice, regionName, setText } = window.KC;
  const $ = (id) => document.getElementById(id);
  const NAME = /^[\p{L}\p{N}][\p{L}\p{N}_-]{0,31}$/u;

  const choice = { person: null, region: null, tool: null, pain: null };
  let screenInfo = null;

  function chip(label, data, pressed) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "choice";
    b.textContent = label;
    b.setAttribute("aria-pressed", pressed ? "true" : "false");
    for (const [k, v] of Object.entries(data)) b.dataset[k] = v;
    return b;
  }

  function press(container, selector, button) {
    for (const b of container.querySelectorAll(selector)) b.setAttribute("aria-pressed", b === button ? "true" : "false");
  }

  // -------------------------------------------------------------- people
  async function loadPeople() {
    let people = [];
    try { people = await api("GET", "/api/people"); } catch (e) { setText("form-error", e.message); }
    const box = $("people");
    box.replaceChildren(...(people || []).map((p) => chip(p.person, { person: p.person }, false)));
    if (!box.children.length) box.textContent = "Nobody yet: type a name below.";
    if (people && people.length === 1) pickPerson(people[0].person, box.querySelector("button"));
  }

  function pickPerson(name, button) {
    choice.person = name;
    press($("people"), "button", button);
    if (button) $("new-person").value = "";
    update();
  }

  $("people").addEventListener("click", (e) => {
    const b = e.target.closest("button[data-person]");
    if (b) pickPerson(b.dataset.person, b);
  });
  $("new-person").addEventListener("input", () => {
    const typed = $("new-person").value.trim();
    press($("people"), "button", null);
    choice.person = typed || null;
    update();
  });

  // ---------------------------------------------------- region and tool
  async function pickRegion(region) {
    choice.region = region;
    choice.tool = null;
    for (const b of $("regions").querySelectorAll("button")) {
      b.setAttribute("aria-pressed", b.dataset.region === region ? "true" : "false");
    }
    clearOutcome();
    try {
      screenInfo = await api("GET", `/api/screen?region=${encodeURIComponent(region)}`);
    } catch (e) {
      screenInfo = null;
      setText("form-error", e.message);
      update();
      return;
    }
    showScreen(screenInfo);
    update();
  }

  function showScreen(info) {
    const itBand = !!info.it_band;
    $("it-band").hidden = !itBand;
    $("tool-section").hidden = itBand;
    if (itBand) {
      setText("it-band-text", info.redirect_text || "The IT band is not a muscle but a band of tough connective " +
        "tissue: rolling it cannot loosen it. The pull comes from the muscles attached to it.");
      const targets = (info.redirect || []).map((r) => (typeof r === "string" ? r : r.region));
      $("it-band-targets").replaceChildren(...targets.map((r) => chip(regionName(r), { redirect: r }, false)));
    } else {
      const suggested = info.suggested && info.suggested.tool;
      $("tools").replaceChildren(...(info.tools || []).map((t) =>
        chip((words.tools[t] || nice(t)) + (t === suggested ? " (suggested)" : ""), { tool: t }, t === suggested)));
      choice.tool = suggested || (info.tools || [])[0] || null;
      setText("tool-why", (info.suggested && info.suggested.why) || "");
    }
    if (info.hint) setText("screen-hint", info.hint);
    showSigns(info.signs || []);
  }

  function showSigns(signs) {
    const box = $("signs");
    const ticked = new Set([...box.querySelectorAll("input:checked")].map((i) => i.value));
    box.replaceChildren(...signs.map((s) => {
      const name = typeof s === "string" ? s : s.name || s.key || s.sign;
      const text = typeof s === "string" ? nice(s) : s.text || s.label || s.description || nice(name);
      const label = document.createElement("label");
      label.className = "check";
      const input = document.createElement("input");
      input.type = "checkbox";
      input.name = "sign";
      input.value = name;
      input.checked = ticked.has(name);
      const span = document.createElement("span");
      span.textContent = text.charAt(0).toUpperCase() + text.slice(1);
      label.append(input, span);
      return label;
    }));
  }

  $("regions").addEventListener("click", (e) => {
    const b = e.target.closest("button[data-region]");
    if (b) pickRegion(b.dataset.region);
  });
  $("it-band-targets").addEventListener("click", (e) => {
    const b = e.target.closest("button[data-redirect]");
    if (b) pickRegion(b.dataset.redirect);
  });
  $("tools").addEventListener("click", (e) => {
    const b = e.target.closest("button[data-tool]");
    if (!b) return;
    choice.tool = b.dataset.tool;
    press($("tools"), "button", b);
    update();
  });
  $("signs").addEventListener("change", () => { clearOutcome(); update(); });
  $("pain").addEventListener("click", (e) => {
    const b = e.target.closest("button[data-pain]");
    if (!b) return;
    choice.pain = Number(b.dataset.pain);
    press($("pain"), "button", b);
    update();
  });

  // -------------------------------------------------------------- state
  function signs() {
    return [...$("signs").querySelectorAll("input:checked")].map((i) => i.value);
  }

  function missing() {
    const out = [];
    if (!choice.person) out.push("who is rolling");
    else if (!NAME.test(choice.person)) out.push("a name of letters and digits (no spaces, up to 32)");
    if (!choice.region) out.push("the muscle");
    else if (screenInfo && screenInfo.it_band) out.push("a muscle other than the IT band");
    else if (!choice.tool) out.push("the tool");
    if (choice.pain === null) out.push("how tender it is");
    return out;
  }

  function update() {
    const need = missing();
    const injured = signs().length > 0;
    $("signs-note").hidden = !injured;
    // with an injury sign the tap asks the coach, which will say no: it does not look like a go
    $("btn-begin").classList.toggle("btn-go", !injured);
    setText("btn-begin", injured ? "Ask the coach" : "Start the session");
    $("btn-begin").disabled = need.length > 0;
    setText("missing", need.length ? `Still to choose: ${need.join(", ")}.` : "");
  }

  function clearOutcome() {
    $("advice").hidden = true;
    $("btn-begin").hidden = false;
    $("decision").hidden = true;
    setText("form-error", "");
  }

  // -------------------------------------------------------------- start
  async function begin(anyway) {
    sound.unlock();   // this tap is what lets the live page's sounds play
    clearOutcome();
    const body = { person: choice.person, region: choice.region, tool: choice.tool,
                   pain_before: choice.pain, signs: signs() };
    if (anyway) body.anyway = true;
    $("btn-begin").disabled = true;
    try {
      const reply = await api("POST", "/api/command/start", body);
      const decision = reply.decision || { kind: "go" };
      if (decision.kind === "go") {
        sound.play("step_start");
        window.location.assign("/");
        return;
      }
      showDecision(decision);
    } catch (e) {
      if (e.status === 409) showAdvice(e.body.advice || [{ text: e.message }]);
      else setText("form-error", e.message);
    }
    update();
  }

  function showDecision(decision) {
    const box = $("decision");
    const title = document.createElement("strong");
    title.textContent = decision.kind === "stop" ? "No session today." : "Change of plan:";
    const text = document.createElement("p");
    text.textContent = decision.reason || "";
    box.replaceChildren(title, text);
    box.dataset.kind = decision.kind;
    box.hidden = false;
    if (decision.kind === "redirect" && decision.tools && decision.tools.length && !decision.tools.includes(choice.tool)) {
      choice.tool = null;
      press($("tools"), "button", null);
    }
  }

  function showAdvice(advice) {
    $("advice-list").replaceChildren(...advice.map((a) => {
      const p = document.createElement("p");
      p.textContent = a.text;
      p.dataset.kind = a.kind || "";
      return p;
    }));
    $("advice").hidden = false;
    $("btn-begin").hidden = true;   // going on anyway is a choice of its own, next to the advice
  }

  $("start-form").addEventListener("submit", (e) => { e.preventDefault(); begin(false); });
  $("btn-anyway").addEventListener("click", () => begin(true));

  /** The injury questions do not depend on the muscle: ask them from the start. */
  async function loadSigns() {
    try {
      const info = await api("GET", "/api/screen");
      if (!choice.region) {
        showSigns(info.signs || []);
        if (info.hint) setText("screen-hint", info.hint);
      }
    } catch (e) {
      setText("form-error", e.message);
    }
  }

  document.addEventListener("DOMContentLoaded", () => { loadPeople(); loadSigns(); update(); });
})();
