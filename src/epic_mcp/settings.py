"""Configuration: the only module that reads environment variables and `.env` files.

Variable names are the field names in upper case. The original FastAPI app's names
(EPIC_CLIENT_ID, EPIC_ENV, PRIVATE_KEY_PATH, PRODUCTION_FHIR_BASE_URL, PRODUCTION_TOKEN_URL,
JWT_EXPIRY_MINUTES) keep working unchanged. A name that is none of these but looks meant to be
(EPIC_CLEINT_ID) is named by `unknown_settings()` with the closest real one.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from dotenv import dotenv_values
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import ConfigError

ENV_FILE_VARIABLE = "EPIC_MCP_ENV_FILE"
SETTING_PREFIX = "EPIC_"
# How alike a name must be to a setting's to count as meant for it (difflib ratio): EPIC_CLEINT_ID is 0.93 to
# EPIC_CLIENT_ID; PRIVATE_KEY (another program's, say) 0.81 to PRIVATE_KEY_PATH, which is not flagged.
SUGGESTION_CUTOFF = 0.8
LOOKALIKE_CUTOFF = 0.85

SANDBOX_FHIR_BASE_URL = "https://fhir.epic.com/interconnect-fhir-oauth/api/FHIR/R4"
SANDBOX_TOKEN_URL = "https://fhir.epic.com/interconnect-fhir-oauth/oauth2/token"

SIGNING_ALGORITHMS = ("RS384", "RS256", "RS512", "ES384")
MAX_ASSERTION_LIFETIME_SECONDS = 300
MIN_SECRET_LENGTH = 32
MIN_BULK_POLL_SECONDS = 1.0

Environment = Literal["sandbox", "production", "custom", "local"]
LOCAL_CLIENT_ID = "epic-mcp-local"
PLACEHOLDER_CLIENT_ID = "your-epic-client-id-here"  # .env.example's
# Who you are at Epic and where: settings the built-in sandbox (EPIC_ENV=local) replaces with its own.
EPIC_IDENTITY = ("epic_client_id", "epic_fhir_base_url", "epic_token_url", "epic_private_key_pem", "epic_active_kid",
                 "epic_jwks_url", "epic_scopes")
Algorithm = Literal["RS384", "RS256", "RS512", "ES384"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
PhiMode = Literal["full", "minimum"]


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "epic-mcp"


def _default_sandbox_dir() -> Path:
    return _data_home() / "sandbox"


def _default_population_dir() -> Path:
    return _data_home() / "population"


def check_url(variable: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"{variable}: '{url}' is not an http(s) URL")
    if parts.username or parts.password:
        raise ValueError(f"{variable}: credentials in the URL are not allowed; remove the user:password@ part")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ValueError(
            f"{variable}: plain http to {parts.hostname} would expose tokens and patient data; use https "
            "(http is only allowed for 127.0.0.1/localhost)"
        )
    return url.rstrip("/")


class Settings(BaseSettings):
    """Effective configuration. Build it with `load_settings()` so errors become one clear line."""

    model_config = SettingsConfigDict(
        case_sensitive=False, extra="ignore", env_file_encoding="utf-8", validate_default=True
    )

    epic_client_id: str | None = Field(None, description="Client id of the Epic Backend Services app.")
    epic_env: Environment = Field(
        "sandbox", description="sandbox, production, custom (any SMART server), or local (the built-in sandbox)."
    )
    epic_fhir_base_url: str | None = Field(None, description="FHIR base URL; overrides the environment default.")
    epic_token_url: str | None = Field(None, description="Token URL; discovered from the base when absent.")
    production_fhir_base_url: str | None = None
    production_token_url: str | None = None

    private_key_path: str = Field(
        "keys/private.key",
        description="A PEM key file, a comma-separated list of them, or a directory of *.key/*.pem files.",
    )
    epic_private_key_pem: SecretStr | None = Field(None, description="A PEM private key given inline.")
    epic_active_kid: str | None = Field(None, description="kid of the key that signs; default the newest.")
    epic_jwt_alg: Algorithm = Field("RS384", description="Signing algorithm; unset, the key decides: RS384 for an "
                                    "RSA key, ES384 for an EC P-384 key.")
    jwt_expiry_minutes: float = Field(4.0, description="Client assertion lifetime, at most 5 minutes.")
    epic_scopes: str | None = Field(None, description="Sent as `scope` in the token request when set.")
    epic_jwks_url: str | None = Field(None, description="Where you host the JWKS (the JKU registered at Epic).")
    epic_jwt_jku: bool = Field(False, description="Send EPIC_JWKS_URL as the `jku` assertion header.")

    epic_http_timeout: float = Field(30.0, gt=0, le=300, description="Seconds to wait for a FHIR or token reply.")
    epic_connect_timeout: float = Field(10.0, gt=0, le=120)
    epic_call_deadline: float = Field(40.0, ge=1, le=600, description="Seconds a whole tool call may take: token "
                                      "exchange, retries, Retry-After waits and slow answers included.")
    epic_max_response_mb: int = Field(16, ge=1, le=256, description="Largest answer read from the FHIR server.")
    epic_max_concurrency: int = Field(8, ge=1, le=64, description="Concurrent requests to the FHIR server.")
    epic_page_size: int = Field(20, ge=1, le=200, description="Default number of results per search page.")
    epic_max_page_size: int = Field(100, ge=1, le=1000, description="Largest `count` a tool call may ask for.")
    epic_answer_max_kb: int = Field(64, ge=8, le=4096, description="Largest tool answer the model reads, in KB "
                                    "(UTF-8); a longer one is cut and says what was left out and how to get it.")
    epic_log_level: LogLevel = "INFO"
    epic_tools: str = Field("core", description="Tool profile: core (the default), clinical, all, population, or "
                            "tool names.")
    epic_allow_insecure_key_file: bool = Field(False, description="Start even if a key file is readable by others.")
    epic_audit_log: Path | None = Field(None, description="Append one JSON line per tool call to this file.")
    epic_audit_hmac_key: SecretStr | None = Field(None, description="Key for the HMAC of patient ids in the audit.")
    epic_mcp_http_token: SecretStr | None = Field(None, description="Bearer token MCP clients must send over HTTP.")
    epic_mcp_http_allowed_hosts: str | None = Field(None, description="Extra Host values the HTTP transport "
                                                    "accepts (comma-separated), e.g. behind a proxy.")
    epic_mcp_http_stateless: bool = Field(False, description="Serve HTTP without sessions (JSON replies), so any "
                                          "replica behind a load balancer can answer any request.")
    epic_mcp_clients_file: Path | None = Field(None, description="Named MCP client credentials (hashed), each "
                                               "with a tool profile and optional patient allowlist.")
    epic_mcp_oauth_issuer: str | None = Field(None, description="Issuer of the OAuth access tokens (JWT) that "
                                              "MCP clients may present over HTTP.")
    epic_mcp_resource_url: str | None = Field(None, description="This MCP endpoint's public URL: the audience "
                                              "access tokens must carry, and the resource in its metadata.")
    epic_mcp_oauth_jwks_url: str | None = Field(None, description="The issuer's JWKS; discovered from its "
                                                "metadata when absent.")
    epic_mcp_oauth_patients_claim: str = Field("patients", min_length=1, description="Access-token claim that "
                                               "limits a client to some patients (list or space-separated ids).")
    epic_mcp_oauth_tools_claim: str = Field("epic_mcp_tools", min_length=1, description="Access-token claim "
                                            "that names the client's tools (profiles or tool names).")
    epic_mcp_oauth_leeway_seconds: int = Field(30, ge=0, le=300, description="Clock skew allowed when checking "
                                               "an access token's exp, nbf and iat.")
    epic_mcp_cursor_key: SecretStr | None = Field(None, description="Shared key that signs paging cursors, so "
                                                  "a cursor from one replica works on another.")

    epic_sandbox_dir: Path = Field(default_factory=_default_sandbox_dir,
                                   description="Data directory of the local sandbox (EPIC_ENV=local).")
    epic_sandbox_port: int = Field(8790, ge=1024, le=65535, description="Loopback port of the local sandbox.")

    epic_population_dir: Path = Field(default_factory=_default_population_dir,
                                      description="Bulk Data exports and the population database (patient data; "
                                      "kept 0700/0600).")
    epic_bulk_group_id: str | None = Field(None, description="Group id for Bulk Data export (Epic: given by the "
                                           "health system).")
    epic_bulk_poll_seconds: float | None = Field(None, ge=MIN_BULK_POLL_SECONDS, le=3600,
                                                 description="Seconds between export status checks when the "
                                                 "server sends no Retry-After (default 600 for Epic, 2 locally).")
    epic_population_query_seconds: float = Field(10.0, gt=0, le=300, description="Time limit of one "
                                                 "query_population call.")

    config_dir: Path = Field(default_factory=Path.cwd, exclude=True, description="Base for relative key paths.")
    epic_today: date | None = Field(None, description="Pretend today is this date (YYYY-MM-DD): for tests of "
                                    "what is recent or upcoming, and of how the sandbox data is dated; never for "
                                    "real use.")

    epic_phi_mode: PhiMode = Field("full", description="full (default: records as they are) or minimum "
                                   "(de-identified answers: pseudonyms, shifted dates, scrubbed text).")
    epic_phi_secret: SecretStr | None = Field(None, description="Deployment secret of the minimum PHI mode: keys "
                                              "the pseudonyms and date offsets; required with it.")
    epic_phi_shift_dates: bool = Field(True, description="In the minimum PHI mode, shift each patient's dates "
                                       "by a secret per-patient offset.")
    epic_phi_pseudonymize_practitioners: bool = Field(False, description="In the minimum PHI mode, also "
                                                      "replace clinicians' names, ids and contacts.")

    @field_validator("epic_jwt_alg", mode="before")
    @classmethod
    def _upper_alg(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("epic_env", mode="before")
    @classmethod
    def _lower_env(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("epic_phi_mode", mode="before")
    @classmethod
    def _lower_phi_mode(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("epic_log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("jwt_expiry_minutes")
    @classmethod
    def _assertion_lifetime(cls, minutes: float) -> float:
        if not 0 < minutes * 60 <= MAX_ASSERTION_LIFETIME_SECONDS:
            raise ValueError("must be more than 0 and at most 5 (Epic rejects assertions that live longer)")
        return minutes

    @field_validator(
        "epic_client_id", "epic_fhir_base_url", "epic_token_url", "production_fhir_base_url",
        "production_token_url", "epic_active_kid", "epic_scopes", "epic_jwks_url", "epic_audit_log",
        "epic_audit_hmac_key", "epic_mcp_http_token", "epic_mcp_http_allowed_hosts", "epic_mcp_clients_file",
        "epic_mcp_oauth_issuer", "epic_mcp_resource_url", "epic_mcp_oauth_jwks_url", "epic_mcp_cursor_key",
        "epic_bulk_group_id", "epic_phi_secret",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _local_is_its_own_app(self) -> Settings:
        """EPIC_ENV=local is the built-in sandbox with its own URL, client id and key: the Epic settings in the same
        file (a .env made from .env.example, say) do not apply to it."""
        if self.epic_env == "local":
            for name in EPIC_IDENTITY:
                setattr(self, name, None)
            self.epic_jwt_jku = False
            self.epic_jwt_alg = "RS384"
            self.model_fields_set.difference_update({"private_key_path", "epic_jwt_alg"})
        return self

    @model_validator(mode="after")
    def _check_endpoints(self) -> Settings:
        for variable in ("epic_fhir_base_url", "epic_token_url", "production_fhir_base_url",
                         "production_token_url", "epic_jwks_url", "epic_mcp_resource_url", "epic_mcp_oauth_jwks_url"):
            value = getattr(self, variable)
            if value is not None:
                setattr(self, variable, check_url(variable.upper(), value))
        if self.epic_mcp_oauth_issuer is not None:  # kept as written: `iss` is compared as an exact string
            check_url("EPIC_MCP_OAUTH_ISSUER", self.epic_mcp_oauth_issuer)
        if self.epic_env == "production" and not (self.epic_fhir_base_url or self.production_fhir_base_url):
            raise ValueError(
                "PRODUCTION_FHIR_BASE_URL: required with EPIC_ENV=production; set it to your health system's "
                "FHIR R4 base (from open.epic.com's endpoint list)"
            )
        if self.epic_env == "custom" and not self.epic_fhir_base_url:
            raise ValueError("EPIC_FHIR_BASE_URL: required with EPIC_ENV=custom; set it to the server's FHIR base")
        if self.epic_jwt_jku and not self.epic_jwks_url:
            raise ValueError("EPIC_JWKS_URL: required when EPIC_JWT_JKU=true; set it to your hosted JWKS URL")
        if self.epic_page_size > self.epic_max_page_size:
            raise ValueError("EPIC_PAGE_SIZE: must not exceed EPIC_MAX_PAGE_SIZE")
        if self.epic_audit_log is not None:
            key = self.epic_audit_hmac_key.get_secret_value() if self.epic_audit_hmac_key else ""
            if len(key) < MIN_SECRET_LENGTH:
                raise ValueError(f"EPIC_AUDIT_HMAC_KEY: required with EPIC_AUDIT_LOG, at least {MIN_SECRET_LENGTH} "
                                 "random characters (e.g. `openssl rand -hex 32`)")
            if not self.epic_audit_log.is_absolute():
                self.epic_audit_log = self.config_dir / self.epic_audit_log
        if not self.epic_population_dir.is_absolute():
            self.epic_population_dir = self.config_dir / self.epic_population_dir.expanduser()
        phi_secret = self.epic_phi_secret.get_secret_value() if self.epic_phi_secret else ""
        if self.epic_phi_mode == "minimum" and len(phi_secret) < MIN_SECRET_LENGTH:
            raise ValueError(f"EPIC_PHI_SECRET: required with EPIC_PHI_MODE=minimum, at least {MIN_SECRET_LENGTH} "
                             "random characters (e.g. `openssl rand -hex 32`); keep it out of the MCP client's reach")
        token = self.epic_mcp_http_token
        if token is not None and len(token.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(f"EPIC_MCP_HTTP_TOKEN: use at least {MIN_SECRET_LENGTH} random characters "
                             "(e.g. `openssl rand -hex 32`)")
        self._check_http_access()
        return self

    def _check_http_access(self) -> None:
        cursor_key = self.epic_mcp_cursor_key
        if cursor_key is not None and len(cursor_key.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(f"EPIC_MCP_CURSOR_KEY: use at least {MIN_SECRET_LENGTH} random characters, the same "
                             "on every replica (e.g. `openssl rand -hex 32`)")
        if self.epic_mcp_oauth_issuer and not self.epic_mcp_resource_url:
            raise ValueError("EPIC_MCP_RESOURCE_URL: required with EPIC_MCP_OAUTH_ISSUER; set it to the public URL "
                             "MCP clients use, e.g. https://mcp.example.org/mcp (the audience of their tokens)")
        if self.epic_mcp_clients_file is not None and not self.epic_mcp_clients_file.is_absolute():
            self.epic_mcp_clients_file = self.config_dir / self.epic_mcp_clients_file

    @property
    def http_authentication(self) -> bool:
        """Whether MCP clients must authenticate over HTTP (a shared token, named clients, or OAuth)."""
        return bool(self.epic_mcp_http_token or self.epic_mcp_clients_file or self.epic_mcp_oauth_issuer)

    def today(self) -> date:
        """The date that "recent", "upcoming" and "current" are measured from: EPIC_TODAY in tests, else today."""
        return self.epic_today or date.today()

    @property
    def bulk_poll_seconds(self) -> float:
        """Seconds between export status checks without Retry-After: Epic asks for 10-30 minutes."""
        if self.epic_bulk_poll_seconds is not None:
            return self.epic_bulk_poll_seconds
        return {"local": 2.0, "custom": 60.0}.get(self.epic_env, 600.0)

    @property
    def sandbox_root_url(self) -> str:
        return f"http://127.0.0.1:{self.epic_sandbox_port}"

    @property
    def client_id(self) -> str | None:
        """EPIC_CLIENT_ID; the local sandbox registers a default one."""
        return self.epic_client_id or (LOCAL_CLIENT_ID if self.epic_env == "local" else None)

    @property
    def fhir_base_url(self) -> str:
        """The FHIR base every request goes to, without a trailing slash."""
        if self.epic_fhir_base_url:
            return self.epic_fhir_base_url
        if self.epic_env == "local":
            return f"{self.sandbox_root_url}/fhir"
        if self.epic_env == "production":
            assert self.production_fhir_base_url is not None
            return self.production_fhir_base_url
        return SANDBOX_FHIR_BASE_URL

    @property
    def has_test_patients(self) -> bool:
        """Epic's sandbox, or the local sandbox that carries the same patients."""
        return (self.epic_env == "sandbox" and self.fhir_base_url == SANDBOX_FHIR_BASE_URL) or self.epic_env == "local"

    @property
    def configured_token_url(self) -> str | None:
        """The token URL if configured; None means discover it from the FHIR base."""
        if self.epic_token_url:
            return self.epic_token_url
        if self.epic_env == "production":
            return self.production_token_url
        if self.epic_env == "sandbox" and not self.epic_fhir_base_url:
            return SANDBOX_TOKEN_URL
        if self.epic_env == "local" and not self.epic_fhir_base_url:
            return f"{self.sandbox_root_url}/auth/token"
        return None

    @property
    def chosen_jwt_alg(self) -> str | None:
        """EPIC_JWT_ALG when it was set; None means the key decides (RS384 for RSA, ES384 for EC P-384)."""
        return self.epic_jwt_alg if "epic_jwt_alg" in self.model_fields_set else None

    @property
    def assertion_lifetime_seconds(self) -> int:
        return int(self.jwt_expiry_minutes * 60)

    @property
    def sandbox_key_path(self) -> Path:
        return self.epic_sandbox_dir / "keys" / "client.key"

    @property
    def key_paths(self) -> list[Path]:
        """Key files named by PRIVATE_KEY_PATH, relative paths taken from the settings file's folder.

        With EPIC_ENV=local and no PRIVATE_KEY_PATH set, the sandbox's own key.
        """
        if self.epic_env == "local" and "private_key_path" not in self.model_fields_set:
            return [self.sandbox_key_path]
        paths: list[Path] = []
        for item in (part.strip() for part in self.private_key_path.split(",")):
            if not item:
                continue
            path = Path(item).expanduser()
            path = path if path.is_absolute() else self.config_dir / path
            if path.is_dir():
                paths.extend(sorted(p for p in path.iterdir() if p.suffix in (".key", ".pem") and p.is_file()))
            else:
                paths.append(path)
        return paths

    def require_client_id(self) -> str:
        if not self.client_id:
            raise ConfigError(
                "EPIC_CLIENT_ID is not set: put your Backend Services app's client id in the env file "
                "or the MCP client's `env` (see README, 'Connect to Epic'), or try EPIC_ENV=local"
            )
        if self.client_id == PLACEHOLDER_CLIENT_ID:
            raise ConfigError(
                f"EPIC_CLIENT_ID is still .env.example's placeholder ({PLACEHOLDER_CLIENT_ID}): set your Backend "
                "Services app's client id from fhir.epic.com, or try EPIC_ENV=local"
            )
        return self.client_id

    def public_summary(self) -> dict[str, Any]:
        """The effective non-secret settings, for `epic://config` and `doctor`."""
        return {
            "environment": self.epic_env,
            "fhir_base_url": self.fhir_base_url,
            "token_url": self.configured_token_url or "discovered from .well-known/smart-configuration",
            "client_id": self.client_id,
            "algorithm": self.chosen_jwt_alg or "from the key (RS384 for RSA, ES384 for EC)",
            "scopes": self.epic_scopes,
            "jwks_url": self.epic_jwks_url,
            "jku_header": self.epic_jwt_jku,
            "assertion_lifetime_seconds": self.assertion_lifetime_seconds,
            "page_size": self.epic_page_size,
            "max_page_size": self.epic_max_page_size,
            "phi_mode": self.epic_phi_mode,
            **({"phi_shift_dates": self.epic_phi_shift_dates,
                "phi_pseudonymize_practitioners": self.epic_phi_pseudonymize_practitioners}
               if self.epic_phi_mode == "minimum" else {}),
        }


def _resolve_env_file(env_file: str | Path | None) -> Path | None:
    named = env_file or os.environ.get(ENV_FILE_VARIABLE)
    if named:
        path = Path(named).expanduser().resolve()
        if not path.is_file():
            source = "--env-file" if env_file else ENV_FILE_VARIABLE
            raise ConfigError(f"{source}: no settings file at {path}")
        return path
    default = Path.cwd() / ".env"
    return default if default.is_file() else None


class InvalidSettings(ConfigError):
    """Settings that do not validate: the message is the first problem; `problems` has them all (one line each)
    and `variables` the settings they name, so doctor can report every one and check the rest without them."""

    def __init__(self, problems: list[str], variables: list[str]) -> None:
        super().__init__(problems[0])
        self.problems = problems
        self.variables = variables


def load_settings(env_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Read settings from the environment and a settings file, or raise one clear ConfigError.

    The file is `env_file` (`--env-file`), else EPIC_MCP_ENV_FILE, else `.env` in the working
    directory. Environment variables win over the file; `overrides` win over both.
    """
    path = _resolve_env_file(env_file)
    if path is not None:
        overrides.setdefault("config_dir", path.parent)
    try:
        return Settings(_env_file=path, **overrides)  # type: ignore[call-arg]
    except ValidationError as exc:
        errors = exc.errors(include_input=False)
        raise InvalidSettings([_one_line(error) for error in errors],
                              [str(error["loc"][0]) for error in errors if error["loc"]]) from None


def _one_line(error: ErrorDetails) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["loc"]:
        variable = str(error["loc"][0]).upper()
        return f"{variable}: {message}"
    return message


def known_settings() -> frozenset[str]:
    """Every name epic-mcp reads, from the Settings class itself (the original app's names are fields too)."""
    names = {name.upper() for name in Settings.model_fields}
    names |= {field.validation_alias.upper() for field in Settings.model_fields.values()
              if isinstance(field.validation_alias, str)}
    return frozenset(names | {ENV_FILE_VARIABLE})


def environment_settings() -> tuple[dict[str, str], list[str]]:
    """The settings given as environment variables: ({name: value} of the plain ones, [names of the secret ones]),
    so a hint can repeat a command with its settings without printing a secret."""
    secret = {name.upper() for name, field in Settings.model_fields.items()
              if SecretStr in (field.annotation, *get_args(field.annotation))}
    known = known_settings()
    plain = {name: value for name, value in os.environ.items() if name.upper() in known - secret}
    return plain, sorted(name for name in os.environ if name.upper() in secret)


@dataclass(frozen=True)
class UnknownSetting:
    """A name in the environment or the settings file that looks meant for epic-mcp but is no setting."""

    name: str
    source: str
    suggestion: str | None

    def __str__(self) -> str:
        where = f"in {self.source}"
        if self.suggestion:
            return f"{self.name} is not a setting; did you mean {self.suggestion}? ({where})"
        return f"{self.name} is not a setting ({where}); .env.example lists every setting"


def _closest(name: str, known: frozenset[str], cutoff: float) -> str | None:
    """The setting `name` was meant as: an original app's name given an EPIC_ prefix (EPIC_PRIVATE_KEY_PATH),
    else the most alike."""
    if name.startswith(SETTING_PREFIX) and name.removeprefix(SETTING_PREFIX) in known:
        return name.removeprefix(SETTING_PREFIX)
    import difflib  # here, not at import: a start with no unknown name never needs it

    matches = difflib.get_close_matches(name, sorted(known), n=1, cutoff=cutoff)
    return matches[0] if matches else None


def unknown_settings(env_file: str | Path | None = None) -> list[UnknownSetting]:
    """Names that are no setting but look meant as one: every EPIC_* name, and any other name very like a
    setting (PRIVATE_KEY_PAHT), in the settings file load_settings() reads and in the environment (there, only
    names whose first word starts a setting's, so that a start does not compare every variable of the shell). A
    settings file that cannot be found is load_settings()'s error to report, not this."""
    known = known_settings()
    try:
        path = _resolve_env_file(env_file)
    except ConfigError:
        path = None
    first_words = {name.split("_")[0] for name in known}
    sources = [("the environment", [name for name in os.environ if name.upper().split("_")[0] in first_words])]
    if path is not None:
        sources.append((str(path), [name for name in dotenv_values(path) if name]))
    found: list[UnknownSetting] = []
    for source, names in sources:
        for name in sorted(set(names)):
            upper = name.upper()
            if upper in known:
                continue
            if upper.startswith(SETTING_PREFIX):
                found.append(UnknownSetting(name, source, _closest(upper, known, SUGGESTION_CUTOFF)))
            elif (lookalike := _closest(upper, known, LOOKALIKE_CUTOFF)) is not None:
                found.append(UnknownSetting(name, source, lookalike))
    return found
