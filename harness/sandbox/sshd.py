"""OpenSSH servers for sandbox hosts: keys, config, start, stop.

Each host runs the machine's own /usr/sbin/sshd with a config in the host's directory:
its own host key, one authorized client key, its own HOME. sshd is started in its own
session and not tied to the process that started it, so the sandbox outlives `up`.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from harness.errors import HarnessError
from harness.sandbox import netns as netns_mod
from harness.sandbox.state import pid_alive

SSHD = "/usr/sbin/sshd"  # sshd refuses to re-exec itself unless started by absolute path
START_TIMEOUT = 10.0
SSHD_NAMES = ("sshd", "sshd-session", "sshd-auth")  # OpenSSH >= 9.8 splits per-connection work


def available() -> str | None:
    """None when sshd and ssh-keygen are usable, else why not."""
    if not os.access(SSHD, os.X_OK):
        return f"{SSHD} not found; apt-get install -y openssh-server"
    if shutil.which("ssh-keygen") is None:
        return "ssh-keygen not found; apt-get install -y openssh-client"
    return None


def keygen(path: Path, comment: str) -> str:
    """A new unencrypted ed25519 key at `path`; returns 'ssh-ed25519 AAAA…'."""
    path = Path(path)
    for p in (path, path.with_name(path.name + ".pub")):
        p.unlink(missing_ok=True)
    r = subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if r.returncode != 0:
        raise HarnessError(f"ssh-keygen for {path} failed: {r.stderr.strip()}")
    return public_key(path)


def public_key(private: Path) -> str:
    return " ".join(Path(str(private) + ".pub").read_text().split()[:2])


def known_hosts_line(address: str, port: int, host_pub: str) -> str:
    name = address if port == 22 else f"[{address}]:{port}"
    return f"{name} {host_pub}"


def config_text(host_dir: Path, address: str, port: int) -> str:
    """PURE: the sshd_config of one host."""
    d = Path(host_dir)
    return "\n".join([
        f"ListenAddress {address}", f"Port {port}",
        f"HostKey {d / 'ssh_host_ed25519_key'}", f"AuthorizedKeysFile {d / 'authorized_keys'}",
        f"PidFile {d / 'sshd.pid'}",
        # No PAM and no StrictModes: the files live in a directory the user chose.
        "UsePAM no", "StrictModes no", "PermitRootLogin prohibit-password",
        "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PubkeyAuthentication yes",
        "AllowTcpForwarding yes", "X11Forwarding no", "PrintMotd no", "PrintLastLog no",
        # Its own HOME: hosts on one filesystem must not share caches and dotfiles.
        f"SetEnv HOME={d / 'home'}", f"Subsystem sftp internal-sftp -d {d / 'home'}",
        "LogLevel VERBOSE",
        # Launching many tasks opens many channels at once.
        "MaxStartups 200:30:400", "MaxSessions 64",
        # Sessions of a control side that vanished (a cut link) end after ~30 s instead of lingering.
        "ClientAliveInterval 10", "ClientAliveCountMax 3",
    ]) + "\n"


def prepare(host_dir: Path, address: str, port: int, client_pub: str) -> str:
    """Write the host's key, config and authorized_keys; return the host's public key."""
    d = Path(host_dir)
    (d / "home").mkdir(parents=True, exist_ok=True)
    (d / "work").mkdir(parents=True, exist_ok=True)
    pub = keygen(d / "ssh_host_ed25519_key", f"sandbox-host-{d.name}")
    (d / "authorized_keys").write_text(client_pub + "\n")
    (d / "sshd_config").write_text(config_text(d, address, port))
    return pub


def rewrite_port(host_dir: Path, address: str, port: int) -> None:
    (Path(host_dir) / "sshd_config").write_text(config_text(Path(host_dir), address, port))


def spawn_argv(host_dir: Path, ns: str | None, hostname: str | None = None,
               private: list[list[str]] | None = None) -> list[str]:
    """PURE: sshd's command line; in a namespace with a hostname, sshd (and so every
    session and task) runs in its own UTS namespace under that hostname, and with
    `private` ([hide, keep], harness/sandbox/private_fs.py) in its own mount namespace
    where the control side's files are not visible. unshare and sh exec, so the pid
    stays sshd's."""
    argv = [SSHD, "-D", "-e", "-f", str(Path(host_dir) / "sshd_config")]
    if ns and hostname:
        from harness.sandbox.cgroupfs import script_for_this_machine

        flags, setup = ["--uts"], ""
        cg = script_for_this_machine()   # `ip netns exec` left /sys/fs/cgroup empty
        if cg:
            setup = cg + "; "
        if private:
            from harness.sandbox.private_fs import mount_script

            flags.append("--mount")
            setup += mount_script(private[0], private[1]) + " && "
        argv = ["unshare", *flags, "sh", "-c", setup + 'hostname "$0" && exec "$@"', hostname, *argv]
    return argv


def spawn(host_dir: Path, ns: str | None, hostname: str | None = None,
          private: list[list[str]] | None = None) -> int:
    """Start sshd (in `ns` when given, with its own `hostname` there) without waiting for
    it; returns its pid."""
    d = Path(host_dir)
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege-separation directory
    (d / "sshd.log").unlink(missing_ok=True)
    log = open(d / "sshd.log", "ab")
    try:
        # Own session: a Ctrl-C in the terminal that ran `up` does not reach it.
        p = netns_mod.spawn(ns, spawn_argv(d, ns, hostname, private), stdin=subprocess.DEVNULL,
                            stdout=log, stderr=log, start_new_session=True)
    finally:
        log.close()
    return p.pid


def wait_ready(host_dir: Path, pid: int, address: str, port: int, timeout: float = START_TIMEOUT) -> bool:
    """True once sshd logs that it listens; False if it exited first."""
    marker = f"Server listening on {address} port {port}"
    log = Path(host_dir) / "sshd.log"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if marker in _read(log):
            return True
        if not pid_alive(pid):
            return False
        time.sleep(0.02)
    raise HarnessError(f"sshd of {Path(host_dir).name} did not start in {timeout:g} s: {_read(log)[-800:]}")


def _read(p: Path) -> str:
    try:
        return p.read_text(errors="replace")
    except OSError:
        return ""


def log_tail(host_dir: Path, chars: int = 800) -> str:
    return _read(Path(host_dir) / "sshd.log")[-chars:].strip()


def free_port(address: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def is_ours(pid: int | None, config_path: str) -> bool:
    """The pid is alive and is the sshd started with this config (not a reused pid)."""
    if not pid_alive(pid):
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            # sshd rewrites its title ("sshd: /usr/sbin/sshd -D -e -f CONFIG [listener] …"),
            # so look for the path as a word, not as one NUL-separated argument.
            words = f.read().replace(b"\0", b" ").split()
    except OSError:
        return False
    return config_path.encode() in words


def is_sshd(pid: int) -> bool:
    try:
        exe = os.path.basename(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        try:
            with open(f"/proc/{pid}/comm") as f:
                exe = f.read().strip()
        except OSError:
            return False
    return exe.split(" ")[0] in SSHD_NAMES


def descendants(pid: int) -> list[int]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for c in kids.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def kill_all(pids: list[int], grace: float = 2.0) -> list[int]:
    """SIGTERM, wait up to `grace`, SIGKILL the rest; returns the pids that were signalled."""
    signalled = []
    for p in pids:
        try:
            os.kill(p, signal.SIGTERM)
            signalled.append(p)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + grace
    alive = list(signalled)
    while alive and time.monotonic() < deadline:
        time.sleep(0.02)
        alive = [p for p in alive if pid_alive(p)]
    for p in alive:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 2.0
    while alive and time.monotonic() < deadline:
        time.sleep(0.02)
        alive = [p for p in alive if pid_alive(p)]
    return signalled


def stop(pid: int | None, config_path: str) -> bool:
    """Stop the host's sshd and its per-connection children; False if it was not running."""
    if not is_ours(pid, config_path):
        return False
    kill_all(descendants(pid) + [pid])
    return True
