"""Settings: the original app's variable names, environments, settings files, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from epic_mcp.errors import ConfigError
from epic_mcp.settings import SANDBOX_FHIR_BASE_URL, SANDBOX_TOKEN_URL, load_settings


def test_original_app_variable_names_still_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EPIC_CLIENT_ID", "legacy-client")
    monkeypatch.setenv("EPIC_ENV", "production")
    monkeypatch.setenv("PRIVATE_KEY_PATH", "keys/prod.key")
    monkeypatch.setenv("PRODUCTION_FHIR_BASE_URL", "https://epic.example.org/api/FHIR/R4/")
    monkeypatch.setenv("PRODUCTION_TOKEN_URL", "https://epic.example.org/oauth2/token")
    monkeypatch.setenv("JWT_EXPIRY_MINUTES", "3")
    settings = load_settings()
    assert settings.epic_client_id == "legacy-client"
    assert settings.fhir_base_url == "https://epic.example.org/api/FHIR/R4"
    assert settings.configured_token_url == "https://epic.example.org/oauth2/token"
    assert settings.assertion_lifetime_seconds == 180
    assert settings.key_paths == [Path.cwd() / "keys/prod.key"]


def test_sandbox_is_the_default_environment() -> None:
    settings = load_settings()
    assert (settings.epic_env, settings.fhir_base_url, settings.configured_token_url) == (
        "sandbox", SANDBOX_FHIR_BASE_URL, SANDBOX_TOKEN_URL)
    assert settings.epic_jwt_alg == "RS384"
    assert settings.assertion_lifetime_seconds == 240


def test_custom_environment_discovers_the_token_url_when_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EPIC_ENV", "custom")
    monkeypatch.setenv("EPIC_FHIR_BASE_URL", "https://smart.example.org/fhir")
    assert load_settings().configured_token_url is None
    monkeypatch.setenv("EPIC_TOKEN_URL", "https://smart.example.org/token")
    assert load_settings().configured_token_url == "https://smart.example.org/token"


def test_epic_urls_override_the_sandbox_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EPIC_FHIR_BASE_URL", "https://proxy.example.org/FHIR/R4")
    settings = load_settings()
    assert settings.fhir_base_url == "https://proxy.example.org/FHIR/R4"
    assert settings.configured_token_url is None


def test_env_file_is_read_and_relative_key_paths_follow_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "epic.env").write_text("EPIC_CLIENT_ID=from-file\nPRIVATE_KEY_PATH=keys/a.key\n")
    settings = load_settings(folder / "epic.env")
    assert settings.epic_client_id == "from-file"
    assert settings.key_paths == [folder / "keys/a.key"]
    monkeypatch.setenv("EPIC_MCP_ENV_FILE", str(folder / "epic.env"))
    monkeypatch.setenv("EPIC_CLIENT_ID", "from-environment")
    assert load_settings().epic_client_id == "from-environment"


def test_dot_env_in_the_working_directory_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("EPIC_CLIENT_ID=dotenv-client\n")
    assert load_settings().epic_client_id == "dotenv-client"


@pytest.mark.parametrize(
    ("variables", "starts_with", "mentions"),
    [
        ({"JWT_EXPIRY_MINUTES": "6"}, "JWT_EXPIRY_MINUTES:", "at most 5"),
        ({"EPIC_ENV": "custom", "EPIC_FHIR_BASE_URL": "http://fhir.example.org/R4"}, "EPIC_FHIR_BASE_URL:", "https"),
        ({"EPIC_JWT_ALG": "HS256"}, "EPIC_JWT_ALG:", "RS384"),
        ({"EPIC_ENV": "production"}, "PRODUCTION_FHIR_BASE_URL:", "EPIC_ENV=production"),
        ({"EPIC_ENV": "custom"}, "EPIC_FHIR_BASE_URL:", "EPIC_ENV=custom"),
        ({"EPIC_ENV": "staging"}, "EPIC_ENV:", "sandbox"),
        ({"EPIC_JWT_JKU": "true"}, "EPIC_JWKS_URL:", "EPIC_JWT_JKU"),
        ({"EPIC_TOKEN_URL": "https://user:pw@epic.example.org/token"}, "EPIC_TOKEN_URL:", "credentials"),
    ],
)
def test_bad_configuration_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], starts_with: str, mentions: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    message = str(raised.value)
    assert message.startswith(starts_with)
    assert mentions in message
    assert "\n" not in message


def test_plain_http_is_allowed_on_loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EPIC_ENV", "custom")
    monkeypatch.setenv("EPIC_FHIR_BASE_URL", "http://127.0.0.1:8090/fhir")
    assert load_settings().fhir_base_url == "http://127.0.0.1:8090/fhir"


def test_missing_client_id_is_reported_when_it_is_needed() -> None:
    with pytest.raises(ConfigError, match="^EPIC_CLIENT_ID is not set"):
        load_settings().require_client_id()


def test_a_named_env_file_that_does_not_exist_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="^--env-file: no settings file"):
        load_settings("missing.env")
    monkeypatch.setenv("EPIC_MCP_ENV_FILE", "/nowhere/epic.env")
    with pytest.raises(ConfigError, match="^EPIC_MCP_ENV_FILE: no settings file"):
        load_settings()


def test_private_key_pem_is_secret_in_repr(monkeypatch: pytest.MonkeyPatch, rsa_pem: bytes) -> None:
    monkeypatch.setenv("EPIC_PRIVATE_KEY_PEM", rsa_pem.decode())
    settings = load_settings()
    assert "PRIVATE KEY" not in repr(settings)
    assert "PRIVATE KEY" not in str(settings.public_summary())


def test_env_local_is_its_own_app_whatever_a_dot_env_from_env_example_says(tmp_path: Path) -> None:
    """A checkout's .env made from .env.example (placeholder client id, keys/private.key that does not exist, an
    Epic URL) must not break --env local: the sandbox has its own URL, client id and key."""
    example = (Path(__file__).resolve().parent.parent / ".env.example").read_text()
    (tmp_path / ".env").write_text(example + "EPIC_FHIR_BASE_URL=https://epic.example.org/api/FHIR/R4\n"
                                   "EPIC_PRIVATE_KEY_PEM=not-a-key\nEPIC_JWT_ALG=ES384\n")
    settings = load_settings(None, epic_env="local", epic_sandbox_dir=tmp_path / "sandbox")
    assert settings.require_client_id() == "epic-mcp-local"
    assert settings.key_paths == [tmp_path / "sandbox" / "keys" / "client.key"]
    assert settings.epic_private_key_pem is None and settings.chosen_jwt_alg is None
    assert settings.fhir_base_url == "http://127.0.0.1:8790/fhir"
    assert settings.configured_token_url == "http://127.0.0.1:8790/auth/token"
    epic = load_settings(None)
    assert epic.epic_fhir_base_url == "https://epic.example.org/api/FHIR/R4" and epic.chosen_jwt_alg == "ES384"


def test_the_names_epic_mcp_knows_come_from_the_settings_class() -> None:
    from epic_mcp.settings import ENV_FILE_VARIABLE, Settings, known_settings

    assert known_settings() == {name.upper() for name in Settings.model_fields} | {ENV_FILE_VARIABLE}
    assert {"EPIC_CLIENT_ID", "PRIVATE_KEY_PATH", "PRODUCTION_FHIR_BASE_URL", "JWT_EXPIRY_MINUTES"} <= known_settings()


def test_a_name_meant_as_a_setting_is_named_with_the_setting_and_other_programs_names_are_left_alone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from epic_mcp.settings import UnknownSetting, unknown_settings

    for name in ("EPIC_CLEINT_ID", "EPIC_PRIVATE_KEY_PATH", "EPIC_MCP_WHATEVER", "PRIVATE_KEY_PAHT", "epic_env",
                 "private_key_path", "LOG_LEVEL", "CLIENT_ID", "PRIVATE_KEY", "DATABASE_URL"):
        monkeypatch.setenv(name, "x")
    (tmp_path / ".env").write_text("export EPIC_SANBOX_PORT=8791\nJWT_EXPIRY_MINUTE=3\nSECRET_KEY=another-app\n")
    environment = "the environment"
    assert unknown_settings() == [
        UnknownSetting("EPIC_CLEINT_ID", environment, "EPIC_CLIENT_ID"),
        UnknownSetting("EPIC_MCP_WHATEVER", environment, None),
        UnknownSetting("EPIC_PRIVATE_KEY_PATH", environment, "PRIVATE_KEY_PATH"),
        UnknownSetting("PRIVATE_KEY_PAHT", environment, "PRIVATE_KEY_PATH"),
        UnknownSetting("EPIC_SANBOX_PORT", str(tmp_path / ".env"), "EPIC_SANDBOX_PORT"),
        UnknownSetting("JWT_EXPIRY_MINUTE", str(tmp_path / ".env"), "JWT_EXPIRY_MINUTES")]
    assert str(unknown_settings()[1]) == ("EPIC_MCP_WHATEVER is not a setting (in the environment); .env.example "
                                         "lists every setting")
    assert unknown_settings("missing.env")[-1].source == environment, "a missing file is load_settings' error"
