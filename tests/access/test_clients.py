"""Named MCP client credentials (EPIC_MCP_CLIENTS_FILE) as an operator manages them and as the server reads them:
names, secrets shown once and stored hashed, the file's format and permissions, and changes picked up without a
restart (a broken file keeps the clients read before)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
from pathlib import Path

import pytest

from epic_mcp.access.clients import ClientRecord, ClientStore, NamedClients, hash_secret
from epic_mcp.access.profiles import CLINICAL, CORE
from epic_mcp.errors import ConfigError

pytestmark = pytest.mark.anyio
ALLOWED = "erXuFYUfucBZaryVksYEcMg3"


@pytest.mark.parametrize("name", ["w", "ward-7", "Ward.Night_2", "0ward", "a" * 64])
def test_a_client_name_of_up_to_64_letters_digits_dots_dashes_and_underscores_is_taken(tmp_path: Path,
                                                                                        name: str) -> None:
    store = ClientStore(tmp_path / "clients.json")
    store.add(name)
    assert list(store.load()) == [name]


@pytest.mark.parametrize("name", ["", "a" * 65, "-ward", ".ward", "_ward", "ward room", "ward/7", "wärd", "ward\n"])
def test_any_other_client_name_is_refused_with_the_rule(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError) as refused:
        ClientStore(tmp_path / "clients.json").add(name)
    assert str(refused.value) == "NAME: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
    assert not (tmp_path / "clients.json").exists()


def test_the_file_holds_the_secret_s_hash_the_tools_the_patients_and_when(tmp_path: Path) -> None:
    path = tmp_path / "config" / "epic-mcp" / "clients.json"
    store = ClientStore(path)
    secret = store.add("ward", "clinical", [f" {ALLOWED} ", "e2"])
    store.add("desk")
    document = json.loads(path.read_text())
    assert document["version"] == 1 and set(document) == {"version", "clients"}
    ward, desk = document["clients"]["ward"], document["clients"]["desk"]
    assert ward["secret_sha256"] == hashlib.sha256(secret.encode()).hexdigest() == hash_secret(secret)
    assert (ward["tools"], ward["patients"], desk["tools"], desk["patients"]) == ("clinical", [ALLOWED, "e2"],
                                                                                  "core", None)
    assert ward["created"].endswith("+00:00") and len(ward["created"]) == 25, "UTC, to the second"
    assert secret.startswith("emcp_") and len(secret) == 5 + 43, "256 random bits, base64url"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and not list(path.parent.glob(".clients.json.*"))
    assert path.read_text() == json.dumps(document, indent=2) + "\n", "indented, for an operator who reads it"


def test_a_client_is_described_without_its_secret(tmp_path: Path) -> None:
    store = ClientStore(tmp_path / "clients.json")
    secret = store.add("ward", "core", [ALLOWED])
    store.add("desk", "clinical")
    records = store.load()
    created = records["ward"].created
    assert records["ward"].describe() == f"ward\ttools=core\t1 patient(s)\tcreated {created}"
    assert records["desk"].describe().startswith("desk\ttools=clinical\tany patient\tcreated ")
    assert secret not in records["ward"].describe()


def test_a_name_is_taken_once_and_removing_an_unknown_client_says_so(tmp_path: Path) -> None:
    store = ClientStore(tmp_path / "clients.json")
    store.add("ward")
    with pytest.raises(ConfigError, match="^NAME: a client named ward exists; remove it first to replace its secret$"):
        store.add("ward")
    assert store.remove("ward") is True and store.remove("ward") is False and store.load() == {}


@pytest.mark.parametrize("content", ["not json", "[]", '{"clients": []}', '{"version": 1}',
                                     '{"clients": {"ward": {"tools": "core"}}}', '{"clients": {"ward": 7}}'])
def test_a_file_that_is_no_clients_file_is_refused_with_the_fix(tmp_path: Path, content: str) -> None:
    path = tmp_path / "clients.json"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(ConfigError) as refused:
        ClientStore(path).load()
    assert str(refused.value).startswith(f"EPIC_MCP_CLIENTS_FILE: {path} is not a clients file (")
    assert str(refused.value).endswith("); manage it with `epic-mcp clients`")
    assert "NoneType" not in str(refused.value), "the reason is what went wrong in reading it"


def test_a_file_that_is_not_json_says_so_by_its_error(tmp_path: Path) -> None:
    path = tmp_path / "clients.json"
    path.write_text("not json")
    path.chmod(0o600)
    with pytest.raises(ConfigError) as refused:
        ClientStore(path).load()
    assert str(refused.value) == (f"EPIC_MCP_CLIENTS_FILE: {path} is not a clients file (JSONDecodeError); manage "
                                  "it with `epic-mcp clients`")


@pytest.mark.parametrize("mode", [0o620, 0o602, 0o660, 0o666])
def test_a_clients_file_others_can_write_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "clients.json"
    ClientStore(path).add("ward")
    os.chmod(path, mode)
    with pytest.raises(ConfigError) as refused:
        ClientStore(path).load()
    assert str(refused.value) == (f"EPIC_MCP_CLIENTS_FILE: {path} is writable by other users, who could add a client; "
                                  f"run `chmod 600 {path}`")


@pytest.mark.parametrize("mode", [0o600, 0o644, 0o640, 0o604, 0o755, 0o711])
def test_a_clients_file_others_can_only_read_is_taken(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "clients.json"
    ClientStore(path).add("ward")
    os.chmod(path, mode)
    assert list(ClientStore(path).load()) == ["ward"]


def test_entries_written_by_hand_are_read_as_far_as_they_make_sense(tmp_path: Path) -> None:
    path = tmp_path / "clients.json"
    path.write_text(json.dumps({"version": 1, "clients": {
        "a": {"secret_sha256": "ab", "tools": "core", "patients": [1, "e2"]},
        "b": {"secret_sha256": "cd", "tools": "all", "patients": "e3", "created": "2026-01-01T00:00:00+00:00"}}}))
    path.chmod(0o600)
    records = ClientStore(path).load()
    assert records["a"] == ClientRecord("a", "ab", "core", ("1", "e2"), "")
    assert records["b"] == ClientRecord("b", "cd", "all", None, "2026-01-01T00:00:00+00:00")


# The server's view: secrets to clients, re-read when the file changes ---------------------------------------

async def test_a_secret_becomes_its_client_with_its_tools_and_patients(tmp_path: Path) -> None:
    path = tmp_path / "clients.json"
    store = ClientStore(path)
    ward, desk = store.add("ward", "core", [ALLOWED]), store.add("desk", "clinical")
    clients = NamedClients(path)
    access = await clients.verify_token(ward)
    assert access is not None and (access.client_id, access.token, access.scopes) == ("ward", "", [])
    assert access.tools == frozenset(CORE) and access.patients == frozenset({ALLOWED})
    other = await clients.verify_token(desk)
    assert other is not None and other.tools == frozenset(CLINICAL) and other.patients is None
    assert await clients.verify_token("emcp_" + "x" * 43) is None and await clients.verify_token("") is None


async def test_without_a_file_no_secret_is_taken_until_one_is_written(tmp_path: Path) -> None:
    path = tmp_path / "clients.json"
    clients = NamedClients(path)
    assert await clients.verify_token("anything") is None
    secret = ClientStore(path).add("ward")
    assert (await clients.verify_token(secret)).client_id == "ward"


async def test_a_broken_file_keeps_the_clients_read_before_and_says_so(tmp_path: Path, caplog) -> None:
    path = tmp_path / "clients.json"
    secret = ClientStore(path).add("ward")
    clients = NamedClients(path)
    path.write_text("{ broken")
    with caplog.at_level(logging.ERROR, logger="epic_mcp.access.clients"):
        assert (await clients.verify_token(secret)).client_id == "ward"
    assert "is not a clients file" in caplog.text and "keeping the clients read before" in caplog.text
    path.unlink()
    assert await clients.verify_token(secret) is None, "a removed file removes every client"


async def test_a_file_removed_then_written_again_broken_keeps_no_client_and_stops_nothing(tmp_path: Path,
                                                                                         caplog) -> None:
    path = tmp_path / "clients.json"
    secret = ClientStore(path).add("ward")
    clients = NamedClients(path)
    path.unlink()
    assert await clients.verify_token(secret) is None
    path.write_text("{ broken")
    path.chmod(0o600)
    with caplog.at_level(logging.ERROR, logger="epic_mcp.access.clients"):
        assert await clients.verify_token(secret) is None, "a broken file while serving is logged, not raised"
    assert "keeping the clients read before" in caplog.text


def test_a_client_with_tools_the_server_does_not_know_names_itself(tmp_path: Path) -> None:
    path = tmp_path / "clients.json"
    path.write_text(json.dumps({"version": 1, "clients": {"ward": {"secret_sha256": "ab", "tools": "no_such_tool"}}}))
    path.chmod(0o600)
    with pytest.raises(ConfigError, match=r"^EPIC_MCP_CLIENTS_FILE \(ward\): unknown tool\(s\) no_such_tool; "):
        NamedClients(path)


def test_a_broken_file_at_start_stops_the_server(tmp_path: Path) -> None:
    path = tmp_path / "clients.json"
    path.write_text("{ broken")
    with pytest.raises(ConfigError, match="is not a clients file"):
        NamedClients(path)
