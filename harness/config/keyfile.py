"""Is an inventory's `key:` a private key the SSH transport can use? Checked at load, so
a wrong path, the `.pub` half, a file that is not a key or a key others can read is one
line naming the field before any connection is tried."""

from __future__ import annotations

import os
import shlex
import stat
from pathlib import Path

from harness.config.loading import clip

MAX_KEY_BYTES = 64 * 1024  # an RSA-16384 private key is ~13 KB
_PUBLIC_PREFIXES = ("ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-")


def key_file_problem(key: Path) -> str | None:
    """None if `key` is a private key paramiko can load (or a passphrase-protected one,
    which is used through ssh-agent), else what is wrong and what to do."""
    shown = clip(str(key), 300)
    todo = "give the path of the host's private key (e.g. ~/.ssh/id_ed25519)"
    try:
        st = key.stat()
    except FileNotFoundError:
        return f"file {shown} not found; {todo}"
    except OSError as e:
        return f"cannot read {shown} ({e.strerror}); {todo}"
    if not stat.S_ISREG(st.st_mode):
        return f"{shown} is not a regular file; {todo}"
    if st.st_size > MAX_KEY_BYTES:
        return f"{shown} is {st.st_size} bytes, too large to be a private key; {todo}"
    try:
        head = key.read_bytes()[:64].decode("ascii", "replace").lstrip()
    except OSError as e:
        return f"cannot read {shown} ({e.strerror}); {todo}"
    if head.startswith(_PUBLIC_PREFIXES) or key.suffix == ".pub":
        private = key.with_suffix("") if key.suffix == ".pub" else key
        return f"{shown} is a public key; give the private half ({clip(str(private), 300)}), not the .pub file"
    import paramiko  # control-side dependency; imported here so loading configs stays light

    try:
        paramiko.PKey.from_path(str(key))
    except paramiko.PasswordRequiredException:
        return None  # used through ssh-agent (the transport never prompts)
    except TypeError as e:
        # cryptography raises TypeError for an encrypted OpenSSH-format key
        if "password" in str(e).lower():
            return None
        return f"{shown} is not a private key paramiko can read ({clip(str(e), 80)}); {todo}"
    except Exception as e:  # paramiko raises SSHException, ValueError, UnknownKeyType ...
        why = clip(str(e), 80) if str(e) else type(e).__name__
        return f"{shown} is not a private key paramiko can read ({why}); {todo}"
    return None


def key_permission_check(key: Path, *, allow_unprotected: bool = False) -> tuple[str | None, str | None]:
    """(refusal, warning) for `key`'s mode, judged as OpenSSH does (sshkey_perm_ok): a key
    of one's own that group or others can access is refused, with the chmod that fixes it.
    `allow_unprotected` (the inventory's `allow_unprotected_key`, off unless set) turns the
    refusal into a warning: for a file system whose modes cannot be changed. A key owned
    by another user OpenSSH uses as it is (the chmod is not ours to run): a warning."""
    try:
        st = key.stat()
    except OSError:
        return None, None  # key_file_problem says what is wrong with the path
    mode = stat.S_IMODE(st.st_mode)
    if not mode & 0o077:
        return None, None
    shown = clip(str(key), 300)
    chmod = f"chmod 600 {shlex.quote(str(key)) if len(str(key)) <= 300 else shown}"
    what = f"{shown} is accessible by group or others (mode {mode:04o})"
    if st.st_uid != os.getuid():
        return None, f"{what} and owned by another user; anyone who can read it can log in with it"
    if allow_unprotected:
        return None, f"{what}; used as allow_unprotected_key is set, though OpenSSH would refuse it: {chmod}"
    return (f"{what}; OpenSSH refuses such a key as unprotected: {chmod} (or set allow_unprotected_key: true "
            "on the host or in defaults to use it anyway)"), None
