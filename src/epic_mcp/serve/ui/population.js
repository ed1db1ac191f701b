// The population view: query_population (QueryAnswer) as a sortable table, and as a bar chart when the result has
// one category column and one count column. The values are record data: shown as text, never as markup.

const MAX_BARS = 60;

function isNumber(value) {
  return typeof value === "number" && Number.isFinite(value);
}

function cellText(value) {
  if (value === null || value === undefined) return "";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

// [category, count] column indexes when the answer is a count per category, else null.
function countColumns(answer) {
  if (answer.columns.length !== 2 || !answer.rows.length || answer.rows.length > MAX_BARS) return null;
  const numeric = [0, 1].map((i) => answer.rows.every((row) => isNumber(row[i])));
  const count = numeric[1] ? 1 : numeric[0] ? 0 : -1;
  if (count < 0 || answer.rows.some((row) => row[count] < 0)) return null;
  return [1 - count, count];
}

function compare(a, b) {
  if (a === b) return 0;
  if (a === null || a === undefined) return 1;
  if (b === null || b === undefined) return -1;
  if (isNumber(a) && isNumber(b)) return a - b;
  return cellText(a).localeCompare(cellText(b), undefined, { numeric: true });
}

function barChart(answer, rows, [category, count], width) {
  const W = Math.max(360, Math.round(width));
  const labelWidth = Math.min(240, Math.round(W * 0.36));
  const bar = 20;
  const gap = 6;
  const margin = { top: 26, right: 64, bottom: 8, left: labelWidth + 12 };
  const H = margin.top + rows.length * (bar + gap) + margin.bottom;
  const ticks = niceTicks(0, Math.max(...rows.map((r) => r[count]), 1), 5);
  const top = ticks[ticks.length - 1];
  const plotWidth = W - margin.left - margin.right;
  const x = (value) => margin.left + (value / top) * plotWidth;
  const id = `chart-${++chartCount}`;
  const [categoryName, countName] = [answer.columns[category], answer.columns[count]];
  const description = `${countName} by ${categoryName}: `
    + rows.map((r) => `${cellText(r[category]) || "(empty)"} ${formatNumber(r[count])}`).join("; ") + ".";
  const chart = svg("svg", { id, class: "chart bars", width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img",
    "aria-labelledby": `${id}-title ${id}-desc` },
  svg("title", { id: `${id}-title` }, `${countName} by ${categoryName}`),
  svg("desc", { id: `${id}-desc` }, description));
  const axis = svg("g", { class: "axis" });
  for (const tick of ticks) {
    axis.append(svg("line", { class: "grid", x1: x(tick), x2: x(tick), y1: margin.top - 4, y2: H - margin.bottom }),
      svg("text", { class: "tick value-tick", "data-scale": "", x: x(tick), y: margin.top - 10 }, formatNumber(tick)));
  }
  chart.append(axis);
  rows.forEach((row, i) => {
    const y = margin.top + i * (bar + gap);
    const label = cellText(row[category]) || "(empty)";
    const shown = label.length > 32 ? `${label.slice(0, 31)}…` : label;
    const node = svg("g", { class: "bar-row", tabindex: 0, role: "img",
      "aria-label": `${label}: ${formatNumber(row[count])}`, "data-category": label,
      "data-count": formatNumber(row[count]) },
    svg("text", { class: "bar-label", x: margin.left - 8, y: y + bar / 2 + 4 }, shown),
    svg("rect", { class: "bar", x: margin.left, y, width: Math.max(0, x(row[count]) - margin.left), height: bar,
      rx: 2 }),
    svg("text", { class: "bar-value", x: x(row[count]) + 6, y: y + bar / 2 + 4 }, formatNumber(row[count])));
    hoverable(node, [label, `${countName}: ${formatNumber(row[count])}`]);
    chart.append(node);
  });
  return chart;
}

function populationView(answer) {
  const columns = answer.columns || [];
  const original = (answer.rows || []).map((row, index) => ({ row, index }));
  const bars = countColumns({ columns, rows: answer.rows || [] });
  const sort = { column: -1, ascending: true };
  const head = el("header", { class: "series-head" },
    el("h2", {}, "Population query"),
    el("p", { class: "sub" }, `${answer.row_count} row(s)`,
      answer.truncated
        ? el("span", { class: "warn" }, ` · truncated at ${answer.row_count}: aggregate, or raise max_rows`) : null,
      ` · ${answer.elapsed_ms} ms`));
  const tbody = el("tbody", {});
  const headers = columns.map((name, i) => el("th", { scope: "col", "aria-sort": "none" },
    el("button", { type: "button", class: "sort", onclick: () => sortBy(i) }, name,
      el("span", { class: "sort-mark", "aria-hidden": "true" }, ""))));
  const table = el("table", { class: "data sortable" }, el("thead", {}, el("tr", {}, headers)), tbody);
  const chartHolder = el("div", {});

  function sorted() {
    if (sort.column < 0) return original;
    const direction = sort.ascending ? 1 : -1;
    return [...original].sort((a, b) => direction * compare(a.row[sort.column], b.row[sort.column])
      || a.index - b.index);
  }

  function fill() {
    const rows = sorted();
    tbody.replaceChildren(...rows.map(({ row }) => el("tr", {}, row.map((value, i) =>
      el("td", { class: isNumber(value) ? "num" : null }, cellText(value))))));
    headers.forEach((th, i) => {
      const state = i === sort.column ? (sort.ascending ? "ascending" : "descending") : "none";
      th.setAttribute("aria-sort", state);
      th.querySelector(".sort-mark").textContent = { ascending: " ▲", descending: " ▼", none: "" }[state];
    });
    if (bars) chartHolder.replaceChildren(barChart({ columns }, rows.map((r) => r.row), bars, viewWidth() - 2));
  }

  function sortBy(column) {
    sort.ascending = sort.column === column ? !sort.ascending : true;
    sort.column = column;
    fill();
  }

  fill();
  const caption = el("figcaption", {}, bars ? el("div", {}, `${columns[bars[1]]} by ${columns[bars[0]]}`) : null,
    el("div", { class: "sub" }, bars ? "Sort by a column header; the bars follow the table's order."
      : "Sort by a column header."));
  const body = bars ? switcher(caption, [{ label: "Chart", content: chartHolder }, { label: "Table", content: table }])
    : el("figure", { class: "figure" }, el("div", { class: "figure-bar" }, caption), table);
  return [head, columns.length ? body : el("p", { class: "none" }, "The query returned no columns.")];
}

App.start("population", populationView);
