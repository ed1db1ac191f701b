"""The de-identifying client the PHI client's tests drive."""

from __future__ import annotations

import pytest
import respx

from epic_mcp.fhir.connection import EpicConnection
from epic_mcp.phi import PhiLayer

from ..conftest import EPIC_BASE, EPIC_TOKEN_URL, token_body
from .test_phi import PATIENT, PID, SECRET, TODAY


@pytest.fixture
async def phi(make_settings, epic: respx.MockRouter):
    """The de-identifying client over a real FhirClient; Epic serves the patient's record."""
    settings = make_settings(epic_phi_mode="minimum", epic_phi_secret=SECRET, epic_today=TODAY)
    epic.post(EPIC_TOKEN_URL).respond(200, json=token_body())
    epic.get(f"{EPIC_BASE}/Patient/{PID}").respond(200, json=PATIENT)
    connection = EpicConnection.open(settings)
    yield PhiLayer(settings).client(connection.fhir)
    await connection.aclose()
