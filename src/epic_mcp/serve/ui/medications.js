// Medications from patient_summary's medications section: the current drugs (one line per drug, its newest current
// order) and the active orders set apart as likely stale, each with its reason, on a timeline of their periods.
// An order's period runs from when it was written to the last date its reason gives (a stay that ended, a supply
// that ran out: "its supply (30 days from 2026-04-13) ran out 2026-05-13"); a current order runs on to the right
// edge.

function dosageText(record) {
  const dosage = Array.isArray(record.dosage) ? record.dosage[0] : record.dosage;
  if (!dosage) return "";
  if (typeof dosage === "string") return dosage;
  return dosage.text || [].concat(dosage.dose || []).join(", ") || "";
}

function orderOf(record, current) {
  const reason = current ? null : String(record.likely_stale || "");
  const ended = reason ? [...reason.matchAll(/\d{4}-\d{2}-\d{2}/g)].pop() : null;
  return {
    record, current, reason,
    name: shortName(record.medication || record.code || record.id),
    full: String(record.medication || record.code || ""),
    dosage: dosageText(record),
    start: when(record.authored_on),
    end: ended ? when(ended[0]) : null,
  };
}

function medicationOrders(section) {
  return [...section.items.map((r) => orderOf(r, true)), ...(section.set_apart || []).map((r) => orderOf(r, false))];
}

function orderTooltip(order) {
  return [order.full || order.name, order.dosage,
    order.start ? `Ordered ${order.record.authored_on}` : "Order date not given",
    order.current ? "Current" : `Likely stale: ${order.reason}`, order.record.id].filter(Boolean);
}

// The reason beside a stale order's bar: after it where there is room, else before it, else cut short.
function staleNote(reason, start, end, left, right, middle) {
  const room = (px) => Math.floor(px / 5.9);
  const text = (x, anchor, chars) => svg("text", { class: "bar-note", x, y: middle + 4, "text-anchor": anchor },
    reason.length > chars ? `${reason.slice(0, Math.max(chars - 1, 0))}…` : reason);
  const after = room(right - end - 8);
  const before = room(start - left - 8);
  if (after >= reason.length || after >= before) return text(end + 5, "start", after);
  return text(start - 5, "end", before);
}

function timeline(orders, width) {
  const placed = orders.filter((o) => o.start);
  const W = Math.max(360, Math.round(width));
  const labelWidth = Math.min(230, Math.round(W * 0.34));
  const row = 24;
  const margin = { top: 30, right: 86, bottom: 10, left: labelWidth + 12 };
  const groups = [["Current", placed.filter((o) => o.current)],
    ["Likely stale, set apart", placed.filter((o) => !o.current)]].filter(([, list]) => list.length);
  const rows = groups.reduce((n, [, list]) => n + list.length + 1, 0);
  const H = margin.top + rows * row + margin.bottom;
  const dates = placed.flatMap((o) => [o.start, o.end].filter(Boolean));
  let t0 = Math.min(...dates.map((d) => d.ms));
  let t1 = Math.max(...dates.map((d) => d.ms));
  if (t0 === t1) {
    t0 -= 86400000 * 15;
    t1 += 86400000 * 15;
  }
  const plotWidth = W - margin.left - margin.right;
  const pad = (t1 - t0) * 0.02;
  const x = (ms) => margin.left + ((ms - (t0 - pad)) / (t1 - t0 + 2 * pad)) * plotWidth;
  const right = margin.left + plotWidth;
  const id = `chart-${++chartCount}`;
  const current = placed.filter((o) => o.current).map((o) => o.name);
  const stale = placed.filter((o) => !o.current).map((o) => `${o.name} (${o.reason})`);
  const description = `Medication orders on a timeline. Current: ${current.join(", ") || "none"}. `
    + `Likely stale: ${stale.join("; ") || "none"}.`;
  const chart = svg("svg", { id, class: "chart timeline", width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img",
    "aria-labelledby": `${id}-title ${id}-desc` },
  svg("title", { id: `${id}-title` }, "Medication orders"),
  svg("desc", { id: `${id}-desc` }, description),
  svg("defs", {}, svg("pattern", { id: `${id}-hatch`, width: 6, height: 6, patternUnits: "userSpaceOnUse",
    patternTransform: "rotate(45)" }, svg("line", { class: "hatch", x1: 0, y1: 0, x2: 0, y2: 6 }))));
  const axis = svg("g", { class: "axis" });
  for (const day of dayTicks(dates, x, 86)) {
    axis.append(svg("line", { class: "grid", x1: x(day.ms), x2: x(day.ms), y1: margin.top - 4, y2: H - margin.bottom }),
      svg("text", { class: "tick date-tick", x: x(day.ms), y: margin.top - 10 }, day.day));
  }
  chart.append(axis);
  let line = 0;
  for (const [title, list] of groups) {
    const top = margin.top + line * row;
    chart.append(svg("text", { class: "group-label", x: 4, y: top + 16 }, `${title} (${list.length})`));
    line += 1;
    for (const order of list) {
      const middle = margin.top + line * row + row / 2;
      const start = x(order.start.ms);
      const end = order.current ? right : Math.max(start + 4, x((order.end || order.start).ms));
      const node = svg("g", { class: `order ${order.current ? "order-current" : "order-stale"}`, tabindex: 0,
        role: "img", "aria-label": `${order.name}: ${order.current ? "current" : `likely stale, ${order.reason}`}`,
        "data-id": order.record.id, "data-start": order.start.day, "data-end": order.end ? order.end.day : null },
      svg("text", { class: "order-label", x: 4, y: middle + 4 }, order.name),
      svg("rect", { class: "hit", x: 0, y: middle - row / 2, width: W, height: row }),
      svg("rect", { class: "bar", x: start, y: middle - 6, width: end - start, height: 12, rx: 2,
        fill: order.current ? null : `url(#${id}-hatch)` }),
      order.current
        ? [svg("path", { class: "arrow",
          d: `M${right},${middle - 7} L${right + 9},${middle} L${right},${middle + 7} Z` }),
          svg("text", { class: "bar-note", x: right + 13, y: middle + 4 }, "current")]
        : staleNote(order.reason, start, end, margin.left, W, middle));
      hoverable(node, orderTooltip(order));
      chart.append(node);
      line += 1;
    }
  }
  return chart;
}

function orderItem(order) {
  return el("li", { class: order.current ? "current" : "stale", "data-id": order.record.id },
    el("span", { class: "name", title: order.full }, order.name),
    order.dosage ? el("span", { class: "detail" }, ` · ${order.dosage}`) : null,
    order.record.active_orders
      ? el("span", { class: "detail" }, ` · ${order.record.active_orders} active orders`) : null,
    order.current ? null : [" ", el("span", { class: "reason" },
      el("span", { class: "badge stale-badge" }, "likely stale"), ` ${order.reason}`)]);
}

function medicationLists(section) {
  const orders = medicationOrders(section);
  const current = orders.filter((o) => o.current);
  const stale = orders.filter((o) => !o.current);
  return el("div", { class: "med-lists" },
    el("h3", {}, `Current (${current.length})`),
    current.length ? el("ul", { class: "meds" }, current.map(orderItem)) : el("p", { class: "none" }, "None on file."),
    stale.length ? [el("h3", {}, `Likely stale, set apart (${stale.length})`),
      el("ul", { class: "meds" }, stale.map(orderItem))] : null);
}

function medicationTable(orders) {
  return dataTable(["Medication", "Dosage", "Ordered", "Judged", "Id"], orders.map((o) => [
    o.full || o.name, o.dosage, o.record.authored_on || "?",
    o.current ? "current" : el("span", {}, el("span", { class: "badge stale-badge" }, "likely stale"), ` ${o.reason}`),
    o.record.id]));
}

// The medications section as panes: `first` is the pane shown first ("Timeline" alone, "List" in the card).
function medicationPanes(section, width, first) {
  const orders = medicationOrders(section);
  const undated = orders.filter((o) => !o.start).length;
  const panes = [
    { label: "List", content: medicationLists(section) },
    { label: "Timeline", content: orders.some((o) => o.start) ? [timeline(orders, width),
      undated ? el("p", { class: "note" }, `${undated} order(s) without a date are in the list and the table.`) : null]
      : el("p", { class: "none" }, "No order has a date to place on a timeline.") },
    { label: "Table", content: medicationTable(orders) },
  ];
  return switcher(el("figcaption", {}), panes, panes.findIndex((p) => p.label === first));
}
