"""PURE: the shell commands that start, signal and sweep a task on a host, and the parser
of their answers: the contract between whoever supervises a task (the control side over
SSH, harness/stages/launch.py, or the host's own keeper, harness/worker/keeper.py) and the
task's shell (its pid file, exit_code file and lease watchdog). Every value that reaches a
shell goes through shlex.quote here."""

from __future__ import annotations

import shlex

from harness.protocol import constants, layout

q = shlex.quote

LEASE_S = constants.LEASE_S


def start_command(task_dir: str, argv: list[str], lease_s: float = LEASE_S) -> str:
    """Start `argv` detached in its own session (so one signal reaches its whole process
    tree), with output to files in task_dir, and print its pid (= its session id).

    The inner shell records the exit code when the process ends; a process killed with
    its shell leaves no exit_code, which the supervisor reports as 'lost'. A watchdog in
    the same session kills it when the supervisor has not renewed the `lease` file for
    `lease_s` seconds: a host cut off from the control side does not keep training."""
    lease = int(max(lease_s, 1))
    period = max(1, min(5, lease // 3))
    pid, code, lease_file = layout.PID_FILE, layout.EXIT_CODE_FILE, layout.LEASE_FILE
    watchdog = (
        f"( while sleep {period}; do [ -f {code} ] && exit 0; "
        f"age=$(( $(date +%s) - $(stat -c %Y {lease_file} 2>/dev/null || echo 0) )); "
        f"if [ \"$age\" -gt {lease} ]; then echo \"no lease renewal for $age s\" > {layout.LEASE_EXPIRED_FILE}; "
        "kill -KILL -$$; fi; done ) & "
    )
    inner = (
        f"echo $$ > {pid}.tmp && mv {pid}.tmp {pid}; touch {lease_file}; "
        f"{watchdog}. ./{layout.ENV_FILE}; "
        f"{' '.join(q(a) for a in argv)}; "
        f"echo $? > {code}.tmp && mv {code}.tmp {code}"
    )
    return (
        f"cd {q(task_dir)} && rm -f {pid} {code} && "
        f"(setsid /bin/sh -c {q(inner)} > {layout.STDOUT_FILE} 2> {layout.STDERR_FILE} < /dev/null &) && "
        f"i=0; while [ ! -s {pid} ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; cat {pid}"
    )


def signal_command(pids: list[int], signal: str) -> str:
    """Signal each task's whole session/process group (the pid is the group leader)."""
    if signal not in ("TERM", "KILL", "INT"):
        raise ValueError(signal)
    return "; ".join(f"kill -{signal} -{int(p)} 2>/dev/null" for p in pids) + "; true" if pids else "true"


def leftovers_command(run_id: str, pids: list[int], config: str | None = None, keep_warm: bool = True) -> str:
    """Pids of processes that still belong to the run: in a task's session, or carrying the
    run's id in their environment (catches children that left the session). With `config`,
    only that configuration's (HARNESS_CONFIG): configurations running in parallel on hosts
    of one machine (a sandbox shares one process table) must not sweep each other's tasks.
    `keep_warm`: leave the run's warm zygotes, which serve its later configuration runs
    (the run stops them at its end: harness/stages/warm_launch.py)."""
    sessions = " ".join(str(int(p)) for p in pids)
    marker = q(f"HARNESS_RUN_ID={run_id}")
    env_scan = f"grep -l -a -F -x -z {marker} /proc/[0-9]*/environ 2>/dev/null"
    if config is not None:
        env_scan += f" | xargs -r grep -l -a -F -x -z {q('HARNESS_CONFIG=' + config)} 2>/dev/null"
    if keep_warm:
        env_scan += f" | xargs -r grep -L -a -F -x -z {q(constants.WARM_ZYGOTE_ENV + '=1')} 2>/dev/null"
    return (
        f"for s in {sessions}; do ps -e -o pid=,sid=,stat= | awk -v s=$s '$2 == s && $3 !~ /^Z/ {{print $1}}'; done; "
        f"{env_scan} | cut -d/ -f3; true"
    ) if sessions else f"{env_scan} | cut -d/ -f3; true"


def parse_pids(output: str, exclude: set[int] | None = None) -> list[int]:
    pids = sorted({int(t) for t in output.split() if t.isdigit()})
    return [p for p in pids if p not in (exclude or set())]
