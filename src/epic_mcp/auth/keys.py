"""Signing keys: loading, RFC 7638 key ids, the public JWKS, and key generation."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ..errors import ConfigError
from ..settings import Settings

logger = logging.getLogger(__name__)

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
MIN_RSA_BITS = 2048


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64url_fixed(value: int, length: int) -> str:
    return base64.urlsafe_b64encode(value.to_bytes(length, "big")).rstrip(b"=").decode()


def public_jwk_members(key: PrivateKey) -> dict[str, str]:
    """The required public members of the key's JWK (RFC 7638 section 3.2), nothing private."""
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.public_key().public_numbers()
        return {"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)}
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP384R1):
        point = key.public_key().public_numbers()
        return {"crv": "P-384", "kty": "EC", "x": _b64url_fixed(point.x, 48), "y": _b64url_fixed(point.y, 48)}
    raise ConfigError("unsupported key type: use an RSA key (2048 bits or more) or an EC P-384 key")


def thumbprint(members: dict[str, str]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256): Epic and SMART servers pick the key by this kid."""
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


def jwk_alg(key: PrivateKey, configured: str) -> str:
    """The algorithm a key is published for: ES384 for P-384, else the configured RSA algorithm."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "ES384"
    return configured if configured.startswith("RS") else "RS384"


@dataclass(frozen=True)
class SigningKey:
    """A private key with its public JWK. The private key never appears in repr or str."""

    kid: str
    public_jwk: dict[str, str]
    source: str
    created: float
    private_key: PrivateKey = field(repr=False, compare=False)
    _checked: dict[str, PrivateKey] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_rsa(self) -> bool:
        return isinstance(self.private_key, rsa.RSAPrivateKey)

    def checked_private_key(self) -> PrivateKey:
        """The key for signing, checked in full first (for RSA: its primes and CRT parameters, which a faulty
        signature could otherwise leak). The check costs ~50 ms, so it runs before the first signature, not at
        start, where parsing the PEM already caught every format error; and once per process for the same key
        material, however many times its file is read again."""
        if "key" not in self._checked:
            key = self.private_key
            if isinstance(key, rsa.RSAPrivateKey):
                key = _consistent_rsa_key(key, self.source)
            self._checked["key"] = key
        return self._checked["key"]


# RSA keys that passed the full check in this process, by a digest of all their numbers (not the numbers).
_CONSISTENT_RSA: dict[bytes, rsa.RSAPrivateKey] = {}


def _consistent_rsa_key(key: rsa.RSAPrivateKey, source: str) -> rsa.RSAPrivateKey:
    numbers = key.private_numbers()
    digest = hashlib.sha256(repr((numbers.p, numbers.q, numbers.d, numbers.dmp1, numbers.dmq1, numbers.iqmp,
                                  numbers.public_numbers.e, numbers.public_numbers.n)).encode()).digest()
    if digest not in _CONSISTENT_RSA:
        try:
            _CONSISTENT_RSA[digest] = numbers.private_key()
        except ValueError:
            raise ConfigError(f"{source}: not a consistent RSA key (its primes or CRT parameters do not match); "
                              "make a new one with `epic-mcp keygen`") from None
    return _CONSISTENT_RSA[digest]


def _load_pem(data: bytes, source: str) -> PrivateKey:
    """Parse the key; the slow RSA consistency check waits for SigningKey.checked_private_key()."""
    try:
        key = serialization.load_pem_private_key(data, password=None, unsafe_skip_rsa_key_validation=True)
    except TypeError:
        raise ConfigError(f"{source}: the key is encrypted; store it unencrypted with mode 0600") from None
    except ValueError:
        raise ConfigError(f"{source}: not a PEM private key (PKCS#1 or PKCS#8 expected)") from None
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size < MIN_RSA_BITS:
        raise ConfigError(f"{source}: RSA key of {key.key_size} bits; Epic needs 2048 or more (run epic-mcp keygen)")
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise ConfigError(f"{source}: unsupported key type; use RSA or EC P-384")
    return key


def _signing_key(key: PrivateKey, source: str, created: float, alg: str) -> SigningKey:
    members = public_jwk_members(key)
    kid = thumbprint(members)
    jwk = {**members, "kid": kid, "alg": jwk_alg(key, alg), "use": "sig"}
    return SigningKey(kid=kid, public_jwk=jwk, source=source, created=created, private_key=key)


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise ConfigError(f"PRIVATE_KEY_PATH: no key file at {path}; run `epic-mcp keygen` or fix the path")


def _check_exposure(path: Path, allow: bool) -> None:
    """A private key readable by other users is refused (or, when explicitly allowed, warned about)."""
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        if not allow:
            raise ConfigError(f"PRIVATE_KEY_PATH: {path} is readable by other users (mode {stat.S_IMODE(mode):o}); "
                              f"run `chmod 600 {path}` (or set EPIC_ALLOW_INSECURE_KEY_FILE=true)")
        logger.warning("key file %s is readable by other users (mode %o); run: chmod 600 %s", path,
                       stat.S_IMODE(mode), path)


def key_file_problems(settings: Settings) -> list[str]:
    """Every problem of every configured key at once (a missing file, one readable by other users, one that is
    not a usable PEM), each with its fix, where KeyRing.from_settings stops at the first: for doctor."""
    sources: list[tuple[str, Path | None]] = [("EPIC_PRIVATE_KEY_PEM", None)]
    if settings.epic_private_key_pem is None:
        sources = [(str(path), path) for path in settings.key_paths]
    if not sources:
        return ["PRIVATE_KEY_PATH: no key files found; run `epic-mcp keygen`"]
    problems = []
    for source, path in sources:
        try:
            if path is None:
                assert settings.epic_private_key_pem is not None
                _load_pem(settings.epic_private_key_pem.get_secret_value().encode(), source)
                continue
            _require_file(path)
            if not settings.epic_allow_insecure_key_file:  # allowed, it is no problem (KeyRing warns about it)
                _check_exposure(path, allow=False)
            _load_pem(path.read_bytes(), source)
        except ConfigError as exc:
            problems.append(str(exc))
    return problems


class KeyRing:
    """Every configured key: all are published in the JWKS, the active one signs."""

    def __init__(self, keys: list[SigningKey], active: SigningKey, algorithm: str = "RS384") -> None:
        self.keys = keys
        self.active = active
        self.algorithm = algorithm

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        keys: list[SigningKey] = []
        if settings.epic_private_key_pem is not None:
            pem = settings.epic_private_key_pem.get_secret_value().encode()
            key = _load_pem(pem, "EPIC_PRIVATE_KEY_PEM")
            keys.append(_signing_key(key, "EPIC_PRIVATE_KEY_PEM", time.time(), settings.epic_jwt_alg))
        else:
            for path in settings.key_paths:
                _require_file(path)
                _check_exposure(path, settings.epic_allow_insecure_key_file)
                key = _load_pem(path.read_bytes(), str(path))
                keys.append(_signing_key(key, str(path), path.stat().st_mtime, settings.epic_jwt_alg))
        if not keys:
            raise ConfigError("PRIVATE_KEY_PATH: no key files found; run `epic-mcp keygen`")
        unique = list({k.kid: k for k in keys}.values())
        active = cls._choose_active(unique, settings.epic_active_kid)
        algorithm = settings.chosen_jwt_alg or ("RS384" if active.is_rsa else "ES384")
        cls._check_algorithm(active, algorithm)
        return cls(unique, active, algorithm)

    @staticmethod
    def _choose_active(keys: list[SigningKey], wanted: str | None) -> SigningKey:
        if wanted is None:
            return max(keys, key=lambda k: k.created)
        for key in keys:
            if key.kid == wanted:
                return key
        raise ConfigError(f"EPIC_ACTIVE_KID: no configured key has kid {wanted}; `epic-mcp jwks` lists the kids")

    @staticmethod
    def _check_algorithm(key: SigningKey, alg: str) -> None:
        if alg.startswith("RS") and not key.is_rsa:
            raise ConfigError(f"EPIC_JWT_ALG: {alg} needs an RSA key but the active key is EC; set EPIC_JWT_ALG=ES384")
        if alg == "ES384" and key.is_rsa:
            raise ConfigError("EPIC_JWT_ALG: ES384 needs an EC P-384 key but the active key is RSA; use RS384")

    def jwks(self) -> dict[str, Any]:
        """The public JWK Set to host at the registered JKU; never a private member."""
        return {"keys": [dict(k.public_jwk) for k in self.keys]}


def generate_key(alg: str = "RS384", bits: int = MIN_RSA_BITS) -> PrivateKey:
    if alg == "ES384":
        return ec.generate_private_key(ec.SECP384R1())
    if bits < MIN_RSA_BITS:
        raise ConfigError(f"--bits: {bits} is too small; Epic needs 2048 or more")
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def write_private_key(key: PrivateKey, path: Path, *, force: bool = False) -> str:
    """Write the key as PKCS#8 PEM with mode 0600 and return its kid; never overwrites unless `force`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise ConfigError(f"{path} exists; pass --force to replace it (see docs/epic.md, 'Rotating keys')") from None
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    os.chmod(path, 0o600)
    return thumbprint(public_jwk_members(key))
