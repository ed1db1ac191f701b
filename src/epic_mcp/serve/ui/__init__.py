"""The interactive views of MCP Apps (SEP-1865): self-contained HTML documents that a host renders in a sandboxed
iframe beside the conversation, drawing a tool's structured answer as plain SVG and tables.

Each view is one document assembled from the files beside this module: the page, its style sheet, the view side
of the MCP Apps protocol (app.js), the drawing helpers (draw.js) and the view's own script. Nothing is fetched at
run time (no CDN, no fonts, no network): the host is told so by the resource's declared CSP, which names no
outside origin. A view shows only what the tool's answer holds; it never calls a tool or reads a resource.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

from ... import __version__

URI_PREFIX = "ui://epic-mcp/"
SHARED_SCRIPTS = ("app.js", "draw.js")


@dataclass(frozen=True)
class View:
    """One view: its resource name, the tool whose answers it draws, and what a host may show about it."""

    name: str
    tool: str
    title: str
    description: str
    scripts: tuple[str, ...]

    @property
    def uri(self) -> str:
        return URI_PREFIX + self.name


VIEWS = (
    View("trend", "get_latest_values", "Trend of a test or vital sign",
         "get_latest_values as a chart per measure (blood-pressure panels as two lines): reference range as a band, "
         "flagged results marked, dates on the axis, and a table.", ("trend.js",)),
    View("summary", "patient_summary", "Chart summary",
         "patient_summary as a card: patient, problems, current and set-apart medications with their reasons on a "
         "timeline of their orders, allergies, latest vitals and labs with flags, next appointment. An answer of "
         "the medications section alone opens on the medication timeline.", ("medications.js", "summary.js")),
    View("population", "query_population", "Population table",
         "query_population results as a sortable table, and a bar chart when the result has one category and one "
         "count column.", ("population.js",)),
)
VIEW_OF_TOOL = {view.tool: view for view in VIEWS}
VIEW_OF_URI = {view.uri: view for view in VIEWS}


def _part(name: str) -> str:
    return (resources.files(__package__) / name).read_text(encoding="utf-8")


@cache
def document(view: View) -> str:
    """The view's whole HTML document: style and scripts inline, as the host's sandbox loads it."""
    scripts = "\n".join(_part(name) for name in (*SHARED_SCRIPTS, *view.scripts))
    return (_part("page.html").replace("{{title}}", view.title).replace("{{version}}", __version__)
            .replace("{{style}}", _part("view.css")).replace("{{script}}", scripts))
