"""The Bulk Data client (bulk/client.py) step by step against Epic-shaped respx answers: the kick-off request and
each way it fails, each status answer, the manifest, where the token may go, resumable downloads, cancel, and
what a broken connection says."""

from __future__ import annotations

import http.server
import ipaddress
import json
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from epic_mcp.bulk.client import (
    DOWNLOAD_ATTEMPTS,
    KICKOFF_ATTEMPTS,
    MAX_RETRY_AFTER,
    NDJSON,
    BulkClient,
    BulkError,
    ExportRequest,
    Manifest,
    OutputFile,
    Pending,
    parse_manifest,
)
from epic_mcp.errors import FhirError, FhirErrorKind, TokenError
from epic_mcp.fhir.connection import EpicConnection

from ..conftest import ACCESS_TOKEN, EPIC_BASE, EPIC_TOKEN_URL, outcome, token_body
from .test_bulk_faults import Sleeps

pytestmark = pytest.mark.anyio
GROUP = "e3iabhmS8rsueyz7vaimuiaSmfGvi.QwjVXJANlPOgR83"
KICKOFF = f"{EPIC_BASE}/Group/{GROUP}/$export"
STATUS = f"{EPIC_BASE}/bulk-status/job-1"
FILE = f"{EPIC_BASE}/bulk-files/job-1/Patient.ndjson"
BODY = b'{"resourceType": "Patient", "id": "p1"}\n{"resourceType": "Patient", "id": "p2"}\n'


@pytest.fixture
async def bulk(settings, epic) -> AsyncIterator[tuple[BulkClient, Sleeps]]:
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    connection = EpicConnection.open(settings)
    sleeps = Sleeps()
    client = BulkClient(settings, connection.tokens, sleep=sleeps)
    yield client, sleeps
    await client.aclose()
    await connection.aclose()


def group(*types: str, since: str | None = None) -> ExportRequest:
    return ExportRequest("group", GROUP, types, since)


# Kick-off --------------------------------------------------------------------------------------------------

async def test_the_kickoff_asks_asynchronously_with_the_token_for_the_types_and_since(bulk, epic) -> None:
    client, _ = bulk
    route = epic.get(KICKOFF).respond(202, headers={"Content-Location": STATUS})
    assert await client.kickoff(group("Patient", "Observation", since="2026-01-01T00:00:00Z")) == STATUS
    request = route.calls.last.request
    assert (request.headers["Accept"], request.headers["Prefer"]) == ("application/fhir+json", "respond-async")
    assert request.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert list(request.url.params.multi_items()) == [("_type", "Patient,Observation"),
                                                      ("_since", "2026-01-01T00:00:00Z")]
    await client.kickoff(group())
    assert not route.calls.last.request.url.params, "no _type and no _since: everything the group has"
    assert str(client.kickoff_url(ExportRequest("patient", None))) == f"{EPIC_BASE}/Patient/$export"


@pytest.mark.parametrize(("status", "body", "message"), [
    (403, outcome("error", "forbidden", "59999", "Not registered"),
     "the app is not authorized for Bulk Data export: Not registered (Epic: the health system must register the "
     "group for this client and grant system/*.read on the exported types)"),
    (401, None, "authentication failed even with a fresh access token; run `epic-mcp doctor`"),
    (400, outcome("error", "invalid", "59998", "Bad _type"), "the server rejected the export request: Bad _type"),
    (422, None, "the server rejected the export request (HTTP 422)"),
    (422, {}, "the server rejected the export request (HTTP 422)"),
    (500, {"resourceType": "OperationOutcome", "issue": []}, "the export could not start: HTTP 500"),
    (500, {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "exception", "diagnostics": "Export queue full"},
        {"severity": "warning", "code": "informational", "diagnostics": "Try later"}]},
     "the export could not start: HTTP 500: Export queue full; Try later"),
    (400, {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "invalid", "diagnostics": "a" * 200},
        {"severity": "error", "code": "invalid", "diagnostics": "b" * 200}]},
     "the server rejected the export request: " + ("a" * 200 + "; " + "b" * 200)[:300]),
    (500, "not json", "the export could not start: HTTP 500"),
    (404, outcome("error", "not-found", "59997", "x" * 400), "the server has no Group " + GROUP + ": " + "x" * 300
     + " (check EPIC_BULK_GROUP_ID or --group: Epic's group ids come from the health system)"),
])
async def test_a_refused_kickoff_says_why_and_what_to_do(bulk, epic, status, body, message) -> None:
    client, _ = bulk
    content = json.dumps(body).encode() if isinstance(body, dict) else (body or "").encode()
    epic.get(KICKOFF).respond(status, content=content)
    with pytest.raises(BulkError) as refused:
        await client.kickoff(group())
    assert str(refused.value) == message


async def test_a_patient_level_export_the_server_does_not_have_is_no_group_error(bulk, epic) -> None:
    client, _ = bulk
    epic.get(f"{EPIC_BASE}/Patient/$export").respond(404)
    with pytest.raises(BulkError) as refused:
        await client.kickoff(ExportRequest("patient", None))
    assert str(refused.value) == "the export could not start: HTTP 404"


@pytest.mark.parametrize("location", [None, "", "https://evil.example.org/status/1", "job-1"])
async def test_a_status_url_missing_or_outside_the_base_is_refused(bulk, epic, location) -> None:
    client, _ = bulk
    epic.get(KICKOFF).respond(202, headers={"Content-Location": location} if location is not None else {})
    with pytest.raises(BulkError) as refused:
        await client.kickoff(group())
    assert str(refused.value) == ("the server accepted the export but its status URL (Content-Location) is missing "
                                  "or outside the FHIR base; the access token is not sent there")


async def test_a_kickoff_busy_every_time_is_tried_four_times(bulk, epic) -> None:
    client, sleeps = bulk
    route = epic.get(KICKOFF).respond(503)
    with pytest.raises(BulkError, match="busy"):
        await client.kickoff(group())
    assert KICKOFF_ATTEMPTS == 4 and route.call_count == 4 and sleeps.delays == [0.5, 1.0, 2.0]


# Status ------------------------------------------------------------------------------------------------------

async def test_a_running_export_says_its_progress_and_when_to_ask_again(bulk, epic) -> None:
    client, _ = bulk
    route = epic.get(STATUS).mock(side_effect=[
        httpx.Response(202, headers={"X-Progress": "p" * 150, "Retry-After": "120"}),
        httpx.Response(202),
        httpx.Response(429, headers={"Retry-After": "7200"}),
        httpx.Response(503)])
    assert await client.poll(STATUS) == Pending("p" * 100, 120.0)
    assert await client.poll(STATUS) == Pending(None, None)
    assert await client.poll(STATUS) == Pending("server busy (HTTP 429)", MAX_RETRY_AFTER, busy=True)
    assert await client.poll(STATUS) == Pending("server busy (HTTP 503)", None, busy=True)
    assert MAX_RETRY_AFTER == 3600 and route.calls.last.request.headers["Accept"] == "application/json"


async def test_a_retry_after_that_cannot_be_read_waits_half_a_second(bulk, epic) -> None:
    client, _ = bulk
    epic.get(STATUS).respond(202, headers={"Retry-After": "soon"})
    assert await client.poll(STATUS) == Pending(None, 0.5)


@pytest.mark.parametrize(("status", "message"), [
    (404, "the server no longer knows this export (expired or cancelled there); start a new one with `epic-mcp "
          "export --restart`"),
    (410, "the server no longer knows this export (expired or cancelled there); start a new one with `epic-mcp "
          "export --restart`"),
    (401, "authentication failed even with a fresh access token; run `epic-mcp doctor`"),
    (400, "the export failed on the server: HTTP 400"),
])
async def test_a_status_that_ends_the_export_says_what_to_do(bulk, epic, status, message) -> None:
    client, _ = bulk
    epic.get(STATUS).respond(status)
    with pytest.raises(BulkError) as ended:
        await client.poll(STATUS)
    assert str(ended.value) == message


def test_the_manifest_gives_the_files_their_counts_and_whether_they_need_the_token() -> None:
    body = {"transactionTime": "2026-03-01T10:00:00Z", "requiresAccessToken": True,
            "output": [{"type": "Patient", "url": FILE, "count": 2}, {"type": "Observation", "url": FILE + "2"}],
            "error": [{"type": "OperationOutcome", "url": FILE + "e", "count": "3"}]}
    assert parse_manifest(json.dumps(body).encode()) == Manifest(
        "2026-03-01T10:00:00Z", True, (OutputFile("Patient", FILE, 2), OutputFile("Observation", FILE + "2", None)),
        (OutputFile("OperationOutcome", FILE + "e", None),))
    no_files = parse_manifest(json.dumps({"transactionTime": "t", "requiresAccessToken": "true"}).encode())
    assert no_files == Manifest("t", False, (), ()), "only JSON true means the token is required"


@pytest.mark.parametrize(("body", "message"), [
    (b"not json", "the export finished but its manifest is not JSON"),
    (b"[]", "the export manifest has no transactionTime"),
    (b'{"transactionTime": 7}', "the export manifest has no transactionTime"),
    (b'{"transactionTime": "t", "output": {}}', "the export manifest's output is not a list"),
    (b'{"transactionTime": "t", "error": "x"}', "the export manifest's error is not a list"),
    (b'{"transactionTime": "t", "output": [{"type": "Patient"}]}',
     "the export manifest has a output entry without type and url"),
    (b'{"transactionTime": "t", "error": [{"url": "u", "type": 5}]}',
     "the export manifest has a error entry without type and url"),
    (b'{"transactionTime": "t", "output": ["x"]}', "the export manifest has a output entry without type and url"),
])
def test_a_manifest_that_cannot_be_read_says_what_is_wrong(body: bytes, message: str) -> None:
    with pytest.raises(BulkError) as refused:
        parse_manifest(body)
    assert str(refused.value) == message


# Cancel -----------------------------------------------------------------------------------------------------

async def test_cancel_deletes_the_job_and_says_whether_it_was_there(bulk, epic) -> None:
    client, _ = bulk
    route = epic.delete(STATUS).mock(side_effect=[httpx.Response(202), httpx.Response(404), httpx.Response(410),
                                                  httpx.Response(500), httpx.Response(302), httpx.Response(300)])
    assert await client.cancel(STATUS) is True
    assert await client.cancel(STATUS) is False and await client.cancel(STATUS) is False
    for status in (500, 302, 300):
        with pytest.raises(BulkError, match=f"^the server refused to cancel the export: HTTP {status}$"):
            await client.cancel(STATUS)
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"


# Where the token may go, and downloads -----------------------------------------------------------------------

async def test_the_token_goes_only_to_files_under_the_base(bulk) -> None:
    client, _ = bulk
    assert client.client_for(FILE, requires_token=True) is client._authed
    assert client.client_for(FILE, requires_token=False) is client._plain
    assert client.client_for("https://storage.example.org/f.ndjson", requires_token=False) is client._plain
    with pytest.raises(BulkError) as elsewhere:
        client.client_for("https://storage.example.org/f.ndjson", requires_token=True)
    assert str(elsewhere.value) == ("the export manifest points to a file on another server (storage.example.org) "
                                    "and says it requires the access token; refusing to send the token outside the "
                                    "FHIR base URL")
    with pytest.raises(BulkError) as plain:
        client.client_for("http://storage.example.org/f.ndjson", requires_token=False)
    assert str(plain.value).startswith("export file URL: plain http to storage.example.org would expose")


async def test_a_download_asks_for_ndjson_and_reports_its_bytes(bulk, epic, tmp_path: Path) -> None:
    client, _ = bulk
    route = epic.get(FILE).respond(200, content=BODY)
    seen: list[int] = []
    size = await client.download(OutputFile("Patient", FILE, 2), True, tmp_path / "p.ndjson", seen.append)
    assert size == len(BODY) == sum(seen) and (tmp_path / "p.ndjson").read_bytes() == BODY
    request = route.calls.last.request
    assert request.headers["Accept"] == NDJSON == "application/fhir+ndjson" and "Range" not in request.headers
    assert request.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"


async def test_a_download_resumes_where_it_stopped_and_a_finished_file_is_not_fetched_again(bulk, epic,
                                                                                           tmp_path: Path) -> None:
    client, _ = bulk
    target = tmp_path / "p.ndjson"
    target.write_bytes(BODY[:10])
    route = epic.get(FILE).mock(side_effect=[
        httpx.Response(206, content=BODY[10:], headers={"Content-Range": f"bytes 10-{len(BODY) - 1}/{len(BODY)}"}),
        httpx.Response(416)])
    assert await client.download(OutputFile("Patient", FILE, 2), True, target) == len(BODY)
    assert route.calls[0].request.headers["Range"] == "bytes=10-" and target.read_bytes() == BODY
    assert await client.download(OutputFile("Patient", FILE, 2), True, target) == len(BODY), "416: all is here"


async def test_a_download_resumes_after_a_single_byte(bulk, epic, tmp_path: Path) -> None:
    client, _ = bulk
    target = tmp_path / "p.ndjson"
    target.write_bytes(BODY[:1])
    epic.get(FILE).respond(206, content=BODY[1:], headers={"Content-Range": f"bytes 1-{len(BODY) - 1}/{len(BODY)}"})
    assert await client.download(OutputFile("Patient", FILE, 2), True, target) == len(BODY)
    assert target.read_bytes() == BODY


async def test_a_partial_answer_that_says_no_range_is_refused(bulk, epic, tmp_path: Path) -> None:
    client, _ = bulk
    target = tmp_path / "p.ndjson"
    target.write_bytes(BODY[:10])
    epic.get(FILE).respond(206, content=BODY[10:])
    with pytest.raises(BulkError, match="^downloading the Patient file failed: HTTP 206; run again to resume$"):
        await client.download(OutputFile("Patient", FILE, 2), True, target)


class BrokenStream(httpx.AsyncByteStream):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield BODY[:12]
        raise httpx.ReadError("connection reset by peer")


async def test_a_connection_lost_while_sending_says_how_much_was_kept(bulk, epic, tmp_path: Path) -> None:
    client, _ = bulk
    epic.get(FILE).respond(200, stream=BrokenStream())
    with pytest.raises(BulkError) as broken:
        await client.download(OutputFile("Patient", FILE, 2), True, tmp_path / "p.ndjson")
    assert str(broken.value) == ("downloading the Patient file broke off after 12 bytes (ReadError); run again to "
                                 "resume")


async def test_the_bulk_client_uses_the_configured_timeouts(make_settings, epic) -> None:
    settings = make_settings(epic_http_timeout=12.5, epic_connect_timeout=3.5)
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    connection = EpicConnection.open(settings)
    client = BulkClient(settings, connection.tokens)
    expected = httpx.Timeout(12.5, connect=3.5)
    assert client._authed.timeout == expected and client._plain.timeout == expected
    await client.aclose()
    await connection.aclose()


async def test_a_partial_answer_for_other_bytes_starts_the_file_again(bulk, epic, tmp_path: Path) -> None:
    client, _ = bulk
    target = tmp_path / "p.ndjson"
    target.write_bytes(b"stale bytes")
    epic.get(FILE).respond(206, content=BODY, headers={"Content-Range": f"bytes 0-{len(BODY) - 1}/{len(BODY)}"})
    with pytest.raises(BulkError, match="^downloading the Patient file failed: HTTP 206; run again to resume$"):
        await client.download(OutputFile("Patient", FILE, 2), True, target)
    epic.get(FILE).respond(200, content=BODY)
    assert await client.download(OutputFile("Patient", FILE, 2), True, target) == len(BODY)
    assert target.read_bytes() == BODY


async def test_a_busy_file_server_is_asked_again_as_it_says_then_given_up(bulk, epic, tmp_path: Path) -> None:
    client, sleeps = bulk
    epic.get(FILE).mock(side_effect=[httpx.Response(429, headers={"Retry-After": "30"}), httpx.Response(503),
                                     httpx.Response(200, content=BODY)])
    assert await client.download(OutputFile("Patient", FILE, 2), True, tmp_path / "p.ndjson") == len(BODY)
    assert sleeps.delays == [30, 1.0]
    other = FILE.replace("Patient", "Observation")
    route = epic.get(other).respond(503, headers={"Retry-After": "7200"})
    with pytest.raises(BulkError, match="^the server stayed busy while sending the Observation file; run again "
                                        "later to resume$"):
        await client.download(OutputFile("Observation", other, 2), True, tmp_path / "q.ndjson")
    assert DOWNLOAD_ATTEMPTS == 4 and route.call_count == 4 and sleeps.delays[2:] == [3600, 3600, 3600]


@pytest.mark.parametrize(("status", "message"), [
    (404, "the Patient file is gone from the server (export files expire); start a new export with `epic-mcp "
          "export --restart`"),
    (410, "the Patient file is gone from the server (export files expire); start a new export with `epic-mcp "
          "export --restart`"),
    (401, "authentication failed for an export file even with a fresh access token"),
    (500, "downloading the Patient file failed: HTTP 500; run again to resume"),
])
async def test_a_file_that_cannot_be_fetched_says_what_to_do(bulk, epic, tmp_path: Path, status, message) -> None:
    client, _ = bulk
    epic.get(FILE).respond(status)
    with pytest.raises(BulkError) as failed:
        await client.download(OutputFile("Patient", FILE, 2), False, tmp_path / "p.ndjson")
    assert str(failed.value) == message


async def test_a_connection_lost_before_an_answer_says_how_much_was_kept(bulk, epic, tmp_path: Path) -> None:
    client, _ = bulk
    target = tmp_path / "p.ndjson"
    target.write_bytes(BODY[:7])
    epic.get(FILE).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(BulkError) as broken:
        await client.download(OutputFile("Patient", FILE, 2), True, target)
    assert str(broken.value) == ("downloading the Patient file broke off after 7 bytes (ConnectError); run again to "
                                 "resume")
    epic.get(FILE).mock(side_effect=TokenError("the token endpoint said no"))
    with pytest.raises(BulkError) as no_token:
        await client.download(OutputFile("Patient", FILE, 2), True, tmp_path / "new.ndjson")
    assert str(no_token.value) == ("downloading the Patient file broke off after 0 bytes (the token endpoint said "
                                   "no); run again to resume")


# What a failed request says -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("error", "message"), [
    (httpx.ReadTimeout("slow"), "the FHIR server did not answer in time; run again later to resume"),
    (httpx.ConnectError("down"), "could not reach the FHIR server (ConnectError); run again to resume"),
    (TokenError("invalid_client"), "could not get an access token: invalid_client"),
    (FhirError(FhirErrorKind.REFUSED, "redirected"), "redirected"),
])
async def test_a_request_that_fails_says_what_to_do(bulk, epic, error: Exception, message: str) -> None:
    client, _ = bulk
    epic.get(STATUS).mock(side_effect=error)
    with pytest.raises(BulkError) as failed:
        await client.poll(STATUS)
    assert str(failed.value) == message


def test_an_error_file_of_the_manifest_is_read_like_an_output_file() -> None:
    manifest: dict[str, Any] = {"transactionTime": "t", "error": [{"type": "OperationOutcome", "url": FILE}]}
    assert parse_manifest(json.dumps(manifest).encode()).errors == (OutputFile("OperationOutcome", FILE, None),)


# TLS ---------------------------------------------------------------------------------------------------------------

@pytest.fixture
def untrusted_https(tmp_path: Path) -> Iterator[str]:
    """An HTTPS file server on loopback whose certificate no one trusts (self-signed): its URL."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(1).not_valid_before(datetime(2020, 1, 1)).not_valid_after(datetime(2100, 1, 1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))

    class Files(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Files)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/Patient.ndjson"
    server.shutdown()
    server.server_close()


async def test_export_files_come_only_from_servers_whose_certificate_verifies(settings, untrusted_https,
                                                                             tmp_path: Path) -> None:
    connection = EpicConnection.open(settings)
    client = BulkClient(settings, connection.tokens)  # as `epic-mcp export` makes it: no verify given
    try:
        with pytest.raises(BulkError, match=r"broke off after 0 bytes \(ConnectError\)"):
            await client.download(OutputFile("Patient", untrusted_https, 2), False, tmp_path / "p.ndjson")
    finally:
        await client.aclose()
        await connection.aclose()


async def test_a_trusted_certificate_authority_reaches_the_fhir_server_and_files_elsewhere(
        make_settings, untrusted_https, tmp_path: Path) -> None:
    """Both clients verify with the context given (the server shares one, so the CA bundle is loaded once per
    process): a context that trusts a private CA reaches files with the token (under the FHIR base) and without."""
    trusting = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
    origin = untrusted_https.rsplit("/", 1)[0]
    settings = make_settings(epic_fhir_base_url=f"{origin}/fhir", epic_token_url=EPIC_TOKEN_URL)
    with respx.mock(assert_all_called=False) as router:
        router.post(EPIC_TOKEN_URL).respond(200, json=token_body())
        router.route(host="127.0.0.1").pass_through()
        connection = EpicConnection.open(settings)
        client = BulkClient(settings, connection.tokens, verify=trusting)
        try:
            assert await client.download(OutputFile("Patient", f"{origin}/fhir/files/Patient.ndjson", 2), True,
                                         tmp_path / "with-token.ndjson") == len(BODY)
            assert await client.download(OutputFile("Patient", untrusted_https, 2), False,
                                         tmp_path / "without.ndjson") == len(BODY)
        finally:
            await client.aclose()
            await connection.aclose()


# Redirects ---------------------------------------------------------------------------------------------------------

async def test_a_status_check_answered_with_a_redirect_is_not_followed(bulk, epic) -> None:
    """The status check carries the token: a redirect (to any host) is a failure, never a second request."""
    client, _ = bulk
    elsewhere = epic.get("https://fhir.epic.com/other/status").respond(200, json={})
    epic.get(STATUS).respond(302, headers={"Location": "https://fhir.epic.com/other/status"})
    with pytest.raises(BulkError, match=r"^the export failed on the server: HTTP 302$"):
        await client.poll(STATUS)
    assert not elsewhere.called


async def test_a_file_without_the_token_that_redirects_is_not_followed(bulk, epic, tmp_path: Path) -> None:
    """A redirect could lead to plain http or to an address the file URL check refuses; it is not followed."""
    client, _ = bulk
    plain = epic.get("http://storage.example.org/p.ndjson").respond(200, content=BODY)
    epic.get("https://storage.example.org/p.ndjson").respond(
        302, headers={"Location": "http://storage.example.org/p.ndjson"})
    with pytest.raises(BulkError, match=r"^downloading the Patient file failed: HTTP 302; run again to resume$"):
        await client.download(OutputFile("Patient", "https://storage.example.org/p.ndjson", 2), False,
                              tmp_path / "p.ndjson")
    assert not plain.called
