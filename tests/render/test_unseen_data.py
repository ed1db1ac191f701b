"""The unseen data set (tests/data/unseen.json.gz): long records, two countries, ids that never collide with the
sandbox data, references that resolve, and a loader that puts both into one server."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from epic_mcp.sandbox import data_set
from epic_mcp.sandbox.timeshift import DAYS_BEFORE_TODAY, reference_date

from ..conftest import run_today
from ..sekmet_server import LOADER_TOKEN, SekmetServer
from ..unseen_data import load_unseen_data, long_records, unseen_data_set


def references(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        if isinstance(value.get("reference"), str):
            yield value["reference"]
        for item in value.values():
            yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


def test_two_countries_and_a_long_record_in_each() -> None:
    data = unseen_data_set()
    assert {p["country"] for p in data["patients"]} == {"US", "JP"}
    long = long_records(data)
    assert {p["country"] for p in long} == {"US", "JP"}
    for patient in long:
        mine = Counter(r["resourceType"] for r in data["resources"] if any(
            (r.get(link) or {}).get("reference") == f"Patient/{patient['id']}"
            for link in ("subject", "patient", "beneficiary")))
        assert mine["Observation"] >= 2000 and mine["MedicationRequest"] >= 50, mine
        assert patient["counts"] == {k: v for k, v in sorted(mine.items())}


def test_no_id_collides_with_the_sandbox_data_and_every_reference_resolves() -> None:
    unseen = unseen_data_set()["resources"]
    sandbox = data_set(run_today())["resources"]
    keys = {f"{r['resourceType']}/{r['id']}" for r in unseen}
    assert len(keys) == len(unseen), "ids are unique"
    assert not keys & {f"{r['resourceType']}/{r['id']}" for r in sandbox}
    dangling = {target for r in unseen for target in references(r) if not target.startswith("#")} - keys
    assert not dangling
    assert "MedicationAdministration" not in {r["resourceType"] for r in unseen}, "clinosim's are invalid R4"


def test_dated_for_today_the_newest_event_is_just_before_it() -> None:
    as_built, moved = unseen_data_set(), unseen_data_set(run_today())
    assert reference_date(as_built["resources"]).isoformat() == moved["dates"]["reference_date"]
    assert reference_date(moved["resources"]) == run_today() - timedelta(DAYS_BEFORE_TODAY)
    assert [r["id"] for r in moved["resources"]] == [r["id"] for r in as_built["resources"]]


@pytest.mark.e2e
def test_the_unseen_data_loads_beside_the_sandbox_data_into_one_server(tmp_path: Path, bundled_data: Path) -> None:
    server = SekmetServer(tmp_path, [], data=bundled_data).start()  # the sandbox data, loaded once per run
    try:
        data = load_unseen_data(server, run_today())
        headers = {"Authorization": f"Bearer {LOADER_TOKEN}", "Accept": "application/fhir+json"}
        for patient in long_records(data):
            found = httpx.get(f"{server.base_url}/Observation", headers=headers, timeout=60,
                              params={"patient": patient["id"], "_summary": "count"}).json()
            assert found["total"] == patient["counts"]["Observation"]
        camila = httpx.get(f"{server.base_url}/Patient/erXuFYUfucBZaryVksYEcMg3", headers=headers, timeout=30)
        assert camila.status_code == 200, "the sandbox data is still there"
    finally:
        server.stop()
