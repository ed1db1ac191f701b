"""The unseen data set (tests/data/unseen.json.gz, built by scripts/build-unseen-data): synthetic records the
project was not developed against, for measurements (bench/fact_retention.py) and answers on long records.

Twelve clinosim patients, six from a US hospital and six from a Japanese one; the first of each is a long inpatient
record (2,306 and 3,589 observations, 63 and 66 medication requests). Every id starts with 'us-' or 'jp-', so the
set loads beside the sandbox data into one server without a collision, and every reference resolves inside it.

    server = SekmetServer(folder, clients).start()
    data = load_unseen_data(server)             # dated as built (2025-07 to 2026-06)
    data = load_unseen_data(server, run_today())  # or moved like the sandbox's, newest event just before today
"""

from __future__ import annotations

import gzip
import json
from datetime import date
from pathlib import Path
from typing import Any

from epic_mcp.sandbox import load_resources
from epic_mcp.sandbox.timeshift import reference_date, shift_for, shift_resource

from .sekmet_server import LOADER_TOKEN, SekmetServer

DATA = Path(__file__).resolve().parent / "data" / "unseen.json.gz"


def unseen_data_set(today: date | None = None) -> dict[str, Any]:
    """{"description", "patients": [{"id", "country", "name", "role", "counts"}], "resources" (in load order)};
    with `today`, every date moved by whole days as the sandbox's are (epic_mcp.sandbox.timeshift), and
    "dates": {"reference_date", "shift_days"} added."""
    data: dict[str, Any] = json.loads(gzip.decompress(DATA.read_bytes()))
    if today is not None:
        reference = reference_date(data["resources"])
        days = shift_for(reference, today)
        data["resources"] = [shift_resource(resource, days) for resource in data["resources"]]
        data["dates"] = {"reference_date": reference.isoformat(), "shift_days": days}
    return data


def long_records(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The patients with thousands of observations and long medication histories."""
    return [p for p in data["patients"] if p["role"] == "long inpatient record"]


def load_unseen_data(server: SekmetServer, today: date | None = None) -> dict[str, Any]:
    """Load the unseen data set into a running test sekmet; returns the data as loaded."""
    data = unseen_data_set(today)
    load_resources(server.base_url, LOADER_TOKEN, data["resources"])
    return data
