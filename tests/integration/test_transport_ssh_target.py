"""Where an inventory host is reached (ssh_target.py), pure: ssh_config aliases and
wildcards, inventory fields over ssh_config, ProxyJump chains as `ssh -J` builds them."""

from __future__ import annotations

import os

import paramiko

from harness.config.inventory import Host
from harness.transport.ssh import Target, load_ssh_config, resolve_target

SSH_CONFIG = """
Host bastion
  HostName 203.0.113.5
  User ec2-user
  IdentityFile ~/.ssh/bastion.pem
Host inner-bastion
  HostName 10.0.0.2
  ProxyJump bastion
Host gpu-*
  User ubuntu
  Port 2222
  IdentityFile /keys/gpu.pem
  ProxyJump bastion
Host gpu-1
  HostName 10.0.1.11
Host direct
  HostName 10.0.2.2
  HostKeyAlias direct-alias
  IdentitiesOnly yes
"""


def test_resolve_target_honours_ssh_config():
    cfg = paramiko.SSHConfig.from_text(SSH_CONFIG)
    t = resolve_target(Host(name="g", address="gpu-1"), cfg, local_user="me")
    assert (t.hostname, t.port, t.user, t.key_files) == ("10.0.1.11", 2222, "ubuntu", ("/keys/gpu.pem",))
    (j,) = t.proxy_jumps
    assert (j.hostname, j.port, j.user, j.alias) == ("203.0.113.5", 22, "ec2-user", "bastion")
    assert j.key_files == (os.path.expanduser("~/.ssh/bastion.pem"),)
    assert t.known_hosts_name == "[10.0.1.11]:2222" and j.known_hosts_name == "203.0.113.5"


def test_resolve_target_inventory_fields_win():
    cfg = paramiko.SSHConfig.from_text(SSH_CONFIG)
    h = Host(name="g", address="gpu-1", user="root", port=22, key="/inv/key", proxy_jump="none")
    t = resolve_target(h, cfg, local_user="me")
    assert (t.hostname, t.port, t.user, t.proxy_jumps) == ("10.0.1.11", 22, "root", ())
    assert t.key_files == ("/inv/key", "/keys/gpu.pem")


def test_resolve_target_jump_chains_and_specs():
    cfg = paramiko.SSHConfig.from_text(SSH_CONFIG)
    h = Host(name="g", address="10.9.9.9", proxy_jump="inner-bastion,admin@10.0.3.3:2200,[fd00::1]:23", key="/k")
    t = resolve_target(h, cfg, local_user="me")
    hops = [(j.hostname, j.port, j.user) for j in t.proxy_jumps]
    # The first jump's own ProxyJump (bastion) comes first, as with `ssh -J`.
    assert hops == [("203.0.113.5", 22, "ec2-user"), ("10.0.0.2", 22, "me"), ("10.0.3.3", 2200, "admin"),
                    ("fd00::1", 23, "me")]
    assert all(j.key_files[-1] == "/k" for j in t.proxy_jumps)  # inventory key as a fallback
    assert (t.hostname, t.port, t.user) == ("10.9.9.9", 22, "me")


def test_resolve_target_plain_address_and_aliases():
    cfg = paramiko.SSHConfig.from_text(SSH_CONFIG)
    t = resolve_target(Host(name="d", address="direct"), cfg, local_user="me")
    assert t.known_hosts_name == "direct-alias" and t.identities_only and t.hostname == "10.0.2.2"
    assert resolve_target(Host(name="x", address="198.18.0.10"), None, local_user="me") == Target(
        hostname="198.18.0.10", port=22, user="me", alias="198.18.0.10")


def test_load_ssh_config_missing_file_is_empty(tmp_path):
    assert load_ssh_config(tmp_path / "none").lookup("x")["hostname"] == "x"
