"""Flags more than one command shares: number ranges, and how SSH host keys are verified."""

from __future__ import annotations

import argparse


def between(lo: float, hi: float, kind=float):
    """An argparse type: a number from lo to hi (a mistyped --lease 6000000 is refused,
    not obeyed)."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{value} is outside {lo:g}..{hi:g}")
        return value
    return parse


def repeats_arg(text: str):
    """--repeats: a count from 1 to 100, or `auto` (adaptive repeats)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return between(1, 100, int)(text)
    except argparse.ArgumentTypeError as e:
        raise argparse.ArgumentTypeError(f"{e}; give a count from 1 to 100, or auto") from None


def ssh_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--known-hosts", help="OpenSSH known_hosts file to verify host keys against (default ~/.ssh/known_hosts)")
    p.add_argument("--trust-on-first-use", action="store_true",
                   help="record unknown host keys in the harness's known_hosts; refuse changed keys afterwards")
    p.add_argument("--insecure-no-host-key-check", action="store_true",
                   help="DANGEROUS: accept any host key (man-in-the-middle possible); prints a warning per host")


def ssh_options(args):
    if not any(getattr(args, k, None) for k in ("known_hosts", "trust_on_first_use", "insecure_no_host_key_check")):
        return None
    from harness.transport.ssh import SSHOptions

    kw = {"trust_on_first_use": args.trust_on_first_use, "insecure_no_host_key_check": args.insecure_no_host_key_check}
    if args.known_hosts:
        kw["known_hosts"] = args.known_hosts
    return SSHOptions(**kw)
