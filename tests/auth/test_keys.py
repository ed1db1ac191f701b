"""Keys: formats, RFC 7638 kids, the public JWKS, rotation, keygen."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from epic_mcp.auth.assertion import AssertionSigner
from epic_mcp.auth.keys import KeyRing, generate_key, thumbprint, write_private_key
from epic_mcp.errors import ConfigError

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi"}


def test_kid_is_the_rfc7638_thumbprint_of_the_published_example() -> None:
    # RFC 7638 section 3.1: this RSA key's SHA-256 thumbprint is NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs.
    n = ("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhM"  # noqa: E501
         "stn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5"
         "hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
    assert thumbprint({"e": "AQAB", "kty": "RSA", "n": n}) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def _pem(key, fmt) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())


@pytest.mark.parametrize("fmt", [serialization.PrivateFormat.TraditionalOpenSSL, serialization.PrivateFormat.PKCS8])
def test_pkcs1_and_pkcs8_keys_load_to_the_same_kid(tmp_path: Path, make_settings, fmt) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "k.pem"
    path.write_bytes(_pem(key, fmt))
    path.chmod(0o600)
    ring = KeyRing.from_settings(make_settings(private_key_path=str(path)))
    expected = write_private_key(key, tmp_path / "copy.key")
    assert ring.active.kid == expected


def test_jwks_has_public_members_only(settings) -> None:
    jwk = KeyRing.from_settings(settings).jwks()["keys"][0]
    assert set(jwk) == {"kty", "kid", "alg", "use", "n", "e"}
    assert (jwk["kty"], jwk["alg"], jwk["use"]) == ("RSA", "RS384", "sig")
    assert not PRIVATE_MEMBERS & set(jwk)


def test_ec_p384_key_publishes_crv_x_y(tmp_path: Path, make_settings) -> None:
    path = tmp_path / "ec.key"
    write_private_key(generate_key("ES384"), path)
    jwk = KeyRing.from_settings(make_settings(private_key_path=str(path), epic_jwt_alg="ES384")).jwks()["keys"][0]
    assert set(jwk) == {"kty", "kid", "alg", "use", "crv", "x", "y"}
    assert (jwk["kty"], jwk["crv"], jwk["alg"]) == ("EC", "P-384", "ES384")


def test_key_from_environment_variable(make_settings, rsa_pem: bytes) -> None:
    ring = KeyRing.from_settings(make_settings(private_key_path="does-not-exist.key",
                                               epic_private_key_pem=rsa_pem.decode()))
    assert ring.active.source == "EPIC_PRIVATE_KEY_PEM"


def test_rotation_publishes_every_key_and_the_newest_signs(tmp_path: Path, make_settings) -> None:
    folder = tmp_path / "ring"
    old_kid = write_private_key(generate_key(), folder / "2025.key")
    os.utime(folder / "2025.key", (1_700_000_000, 1_700_000_000))
    new_kid = write_private_key(generate_key(), folder / "2026.key")
    ring = KeyRing.from_settings(make_settings(private_key_path=str(folder)))
    assert {k["kid"] for k in ring.jwks()["keys"]} == {old_kid, new_kid}
    assert ring.active.kid == new_kid
    pinned = KeyRing.from_settings(make_settings(private_key_path=str(folder), epic_active_kid=old_kid))
    assert pinned.active.kid == old_kid


def test_list_of_key_paths(tmp_path: Path, make_settings) -> None:
    a = write_private_key(generate_key(), tmp_path / "a.key")
    b = write_private_key(generate_key(), tmp_path / "b.key")
    ring = KeyRing.from_settings(make_settings(private_key_path=f"{tmp_path / 'a.key'}, {tmp_path / 'b.key'}"))
    assert [k.kid for k in ring.keys] == [a, b]


@pytest.mark.parametrize(
    ("alg", "make_key", "message"),
    [("RS384", lambda: ec.generate_private_key(ec.SECP384R1()), "needs an RSA key"),
     ("ES384", lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), "needs an EC P-384 key")],
)
def test_key_that_does_not_match_the_algorithm_fails_at_start(tmp_path: Path, make_settings, alg, make_key,
                                                              message) -> None:
    path = tmp_path / "k.key"
    write_private_key(make_key(), path)
    with pytest.raises(ConfigError, match=f"^EPIC_JWT_ALG: .*{message}"):
        KeyRing.from_settings(make_settings(private_key_path=str(path), epic_jwt_alg=alg))


def test_small_rsa_keys_and_missing_files_are_refused(tmp_path: Path, make_settings) -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    (tmp_path / "small.key").write_bytes(_pem(small, serialization.PrivateFormat.PKCS8))
    (tmp_path / "small.key").chmod(0o600)
    with pytest.raises(ConfigError, match="1024 bits"):
        KeyRing.from_settings(make_settings(private_key_path=str(tmp_path / "small.key")))
    with pytest.raises(ConfigError, match="^PRIVATE_KEY_PATH: no key file at .*epic-mcp keygen"):
        KeyRing.from_settings(make_settings(private_key_path=str(tmp_path / "absent.key")))
    (tmp_path / "junk.key").write_text("not a key")
    (tmp_path / "junk.key").chmod(0o600)
    with pytest.raises(ConfigError, match="not a PEM private key"):
        KeyRing.from_settings(make_settings(private_key_path=str(tmp_path / "junk.key")))


def test_unknown_active_kid_is_an_error(make_settings) -> None:
    with pytest.raises(ConfigError, match="^EPIC_ACTIVE_KID:"):
        KeyRing.from_settings(make_settings(epic_active_kid="nope"))


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_a_key_file_readable_by_others_is_refused_unless_allowed(key_file: Path, make_settings, mode: int,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    key_file.chmod(mode)
    with pytest.raises(ConfigError, match=r"^PRIVATE_KEY_PATH: .* readable by other users .*chmod 600"):
        KeyRing.from_settings(make_settings())
    with caplog.at_level(logging.WARNING):
        KeyRing.from_settings(make_settings(epic_allow_insecure_key_file=True))
    assert "readable by other users" in caplog.text
    assert "PRIVATE KEY" not in caplog.text


def test_keygen_writes_0600_and_never_overwrites_without_force(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "new.key"
    first = write_private_key(generate_key(), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(ConfigError, match="--force"):
        write_private_key(generate_key(), path)
    second = write_private_key(generate_key(), path, force=True)
    assert first != second
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_private_key_not_in_repr(settings) -> None:
    ring = KeyRing.from_settings(settings)
    shown = repr(ring.active)
    assert "private_key=" not in shown and "cryptography" not in shown


def test_an_inconsistent_rsa_key_never_signs(tmp_path: Path, make_settings) -> None:
    """Parsing at start skips the slow RSA check; the full check runs before the first signature, so a key whose
    CRT parameters are wrong (a faulty CRT signature would leak a prime) is refused there, never used."""
    numbers = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_numbers()
    broken = rsa.RSAPrivateNumbers(numbers.p, numbers.q, numbers.d, numbers.dmp1 + 2, numbers.dmq1, numbers.iqmp,
                                   numbers.public_numbers).private_key(unsafe_skip_rsa_key_validation=True)
    path = tmp_path / "broken.key"
    path.write_bytes(_pem(broken, serialization.PrivateFormat.PKCS8))
    path.chmod(0o600)
    settings = make_settings(private_key_path=str(path))
    keys = KeyRing.from_settings(settings)
    assert keys.jwks()["keys"][0]["kid"] == keys.active.kid
    with pytest.raises(ConfigError, match="not a consistent RSA key"):
        AssertionSigner(settings, keys).sign("https://fhir.example.org/token")


def test_the_check_runs_once_per_key_and_a_key_differing_in_one_number_is_checked_anew(tmp_path: Path,
                                                                                      make_settings) -> None:
    """A key file read again (a new KeyRing, as each server and each test builds) is not checked again; a key with
    the same primes and modulus but one wrong CRT parameter is not taken for it, and is refused."""
    numbers = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_numbers()
    broken = rsa.RSAPrivateNumbers(numbers.p, numbers.q, numbers.d, numbers.dmp1 + 2, numbers.dmq1, numbers.iqmp,
                                   numbers.public_numbers).private_key(unsafe_skip_rsa_key_validation=True)
    paths = {"sound": tmp_path / "sound.key", "broken": tmp_path / "broken.key"}
    paths["sound"].write_bytes(_pem(numbers.private_key(), serialization.PrivateFormat.PKCS8))
    paths["broken"].write_bytes(_pem(broken, serialization.PrivateFormat.PKCS8))
    for path in paths.values():
        path.chmod(0o600)

    def checked(name: str) -> object:
        return KeyRing.from_settings(make_settings(private_key_path=str(paths[name]))).active.checked_private_key()

    assert checked("sound") is checked("sound")
    with pytest.raises(ConfigError, match="not a consistent RSA key"):
        checked("broken")


def test_a_sound_key_is_checked_once_and_signs(key_file: Path, make_settings) -> None:
    settings = make_settings()
    keys = KeyRing.from_settings(settings)
    assert keys.active.checked_private_key() is keys.active.checked_private_key()
    assert AssertionSigner(settings, keys).sign("https://fhir.example.org/token").token.count(".") == 2


def test_an_encrypted_key_is_refused_naming_the_file_and_the_fix(tmp_path: Path, make_settings) -> None:
    path = tmp_path / "locked.key"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.BestAvailableEncryption(b"passphrase")))
    path.chmod(0o600)
    with pytest.raises(ConfigError) as refused:
        KeyRing.from_settings(make_settings(private_key_path=str(path)))
    assert str(refused.value) == f"{path}: the key is encrypted; store it unencrypted with mode 0600"


def test_a_key_of_a_type_epic_does_not_take_is_refused(tmp_path: Path, make_settings) -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    path = tmp_path / "ed.key"
    path.write_bytes(ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    path.chmod(0o600)
    with pytest.raises(ConfigError) as refused:
        KeyRing.from_settings(make_settings(private_key_path=str(path)))
    assert str(refused.value) == f"{path}: unsupported key type; use RSA or EC P-384"


def test_an_ec_key_on_another_curve_than_p384_is_refused(tmp_path: Path, make_settings) -> None:
    path = tmp_path / "p256.key"
    path.write_bytes(_pem(ec.generate_private_key(ec.SECP256R1()), serialization.PrivateFormat.PKCS8))
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="unsupported key type: use an RSA key .* or an EC P-384 key"):
        KeyRing.from_settings(make_settings(private_key_path=str(path)))


def test_an_empty_key_folder_is_refused_with_keygen_as_the_fix(tmp_path: Path, make_settings) -> None:
    folder = tmp_path / "empty-keys"
    folder.mkdir()
    (folder / "README.txt").write_text("keys go here")
    with pytest.raises(ConfigError) as refused:
        KeyRing.from_settings(make_settings(private_key_path=str(folder)))
    assert str(refused.value) == "PRIVATE_KEY_PATH: no key files found; run `epic-mcp keygen`"
