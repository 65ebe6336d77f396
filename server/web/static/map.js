/* The live page's map of the platform (SVG): the load cells, the marked knot with its no-go
 * circle, and where the roller is now with a short trail. Platform millimetres throughout;
 * y runs up the screen. A platform whose cells stand on one line has no y: the roller is drawn
 * on that line. */
(function () {
  "use strict";
  const SVG = "http://www.w3.org/2000/svg";
  const PAD_MM = 30;
  const LINE_DEPTH_MM = 120;   // how deep a one-line platform is drawn

  function svg(tag, attrs, parent) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    if (parent) parent.appendChild(el);
    return el;
  }

  /** The platform's extent from its cells (x0..x1, y0..y1 in mm). */
  function extent(platform) {
    const cells = (platform && platform.cells_xy) || [];
    const xs = cells.map((c) => c[0]);
    const ys = cells.map((c) => c[1]);
    let [x0, x1] = xs.length ? [Math.min(...xs), Math.max(...xs)] : [0, (platform && platform.width_mm) || 600];
    let [y0, y1] = ys.length ? [Math.min(...ys), Math.max(...ys)] : [0, (platform && platform.depth_mm) || 400];
    if (x1 - x0 < 1) { x0 -= 300; x1 += 300; }   // one cell: room around it
    const flat = y1 - y0 < 1;
    if (flat) { y0 -= LINE_DEPTH_MM / 2; y1 += LINE_DEPTH_MM / 2; }
    return { x0, x1, y0, y1, flat, cells };
  }

  function PlatformMap(el, zoneMm) {
    let box = extent(null);
    const parts = {};

    const toMap = (x, y) => [x, box.y1 - (y === null || y === undefined || box.flat ? (box.y0 + box.y1) / 2 : y) + box.y0];

    function build(platform) {
      box = extent(platform);
      const w = box.x1 - box.x0;
      const d = box.y1 - box.y0;
      el.setAttribute("viewBox", `${box.x0 - PAD_MM} ${box.y0 - PAD_MM} ${w + 2 * PAD_MM} ${d + 2 * PAD_MM}`);
      el.replaceChildren();
      svg("rect", { x: box.x0, y: box.y0, width: w, height: d, rx: 14, class: "map-plate" }, el);
      for (const [cx, cy] of box.cells) {
        const [mx, my] = toMap(cx, cy);
        svg("rect", { x: mx - 12, y: my - 12, width: 24, height: 24, rx: 4, class: "map-cell" }, el);
      }
      parts.zone = svg("circle", { r: zoneMm, class: "map-zone", visibility: "hidden" }, el);
      parts.knot = svg("circle", { r: 11, class: "map-knot", visibility: "hidden" }, el);
      parts.trail = svg("polyline", { points: "", class: "map-trail" }, el);
      parts.you = svg("circle", { r: 16, class: "map-you", visibility: "hidden" }, el);
    }

    /** knot [x, y] or null; here [x, y] or null; trail [[t, x, y], ...]; inside: on the knot now. */
    function render(knot, here, trail, inside) {
      if (!parts.you) build(null);
      for (const part of [parts.zone, parts.knot]) {
        part.setAttribute("visibility", knot ? "visible" : "hidden");
        if (knot) {
          const [kx, ky] = toMap(knot[0], knot[1]);
          part.setAttribute("cx", kx);
          part.setAttribute("cy", ky);
        }
      }
      parts.zone.classList.toggle("inside", !!inside);
      parts.you.setAttribute("visibility", here ? "visible" : "hidden");
      if (here) {
        const [x, y] = toMap(here[0], here[1]);
        parts.you.setAttribute("cx", x);
        parts.you.setAttribute("cy", y);
      }
      parts.trail.setAttribute("points", trail.map(([, x, y]) => toMap(x, y).join(",")).join(" "));
    }

    return { build, render };
  }

  window.KCMap = PlatformMap;
})();
