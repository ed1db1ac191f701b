// The trend view: get_latest_values (LatestValues) as one chart per series, a line per measure (a panel such as
// blood pressure gives one line per component), the reference range as a band, flagged results marked.

// "Systolic blood pressure: 148 mm[Hg] (High)": one component of a panel's value, as get_latest_values writes it.
const COMPONENT = /^(.+?): (-?\d+(?:\.\d+)?)(?: ([^()]*?))?(?: \(([^()]*)\))?$/;

function pointOf(value, number, unit, text, flag) {
  const at = when(value.date);
  return at && { ...at, value: number, unit, text, flag: flagOf(flag), id: value.id };
}

function measuresOf(series) {
  const numeric = series.values.filter((v) => typeof v.number === "number" && when(v.date));
  if (numeric.length) {
    return [{ name: shortName(series.name || series.code),
      points: numeric.map((v) => pointOf(v, v.number, v.unit, v.value, v.flag)) }];
  }
  const measures = new Map();
  for (const value of series.values) {
    for (const part of String(value.value || "").split("; ")) {
      const match = COMPONENT.exec(part.trim());
      if (!match) continue;
      const [, name, number, unit, interpretation] = match;
      const point = pointOf(value, +number, unit, `${number}${unit ? ` ${unit}` : ""}`, interpretation || value.flag);
      if (!point) continue;
      if (!measures.has(name)) measures.set(name, { name, points: [] });
      measures.get(name).points.push(point);
    }
  }
  return [...measures.values()];
}

// As get_latest_values writes it: the direction ("fluctuating" when the series keeps turning), the range, then
// first to last.
function trendLine(trend) {
  const how = trend.direction === "fluctuating" && trend.direction_changes !== undefined
    ? `, turned ${trend.direction_changes} times` : "";
  const spread = trend.spread ? `, spread ${trend.spread}` : "";
  return `${trend.measure}: ${trend.direction}${how}; lowest ${trend.min}, highest ${trend.max}${spread}; `
    + `${trend.first} → ${trend.last} (${trend.change})`;
}

function seriesFigure(series, patientId) {
  const title = series.name || series.code;
  const values = series.values || [];
  const measures = measuresOf(series).filter((m) => m.points.length);
  const newest = values.find((v) => v.reference_range);
  const band = measures.length === 1 ? bandOf(newest && newest.reference_range) : null;
  const header = el("header", { class: "series-head" },
    el("h2", {}, shortName(title)),
    el("p", { class: "sub" }, `${title} · Patient/${patientId} · ${values.length} newest`,
      series.complete === false ? el("span", { class: "warn" }, " · older results not read") : null));
  const trends = (series.trend || []).map(trendLine);
  const caption = el("figcaption", {}, trends.length ? trends.map((t) => el("div", { class: "trend" }, t))
    : el("div", { class: "trend" }, values.length < 2 ? "One result: no trend." : "No numeric trend."));
  const table = dataTable(["Date", "Value", "Flag", "Reference range", "Id"], values.map((v) => [
    v.date || "?", v.value, flagBadge(flagOf(v.flag)) || "", v.reference_range || "", v.id]));
  const parts = [header, notesList(series.notes)];
  if (!values.length) {
    return el("section", { class: "series" }, parts,
      el("p", { class: "message" }, `No results of ${series.code} on file.`));
  }
  if (!measures.length) return el("section", { class: "series" }, parts, caption, table);
  const days = measures.flatMap((m) => m.points).map((p) => p.day).sort();
  const flagged = measures.flatMap((m) => m.points.filter((p) => p.flag)
    .map((p) => `${m.name} ${p.day} ${p.text} (${p.flag.text})`));
  const description = [`${shortName(title)}: ${values.length} results, ${days[0]} to ${days[days.length - 1]}.`,
    ...trends, band ? `Reference range ${band.text}.` : "",
    flagged.length ? `Flagged: ${flagged.join("; ")}.` : "No flagged results."].filter(Boolean).join(" ");
  const units = [...new Set(measures.flatMap((m) => m.points.map((p) => p.unit)).filter(Boolean))];
  const chart = lineChart({ name: shortName(title), measures, band, unit: units.length === 1 ? units[0] : null,
    width: viewWidth() - 2, description });
  const legend = measures.length > 1 ? el("ul", { class: "legend" }, measures.map((m, i) =>
    el("li", {}, svg("svg", { width: 28, height: 10, "aria-hidden": "true" },
      svg("line", { class: `legend-line measure-${i}`, x1: 0, x2: 28, y1: 5, y2: 5 })), m.name))) : null;
  const kinds = new Set(measures.flatMap((m) => m.points.filter((p) => p.flag).map((p) => p.flag.kind)));
  const keys = [["high", "▲ H", "flagged high"], ["low", "▼ L", "flagged low"], ["abnormal", "◆ A", "other flag"]]
    .filter(([kind]) => kinds.has(kind));
  const key = keys.length ? el("ul", { class: "legend flags-key" }, keys.map(([kind, mark, words]) =>
    el("li", {}, el("span", { class: `flag flag-${kind}` }, mark), ` ${words}`))) : null;
  return el("section", { class: "series" }, parts,
    switcher(caption, [{ label: "Chart", content: [chart, legend, key] }, { label: "Table", content: table }]));
}

App.start("trend", (data) => (data.series || []).map((series) => seriesFigure(series, data.patient_id)));
