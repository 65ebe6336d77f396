/* Knot Coach tablet: what every page shares.
 *
 * KC.api(method, path, body)  JSON in and out, with the page's CSRF token; throws ApiError on 4xx/5xx.
 * KC.stream(handlers)         the live SSE stream (/api/stream) with a banner while the device is away.
 * KC.sound                    Web Audio cue patterns, unlocked by a tap; KC.vibrate where there is one.
 * KC.words                    the words the pages use for steps, warnings and cues.
 * KC.regionName(key)          a body region's everyday name (the server's one mapping).
 */
(function () {
  "use strict";

  const csrfToken = () => {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  };

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.error) || `request failed (${status})`);
      this.status = status;
      this.body = body || {};
    }
  }

  /** One JSON request; resolves to the parsed body, rejects with ApiError (status 0 = no answer). */
  async function api(method, path, body) {
    const options = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (method !== "GET" && method !== "HEAD") {
      options.headers["X-CSRF-Token"] = csrfToken();
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body === undefined ? {} : body);
    }
    let response;
    try {
      response = await fetch(path, options);
    } catch (e) {
      throw new ApiError(0, { error: "the coach does not answer: is it still running?" });
    }
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  // ------------------------------------------------------------------ banner
  const banner = {
    reasons: {},
    set(key, text) {
      if (text) this.reasons[key] = text; else delete this.reasons[key];
      const el = document.getElementById("link-banner");
      if (!el) return;
      const texts = Object.values(this.reasons);
      el.textContent = texts.join(" · ");
      el.hidden = texts.length === 0;
      document.body.classList.toggle("device-lost", "device" in this.reasons || "link" in this.reasons);
      document.dispatchEvent(new CustomEvent("kc:banner"));
    },
  };

  // ------------------------------------------------------------------ stream
  // Steps in which the coach has a session under way (the recorder keeps these in History; a
  // restart of the device process ends them as "interrupted").
  const SESSION_STEPS = ["find", "around", "reset", "rerate"];
  const DEVICE_LOST = "The coach is not answering — reconnecting…";
  const RESTARTED = "The coach restarted: the session that was running ended " +
    "(it is kept in History as interrupted). Tap Start for a new one.";
  const RESTARTED_EARLY = "The coach restarted: the session you were beginning did not start. Tap Start for a new one.";

  /** What a restart did, from the step the coach was in before it ("" when nothing was lost). */
  function restartNotice(stepBefore) {
    if (SESSION_STEPS.includes(stepBefore)) return RESTARTED;
    return stepBefore === "ready" ? RESTARTED_EARLY : "";
  }

  /** Follow /api/stream. handlers: state(body), frame(frame), warning(ev), cue(ev), device(ev).
   *  EventSource reconnects by itself after a dropped connection; a refused one (closed) is retried here.
   *  While the device is away the banner says so (it may have died: nothing is claimed to go on);
   *  when it comes back restarted, the banner says what became of a session that was running,
   *  until a new session begins. */
  function stream(handlers) {
    let source = null;
    let retryTimer = null;
    let deviceUp = true;
    let step = null;   // the coach's step in the latest frame, from before any restart
    const call = (name, data) => { if (handlers[name]) handlers[name](data); };
    const parse = (e) => { try { return JSON.parse(e.data); } catch (err) { return null; } };
    const showDevice = () => banner.set("device", deviceUp ? "" : DEVICE_LOST);
    const follow = (frame) => {
      const now = frame && frame.coach ? frame.coach.step : null;
      if (now && now !== "screen") banner.set("restart", "");   // a new session: the notice is old news
      if (now) step = now;
    };

    function open() {
      source = new EventSource("/api/stream");
      source.addEventListener("open", () => { banner.set("link", ""); });
      source.addEventListener("state", (e) => {
        const body = parse(e);
        if (!body) return;
        deviceUp = body.connected !== false;
        showDevice();
        follow(body.frame);
        call("state", body);
      });
      source.addEventListener("frame", (e) => {
        const frame = parse(e);
        if (!frame) return;
        if (!deviceUp) { deviceUp = true; showDevice(); }
        follow(frame);
        call("frame", frame);
      });
      for (const name of ["warning", "cue"]) {
        source.addEventListener(name, (e) => { const ev = parse(e); if (ev) call(name, ev); });
      }
      source.addEventListener("device", (e) => {
        const ev = parse(e);
        if (!ev) return;
        deviceUp = !!ev.connected;
        showDevice();
        if (ev.connected && ev.restarted) {
          const notice = restartNotice(step);
          if (notice) banner.set("restart", notice);
          step = null;   // the state that follows is the new process's
        }
        call("device", ev);
      });
      source.addEventListener("error", () => {
        banner.set("link", "Lost the connection to the coach: reconnecting…");
        if (source.readyState === EventSource.CLOSED && !retryTimer) {
          retryTimer = setTimeout(() => { retryTimer = null; open(); }, 3000);
        }
      });
    }
    open();
    return { close() { if (source) source.close(); if (retryTimer) clearTimeout(retryTimer); } };
  }

  // ------------------------------------------------------------------- sound
  // Each cue is a short list of notes [frequency Hz, start s, length s, wave, volume 0-1].
  // Warnings are harsh and fast, timer cues smooth, so they can be told apart without looking.
  const PATTERNS = {
    ease_off: [[880, 0, 0.12, "square", 0.5], [660, 0.16, 0.12, "square", 0.5], [440, 0.32, 0.2, "square", 0.5]],
    move_off_knot: [[990, 0, 0.1, "sawtooth", 0.4], [620, 0.12, 0.1, "sawtooth", 0.4],
                    [990, 0.24, 0.1, "sawtooth", 0.4], [620, 0.36, 0.1, "sawtooth", 0.4]],
    contract: [[520, 0, 0.5, "triangle", 0.7], [780, 0.12, 0.38, "triangle", 0.5]],
    relax: [[660, 0, 0.35, "sine", 0.6], [440, 0.3, 0.7, "sine", 0.6]],
    step_done: [[660, 0, 0.14, "sine", 0.6], [990, 0.18, 0.28, "sine", 0.6]],
    step_start: [[520, 0, 0.14, "sine", 0.6], [780, 0.18, 0.22, "sine", 0.6]],
    session_done: [[523, 0, 0.16, "sine", 0.6], [659, 0.2, 0.16, "sine", 0.6], [784, 0.4, 0.4, "sine", 0.6]],
    fault: [[180, 0, 0.25, "square", 0.5], [180, 0.35, 0.25, "square", 0.5], [180, 0.7, 0.25, "square", 0.5]],
    press_a_bit_more: [[440, 0, 0.18, "sine", 0.5], [520, 0.24, 0.18, "sine", 0.5]],
    slow_down: [[330, 0, 0.3, "triangle", 0.6], [330, 0.5, 0.3, "triangle", 0.6]],
    keep_moving: [[1200, 0, 0.05, "square", 0.35], [1200, 0.1, 0.05, "square", 0.35]],
    time_cap: [[392, 0, 0.8, "triangle", 0.6]],
  };
  const VIBRATION = {
    ease_off: [200, 100, 200, 100, 200], move_off_knot: [400, 150, 400], fault: [600],
    contract: [300], relax: [100, 80, 100], step_done: [80, 60, 80], session_done: [80, 60, 80, 60, 200],
  };
  const SOUND_KEY = "knotcoach.sound";

  const sound = {
    ctx: null,
    enabled: localStorage.getItem(SOUND_KEY) !== "off",
    lastPlayed: {},
    /** Create or wake the audio context; browsers allow this only during a tap. */
    unlock() {
      const Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) return;
      if (!this.ctx) this.ctx = new Ctx();
      if (this.ctx.state === "suspended") this.ctx.resume();
    },
    setEnabled(on) {
      this.enabled = on;
      localStorage.setItem(SOUND_KEY, on ? "on" : "off");
      const button = document.getElementById("sound-toggle");
      if (button) {
        button.textContent = on ? "Sound on" : "Sound off";
        button.setAttribute("aria-pressed", on ? "true" : "false");
      }
    },
    /** Play a cue's pattern (at most once per 1.5 s per cue, so the same warning never stacks). */
    play(name) {
      const now = performance.now();
      if (this.lastPlayed[name] && now - this.lastPlayed[name] < 1500) return;
      this.lastPlayed[name] = now;
      vibrate(VIBRATION[name]);
      const notes = PATTERNS[name];
      if (!this.enabled || !notes || !this.ctx || this.ctx.state !== "running") return;
      const t0 = this.ctx.currentTime + 0.02;
      for (const [freq, start, length, wave, volume] of notes) {
        const osc = this.ctx.createOscillator();
        const gain = this.ctx.createGain();
        osc.type = wave;
        osc.frequency.value = freq;
        // short ramps at both ends: no clicks
        gain.gain.setValueAtTime(0, t0 + start);
        gain.gain.linearRampToValueAtTime(volume * 0.5, t0 + start + 0.01);
        gain.gain.setValueAtTime(volume * 0.5, t0 + start + length - 0.02);
        gain.gain.linearRampToValueAtTime(0, t0 + start + length);
        osc.connect(gain).connect(this.ctx.destination);
        osc.start(t0 + start);
        osc.stop(t0 + start + length + 0.05);
      }
    },
  };

  function vibrate(pattern) {
    if (pattern && typeof navigator.vibrate === "function") {
      try { navigator.vibrate(pattern); } catch (e) { /* not allowed yet: no tap so far */ }
    }
  }

  // ------------------------------------------------------------------- words
  const words = {
    steps: {
      screen: "No session", ready: "Lie down to begin", find: "1 · Find the knot",
      around: "2 · Roll around it", reset: "3 · Contract–relax", rerate: "Rate the knot again",
      done: "Session finished",
    },
    stepHelp: {
      screen: "Tap Start to begin a session.",
      ready: "Settle onto the roller: the session begins when your weight is on it.",
      find: "Roll gently, never stay on one spot. On the most tender spot, tap Mark knot.",
      around: "Short, slow rolls above, below and beside the knot: never on it. Keep to 4–5 out of 10.",
      reset: "Rest just beside the knot. Tense the muscle when told, then let it go completely and breathe out.",
      rerate: "How tender is the knot now?",
      done: "Well done. Once a day is enough for this knot.",
    },
    warnings: {
      over_band: "Too hard: ease off", below_band: "A little more pressure",
      on_knot: "On the knot: move off it", fast_stroke: "Slow down your rolls",
      lingering: "Keep moving: don't stay on one spot", sensor_fault: "Sensor problem: check the platform",
      time_cap: "Time is up for today: finish now",
    },
    warningNames: {
      over_band: "too hard", below_band: "too light", on_knot: "on the knot", fast_stroke: "fast rolls",
      lingering: "staying put", sensor_fault: "sensor problem", time_cap: "over time",
    },
    // warning name -> the cue pattern it sounds
    warningCue: {
      over_band: "ease_off", below_band: "press_a_bit_more", on_knot: "move_off_knot",
      fast_stroke: "slow_down", lingering: "keep_moving", sensor_fault: "fault", time_cap: "time_cap",
    },
    phases: { place: "Get in place", contract: "Contract", relax: "Relax" },
    tools: { lacrosse_ball: "Lacrosse ball", foam_roller: "Foam roller" },
  };

  function seconds(value) {
    if (value === null || value === undefined || !isFinite(value)) return "–";
    const s = Math.max(0, Math.round(value));
    return s >= 60 ? `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}` : `${s} s`;
  }

  function nice(name) {
    return String(name || "").replace(/[_-]+/g, " ");
  }

  // The regions' everyday names: one mapping, from the server (pages.py REGION_LABELS), put in
  // every page by base.html. A key it does not list still reads as words.
  let regionLabels = null;
  /** "upper-back" -> "Upper back"; the key itself is what the API takes. */
  function regionName(key) {
    if (regionLabels === null) {
      const el = document.getElementById("kc-regions");
      try { regionLabels = (el && JSON.parse(el.textContent)) || {}; } catch (e) { regionLabels = {}; }
    }
    if (Object.prototype.hasOwnProperty.call(regionLabels, key)) return regionLabels[key];
    const words = nice(key).trim();
    return words.charAt(0).toUpperCase() + words.slice(1);
  }

  /** Put text into an element by id (no HTML is ever built from data). */
  function setText(id, text) {
    const el = document.getElementById(id);
    if (el && el.textContent !== text) el.textContent = text;
  }

  document.addEventListener("DOMContentLoaded", () => {
    sound.setEnabled(sound.enabled);
    const toggle = document.getElementById("sound-toggle");
    if (toggle) toggle.addEventListener("click", () => { sound.unlock(); sound.setEnabled(!sound.enabled); });
  });
  // Any tap may wake the audio (the browser allows it only then).
  document.addEventListener("pointerdown", () => sound.unlock(), { capture: true });

  window.KC = { api, ApiError, stream, sound, vibrate, words, seconds, nice, regionName, setText, banner };
  window.api = api;
})();
