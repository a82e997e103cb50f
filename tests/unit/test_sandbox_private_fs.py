"""Private folders of sandbox hosts: the pure plan and mount script (the real mounts are
exercised as root by tests/e2e/test_own_script_sandbox.py)."""

from harness.sandbox import private_fs, sshd


def test_plan_covers_outermost_folders_and_keeps_what_the_host_needs():
    hide = ["/tmp", "/tmp/x", "/root", "/work/repo", "/", ""]
    keep = ["/tmp/sb/hosts/sb0", "/work/repo/.venv", "/root/.pyenv/versions/3.11", "/usr", "/tmp/sb/hosts/sb0/home"]
    outer, kept = private_fs.plan(hide, keep)
    assert outer == ["/root", "/tmp", "/work/repo"]
    assert kept == ["/root/.pyenv/versions/3.11", "/tmp/sb/hosts/sb0", "/work/repo/.venv"]


def test_mount_script_opens_kept_folders_before_covering_them():
    s = private_fs.mount_script(["/tmp"], ["/tmp/a b"])
    parts = s.split(" && ")
    assert parts[0] == "mount --make-rprivate /"
    assert parts.index("exec 3<'/tmp/a b'") < parts.index("mount -t tmpfs -o mode=1777 harness-private /tmp")
    assert "mount -c --bind /proc/self/fd/3 '/tmp/a b'" in parts


def test_sshd_runs_in_its_own_mount_namespace_only_when_asked():
    plain = sshd.spawn_argv("/d", "ns", "sb0")
    assert plain[:3] == ["unshare", "--uts", "sh"]
    private = sshd.spawn_argv("/d", "ns", "sb0", [["/tmp"], ["/tmp/d"]])
    assert private[:4] == ["unshare", "--uts", "--mount", "sh"] and "harness-private /tmp" in private[5]


def test_a_venv_inside_a_checkout_hides_the_checkout(tmp_path):
    (tmp_path / "repo" / "harness").mkdir(parents=True)
    (tmp_path / "repo" / "harness" / "__init__.py").write_text("")
    assert private_fs.checkouts_around([str(tmp_path / "repo" / ".venv"), "/usr"]) == [str(tmp_path / "repo")]
