"""The MCP Apps views in a real headless Chromium (issue 26), through the test host (tests/apps_host: the
extension's own AppBridge, a sandbox proxy on another origin, the CSP the view declares).

The real server runs over stdio against sekmet-fhir loaded with the sandbox data (and its population database
exported from there), as an MCP client that negotiates the extension sees it; each view is then given the tool's
result and checked for what a person sees: chart points at the tool's values, the reference band at the range,
every current drug listed, flags marked by more than colour, a text alternative and a table for every chart, no
console error, no request from the view. In the PHI-minimising mode a view shows nothing the text answer does not.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from epic_mcp.serve.apps import view_contents
from epic_mcp.serve.ui import VIEWS

from .. import apps_host
from ..apps_host.sandbox import CAMILA, PHI_QUESTIONS, QUESTIONS, Session, gather_sessions, sandbox_servers
from ..conftest import pretended_today

pytestmark = [pytest.mark.e2e]


@pytest.fixture(scope="module", autouse=True)
def browser_available() -> None:
    reason = apps_host.missing()
    if reason is not None:
        if os.environ.get("EPIC_MCP_REQUIRE_E2E"):
            pytest.fail(f"the browser tests need Chromium and the MCP Apps host library: {reason}")
        pytest.skip(f"browser tests skipped: {reason}")


@pytest.fixture(scope="module")
def host() -> Iterator[apps_host.AppsHost]:
    with apps_host.AppsHost() as opened:
        yield opened


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Session]:
    with sandbox_servers(tmp_path_factory.mktemp("e2e-views"), pretended_today()) as servers:
        gathered = gather_sessions(servers)
    for session in gathered.values():
        failed = {key: r["content"] for key, r in session.results.items() if r.get("isError")}
        assert failed == {}
    return gathered


def render(host: apps_host.AppsHost, session: Session, key: str, **options: Any) -> apps_host.Rendered:
    tool = session.tools[QUESTIONS[key][0]]
    resource = session.resources[tool["_meta"]["ui"]["resourceUri"]]
    return host.render(resource, tool, session.arguments[key], session.results[key], **options)


def assert_clean(rendered: apps_host.Rendered) -> None:
    """No console error, no uncaught error, and no request from the view (nor anywhere but the host)."""
    assert rendered.problems() == []
    assert rendered.outside_requests() == []
    assert rendered.host["app"]["name"].startswith("epic-mcp ")


# What a person sees: geometry read back from the drawing --------------------------------------------------------

GEOMETRY = """(root) => {
  const box = (node) => node.getBoundingClientRect();
  const center = (node) => { const b = box(node); return [b.x + b.width / 2, b.y + b.height / 2]; };
  const labelled = (chart) => (chart.getAttribute("aria-labelledby") || "").split(" ")
    .map((id) => (document.getElementById(id) || {}).textContent || "");
  // A tick is where its mark is drawn (the grid line or mark just before its label), labelled by its text.
  const ticks = (chart, selector, axis) => [...chart.querySelectorAll(selector)]
    .map((t) => ({ text: t.textContent, at: center(t.previousElementSibling)[axis] }));
  return [...root.querySelectorAll("svg.chart")].map((chart) => ({
    title: chart.querySelector("title").textContent,
    labelled: labelled(chart),
    role: chart.getAttribute("role"),
    valueTicks: ticks(chart, ".value-tick", 1).map((t) => ({ value: +t.text, y: t.at })),
    dateTicks: ticks(chart, ".date-tick", 0).map((t) => ({ day: t.text, x: t.at })),
    band: chart.querySelector(".band rect") && { top: box(chart.querySelector(".band rect")).top,
      bottom: box(chart.querySelector(".band rect")).bottom },
    measures: [...chart.querySelectorAll(".measure")].map((m) => ({ name: m.dataset.measure,
      lines: m.querySelectorAll("polyline.line").length,
      points: [...m.querySelectorAll(".point")].map((p) => {
        const mark = p.querySelector(".mark");
        const [x, y] = center(mark);
        return { day: p.dataset.date, x, y, flag: p.dataset.flag || null, shape: mark.tagName,
          letter: (p.querySelector(".flag-letter") || {}).textContent || null, label: p.getAttribute("aria-label") };
      }) })),
  }));
}"""


def linear(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    """value = slope * pixel + offset, through the first and last (pixel, value) pairs of an axis."""
    (p0, v0), (p1, v1) = pairs[0], pairs[-1]
    slope = (v1 - v0) / (p1 - p0)
    return slope, v0 - slope * p0


def value_at(chart: dict[str, Any], y: float) -> float:
    slope, offset = linear([(t["y"], t["value"]) for t in chart["valueTicks"]])
    return slope * y + offset


def tolerance(chart: dict[str, Any]) -> float:
    """The value one and a half pixels stand for on the chart's value axis."""
    slope, _ = linear([(t["y"], t["value"]) for t in chart["valueTicks"]])
    return abs(slope) * 1.5


def charts_of(rendered: apps_host.Rendered) -> list[dict[str, Any]]:
    return rendered.view.evaluate(GEOMETRY, rendered.view.query_selector("#view"))


def assert_charted(chart: dict[str, Any], expected: list[tuple[str, float]], measure: int = 0) -> None:
    """The measure's points, left to right, at the expected (day, value) pairs, oldest first."""
    points = sorted(chart["measures"][measure]["points"], key=lambda p: p["x"])
    assert [p["day"] for p in points] == [day for day, _ in expected]
    for point, (_, value) in zip(points, expected, strict=True):
        assert abs(value_at(chart, point["y"]) - value) <= tolerance(chart), (point, value)


def assert_accessible(chart: dict[str, Any]) -> None:
    assert chart["role"] == "img" and all(text.strip() for text in chart["labelled"]) and len(chart["labelled"]) == 2


def oldest_first(values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(values, key=lambda v: v["date"])


# The views --------------------------------------------------------------------------------------------------------

def test_trend_view_draws_the_tools_values_with_the_range_band_and_flags(host, sessions) -> None:
    series = sessions["apps"].results["a1c"]["structuredContent"]["series"][0]
    values = oldest_first(series["values"])
    rendered = render(host, sessions["apps"], "a1c")
    assert_clean(rendered)
    [chart] = charts_of(rendered)
    assert_accessible(chart)
    assert f": {series['trend'][0]['direction']}" in chart["labelled"][1], "the tool's direction (issue 24)"
    assert_charted(chart, [(v["date"][:10], v["number"]) for v in values])
    low, high = (float(n) for n in re.match(r"([\d.]+)-([\d.]+)", values[-1]["reference_range"]).groups())
    assert abs(value_at(chart, chart["band"]["top"]) - high) <= tolerance(chart)
    assert abs(value_at(chart, chart["band"]["bottom"]) - low) <= tolerance(chart)
    # Dates on the axis: the records' own days, left to right, first and last among them.
    days = [tick["day"] for tick in chart["dateTicks"]]
    assert days == sorted(days) and days[0] == values[0]["date"][:10] and days[-1] == values[-1]["date"][:10]
    assert [t["x"] for t in chart["dateTicks"]] == sorted(t["x"] for t in chart["dateTicks"])
    # Flags: a flagged result is a triangle, not only a red dot; an unflagged one a circle.
    points = sorted(chart["measures"][0]["points"], key=lambda p: p["x"])
    for point, value in zip(points, values, strict=True):
        assert (point["flag"] is not None) == (value["flag"] is not None)
        assert point["shape"] == ("path" if value["flag"] else "circle")
        assert value["flag"] is None or value["flag"] in point["label"]
    assert any(p["letter"] == "H" for p in points if p["flag"] == "high")


def test_trend_view_shows_date_and_value_on_hover_and_the_tools_table(host, sessions) -> None:
    series = sessions["apps"].results["a1c"]["structuredContent"]["series"][0]
    newest = series["values"][0]
    rendered = render(host, sessions["apps"], "a1c")
    view = rendered.view
    view.locator(f".point[data-date='{newest['date'][:10]}']").last.hover()
    tooltip = view.locator("#tooltip")
    assert tooltip.is_visible()
    assert newest["date"][:10] in tooltip.inner_text() and newest["value"] in tooltip.inner_text()
    assert not view.locator("table.data").is_visible()
    view.get_by_role("button", name="Table").click()
    assert view.locator("table.data").is_visible() and not view.locator("svg.chart").is_visible()
    rows = view.locator("table.data tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.cells].map(c => c.textContent))")
    assert [[row[0], row[1], row[3], row[4]] for row in rows] == [
        [v["date"], v["value"], v["reference_range"] or "", v["id"]] for v in series["values"]]
    assert [bool(row[2]) for row in rows] == [bool(v["flag"]) for v in series["values"]]
    assert all("▲" in row[2] or "▼" in row[2] or "◆" in row[2] for row in rows if row[2])
    assert_clean(rendered)


def test_a_blood_pressure_panel_is_two_lines_at_the_components_values(host, sessions) -> None:
    series = sessions["apps"].results["blood_pressure"]["structuredContent"]["series"][0]
    component = re.compile(r"(\w+) blood pressure: ([\d.]+) mm\[Hg\]")
    expected: dict[str, list[tuple[str, float]]] = {"Systolic": [], "Diastolic": []}
    for value in oldest_first(series["values"]):
        for name, number in component.findall(value["value"]):
            expected[name].append((value["date"][:10], float(number)))
    assert all(len(points) == len(series["values"]) for points in expected.values())
    rendered = render(host, sessions["apps"], "blood_pressure")
    assert_clean(rendered)
    [chart] = charts_of(rendered)
    assert_accessible(chart)
    names = [m["name"] for m in chart["measures"]]
    assert names == ["Systolic blood pressure", "Diastolic blood pressure"]
    assert [m["lines"] for m in chart["measures"]] == [1, 1]
    for index, name in enumerate(("Systolic", "Diastolic")):
        assert_charted(chart, expected[name], index)
    assert rendered.view.locator(".legend li").all_inner_texts()[:2] == names


def summary_sections(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in result["structuredContent"]["sections"]}


def test_summary_card_shows_the_patient_problems_medications_vitals_labs_and_next_appointment(host, sessions) -> None:
    result = sessions["apps"].results["summary"]
    sections = summary_sections(result)
    rendered = render(host, sessions["apps"], "summary")
    assert_clean(rendered)
    view = rendered.view
    assert view.locator("h1").inner_text() == result["structuredContent"]["patient"]["name"]
    problems = view.locator(".section-problems li .name").all_inner_texts()
    assert problems == [p["code"] for p in sections["problems"]["items"]]
    current = view.locator(".med-lists li.current").evaluate_all("items => items.map(i => i.dataset.id)")
    stale = view.locator(".med-lists li.stale").evaluate_all("items => items.map(i => [i.dataset.id, i.textContent])")
    assert current == [m["id"] for m in sections["medications"]["items"]] and current
    assert [s[0] for s in stale] == [m["id"] for m in sections["medications"]["set_apart"]]
    for (_, text), order in zip(stale, sections["medications"]["set_apart"], strict=True):
        assert order["likely_stale"] in text and "likely stale" in text
    for name in ("vital_signs", "labs"):
        rows = view.locator(f".section-{name} tr").evaluate_all(
            "rows => rows.map(r => [r.dataset.id, r.querySelectorAll('.flag').length, r.textContent])")
        assert [row[0] for row in rows] == [item["id"] for item in sections[name]["items"]]
        for (_, flags, text), item in zip(rows, sections[name]["items"], strict=True):
            marked = item.get("flag") or any(i not in ("Normal", "N") for i in item.get("interpretation") or []) or any(
                i not in ("Normal", "N") for c in item.get("components") or [] for i in c.get("interpretation") or [])
            assert bool(flags) == bool(marked), item
            assert not flags or "▲" in text or "▼" in text or "◆" in text
    next_visit = sections["appointments"]["items"][0]
    appointment = view.locator(".section-appointments .appointment").inner_text()
    assert next_visit["start"][:10] in appointment and next_visit["start"][11:16] in appointment


def test_summary_card_shows_allergies_with_their_criticality(host, sessions) -> None:
    allergies = summary_sections(sessions["apps"].results["allergies"])["allergies"]["items"]
    rendered = render(host, sessions["apps"], "allergies")
    assert_clean(rendered)
    items = rendered.view.locator(".section-allergies li").evaluate_all(
        "items => items.map(i => [i.dataset.id, (i.querySelector('.criticality') || {}).textContent || ''])")
    assert [item[0] for item in items] == [a["id"] for a in allergies]
    assert any(a.get("criticality") == "high" for a in allergies)
    for (_, shown), allergy in zip(items, allergies, strict=True):
        assert (f"{allergy['criticality']} criticality" in shown) if allergy.get("criticality") else shown == ""
        assert allergy.get("criticality") != "high" or "⚠" in shown


def test_medications_view_puts_every_order_on_a_timeline_of_its_period(host, sessions) -> None:
    section = summary_sections(sessions["apps"].results["medications"])["medications"]
    rendered = render(host, sessions["apps"], "medications")
    assert_clean(rendered)
    view = rendered.view
    assert view.locator("svg.timeline").is_visible() and not view.locator(".med-lists").is_visible()
    rows = view.locator("svg.timeline .order").evaluate_all("""rows => rows.map(r => {
      const bar = r.querySelector('.bar');
      return { id: r.dataset.id, current: r.classList.contains('order-current'), aria: r.getAttribute('aria-label'),
        start: bar.getBoundingClientRect().left, end: bar.getBoundingClientRect().right,
        hatched: (bar.getAttribute('fill') || '').startsWith('url(') }; })""")
    ids = {row["id"]: row for row in rows}
    assert [row["id"] for row in rows if row["current"]] == [m["id"] for m in section["items"]] and section["items"]
    assert [row["id"] for row in rows if not row["current"]] == [m["id"] for m in section["set_apart"]]
    for order in section["set_apart"]:
        assert order["likely_stale"] in ids[order["id"]]["aria"] and ids[order["id"]]["hatched"]
    assert not any(row["hatched"] for row in rows if row["current"])
    [chart] = charts_of(rendered)
    def day(text: str) -> float:
        return datetime.fromisoformat(text[:19]).replace(tzinfo=UTC).timestamp()

    ticks = chart["dateTicks"]
    (first_day, first_x), (last_day, last_x) = (ticks[0]["day"], ticks[0]["x"]), (ticks[-1]["day"], ticks[-1]["x"])
    per_second = (last_x - first_x) / (day(last_day) - day(first_day))
    for order in [*section["items"], *section["set_apart"]]:
        expected = first_x + (day(order["authored_on"]) - day(first_day)) * per_second
        assert abs(ids[order["id"]]["start"] - expected) <= 1.5, order
    for order in section["set_apart"]:
        ended = re.findall(r"\d{4}-\d{2}-\d{2}", order["likely_stale"])  # the last: when it ran out
        if ended:
            expected = first_x + (day(ended[-1]) - day(first_day)) * per_second
            assert abs(ids[order["id"]]["end"] - max(expected, ids[order["id"]]["start"] + 4)) <= 1.5, order
    view.get_by_role("button", name="List").click()
    listed = view.locator(".med-lists li.current .name").all_inner_texts()
    assert len(listed) == len(section["items"])
    for name, order in zip(listed, section["items"], strict=True):
        assert name and name in order["medication"]


def test_population_view_is_a_sortable_table_and_a_bar_chart(host, sessions) -> None:
    answer = sessions["apps"].results["population"]["structuredContent"]
    assert answer["columns"] == ["condition", "patients"] and len(answer["rows"]) > 2
    rendered = render(host, sessions["apps"], "population")
    assert_clean(rendered)
    view = rendered.view
    bars = view.locator(".bar-row").evaluate_all("""rows => rows.map(r => [r.dataset.category,
      r.querySelector('rect.bar').getBoundingClientRect().width, r.querySelector('.bar-value').textContent])""")
    assert [(b[0], float(b[2])) for b in bars] == [(row[0], float(row[1])) for row in answer["rows"]]
    per_patient = bars[0][1] / answer["rows"][0][1]
    assert all(abs(width - count * per_patient) <= 1 for (_, width, _), (_, count) in zip(bars, answer["rows"],
                                                                                           strict=True))
    desc = view.locator("svg.bars desc").text_content()
    assert all(str(row[0]) in desc for row in answer["rows"])
    view.get_by_role("button", name="Table").click()
    view.get_by_role("button", name="patients").click()
    shown = view.locator("table.sortable tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.cells].map(c => c.textContent))")
    assert [int(row[1]) for row in shown] == sorted(int(row[1]) for row in answer["rows"])
    assert view.locator("th[aria-sort='ascending']").inner_text().startswith("patients")
    view.get_by_role("button", name="Chart").click()
    order = view.locator(".bar-row").evaluate_all("rows => rows.map(r => +r.dataset.count)")
    assert order == sorted(order), "the bars follow the table's order"


def test_population_values_are_shown_as_text_never_as_markup(host, sessions) -> None:
    answer = sessions["apps"].results["hostile"]["structuredContent"]
    rendered = render(host, sessions["apps"], "hostile")
    view = rendered.view
    assert view.locator("img").count() == 0 and view.locator("main script").count() == 0
    view.get_by_role("button", name="Table").click()
    cells = view.locator("table.sortable tbody td:first-child").all_text_contents()
    assert cells == [row[0] for row in answer["rows"]]
    assert_clean(rendered)


# Nothing changes for a client without the extension; a view carries nothing beyond the text answer -------------------

def test_a_client_without_the_extension_sees_the_same_tools_and_answers_over_stdio(sessions) -> None:
    apps, plain = sessions["apps"], sessions["plain"]
    assert plain.resources == {} and all("_meta" not in tool for tool in plain.tools.values())
    assert {name: {k: v for k, v in tool.items() if k != "_meta"} for name, tool in apps.tools.items()} == plain.tools
    assert untimed(plain.results) == untimed(apps.results)


def untimed(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Results without the time a population query took, which differs run to run."""
    results = json.loads(json.dumps(results))
    for result in results.values():
        if "elapsed_ms" in result.get("structuredContent", {}):
            result["structuredContent"]["elapsed_ms"] = 0
            for content in result["content"]:
                content["text"] = re.sub(r", \d+ ms\n", ", _ ms\n", content["text"])
    return results


DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
NUMBER = re.compile(r"\d+(?:\.\d+)?")
WORD = re.compile(r"[^\W\d_]{3,}")
IDENTIFIER = re.compile(r"(?=[\w.-]*\d)(?=[\w.-]*[A-Za-z])[\w.-]{6,}")
# What the view shows: every text, and every attribute but the drawing's own (positions, classes, ids, roles).
SHOWN = """(root) => {
  const drawing = new Set(["class", "style", "d", "x", "y", "cx", "cy", "r", "rx", "x1", "x2", "y1", "y2", "width",
    "height", "viewBox", "points", "transform", "fill", "id", "tabindex", "role", "aria-labelledby", "aria-pressed",
    "aria-hidden", "aria-live", "aria-sort", "type", "scope", "hidden", "patternUnits", "patternTransform",
    "text-anchor", "xmlns"]);
  const shown = [];
  for (const node of [root, ...root.querySelectorAll("*")]) {
    if (node.closest("script, style")) continue;
    const scale = node.closest("[data-scale]") !== null;
    for (const child of node.childNodes) {
      if (child.nodeType === Node.TEXT_NODE && child.textContent.trim()) shown.push([child.textContent, scale]);
    }
    for (const attribute of node.attributes) {
      if (!drawing.has(attribute.name)) shown.push([attribute.value, scale]);
    }
  }
  return shown;
}"""


def beyond_the_text(rendered: apps_host.Rendered, text: str, template: str) -> list[str]:
    """What the view shows that the text answer does not have: dates, identifiers, numbers (but an axis's scale)
    and words (but the view's own vocabulary)."""
    numbers = {float(n) for n in NUMBER.findall(text)}
    lowered, vocabulary = text.lower(), template.lower()
    extra = []
    for shown, scale in rendered.view.evaluate(SHOWN, rendered.view.query_selector("body")):
        extra += [d for d in DATE.findall(shown) if d not in text]
        rest = DATE.sub(" ", shown)
        extra += [i for i in IDENTIFIER.findall(rest) if i not in text and i.lower() not in vocabulary]
        extra += [] if scale else [n for n in NUMBER.findall(rest) if float(n) not in numbers]
        extra += [w for w in WORD.findall(rest) if w.lower() not in lowered and w.lower() not in vocabulary]
    return extra


@pytest.mark.parametrize("key", PHI_QUESTIONS)
def test_in_the_phi_minimising_mode_a_view_shows_nothing_the_text_answer_does_not(host, sessions, key) -> None:
    session = sessions["minimum"]
    result = session.results[key]
    text = result["content"][0]["text"]
    assert CAMILA not in str(result) and "Lopez" not in str(result), "the answer is de-identified"
    rendered = render(host, session, key)
    assert_clean(rendered)
    template = session.resources[session.tools[QUESTIONS[key][0]]["_meta"]["ui"]["resourceUri"]]["text"]
    assert beyond_the_text(rendered, text, template) == []
    assert CAMILA not in rendered.view.content()


def test_in_the_full_mode_too_a_view_shows_nothing_the_text_answer_does_not(host, sessions) -> None:
    session = sessions["apps"]
    for key in ("a1c", "summary", "medications", "population"):
        rendered = render(host, session, key)
        template = session.resources[session.tools[QUESTIONS[key][0]]["_meta"]["ui"]["resourceUri"]]["text"]
        assert beyond_the_text(rendered, session.results[key]["content"][0]["text"], template) == [], key


# Answers the sandbox does not give: other shapes a view must take as they come --------------------------------------

def static_render(host: apps_host.AppsHost, view: str, tool: str, structured: dict[str, Any] | None, text: str,
                  is_error: bool = False) -> apps_host.Rendered:
    resource = view_contents(next(v for v in VIEWS if v.name == view)).model_dump(mode="json", by_alias=True)
    result = {"content": [{"type": "text", "text": text}], "isError": is_error,
              **({"structuredContent": structured} if structured is not None else {})}
    return host.render(resource["contents"][0], {"name": tool, "inputSchema": {"type": "object"}}, {}, result)


def test_trend_view_takes_zoned_times_one_sided_ranges_and_fields_it_does_not_know(host) -> None:
    """Times with their offset (issue 24) stay on the day the record gives; a "<x" range is a one-sided band; a
    direction or a field the view does not know is shown or passed over, not a failure."""
    values = [
        {"id": "o3", "date": "2024-10-21T03:07:00+09:00", "value": "4.1 %", "number": 4.1, "unit": "%",
         "flag": "LL", "reference_range": "<5.7 %", "zone": "+09:00"},
        {"id": "o2", "date": "2024-09-01T23:30:00-05:00", "value": "6.4 %", "number": 6.4, "unit": "%",
         "flag": "above range", "reference_range": "<5.7 %"},
        {"id": "o1", "date": "2024-08-01", "value": "5.2 %", "number": 5.2, "unit": "%", "flag": None,
         "reference_range": "<5.7 %"},
    ]
    trend = {"measure": "HbA1c", "first": "5.2 % on 2024-08-01", "last": "4.1 % on 2024-10-21", "min": "4.1 %",
             "max": "6.4 %", "change": "-1.1 %", "direction": "fluctuating", "spread": "4.1-6.4 %"}
    structured = {"patient_id": "p1", "asked": "A1c", "order": "newest first", "series": [
        {"code": "http://loinc.org|4548-4", "name": "HbA1c [LOINC 4548-4]", "values": values, "trend": [trend],
         "complete": True, "notes": [], "spread": "4.1-6.4 %"}]}
    rendered = static_render(host, "trend", "get_latest_values", structured, "(the text answer)")
    assert_clean(rendered)
    [chart] = charts_of(rendered)
    assert_charted(chart, [("2024-08-01", 5.2), ("2024-09-01", 6.4), ("2024-10-21", 4.1)])
    assert [p["flag"] for p in sorted(chart["measures"][0]["points"], key=lambda p: p["x"])] == [None, "high", "low"]
    assert abs(value_at(chart, chart["band"]["top"]) - 5.7) <= tolerance(chart)
    assert abs(value_at(chart, chart["band"]["bottom"]) - chart["valueTicks"][0]["value"]) <= tolerance(chart)
    assert "fluctuating" in rendered.view.locator("figcaption").inner_text()


def test_population_view_without_a_count_column_is_a_table_sorted_by_number(host) -> None:
    structured = {"columns": ["id", "gender", "age"], "rows": [["p1", "female", 10], ["p2", "male", 9],
                                                               ["p3", None, 75]],
                  "row_count": 3, "truncated": True, "elapsed_ms": 4}
    rendered = static_render(host, "population", "query_population", structured, "(the text answer)")
    assert_clean(rendered)
    view = rendered.view
    assert view.locator("svg").count() == 0 and view.locator("table.sortable").is_visible()
    assert "truncated at 3" in view.locator(".series-head").inner_text()
    view.get_by_role("button", name="age").click()
    assert view.locator("tbody tr td:nth-child(3)").all_inner_texts() == ["9", "10", "75"]
    view.get_by_role("button", name="age").click()
    assert view.locator("tbody tr td:nth-child(3)").all_inner_texts() == ["75", "10", "9"]


def test_a_failed_call_shows_the_tools_error_message(host) -> None:
    message = "Error executing tool patient_summary: Patient/nope was not found"
    rendered = static_render(host, "summary", "patient_summary", None, message, is_error=True)
    assert_clean(rendered)
    assert rendered.view.locator("#view").inner_text() == message
