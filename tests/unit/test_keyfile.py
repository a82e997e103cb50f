"""harness/config/keyfile.py: an inventory's key file is a private key paramiko can use."""

import paramiko

from harness.config.keyfile import key_file_problem, key_file_warning


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


def test_group_or_world_readable_keys_warn_like_openssh(tmp_path):
    p = tmp_path / "id"
    paramiko.RSAKey.generate(1024).write_private_key_file(str(p))
    p.chmod(0o600)
    assert key_file_warning(p) is None
    p.chmod(0o644)
    assert "readable by group or others (mode 0644)" in key_file_warning(p)
    assert "chmod 600" in key_file_warning(p)


def test_inventory_warns_once_per_readable_key_and_loads_it_once(tmp_path, capsys):
    from harness.config import load_inventory

    key = tmp_path / "shared"
    paramiko.RSAKey.generate(1024).write_private_key_file(str(key))
    key.chmod(0o644)
    inv = tmp_path / "hosts.yaml"
    inv.write_text("defaults: {key: shared}\nhosts:\n" +
                   "".join(f"  - {{name: h{i}, address: 10.0.0.{i + 1}}}\n" for i in range(3)))
    hosts = load_inventory(inv).hosts
    assert {h.key for h in hosts} == {str(key)}
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"harness: warning: {inv}: defaults.key: ")
