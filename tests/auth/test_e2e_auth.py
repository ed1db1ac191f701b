"""End to end against a real SMART token endpoint (sekmet-fhir on loopback): tokens, doctor, refusals."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from epic_mcp.auth.assertion import AssertionSigner
from epic_mcp.auth.keys import KeyRing, generate_key, write_private_key
from epic_mcp.auth.token import ASSERTION_TYPE, TokenManager
from epic_mcp.errors import InvalidClientError
from epic_mcp.settings import Settings, load_settings

from ..sekmet_server import SekmetServer

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]
E2E_CLIENT = "epic-mcp-e2e"


@pytest.fixture(scope="module")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("e2e-keys")
    write_private_key(generate_key(), folder / "registered.key")
    write_private_key(generate_key(), folder / "unregistered.key")
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, keys_dir: Path) -> Iterator[SekmetServer]:
    registered = load_settings(None, private_key_path=str(keys_dir / "registered.key"))
    jwks = KeyRing.from_settings(registered).jwks()
    sekmet = SekmetServer(tmp_path_factory.mktemp("sekmet-auth"),
                          [{"client_id": E2E_CLIENT, "jwks": jwks, "scopes": "system/*.read"}]).start()
    yield sekmet
    sekmet.stop()


def settings_for(server: SekmetServer, key: Path) -> Settings:
    return load_settings(None, epic_env="custom", epic_fhir_base_url=server.base_url,
                         epic_client_id=E2E_CLIENT, private_key_path=str(key))


def token_manager(settings: Settings) -> TokenManager:
    signer = AssertionSigner(settings, KeyRing.from_settings(settings))
    return TokenManager(settings, signer, httpx.AsyncClient(), retry_delays=(0,))


async def test_token_manager_gets_a_token_from_a_real_smart_server(server, keys_dir) -> None:
    tokens = token_manager(settings_for(server, keys_dir / "registered.key"))
    token = await tokens.get_token()
    assert await tokens.token_url() == server.token_url
    assert token.scopes == ("system/*.read",)
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{server.base_url}/Patient", headers={"Authorization": f"Bearer {token.value}"})
    assert response.status_code == 200


def test_doctor_passes_against_the_real_server(server, keys_dir, tmp_path: Path) -> None:
    env_file = tmp_path / "e2e.env"
    env_file.write_text(f"EPIC_ENV=custom\nEPIC_FHIR_BASE_URL={server.base_url}\nEPIC_CLIENT_ID={E2E_CLIENT}\n"
                        f"PRIVATE_KEY_PATH={keys_dir / 'registered.key'}\n")
    result = subprocess.run([sys.executable, "-m", "epic_mcp", "--env-file", str(env_file), "doctor"],
                            capture_output=True, text=True, timeout=60, env={"PATH": os.environ["PATH"]},
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok    token: access token obtained" in result.stdout
    assert "FHIR 4.0.1" in result.stdout


async def test_a_key_not_in_the_registered_jwks_is_invalid_client(server, keys_dir) -> None:
    with pytest.raises(InvalidClientError, match="invalid_client"):
        await token_manager(settings_for(server, keys_dir / "unregistered.key")).get_token()


async def _post_assertion(server: SekmetServer, assertion: str) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(server.token_url, data={"grant_type": "client_credentials",
                                                       "client_assertion_type": ASSERTION_TYPE,
                                                       "client_assertion": assertion})


async def test_a_replayed_jti_is_invalid_client(server, keys_dir) -> None:
    settings = settings_for(server, keys_dir / "registered.key")
    assertion = AssertionSigner(settings, KeyRing.from_settings(settings)).sign(server.token_url).token
    assert (await _post_assertion(server, assertion)).status_code == 200
    replay = await _post_assertion(server, assertion)
    assert replay.json()["error"] == "invalid_client"


async def test_a_wrong_audience_is_invalid_client(server, keys_dir) -> None:
    settings = settings_for(server, keys_dir / "registered.key")
    signer = AssertionSigner(settings, KeyRing.from_settings(settings))
    response = await _post_assertion(server, signer.sign(f"{server.root}/oauth2/token").token)
    assert response.json()["error"] == "invalid_client"
