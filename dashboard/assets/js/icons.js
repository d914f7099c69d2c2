// Small inline SVG icons (the delivery marks), drawn with currentColor so CSS picks their colour.

const SVG = "http://www.w3.org/2000/svg";

const PATHS = {
  // one check; two overlapping checks; a clock; an exclamation in a circle; a slashed circle
  check: ["M2.5 8.5l3.2 3.2L13.5 4"],
  checks: ["M1 8.5l3.2 3.2L12 4", "M7.2 11.2l.5.5L15.5 4"],
  clock: ["M8 1.8a6.2 6.2 0 1 0 0 12.4A6.2 6.2 0 0 0 8 1.8z", "M8 4.5V8l2.4 1.6"],
  alert: ["M8 1.8a6.2 6.2 0 1 0 0 12.4A6.2 6.2 0 0 0 8 1.8z", "M8 4.6v4.2", "M8 11.2v.2"],
  cancelled: ["M8 1.8a6.2 6.2 0 1 0 0 12.4A6.2 6.2 0 0 0 8 1.8z", "M3.6 12.4l8.8-8.8"],
  // a head and shoulders; two of them
  person: ["M8 8.2a2.7 2.7 0 1 0 0-5.4 2.7 2.7 0 0 0 0 5.4z", "M2.8 14c.6-2.6 2.6-4 5.2-4s4.6 1.4 5.2 4"],
  group: [
    "M5.6 7.6a2.3 2.3 0 1 0 0-4.6 2.3 2.3 0 0 0 0 4.6z",
    "M1.5 13.5c.5-2.2 2.1-3.4 4.1-3.4s3.6 1.2 4.1 3.4",
    "M10.8 7.4a2 2 0 1 0 0-4 2 2 0 0 0 0 4z",
    "M11.6 9.9c1.6.2 2.7 1.3 3 3.1",
  ],
};

/** An <svg> icon by name (decorative: its meaning goes in the parent's label or text). */
export function icon(name) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.classList.add("icon", `icon-${name}`);
  for (const d of PATHS[name] ?? []) {
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  return svg;
}
