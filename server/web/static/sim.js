/* The simulator panel on the live page: shown only when the source is the simulated platform.
 * Each button steers the simulated person: POST /api/command/steer {command, kwargs}. */
(function () {
  "use strict";
  const panel = document.getElementById("sim");
  if (!panel) return;

  document.addEventListener("kc:state", (e) => {
    panel.hidden = e.detail.source !== "simulated";
  });

  panel.addEventListener("click", (e) => {
    const button = e.target.closest("button[data-steer]");
    if (!button) return;
    const kwargs = {};
    if (button.dataset.on !== undefined) kwargs.on = button.dataset.on === "true";
    window.KCLive.send("steer", { command: button.dataset.steer, kwargs });
  });
})();
