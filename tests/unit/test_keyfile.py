"""harness/config/keyfile.py: an inventory's key file is a private key paramiko can use, and
only its owner can access it (OpenSSH refuses it otherwise; allow_unprotected_key opts out)."""

import os
from pathlib import Path

import paramiko
import pytest

from harness.config import load_inventory
from harness.config.keyfile import key_file_problem, key_permission_check
from harness.errors import ConfigError


def test_private_keys_pass_including_passphrase_protected_ones(tmp_path):
    k = paramiko.RSAKey.generate(1024)
    plain, locked = tmp_path / "id", tmp_path / "id_locked"
    k.write_private_key_file(str(plain))
    k.write_private_key_file(str(locked), password="secret")  # used through ssh-agent
    assert key_file_problem(plain) is None and key_file_problem(locked) is None


def test_public_half_missing_and_non_keys_are_named(tmp_path):
    k = paramiko.RSAKey.generate(1024)
    pub = tmp_path / "id.pub"
    pub.write_text(f"ssh-rsa {k.get_base64()} me\n")
    assert "is a public key; give the private half" in key_file_problem(pub)
    assert str(tmp_path / "id") in key_file_problem(pub)
    assert "not found" in key_file_problem(tmp_path / "none")
    (tmp_path / "txt").write_text("not a key\n")
    assert "is not a private key paramiko can read" in key_file_problem(tmp_path / "txt")


def private_key(path: Path, mode: int = 0o600) -> Path:
    paramiko.RSAKey.generate(1024).write_private_key_file(str(path))
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o660, 0o707], ids=oct)
def test_keys_group_or_others_can_access_are_refused_like_openssh(tmp_path, mode):
    (tmp_path / "my keys").mkdir()
    p = private_key(tmp_path / "my keys" / "id", mode)
    refusal, warning = key_permission_check(p)
    assert warning is None
    assert f"{str(p)!r} is accessible by group or others (mode {mode:04o}); OpenSSH refuses such a key" in refusal
    assert f"chmod 600 '{p}'" in refusal and "allow_unprotected_key: true" in refusal


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o700], ids=oct)
def test_keys_only_their_owner_can_access_pass(tmp_path, mode):
    assert key_permission_check(private_key(tmp_path / "id", mode)) == (None, None)
    assert key_permission_check(tmp_path / "absent") == (None, None)  # key_file_problem names that


def test_allow_unprotected_key_turns_the_refusal_into_a_warning(tmp_path):
    p = private_key(tmp_path / "id", 0o644)
    refusal, warning = key_permission_check(p, allow_unprotected=True)
    assert refusal is None and "used as allow_unprotected_key is set" in warning and f"chmod 600 {p}" in warning


@pytest.mark.root
def test_a_key_owned_by_another_user_is_a_warning_as_openssh_uses_it(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root: chown to another user")
    p = private_key(tmp_path / "id", 0o644)
    os.chown(p, 65534, 65534)
    refusal, warning = key_permission_check(p)
    assert refusal is None and "(mode 0644) and owned by another user" in warning


def inventory(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "hosts.yaml"
    p.write_text(text)
    return p


def test_inventory_refuses_a_shared_open_key_once_at_defaults(tmp_path, capsys):
    key = private_key(tmp_path / "shared", 0o644)
    inv = inventory(tmp_path, "defaults: {key: shared}\nhosts:\n" +
                    "".join(f"  - {{name: h{i}, address: 10.0.0.{i + 1}}}\n" for i in range(3)))
    with pytest.raises(ConfigError) as ei:
        load_inventory(inv)
    assert len(ei.value.lines()) == 1
    assert ei.value.lines()[0].startswith(f"{inv}: defaults.key: {str(key)!r} is accessible by group or others (mode 0644)")
    assert f"chmod 600 {key}" in ei.value.lines()[0]
    assert capsys.readouterr().err == ""


def test_inventory_opt_out_loads_the_key_once_with_one_warning(tmp_path, capsys):
    key = private_key(tmp_path / "shared", 0o644)
    inv = inventory(tmp_path, "defaults: {key: shared, allow_unprotected_key: true}\nhosts:\n" +
                    "".join(f"  - {{name: h{i}, address: 10.0.0.{i + 1}}}\n" for i in range(3)))
    hosts = load_inventory(inv).hosts
    assert {h.key for h in hosts} == {str(key)} and all(h.allow_unprotected_key for h in hosts)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"harness: warning: {inv}: defaults.key: {str(key)!r} is accessible")


def test_one_hosts_opt_out_does_not_cover_another_host_with_the_same_key(tmp_path, capsys):
    private_key(tmp_path / "k", 0o640)
    inv = inventory(tmp_path, "hosts:\n  - {name: a, address: x, key: k, allow_unprotected_key: true}\n"
                              "  - {name: b, address: y, key: k}\n")
    with pytest.raises(ConfigError) as ei:
        load_inventory(inv)
    assert [line.split(": ")[1] for line in ei.value.lines()] == ["hosts[1].key"]
    assert "harness: warning: " in capsys.readouterr().err  # host a's, which allowed it
