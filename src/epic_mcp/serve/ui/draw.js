// Drawing helpers shared by the views: dates as the record writes them, flags, scales, a line chart with a
// reference band, a tooltip, and a chart/table switch. Plain SVG, drawn to the width the view has.

// A record's date-time ("2026-10-25", "2026-10-25T10:17:00", "...+09:00", "...Z") placed by its written wall-clock
// time, so that the day on the axis is the day the record gives (never moved to the browser's zone).
function when(text) {
  const match = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2}))?)?/.exec(String(text || ""));
  if (!match) return null;
  const [, year, month, day, hour, minute, second] = match;
  const ms = Date.UTC(+year, +month - 1, +day, +(hour || 0), +(minute || 0), +(second || 0));
  return { ms, day: `${year}-${month}-${day}`, time: hour ? `${hour}:${minute}` : "" };
}

function shortName(name) {
  return String(name || "").split(" [")[0].split(" (")[0];
}

// A coded value without its codes: "Alert [SNOMED 248234008]" reads "Alert".
function withoutCodes(text) {
  return String(text).replace(/ \[[^\]]*\]/g, "");
}

// A date-time as the record gives it, easier to read: "2027-06-25T16:00:00Z" reads "2027-06-25 16:00 UTC", an
// offset stays as written ("2024-10-21 03:07 +09:00"), a date alone stays a date.
function whenText(text) {
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(?::\d{2}(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$/.exec(String(text || ""));
  if (!match) return String(text || "");
  const zone = match[3] === "Z" ? " UTC" : match[3] ? ` ${match[3]}` : "";
  return `${match[1]} ${match[2]}${zone}`;
}

// Names without what they share: ["Systolic blood pressure", "Diastolic blood pressure"] -> ["Systolic", "Diastolic"].
function distinctNames(names) {
  if (names.length < 2) return names;
  const words = names.map((n) => n.split(" "));
  const fromEnd = (w, i) => w[w.length - 1 - i];
  let shared = 0;
  while (words.every((w) => w.length - shared > 1 && fromEnd(w, shared) === fromEnd(words[0], shared))) shared++;
  return words.map((w) => w.slice(0, w.length - shared).join(" "));
}

function formatNumber(value) {
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(12)));
}

// A flag as a person reads it: high, low or otherwise abnormal, with a mark that is not only a colour.
function flagOf(text) {
  if (text === undefined || text === null) return null;
  const flag = String(text).trim();
  if (!flag || /^(n|normal|wnl|within normal limits)$/i.test(flag)) return null;
  if (/^(h|hh|hu|>|high|critical high|above)\b|above range|\bhigh\b/i.test(flag)) {
    return { kind: "high", text: flag, mark: "▲", letter: "H" };
  }
  if (/^(l|ll|lu|<|low|critical low|below)\b|below range|\blow\b/i.test(flag)) {
    return { kind: "low", text: flag, mark: "▼", letter: "L" };
  }
  return { kind: "abnormal", text: flag, mark: "◆", letter: "A" };
}

function flagBadge(flag) {
  if (!flag) return null;
  return el("span", { class: `flag flag-${flag.kind}`, title: flag.text }, `${flag.mark} ${flag.text}`);
}

// A reference range as written ("4.0-5.6 % (Normal (ADA))", "<5.7 %", ">60 mL/min"): the band's low and high.
function bandOf(text) {
  if (!text) return null;
  const first = String(text).split(";")[0];
  const range = /(-?\d+(?:\.\d+)?)\s*[-–]\s*(-?\d+(?:\.\d+)?)/.exec(first);
  if (range) return { low: +range[1], high: +range[2], text: first.split(" (")[0].trim() };
  const bound = /^\s*([<>])=?\s*(-?\d+(?:\.\d+)?)/.exec(first);
  if (!bound) return null;
  return bound[1] === "<" ? { low: null, high: +bound[2], text: first.split(" (")[0].trim() }
    : { low: +bound[2], high: null, text: first.split(" (")[0].trim() };
}

function niceTicks(low, high, count) {
  if (low === high) {
    low -= Math.abs(low) * 0.1 || 1;
    high += Math.abs(high) * 0.1 || 1;
  }
  const rough = (high - low) / count;
  const power = Math.pow(10, Math.floor(Math.log10(rough)));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * power).find((s) => s >= rough);
  const ticks = [];
  for (let tick = Math.floor(low / step) * step; tick <= high + step * 1e-9; tick += step) {
    ticks.push(Number(tick.toPrecision(12)));
  }
  if (ticks[ticks.length - 1] < high) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)));
  return ticks;
}

// Days to label on a time axis: the records' own days, spaced so that labels never overlap, first and last kept.
function dayTicks(days, x, minGap) {
  const unique = [...new Map(days.map((d) => [d.day, d])).values()].sort((a, b) => a.ms - b.ms);
  const chosen = [];
  for (const day of unique) {
    if (!chosen.length || x(day.ms) - x(chosen[chosen.length - 1].ms) >= minGap) chosen.push(day);
  }
  const last = unique[unique.length - 1];
  if (last && chosen[chosen.length - 1] !== last) {
    if (chosen.length > 1 && x(last.ms) - x(chosen[chosen.length - 1].ms) < minGap) chosen.pop();
    chosen.push(last);
  }
  return chosen;
}

const Tooltip = {
  show(target, lines) {
    const tip = document.getElementById("tooltip");
    tip.replaceChildren(...lines.map((line, i) => el(i ? "div" : "strong", {}, line)));
    tip.hidden = false;
    const box = target.getBoundingClientRect();
    const centered = box.left + box.width / 2 - tip.offsetWidth / 2;
    const left = Math.min(window.innerWidth - tip.offsetWidth - 4, Math.max(4, centered));
    const above = box.top - tip.offsetHeight - 8;
    tip.style.left = `${left + window.scrollX}px`;
    tip.style.top = `${(above > 0 ? above : box.bottom + 8) + window.scrollY}px`;
  },
  hide() {
    document.getElementById("tooltip").hidden = true;
  },
};

function hoverable(node, lines) {
  node.addEventListener("pointerenter", () => Tooltip.show(node, lines));
  node.addEventListener("pointerleave", Tooltip.hide);
  node.addEventListener("focus", () => Tooltip.show(node, lines));
  node.addEventListener("blur", Tooltip.hide);
  return node;
}

function pointMark(flag, cx, cy) {
  if (!flag) return svg("circle", { class: "mark", cx, cy, r: 3.5 });
  const r = 6;
  const shapes = {
    high: `M${cx},${cy - r} L${cx + r},${cy + r} L${cx - r},${cy + r} Z`,
    low: `M${cx},${cy + r} L${cx + r},${cy - r} L${cx - r},${cy - r} Z`,
    abnormal: `M${cx},${cy - r} L${cx + r},${cy} L${cx},${cy + r} L${cx - r},${cy} Z`,
  };
  return svg("path", { class: `mark flagged flagged-${flag.kind}`, d: shapes[flag.kind] });
}

let chartCount = 0;
const LETTER_GAP = 18;

// A line chart of one or more measures over time (points: {ms, day, time, value, text, flag, id}), with an
// optional reference band ({low, high, text}). Returns the SVG; every point is focusable and has its own label.
function lineChart({ name, measures, band, unit, width, description }) {
  const id = `chart-${++chartCount}`;
  const W = Math.max(320, Math.round(width));
  const H = 250;
  const endLabels = distinctNames(measures.map((m) => m.name));
  const labelRoom = measures.length > 1 ? Math.max(...endLabels.map((l) => l.length)) * 7 + 16 : 0;
  const margin = { top: 24, right: Math.max(24, labelRoom), bottom: 42, left: 54 };
  const points = measures.flatMap((m) => m.points);
  let t0 = Math.min(...points.map((p) => p.ms));
  let t1 = Math.max(...points.map((p) => p.ms));
  if (t0 === t1) {
    t0 -= 86400000;
    t1 += 86400000;
  }
  const pad = (t1 - t0) * 0.03;
  const plotWidth = W - margin.left - margin.right;
  const x = (ms) => margin.left + ((ms - (t0 - pad)) / (t1 - t0 + 2 * pad)) * plotWidth;
  const values = points.map((p) => p.value);
  if (band) values.push(...[band.low, band.high].filter((v) => v !== null));
  const ticks = niceTicks(Math.min(...values), Math.max(...values), 5);
  const [d0, d1] = [ticks[0], ticks[ticks.length - 1]];
  const y = (v) => margin.top + (1 - (v - d0) / (d1 - d0)) * (H - margin.top - margin.bottom);
  const bottom = H - margin.bottom;

  const chart = svg("svg", { id, class: "chart", width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img",
    "aria-labelledby": `${id}-title ${id}-desc` },
  svg("title", { id: `${id}-title` }, name),
  svg("desc", { id: `${id}-desc` }, description));

  if (band) {
    const top = band.high === null ? margin.top : y(band.high);
    const low = band.low === null ? bottom : y(band.low);
    chart.append(svg("g", { class: "band" },
      svg("rect", { x: margin.left, y: top, width: plotWidth, height: Math.max(0, low - top) }),
      band.high === null ? null : svg("line", { x1: margin.left, x2: margin.left + plotWidth, y1: top, y2: top }),
      band.low === null ? null : svg("line", { x1: margin.left, x2: margin.left + plotWidth, y1: low, y2: low }),
      svg("text", { x: margin.left + 6, y: top + 13 }, `Reference range ${band.text}`)));
  }
  const axis = svg("g", { class: "axis" });
  for (const tick of ticks) {
    axis.append(svg("line", { class: "grid", x1: margin.left, x2: margin.left + plotWidth, y1: y(tick), y2: y(tick) }),
      svg("text", { class: "tick value-tick", "data-scale": "", x: margin.left - 8, y: y(tick) + 4 },
        formatNumber(tick)));
  }
  if (unit) axis.append(svg("text", { class: "unit", x: margin.left - 8, y: margin.top - 12 }, unit));
  axis.append(svg("line", { class: "baseline", x1: margin.left, x2: margin.left + plotWidth, y1: bottom, y2: bottom }));
  for (const day of dayTicks(points, x, 86)) {
    axis.append(svg("line", { class: "day-mark", x1: x(day.ms), x2: x(day.ms), y1: bottom, y2: bottom + 5 }),
      svg("text", { class: "tick date-tick", x: x(day.ms), y: bottom + 19 }, day.day));
  }
  chart.append(axis);

  measures.forEach((measure, index) => {
    const sorted = [...measure.points].sort((a, b) => a.ms - b.ms);
    const group = svg("g", { class: `measure measure-${index}`, "data-measure": measure.name });
    group.append(svg("polyline", { class: "line", points: sorted.map((p) => `${x(p.ms)},${y(p.value)}`).join(" ") }));
    let lastLetter = -Infinity;
    for (const p of sorted) {
      const at = `${p.day}${p.time ? ` ${p.time}` : ""}`;
      const label = `${measure.name} ${at}: ${p.text}${p.flag ? ` (${p.flag.text})` : ""}`;
      const cx = x(p.ms);
      const cy = y(p.value);
      const node = svg("g", { class: "point", tabindex: 0, role: "img", "aria-label": label, "data-date": p.day,
        "data-value": formatNumber(p.value), "data-flag": p.flag ? p.flag.kind : null },
      svg("circle", { class: "hit", cx, cy, r: 11 }),
      pointMark(p.flag, cx, cy),
      // The letter beside a flagged mark, where it does not crowd the previous one (the mark's shape stays).
      p.flag && cx - lastLetter >= LETTER_GAP ? svg("text", { class: `flag-letter flag-letter-${p.flag.kind}`, x: cx,
        y: p.flag.kind === "low" ? cy + 19 : cy - 10 }, p.flag.letter) : null);
      if (p.flag && cx - lastLetter >= LETTER_GAP) lastLetter = cx;
      hoverable(node, [at, `${measure.name}: ${p.text}`,
        ...(p.flag ? [`Flag: ${p.flag.text}`] : []), ...(p.id ? [p.id] : [])]);
      group.append(node);
    }
    if (measures.length > 1) {
      const last = sorted[sorted.length - 1];
      group.append(svg("text", { class: "end-label", x: x(last.ms) + 10, y: y(last.value) + 4 }, endLabels[index]));
    }
    chart.append(group);
  });
  return chart;
}

// Panes shown one at a time ({label, content}), switched by a row of buttons: a chart and its table, a list and
// its timeline. Every pane stays in the document (hidden ones too), so the switch never loses data.
function switcher(caption, panes, chosen = 0) {
  const buttons = panes.map((pane) => el("button", { type: "button", class: "toggle" }, pane.label));
  const bodies = panes.map((pane) => el("div", { class: `pane pane-${pane.label.toLowerCase()}` }, pane.content));
  const choose = (index) => {
    bodies.forEach((body, i) => { body.hidden = i !== index; });
    buttons.forEach((button, i) => button.setAttribute("aria-pressed", String(i === index)));
    Tooltip.hide();
  };
  buttons.forEach((button, i) => button.addEventListener("click", () => choose(i)));
  choose(chosen);
  return el("figure", { class: "figure" },
    el("div", { class: "figure-bar" }, caption, el("div", { class: "toggles", role: "group", "aria-label": "Show as" },
      buttons)), bodies);
}

function dataTable(headers, rows, options = {}) {
  return el("table", { class: `data ${options.class || ""}` },
    options.caption ? el("caption", {}, options.caption) : null,
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows.map((row) => el("tr", {}, row.map((cell) => el("td", {}, cell))))));
}

function notesList(notes) {
  if (!notes || !notes.length) return null;
  return el("ul", { class: "notes" }, notes.map((note) => el("li", {}, note)));
}

function viewWidth() {
  return document.getElementById("view").clientWidth || window.innerWidth - 32;
}
