"""Bulk Data export against an Epic-shaped server (respx): each test is named after the hazard it guards."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from epic_mcp.bulk.client import BulkClient, BulkError
from epic_mcp.bulk.export import Exporter, ExportOptions
from epic_mcp.bulk.state import StateStore
from epic_mcp.errors import ConfigError, EpicMcpError
from epic_mcp.fhir.connection import EpicConnection
from epic_mcp.settings import Settings

from ..conftest import ACCESS_TOKEN, CLIENT_ID, EPIC_BASE, EPIC_TOKEN_URL, outcome, token_body

pytestmark = pytest.mark.anyio

GROUP = "e3iabhmS8rsueyz7vaimuiaSmfGvi.QwjVXJANlPOgR83"
KICKOFF = f"{EPIC_BASE}/Group/{GROUP}/$export"
STATUS = f"{EPIC_BASE}/bulk-status/job-1"
PATIENTS = [{"resourceType": "Patient", "id": f"p{i}", "gender": "female", "birthDate": "1970-01-01"}
            for i in range(3)]
OBSERVATIONS = [{"resourceType": "Observation", "id": f"o{i}", "status": "final",
                 "subject": {"reference": f"Patient/p{i}"},
                 "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}]},
                 "valueQuantity": {"value": 8 + i, "unit": "%"}} for i in range(3)]


def ndjson(resources: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in resources).encode()


def manifest(files: dict[str, str], requires_token: bool = True, **extra: Any) -> dict[str, Any]:
    return {"transactionTime": "2026-03-01T10:00:00Z", "request": KICKOFF, "requiresAccessToken": requires_token,
            "output": [{"type": t, "url": url} for t, url in files.items()], "error": [], **extra}


FILES = {"Patient": f"{EPIC_BASE}/bulk-files/job-1/Patient.ndjson",
         "Observation": f"{EPIC_BASE}/bulk-files/job-1/Observation.ndjson"}


class BrokenStream(httpx.AsyncByteStream):
    """Sends the first bytes of a body, then the connection drops."""

    def __init__(self, first: bytes) -> None:
        self.first = first

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.first
        raise httpx.ReadError("connection reset by peer")


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def bulk_settings(make_settings, tmp_path: Path) -> Settings:
    return make_settings(epic_population_dir=str(tmp_path / "population"), epic_bulk_group_id=GROUP)


@pytest.fixture
async def exporter(bulk_settings: Settings) -> AsyncIterator[tuple[Exporter, Sleeps]]:
    connection = EpicConnection.open(bulk_settings)
    sleeps = Sleeps()
    client = BulkClient(bulk_settings, connection.tokens, sleep=sleeps)
    yield Exporter(bulk_settings, client, sleep=sleeps), sleeps
    await client.aclose()
    await connection.aclose()


def serve_export(epic, files: dict[str, str] = FILES, **manifest_extra: Any) -> None:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    epic.get(KICKOFF).respond(202, headers={"Content-Location": STATUS})
    epic.get(STATUS).respond(200, json=manifest(files, **manifest_extra))


async def test_polling_honours_retry_after_on_429_and_503_and_shows_progress(exporter, epic) -> None:
    export, sleeps = exporter
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    kickoff = epic.get(KICKOFF).respond(202, headers={"Content-Location": STATUS})
    epic.get(STATUS).mock(side_effect=[
        httpx.Response(202, headers={"X-Progress": "45% collected", "Retry-After": "120"}),
        httpx.Response(429, headers={"Retry-After": "7"}),
        httpx.Response(503, headers={"Retry-After": "3"}),
        httpx.Response(200, json=manifest(FILES)),
    ])
    epic.get(FILES["Patient"]).respond(200, content=ndjson(PATIENTS))
    epic.get(FILES["Observation"]).respond(200, content=ndjson(OBSERVATIONS))
    seen: list[str | None] = []
    export.report = lambda state, event: seen.append(state.progress) if event == "waiting" else None

    await export.start(ExportOptions())
    state = await export.follow()

    request = kickoff.calls.last.request
    assert request.headers["Prefer"] == "respond-async" and request.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert sleeps.delays == [120, 7, 3]
    assert seen[0] == "45% collected" and "HTTP 429" in seen[1]
    assert state.phase == "complete" and state.tables["observation"] == 3 and state.tables["patient"] == 3


async def test_a_throttled_kickoff_waits_as_long_as_the_server_asks_then_starts(exporter, epic) -> None:
    export, sleeps = exporter
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    kickoff = epic.get(KICKOFF).mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "7"},
                       json=outcome("error", "throttled", "59200", "Too many concurrent exports")),
        httpx.Response(503, headers={"Retry-After": "3"}),
        httpx.Response(202, headers={"Content-Location": STATUS})])
    state = await export.start(ExportOptions())
    assert sleeps.delays == [7, 3], "the kick-off waits what each answer asks, not a backoff of its own"
    assert kickoff.call_count == 3 and state.status_url == STATUS and state.phase == "running"


async def test_a_kickoff_throttled_without_retry_after_backs_off_and_a_long_wait_is_capped(exporter, epic) -> None:
    export, sleeps = exporter
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    epic.get(KICKOFF).mock(side_effect=[httpx.Response(429), httpx.Response(429, headers={"Retry-After": "120"}),
                                        httpx.Response(202, headers={"Content-Location": STATUS})])
    await export.start(ExportOptions())
    assert sleeps.delays == [0.5, 10], "a start_export call must end within EPIC_CALL_DEADLINE"


async def test_a_kickoff_throttled_every_time_says_to_start_again_later(exporter, epic) -> None:
    export, sleeps = exporter
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    kickoff = epic.get(KICKOFF).respond(429, headers={"Retry-After": "5"},
                                        json=outcome("error", "throttled", "59200", "Too many concurrent exports"))
    with pytest.raises(BulkError) as refused:
        await export.start(ExportOptions())
    assert str(refused.value) == ("the FHIR server is busy (HTTP 429 on 4 attempts): Too many concurrent exports; "
                                  "start the export again in a few minutes")
    assert kickoff.call_count == 4 and sleeps.delays == [5, 5, 5] and export.status() is None


async def test_polling_without_retry_after_waits_the_configured_interval_never_below_the_floor(exporter, epic,
                                                                                                make_settings):
    export, sleeps = exporter
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    epic.get(KICKOFF).respond(202, headers={"Content-Location": STATUS})
    epic.get(STATUS).mock(side_effect=[httpx.Response(202), httpx.Response(202, headers={"Retry-After": "0"}),
                                       httpx.Response(200, json=manifest({}))])
    await export.start(ExportOptions())
    await export.follow()
    assert sleeps.delays == [600, 1.0], "Epic asks for 10-30 minutes between checks; 1 s is the floor"
    with pytest.raises(ConfigError, match="EPIC_BULK_POLL_SECONDS"):
        make_settings(epic_bulk_poll_seconds="0.1")


async def test_failed_file_download_resumes_with_a_range_request_and_keeps_finished_files(exporter, epic) -> None:
    export, _ = exporter
    serve_export(epic)
    patients = epic.get(FILES["Patient"]).respond(200, content=ndjson(PATIENTS))
    body = ndjson(OBSERVATIONS)
    cut = len(body) // 2 + 7  # mid-line: the resumed bytes must complete it exactly
    observations = epic.get(FILES["Observation"]).mock(side_effect=[
        httpx.Response(200, stream=BrokenStream(body[:cut])),
        httpx.Response(206, content=body[cut:], headers={"Content-Range": f"bytes {cut}-{len(body) - 1}/{len(body)}"}),
    ])
    await export.start(ExportOptions())
    with pytest.raises(BulkError, match=f"broke off after {cut} bytes.*run again to resume"):
        await export.follow()
    stopped = export.status()
    assert stopped is not None and stopped.phase == "downloading" and "broke off" in (stopped.error or "")
    assert [f.done for f in stopped.files] == [True, False] and stopped.files[1].bytes == cut

    state = await export.follow()
    assert observations.calls.last.request.headers["Range"] == f"bytes={cut}-"
    assert patients.call_count == 1, "a finished file is not fetched again"
    assert state.phase == "complete" and state.error is None and state.tables["observation"] == 3
    merged = (export.store.resources / "Observation.ndjson").read_bytes()
    assert sorted(merged.splitlines()) == sorted(body.splitlines())


async def test_server_that_ignores_range_gets_the_file_again_from_the_start(exporter, epic) -> None:
    export, _ = exporter
    serve_export(epic, {"Observation": FILES["Observation"]})
    body = ndjson(OBSERVATIONS)
    epic.get(FILES["Observation"]).mock(side_effect=[httpx.Response(200, stream=BrokenStream(body[:50])),
                                                     httpx.Response(200, content=body)])
    await export.start(ExportOptions())
    with pytest.raises(BulkError):
        await export.follow()
    state = await export.follow()
    assert (export.store.resources / "Observation.ndjson").read_bytes().count(b"\n") == 3
    assert state.tables["observation"] == 3, "the partial bytes were replaced, not duplicated"


async def test_token_expiring_mid_download_refreshes_once_and_continues(exporter, epic) -> None:
    export, _ = exporter
    tokens = epic.post(EPIC_TOKEN_URL).mock(side_effect=[
        httpx.Response(200, json=token_body()), httpx.Response(200, json=token_body(access_token="renewed-token"))])
    epic.get(KICKOFF).respond(202, headers={"Content-Location": STATUS})
    epic.get(STATUS).respond(200, json=manifest(FILES))
    epic.get(FILES["Patient"]).respond(200, content=ndjson(PATIENTS))
    observations = epic.get(FILES["Observation"]).mock(side_effect=[
        httpx.Response(401, json=outcome("fatal", "security", "4118", "token expired")),
        httpx.Response(200, content=ndjson(OBSERVATIONS))])
    await export.start(ExportOptions())
    state = await export.follow()
    assert tokens.call_count == 2
    assert observations.calls.last.request.headers["Authorization"] == "Bearer renewed-token"
    assert state.phase == "complete" and state.tables["observation"] == 3


async def test_manifest_file_on_another_origin_that_requires_the_token_is_refused(exporter, epic) -> None:
    export, _ = exporter
    elsewhere = "https://bulk-files.example.org/job-1/Patient.ndjson"
    serve_export(epic, {"Patient": elsewhere}, requires_token=True)
    foreign = epic.get(elsewhere).respond(200, content=ndjson(PATIENTS))
    await export.start(ExportOptions())
    with pytest.raises(BulkError, match="another server .*bulk-files.example.org.* requires the access token"):
        await export.follow()
    assert not foreign.called, "nothing, and so no token, was sent there"


async def test_file_that_needs_no_token_is_fetched_without_it_and_only_over_https(exporter, epic) -> None:
    export, _ = exporter
    storage = "https://storage.example.org/signed/Patient.ndjson?sig=abc"
    serve_export(epic, {"Patient": storage}, requires_token=False)
    fetched = epic.get(storage).respond(200, content=ndjson(PATIENTS))
    await export.start(ExportOptions())
    state = await export.follow()
    assert "Authorization" not in fetched.calls.last.request.headers
    assert state.tables["patient"] == 3

    serve_export(epic, {"Patient": "http://storage.example.org/Patient.ndjson"}, requires_token=False)
    await export.start(ExportOptions())
    with pytest.raises(BulkError, match="plain http"):
        await export.follow()


async def test_cancel_deletes_the_server_job_and_the_partial_downloads(exporter, epic) -> None:
    export, _ = exporter
    serve_export(epic)
    epic.get(FILES["Patient"]).respond(200, content=ndjson(PATIENTS))
    epic.get(FILES["Observation"]).mock(return_value=httpx.Response(200, stream=BrokenStream(b'{"resourceType"')))
    deleted = epic.delete(STATUS).respond(202)
    await export.start(ExportOptions())
    with pytest.raises(BulkError):
        await export.follow()
    assert any(export.store.downloads.iterdir())

    state = await export.cancel()
    assert deleted.called and state is not None and state.phase == "cancelled" and state.error is None
    assert not export.store.downloads.exists(), "patient data of a cancelled export is not left behind"
    again = await export.cancel()
    assert again is not None and again.phase == "cancelled" and deleted.call_count == 1, "cancelling twice is harmless"


async def test_a_server_refusing_the_cancel_is_said_plainly(exporter, epic) -> None:
    export, _ = exporter
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    epic.get(KICKOFF).respond(202, headers={"Content-Location": STATUS})
    epic.delete(STATUS).respond(403, json=outcome("error", "forbidden", "4118", "not allowed"))
    await export.start(ExportOptions())
    state = await export.cancel()
    assert state is not None and state.phase == "cancelled" and "HTTP 403" in (state.error or "")


async def test_status_url_outside_the_fhir_base_is_refused(exporter, epic) -> None:
    export, _ = exporter
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    epic.get(KICKOFF).respond(202, headers={"Content-Location": "https://evil.example.org/status/1"})
    with pytest.raises(BulkError, match="outside the FHIR base"):
        await export.start(ExportOptions())
    assert export.status() is None


async def test_unknown_group_names_the_setting_to_fix(exporter, epic) -> None:
    export, _ = exporter
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    epic.get(KICKOFF).respond(404, json=outcome("fatal", "not-found", "59144", "Invalid FHIR ID provided"))
    with pytest.raises(BulkError, match="no Group .* Invalid FHIR ID provided .*EPIC_BULK_GROUP_ID"):
        await export.start(ExportOptions())


async def test_epic_is_never_sent_since(exporter, epic) -> None:
    export, _ = exporter
    with pytest.raises(ConfigError, match="Epic does not support _since"):
        await export.start(ExportOptions(since="2026-01-01T00:00:00Z"))
    assert not epic.calls


async def test_incremental_without_an_earlier_complete_export_is_refused(make_settings, tmp_path, epic) -> None:
    settings = make_settings(epic_env="custom", epic_fhir_base_url=EPIC_BASE, epic_token_url=EPIC_TOKEN_URL,
                             epic_population_dir=str(tmp_path / "p"), epic_bulk_group_id=GROUP)
    connection = EpicConnection.open(settings)
    export = Exporter(settings, BulkClient(settings, connection.tokens))
    with pytest.raises(BulkError, match="no complete earlier export"):
        await export.start(ExportOptions(incremental=True))
    assert not epic.calls


def test_incremental_right_after_an_export_of_a_named_group_refreshes_that_group(key_file, tmp_path, epic) -> None:
    """As the README shows it: `export --group X`, then `export --incremental` with no EPIC_BULK_GROUP_ID (or
    another one) set: the refresh asks the same group for the same types since the last transactionTime."""
    from epic_mcp.cli import main

    env = tmp_path / "bulk.env"
    env.write_text(f"EPIC_ENV=custom\nEPIC_FHIR_BASE_URL={EPIC_BASE}\nEPIC_TOKEN_URL={EPIC_TOKEN_URL}\n"
                   f"EPIC_CLIENT_ID={CLIENT_ID}\nPRIVATE_KEY_PATH={key_file}\n"
                   f"EPIC_POPULATION_DIR={tmp_path / 'population'}\nEPIC_BULK_GROUP_ID=another-group\n")
    changed = [{**OBSERVATIONS[1], "valueQuantity": {"value": 12.5, "unit": "%"}}]
    later = f"{EPIC_BASE}/bulk-status/job-2"
    refreshed = f"{EPIC_BASE}/bulk-files/job-2/Observation.ndjson"
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    kickoff = epic.get(KICKOFF).mock(side_effect=[httpx.Response(202, headers={"Content-Location": STATUS}),
                                                  httpx.Response(202, headers={"Content-Location": later})])
    epic.get(STATUS).respond(200, json=manifest(FILES))
    epic.get(later).respond(200, json={**manifest({"Observation": refreshed}),
                                       "transactionTime": "2026-03-02T08:00:00Z"})
    epic.get(FILES["Patient"]).respond(200, content=ndjson(PATIENTS))
    epic.get(FILES["Observation"]).respond(200, content=ndjson(OBSERVATIONS))
    epic.get(refreshed).respond(200, content=ndjson(changed))

    assert main(["--env-file", str(env), "export", "--group", GROUP, "--type", "Patient,Observation", "--quiet"]) == 0
    assert main(["--env-file", str(env), "export", "--incremental", "--quiet"]) == 0

    first, second = (call.request.url for call in kickoff.calls)
    assert "_since" not in first.params
    assert second.path.endswith(f"/Group/{GROUP}/$export"), "the last export's group, not EPIC_BULK_GROUP_ID's"
    assert second.params["_since"] == "2026-03-01T10:00:00Z" and second.params["_type"] == "Patient,Observation"
    state = StateStore(tmp_path / "population").load()
    assert state is not None and state.phase == "complete" and state.since == "2026-03-01T10:00:00Z"
    assert state.group_id == GROUP and state.types == ["Patient", "Observation"]
    assert state.tables["observation"] == 3 and state.tables["patient"] == 3, "merged, not replaced"


async def test_an_expired_job_says_to_start_again(exporter, epic) -> None:
    export, _ = exporter
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    epic.get(KICKOFF).respond(202, headers={"Content-Location": STATUS})
    epic.get(STATUS).respond(404)
    await export.start(ExportOptions())
    with pytest.raises(BulkError, match="--restart"):
        await export.follow()


async def test_a_failed_export_reports_the_server_s_reason(exporter, epic) -> None:
    export, _ = exporter
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    epic.get(KICKOFF).respond(202, headers={"Content-Location": STATUS})
    failure = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "too-costly",
                                                              "diagnostics": "Group exceeds 10000 members"}]}
    epic.get(STATUS).respond(500, json=failure)
    await export.start(ExportOptions())
    with pytest.raises(BulkError, match="export failed on the server: HTTP 500: Group exceeds 10000 members"):
        await export.follow()
    assert "10000 members" in (StateStore(export.settings.epic_population_dir).load().error or "")


@pytest.mark.parametrize("options, message", [
    (ExportOptions(group_id="../Patient"), "not a FHIR id"),
    (ExportOptions(types=("Observation", "Patient?x=1")), "not a FHIR resource type"),
    (ExportOptions(since="yesterday"), "not a FHIR instant"),
    (ExportOptions(since="2026-01-31"), "not a FHIR instant"),
])
async def test_bad_export_arguments_are_refused_before_any_request(make_settings, tmp_path, epic, options,
                                                                   message) -> None:
    settings = make_settings(epic_env="custom", epic_fhir_base_url=EPIC_BASE, epic_token_url=EPIC_TOKEN_URL,
                             epic_population_dir=str(tmp_path / "p"), epic_bulk_group_id=GROUP)
    connection = EpicConnection.open(settings)
    export = Exporter(settings, BulkClient(settings, connection.tokens))
    with pytest.raises(EpicMcpError, match=message):
        await export.start(options)
    assert not epic.calls


async def test_all_patients_export_uses_patient_export_with_the_types_asked_for(exporter, epic) -> None:
    export, _ = exporter
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    kickoff = epic.get(f"{EPIC_BASE}/Patient/$export").respond(202, headers={"Content-Location": STATUS})
    state = await export.start(ExportOptions(level="patient", types=("Patient", "Observation")))
    assert state.group_id is None and state.level == "patient"
    assert kickoff.calls.last.request.url.params["_type"] == "Patient,Observation"
