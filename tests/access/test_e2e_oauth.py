"""MCP authorization over real HTTP: epic-mcp as an OAuth resource server for a real authorization server
(oidc-provider on loopback), with the SDK's OAuth client and with hand-picked bad tokens."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import httpx
import pytest
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from mcp.shared.exceptions import MCPError

from epic_mcp.access.profiles import CORE

from ..http_servers import EpicMcpHttp, LoadedSekmet, connect, write_env
from ..oauth_server import AuthorizationServer
from ..sekmet_server import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

CAMILA, DERRICK = "erXuFYUfucBZaryVksYEcMg3", "eq081-VQEgP8drUUqCWzHfw3"
SCOPES = ["epic-mcp", "epic-mcp:core", "epic-mcp:clinical", "epic-mcp:all", "reports:read"]
# What a client may do is the authorization server's policy, carried by the token: the ward assistant's tokens
# name the core profile and one patient.
WARD = {"client_id": "ward-assistant", "client_secret": "w" * 43, "scope": "epic-mcp",
        "extra_claims": {"patients": [CAMILA], "epic_mcp_tools": "core"}}
# Long enough that the first request lands before expiry on a loaded machine, short enough to wait out.
SHORT_LIVED = {"client_id": "short-lived", "client_secret": "s" * 43, "scope": "epic-mcp", "access_token_ttl": 5}
NO_TOOLS = {"client_id": "reports", "client_secret": "r" * 43, "scope": "reports:read"}
OTHER_RESOURCE = "http://127.0.0.1:9/another-mcp-server"
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "test", "version": "1"}}}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


class MemoryTokens:
    """Token storage for the SDK's OAuth client: in memory, for one test."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


@pytest.fixture(scope="module")
def mcp_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def authorization_server(tmp_path_factory: pytest.TempPathFactory, mcp_port: int) -> Iterator[AuthorizationServer]:
    server = AuthorizationServer(tmp_path_factory.mktemp("oauth"), [f"http://127.0.0.1:{mcp_port}/mcp", OTHER_RESOURCE],
                                 SCOPES, [WARD, SHORT_LIVED, NO_TOOLS]).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def resource_server(loaded_sekmet: LoadedSekmet, authorization_server: AuthorizationServer, mcp_port: int,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[EpicMcpHttp]:
    folder = tmp_path_factory.mktemp("oauth-epic-mcp")
    env_file = write_env(folder / ".env", **loaded_sekmet.settings(),
                         epic_mcp_oauth_issuer=authorization_server.issuer,
                         epic_mcp_resource_url=f"http://127.0.0.1:{mcp_port}/mcp", epic_mcp_oauth_leeway_seconds=0)
    server = EpicMcpHttp(env_file, folder / "epic-mcp.log", port=mcp_port).start()
    yield server
    server.stop()


async def post_initialize(server: EpicMcpHttp, token: str | None) -> httpx.Response:
    headers = {**MCP_HEADERS, **({"Authorization": f"Bearer {token}"} if token else {})}
    async with httpx.AsyncClient() as http:
        return await http.post(server.url, json=INITIALIZE, headers=headers)


async def test_an_oauth_client_connects_without_a_shared_secret(resource_server, authorization_server) -> None:
    oauth = ClientCredentialsOAuthProvider(server_url=resource_server.url, storage=MemoryTokens(),
                                           client_id=WARD["client_id"], client_secret=WARD["client_secret"],
                                           scope=WARD["scope"], issuer=authorization_server.issuer)
    logged_before = len(resource_server.log.read_text())  # the server is the module's: other tests' refusals stay
    async with connect(resource_server.url, auth=oauth) as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        own = await client.call_tool("search_conditions", {"patient_id": CAMILA})
        other = await client.call_tool("search_conditions", {"patient_id": DERRICK})
    assert tools == set(CORE), "the token's tools claim chose the tools"
    assert not own.is_error and own.structured_content["total"] > 0
    assert other.is_error and "allowlist" in other.content[0].text, "the token's patients claim limits it"
    assert "access token refused" not in resource_server.log.read_text()[logged_before:]


async def test_unauthenticated_requests_get_a_challenge_that_leads_to_the_authorization_server(
        resource_server, authorization_server) -> None:
    refused = await post_initialize(resource_server, None)
    challenge = refused.headers["www-authenticate"]
    metadata_url = f"{resource_server.root}/.well-known/oauth-protected-resource/mcp"
    async with httpx.AsyncClient() as http:
        metadata = (await http.get(metadata_url)).json()
        issuer = (await http.get(f"{metadata['authorization_servers'][0]}/.well-known/openid-configuration")).json()
    assert refused.status_code == 401 and challenge.startswith("Bearer ")
    assert f'resource_metadata="{metadata_url}"' in challenge
    assert metadata["resource"] == resource_server.url
    assert metadata["authorization_servers"] == [authorization_server.issuer]
    assert metadata["scopes_supported"] == ["epic-mcp"]
    assert issuer["issuer"] == authorization_server.issuer and "client_credentials" in issuer["grant_types_supported"]


def leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in leaves(inner)]
    return [error]


async def test_a_token_for_another_resource_is_refused(resource_server, authorization_server) -> None:
    token = authorization_server.token(WARD, OTHER_RESOURCE)["access_token"]
    right = authorization_server.token(WARD, resource_server.url)["access_token"]
    refused, accepted = await post_initialize(resource_server, token), await post_initialize(resource_server, right)
    async with connect(resource_server.url, token=right) as client:
        tools = (await client.list_tools()).tools
    with pytest.raises(BaseException) as raised:
        async with connect(resource_server.url, token=token) as client:
            await client.list_tools()
    assert refused.status_code == 401 and 'error="invalid_token"' in refused.headers["www-authenticate"]
    assert accepted.status_code == 200 and len(tools) == len(CORE)
    assert any(isinstance(leaf, MCPError) for leaf in leaves(raised.value)), "the SDK client could not connect"
    log = resource_server.log.read_text()
    assert "access token refused: InvalidAudienceError" in log
    assert token not in log and right not in log and token.split(".")[1] not in log


async def test_an_expired_token_is_refused(resource_server, authorization_server) -> None:
    response = authorization_server.token(SHORT_LIVED, resource_server.url)
    assert response["expires_in"] == 5
    fresh = await post_initialize(resource_server, response["access_token"])
    await anyio.sleep(6.1)
    expired = await post_initialize(resource_server, response["access_token"])
    with pytest.raises(BaseException) as raised:
        async with connect(resource_server.url, token=response["access_token"]) as client:
            await client.list_tools()
    assert fresh.status_code == 200
    assert expired.status_code == 401 and 'error="invalid_token"' in expired.headers["www-authenticate"]
    assert any(isinstance(leaf, MCPError) for leaf in leaves(raised.value)), "the SDK client could not connect"
    assert "access token refused: ExpiredSignatureError" in resource_server.log.read_text()


async def test_opaque_and_forged_tokens_are_refused(resource_server, authorization_server) -> None:
    opaque = authorization_server.token(WARD, None)["access_token"]  # no resource indicator: not a JWT
    header, claims, _ = authorization_server.token(WARD, resource_server.url)["access_token"].split(".")
    forged = f"{header}.{claims}.{'A' * 342}"
    unsigned = f"eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.{claims}."
    statuses = [(await post_initialize(resource_server, token)).status_code for token in (opaque, forged, unsigned)]
    assert statuses == [401, 401, 401]


async def test_a_token_that_grants_no_tool_gets_insufficient_scope(resource_server, authorization_server) -> None:
    token = authorization_server.token(NO_TOOLS, resource_server.url)["access_token"]
    response = await post_initialize(resource_server, token)
    challenge = response.headers["www-authenticate"]
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in challenge and 'scope="epic-mcp"' in challenge
    assert "resource_metadata=" in challenge

