"""`harness sandbox …`: argument parsing only; the work is in harness.sandbox.

Also runnable alone: python -m harness.cli.sandbox up --hosts 3
"""

from __future__ import annotations

import argparse
import sys

from harness.errors import HarnessError, report_error

_DIR_HELP = "sandbox directory (default $HARNESS_SANDBOX_DIR or ~/.local/share/harness/sandbox)"


def register(subparsers) -> argparse.ArgumentParser:
    """Add `sandbox` to the harness's sub-commands; dispatch with cmd_sandbox(args)."""
    sb = subparsers.add_parser("sandbox", help="a virtual cluster on this machine: hosts in network namespaces "
                               "with shaped links, for rehearsals and fault injection")
    sb.set_defaults(func=cmd_sandbox)
    sub = sb.add_subparsers(dest="sandbox_command", required=True)

    up = sub.add_parser("up", help="start N sandbox hosts and write an inventory and known_hosts")
    up.add_argument("--hosts", "-n", type=int, required=True, metavar="N", help="number of hosts")
    up.add_argument("--bandwidth", help="link rate per host, each direction, as tc spells it: 100mbit, 1gbit, "
                    "10gbit; 'none' for unshaped (default 1gbit; not with --loopback)")
    up.add_argument("--delay", help="one-way host-to-host delay, e.g. 2ms (needs netem in the kernel)")
    up.add_argument("--loss", help="packet loss, e.g. 0.1%% (needs netem in the kernel)")
    up.add_argument("--python", help="the hosts' Python (default: this interpreter; the hosts share the filesystem)")
    up.add_argument("--out", default="hosts/sandbox.yaml", help="inventory to write (default hosts/sandbox.yaml)")
    up.add_argument("--known-hosts", help="known_hosts file to write (default <sandbox dir>/known_hosts)")
    up.add_argument("--loopback", action="store_true",
                    help="no root: sshd on 127.0.0.1 ports instead of namespaces (no shaping, no faults on links)")
    up.add_argument("--dir", help=_DIR_HELP)
    up.add_argument("--private-dirs", action="store_true",
                    help="each host sees an empty /tmp, /root, /home and none of the control side's checkout or "
                         "cwd (its own mount namespace), like a separate machine")
    up.add_argument("--unresolvable-names", action="store_true",
                    help="leave host names out of the hosts' /etc/hosts (rehearse hosts whose names no DNS knows; "
                         "Horovod's Gloo then fails and `harness check -e` says how to fix it)")

    st = sub.add_parser("status", help="one row per host: address, sshd, qdisc and rate, link, namespace")
    st.add_argument("--dir", help=_DIR_HELP)

    dn = sub.add_parser("down", help="remove every namespace, link, process and file the sandbox made (idempotent)")
    dn.add_argument("--dir", help=_DIR_HELP)

    ft = sub.add_parser("fault", help="inject a fault into one host: "
                        "cut | cut-control | restore | slow RATE | kill-tasks | kill-sshd | cpu CORES | mem SIZE")
    ft.add_argument("host")
    ft.add_argument("fault", choices=["cut", "cut-control", "restore", "slow", "kill-tasks", "kill-sshd", "cpu", "mem"])
    ft.add_argument("rate", nargs="?", help="for slow: the new rate, e.g. 10mbit; for cpu: cores, e.g. 0.5; "
                                           "for mem: a memory limit, e.g. 300M")
    ft.add_argument("--period-ms", help="for cpu: the quota's CFS period in ms (default 10; the kernel's own "
                                        "default is 100, with which a short step after a wait runs at full speed)")
    ft.add_argument("--dir", help=_DIR_HELP)

    rh = sub.add_parser("rehearse", help="one command: sandbox hosts standing in for an example inventory's hosts, "
                        "the experiment on them, its tables printed, the sandbox removed")
    rh.add_argument("--like", required=True, metavar="INVENTORY",
                    help="the inventory to stand in for (e.g. hosts/examples/<study>.yaml): one sandbox host per host, "
                         "with its name, instance type, slots and labels")
    rh.add_argument("--experiment", "-e", required=True, help="experiment YAML (e.g. experiments/studies/rehearsal/…)")
    rh.add_argument("--bandwidth", default=None, help="link rate per host (default 1gbit)")
    rh.add_argument("--runs-dir", default="runs", help="where the run directory is created (default runs/)")
    rh.add_argument("--run-id", help="name of the run directory")
    order = rh.add_mutually_exclusive_group()
    order.add_argument("--parallel", action="store_true", help="run configurations on disjoint hosts at once")
    order.add_argument("--sequential", action="store_true", help="one configuration after another, "
                       "even if the experiment says parallel: true")
    rh.add_argument("--fail-fast", action="store_true", help="with --parallel: a failure stops every configuration")
    rh.add_argument("--dir", help="sandbox directory (default: a fresh one beside the default sandbox directory)")

    ms = sub.add_parser("measure", help="TCP throughput from one sandbox host to another (a few seconds)")
    ms.add_argument("src")
    ms.add_argument("dst")
    ms.add_argument("--seconds", type=float, default=2.0)
    ms.add_argument("--dir", help=_DIR_HELP)
    return sb


def cmd_sandbox(args) -> int:
    from harness import sandbox

    what = args.sandbox_command
    if what == "up":
        bandwidth = args.bandwidth
        if bandwidth is None and not args.loopback:
            bandwidth = sandbox.DEFAULT_BANDWIDTH
        st = sandbox.up(sandbox.UpRequest(hosts=args.hosts, bandwidth=bandwidth, delay=args.delay, loss=args.loss,
                                          python=args.python, out=args.out, known_hosts=args.known_hosts,
                                          loopback=args.loopback, directory=args.dir,
                                          private_dirs=args.private_dirs,
                                          resolve_names=not args.unresolvable_names))
        if st.mode == "netns":
            shaped = f"{sandbox.shaping.format_rate(st.rate_bits)} each direction" if st.rate_bits else "unshaped"
            print(f"sandbox {st.tag}: {len(st.hosts)} hosts on {st.subnet} (bridge {st.bridge}), links {shaped}")
        else:
            print(f"sandbox {st.tag}: {len(st.hosts)} loopback hosts (127.0.0.1 ports; links not shaped)")
        for h in st.hosts:
            print(f"  {h.name:<6} {h.address}:{h.port}  sshd pid {h.sshd_pid}  workdir {h.workdir}")
        if args.private_dirs:
            print("private folders: each host sees an empty " + ", ".join(st.hosts[0].private[0][:6]) + " …")
        if args.unresolvable_names:
            print("host names do not resolve on the hosts (/etc/netns/<namespace>/hosts has only localhost)")
        print(f"inventory:   {st.files[1]}\nknown_hosts: {st.files[0]}")
        print("run an experiment on it:")
        print(f"  {sandbox.run_command(st)}")
        return 0
    if what == "status":
        st, rows = sandbox.status(args.dir)
        print(sandbox.format_status(st, rows))
        return 0 if st.complete and all(r.sshd_alive for r in rows) else 1
    if what == "down":
        removed = sandbox.down(args.dir)
        for r in removed:
            print(f"removed {r}")
        if not removed:
            print("nothing to remove")
        return 0
    if what == "fault":
        print(sandbox.fault(args.dir, args.host, args.fault, args.rate, args.period_ms))
        return 0
    if what == "rehearse":
        from harness.cli.rehearse import rehearse

        return rehearse(args)
    if what == "measure":
        t = sandbox.measure(args.dir, args.src, args.dst, args.seconds)
        print(f"{args.src} -> {args.dst}: {t.bits_per_s / 1e6:.1f} Mbit/s ({t.bytes} bytes in {t.seconds:.2f} s)")
        return 0
    raise AssertionError(what)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="harness")
    register(ap.add_subparsers(dest="command", required=True))
    args = ap.parse_args(["sandbox", *(sys.argv[1:] if argv is None else argv)])
    try:
        return cmd_sandbox(args)
    except HarnessError as e:
        return report_error(e)
    except KeyboardInterrupt:
        print("harness: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
