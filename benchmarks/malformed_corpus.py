"""Malformed inputs, as a new user (or a hostile file) would give them: each case is an
experiment, an inventory and any files they point at, and a fragment of the one error
line `harness run` must print before it exits 2 having written nothing. Used by
tests/unit/test_malformed_inputs.py and benchmarks/malformed_inputs.py (which counts them)."""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

GOOD_EXP = """\
name: t
workload:
  model: mlp
  dataset: {name: digits}
  batch_size: 16
  epochs: 1
configurations:
  - name: a
    strategy: single
    hosts: [local]
"""
GOOD_HOSTS = """\
hosts:
  - {name: local, transport: local, slots: 2, labels: {role: worker}}
"""
# Never reached: every case fails before connecting (port 1 would refuse at once anyway).
SSH_HOST = "  - {name: s1, address: 127.0.0.1, port: 1, user: u, key: id}\n"


@dataclass(frozen=True)
class Case:
    cls: str           # the class of problem (issue 12, item 4, or an older one)
    expect: str        # fragment of the one error line
    exp: str = GOOD_EXP
    hosts: str = GOOD_HOSTS
    files: dict[str, Callable[[Path], None]] = field(default_factory=dict)
    # Some cases are about a path that is not a file: these replace --experiment/--hosts.
    exp_path: str | None = None
    hosts_path: str | None = None


def private_key(p: Path) -> None:
    import paramiko

    paramiko.RSAKey.generate(1024).write_private_key_file(str(p))
    p.chmod(0o600)


def unprotected_key(mode: int) -> Callable[[Path], None]:
    """A private key that group or others can access (OpenSSH refuses it)."""
    def make(p: Path) -> None:
        private_key(p)
        p.chmod(mode)
    return make


def public_key(p: Path) -> None:
    import paramiko

    k = paramiko.RSAKey.generate(1024)
    p.write_text(f"{k.get_name()} {k.get_base64()} me@laptop\n")


def text(content: str | bytes) -> Callable[[Path], None]:
    def make(p: Path) -> None:
        p.parent.mkdir(parents=True, exist_ok=True)
        (p.write_bytes if isinstance(content, bytes) else p.write_text)(content)
    return make


def mkdir(p: Path) -> None:
    p.mkdir(parents=True, exist_ok=True)


def cifar_batch(keys=(b"data", b"labels")) -> Callable[[Path], None]:
    def make(p: Path) -> None:
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "wb") as f:
            pickle.dump({k: [0] for k in keys}, f, protocol=2)
    return make


def image(p: Path) -> None:
    from PIL import Image

    p.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4)).save(p)


def exp(old: str, new: str) -> str:
    assert old in GOOD_EXP, old
    return GOOD_EXP.replace(old, new, 1)


def conf(extra: str) -> str:
    """GOOD_EXP with `extra` (indented YAML lines) added to the configuration."""
    return GOOD_EXP + "".join(f"    {line}\n" for line in extra.splitlines())


def work(extra: str) -> str:
    """GOOD_EXP with `extra` added to the workload."""
    return exp("  epochs: 1\n", "  epochs: 1\n" + "".join(f"  {line}\n" for line in extra.splitlines()))


def host(fields: str) -> str:
    return GOOD_HOSTS + f"  - {{{fields}}}\n"


def dataset(spec: str) -> str:
    return exp("dataset: {name: digits}", f"dataset: {spec}")


def bomb(levels: int = 7) -> str:
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


HUGE = "x" * 20_000
KP = "Image,left_eye_center_x\n1 2 3,4\n"  # a CSV, but not the keypoints one

CASES: dict[str, Case] = {
    # --- files and YAML structure ---
    "yaml syntax in experiment": Case("yaml", "YAML syntax error", exp=exp("batch_size: 16", "batch_size: [16")),
    "yaml syntax in inventory": Case("yaml", "YAML syntax error", hosts=GOOD_HOSTS + "  - {name: x\n"),
    "tab indentation": Case("yaml", "YAML syntax error", exp=exp("  batch_size: 16", "\tbatch_size: 16")),
    "empty experiment": Case("yaml", "file is empty", exp=""),
    "empty inventory": Case("yaml", "file is empty", hosts=""),
    "experiment is a list": Case("yaml", "top level must be a mapping", exp="- a\n- b\n"),
    "inventory is a scalar": Case("yaml", "top level must be a mapping", hosts="just words\n"),
    "experiment not utf-8": Case("yaml", "bin.yaml:1:1: not UTF-8 text: byte 0xff at offset 0", exp_path="bin.yaml",
                                 files={"bin.yaml": text(b"\xff\xfe\x00name")}),
    "inventory latin-1 on line 3": Case("yaml", "latin1.yaml:3:15: not UTF-8 text: byte 0xe9 at offset 91", hosts_path="latin1.yaml",
                                        files={"latin1.yaml": text((GOOD_HOSTS + "  - {name: caf\xe9, transport: local}\n").encode("latin-1"))}),
    "experiment too large": Case("yaml", "more than a configuration file can be", exp=GOOD_EXP + "#" * (2 << 20) + "\n"),
    "experiment is a directory": Case("yaml", "is a directory", exp_path="d", files={"d": mkdir}),
    "experiment missing": Case("yaml", "file not found", exp_path="nope.yaml"),
    "inventory missing": Case("yaml", "file not found", hosts_path="nope.yaml"),
    "nested too deep": Case("yaml", "levels deep", exp=GOOD_EXP + "deep: " + "[" * 80 + "]" * 80 + "\n"),
    # --- duplicate keys ---
    "duplicate top-level key": Case("duplicate", "duplicate key 'name' (first at line 1)", exp=GOOD_EXP + "name: u\n"),
    "duplicate workload key": Case("duplicate", ":7:3: duplicate key 'batch_size'", exp=work("batch_size: 32")),
    "duplicate key in flow mapping": Case("duplicate", "duplicate key 'name'",
                                          exp=dataset("{name: digits, name: cifar10}")),
    "duplicate host key": Case("duplicate", "duplicate key 'slots'", hosts=host("name: h2, transport: local, slots: 1, slots: 4")),
    "duplicate label": Case("duplicate", "duplicate key 'zone'", hosts=host("name: h2, transport: local, labels: {zone: a, zone: b}")),
    "duplicate defaults key": Case("duplicate", "duplicate key 'user'", hosts="defaults:\n  user: a\n  user: b\n" + GOOD_HOSTS),
    # --- alias bombs and huge sweeps ---
    "alias bomb in experiment": Case("expansion", "exp.yaml:15:5: anchor &l4 expands to more than 100000 values", exp=GOOD_EXP + bomb()),
    "alias bomb in inventory": Case("expansion", "hosts.yaml:7:5: anchor &l4 expands to more than 100000 values", hosts=GOOD_HOSTS + bomb()),
    "many aliases of one anchor": Case("expansion", "exp.yaml:11:6: the YAML expands to more than 100000 values once its aliases "
                                       "(*name) are expanded, 110000 of them from the 10000 aliases of anchor &ten",
                                       exp=GOOD_EXP + "ten: &ten [x, x, x, x, x, x, x, x, x, x]\nmany: [" + ", ".join(["*ten"] * 10_000) + "]\n"),
    "sweep of lists": Case("expansion", "threads.intra_op[1]: a sweep lists single values", exp=conf("threads: {intra_op: [1, [2, 3]]}")),
    "sweep of mappings": Case("expansion", "threads.omp[0]: a sweep lists single values", exp=conf("threads: {omp: [{a: 1}]}")),
    "sweep with null": Case("expansion", "threads.inter_op[1]: a sweep lists single values", exp=conf("threads: {inter_op: [2, null]}")),
    "sweep product too large": Case("expansion", "the sweeps expand to 400 configurations",
                                    exp=conf("threads: {intra_op: [" + ", ".join(map(str, range(1, 21))) + "], "
                                             "inter_op: [" + ", ".join(map(str, range(2, 22))) + "]}")),
    "sweep of aliased lists": Case("expansion", "the sweeps expand to",
                                   exp=GOOD_EXP.replace("configurations:\n", "v: &v [" + ", ".join(map(str, range(1, 65))) + "]\nconfigurations:\n")
                                   + "    threads: {intra_op: *v, inter_op: *v}\n"),
    "too many configurations written": Case("expansion", "configurations: List should have at most 256 items",
                                            exp=GOOD_EXP + "".join(f"  - {{name: c{i}, hosts: [local]}}\n" for i in range(300))),
    "empty sweep": Case("expansion", "an empty list sweeps nothing", exp=conf("threads: {intra_op: []}")),
    # --- upper bounds ---
    "intra_op threads": Case("bounds", "threads.intra_op: Input should be less than or equal to 1024", exp=conf("threads: {intra_op: 100000}")),
    "inter_op threads": Case("bounds", "threads.inter_op: Input should be less than or equal to 1024", exp=conf("threads: {inter_op: 5000}")),
    "omp threads": Case("bounds", "threads.omp: Input should be less than or equal to 1024", exp=conf("threads: {omp: 99999}")),
    "kmp blocktime": Case("bounds", "threads.kmp_blocktime: Input should be less than or equal to", exp=conf("threads: {kmp_blocktime: 99999999999}")),
    "batch size": Case("bounds", "workload.batch_size: Input should be less than or equal to 65536", exp=exp("batch_size: 16", "batch_size: 1000000000")),
    "epochs": Case("bounds", "workload.epochs: Input should be less than or equal to 100000", exp=exp("epochs: 1", "epochs: 1000000000")),
    "steps per epoch": Case("bounds", "workload.steps_per_epoch: Input should be less than or equal to", exp=work("steps_per_epoch: 1000000000000")),
    "warmup steps": Case("bounds", "workload.warmup_steps: Input should be less than or equal to", exp=work("warmup_steps: 100000000000")),
    "learning rate": Case("bounds", "workload.learning_rate: Input should be less than or equal to 100", exp=work("learning_rate: 1e9")),
    "negative seed": Case("bounds", "workload.seed: Input should be greater than or equal to 0", exp=work("seed: -1")),
    "seed beyond numpy": Case("bounds", "workload.seed: Input should be less than or equal to 4294967295", exp=work("seed: 1099511627776")),
    "workers": Case("bounds", "workers: Input should be less than or equal to 1024",
                    exp=exp("strategy: single", "strategy: horovod\n    workers: 100000")),
    "ps tasks": Case("bounds", "ps: Input should be less than or equal to 256",
                     exp=exp("strategy: single", "strategy: parameter_server\n    ps: 10000\n    workers: 2")),
    "slots": Case("bounds", "hosts[0].slots: Input should be less than or equal to 1024", hosts=GOOD_HOSTS.replace("slots: 2", "slots: 1000000")),
    "gpus": Case("bounds", "hosts[0].gpus: Input should be less than or equal to 64", hosts=GOOD_HOSTS.replace("slots: 2", "slots: 2, gpus: 4096")),
    "synthetic dims": Case("bounds", "workload.dataset.shape: each dimension must be at most 4096",
                           exp=dataset("{name: synthetic, shape: [100000, 100000, 3]}")),
    "synthetic elements": Case("bounds", "values per example; at most", exp=dataset("{name: synthetic, shape: [4096, 4096, 3]}")),
    "synthetic rank": Case("bounds", "workload.dataset.shape: List should have at most 4 items",
                           exp=dataset("{name: synthetic, shape: [2, 2, 2, 2, 2, 2]}")),
    "synthetic samples": Case("bounds", "workload.dataset.samples: Input should be less than or equal to",
                              exp=dataset("{name: synthetic, shape: [8], samples: 1000000000000}")),
    "synthetic classes": Case("bounds", "workload.dataset.classes: Input should be less than or equal to",
                              exp=dataset("{name: synthetic, shape: [8], classes: 1000000000}")),
    "image size": Case("bounds", "workload.dataset.image_size: each dimension must be at most 4096",
                       exp=dataset("{name: image_folder, path: imgs, image_size: [100000, 8]}"),
                       files={"imgs/a/1.png": image, "imgs/b/1.png": image}),
    "time limit": Case("bounds", "time_limit_s: Input should be less than or equal to 604800", exp=GOOD_EXP + "time_limit_s: 1e12\n"),
    "price per hour": Case("bounds", "hosts[0].price_per_hour: Input should be less than or equal to 10000",
                           hosts=GOOD_HOSTS.replace("slots: 2", "slots: 2, price_per_hour: 1e9")),
    "dataset path length": Case("bounds", "workload.dataset.path: String should have at most 4096 characters",
                                exp=dataset("{name: cifar10, path: " + "d/" * 3000 + "}")),
    "host name length": Case("bounds", "hosts[1].name: String should have at most 128 characters",
                             hosts=host("name: " + "h" * 300 + ", transport: local")),
    "workdir length": Case("bounds", "hosts[0].workdir: String should have at most 4096 characters",
                           hosts=GOOD_HOSTS.replace("slots: 2", "slots: 2, workdir: /" + "w" * 5000)),
    "label value length": Case("bounds", "labels.role: String should have at most 256 characters",
                               hosts=GOOD_HOSTS.replace("role: worker", "role: " + "w" * 1000)),
    "too many labels": Case("bounds", "hosts[0].labels: Dictionary should have at most 64 items",
                            hosts=GOOD_HOSTS.replace("{role: worker}", "{" + ", ".join(f"k{i}: v" for i in range(100)) + "}")),
    "too many script args": Case("bounds", "workload.args: List should have at most 256 items",
                                 exp=exp("  model: mlp\n", "  script: train.py\n  args: [" + ", ".join(["-v"] * 300) + "]\n"),
                                 files={"train.py": text("print(1)\n")}),
    "metric regex length": Case("bounds", "String should have at most 1000 characters",
                                exp=exp("  model: mlp\n", "  script: train.py\n  metrics: {loss: 'loss=(" + "x" * 3000 + ")'}\n"),
                                files={"train.py": text("print(1)\n")}),
    "description length": Case("bounds", "description: String should have at most 10000 characters", exp=GOOD_EXP + "description: " + "d" * 20000 + "\n"),
    "interface name": Case("bounds", "network_interface: String should have at most 15 characters",
                           exp=exp("strategy: single", "strategy: horovod\n    network_interface: " + "e" * 40)),
    "too many hosts": Case("bounds", "hosts: List should have at most 1024 items",
                           hosts=GOOD_HOSTS + "".join(f"  - {{name: h{i}, transport: local}}\n" for i in range(1100))),
    # --- huge values are cut in the message, the field kept ---
    "huge batch size text": Case("clip", "workload.batch_size: Input should be a valid integer", exp=exp("batch_size: 16", f"batch_size: {HUGE}")),
    "huge strategy name": Case("clip", "configurations[0].strategy: unknown strategy", exp=exp("strategy: single", f"strategy: {HUGE}")),
    "huge model name": Case("clip", "workload.model: unknown model", exp=exp("model: mlp", f"model: {HUGE}")),
    "huge unknown key": Case("clip", "unknown key", exp=GOOD_EXP + f"{'k' * 1000}: 1\n"),
    "huge duplicate key": Case("clip", "duplicate key", exp=GOOD_EXP + f"{'k' * 1000}: 1\n{'k' * 1000}: 2\n"),
    "huge dataset name": Case("clip", "workload.dataset.name: Input should be", exp=dataset("{name: " + HUGE + "}")),
    # --- key files ---
    "key file missing": Case("key", "hosts[1].key: file", hosts=GOOD_HOSTS + SSH_HOST),
    "key is the .pub file": Case("key", "is a public key; give the private half", hosts=GOOD_HOSTS + SSH_HOST.replace("key: id", "key: id.pub"),
                                 files={"id.pub": public_key}),
    "key is public text": Case("key", "is a public key", hosts=GOOD_HOSTS + SSH_HOST, files={"id": public_key}),
    "key is a directory": Case("key", "is not a regular file", hosts=GOOD_HOSTS + SSH_HOST, files={"id": mkdir}),
    "key is garbage": Case("key", "is not a private key paramiko can read", hosts=GOOD_HOSTS + SSH_HOST, files={"id": text("hello\n")}),
    "key is empty": Case("key", "is not a private key paramiko can read", hosts=GOOD_HOSTS + SSH_HOST, files={"id": text("")}),
    "key is huge": Case("key", "too large to be a private key", hosts=GOOD_HOSTS + SSH_HOST, files={"id": text("k" * 200_000)}),
    "key readable by others": Case("key", "hosts[1].key: ", hosts=GOOD_HOSTS + SSH_HOST, files={"id": unprotected_key(0o644)}),
    "key readable by group": Case("key", "(mode 0640); OpenSSH refuses such a key as unprotected: chmod 600 ",
                                  hosts=GOOD_HOSTS + SSH_HOST, files={"id": unprotected_key(0o640)}),
    "defaults key writable by group": Case("key", "defaults.key: ", files={"id": unprotected_key(0o620)},
                                           hosts="defaults: {key: id}\n" + GOOD_HOSTS + "  - {name: s1, address: 127.0.0.1, port: 1}\n"),
    "defaults key missing": Case("key", "defaults.key: file", hosts="defaults: {key: nokey}\n" + GOOD_HOSTS +
                                 "  - {name: s1, address: 127.0.0.1, port: 1}\n"),
    # --- control characters ---
    "newline in host name": Case("control", "hosts[1].name: contains a control character", hosts=host('name: "a\\nb", transport: local')),
    "ESC in host name": Case("control", "hosts[1].name: contains a control character", hosts=host('name: "a\\e[2Jb", transport: local')),
    "CR in host name": Case("control", "hosts[1].name: contains a control character", hosts=host('name: "a\\rb", transport: local')),
    "C1 CSI in host name": Case("control", "hosts[1].name: contains a control character", hosts=host('name: "a\\x9bb", transport: local')),
    "newline in label value": Case("control", "labels.role: contains a control character", hosts=GOOD_HOSTS.replace("role: worker", 'role: "w\\nconfig a done"')),
    "ESC in label key": Case("control", "contains a control character", hosts=GOOD_HOSTS.replace("role: worker", '"r\\e[1m": worker')),
    "newline in configuration name": Case("control", "configurations[0].name: String should match pattern",
                                          exp=exp("- name: a", '- name: "a\\nb"')),
    "ESC in experiment name": Case("control", "name: String should match pattern", exp=exp("name: t", 'name: "t\\e[31m"')),
    "newline in address": Case("control", "hosts[1].address: contains a control character", hosts=host('name: s, address: "1.2.3.4\\nx"')),
    "newline in user": Case("control", "hosts[1].user: contains a control character", hosts=host('name: s, address: h, user: "u\\n"')),
    "newline in selector": Case("control", "configurations[0].hosts[0]: contains a control character",
                                exp=exp("hosts: [local]", 'hosts: ["local\\n"]')),
    "newline in workdir": Case("control", "hosts[0].workdir: contains a control character",
                               hosts=GOOD_HOSTS.replace("slots: 2", 'slots: 2, workdir: "/tmp/a\\nb"')),
    "tab in python": Case("control", "hosts[0].python: contains a control character",
                          hosts=GOOD_HOSTS.replace("slots: 2", 'slots: 2, python: "py\\tthon"')),
    # --- planner errors name the experiment file ---
    "ps_hosts match none": Case("planner", "ps_hosts",
                                exp=exp("strategy: single\n    hosts: [local]",
                                        "strategy: parameter_server\n    ps: 1\n    workers: 1\n    hosts: [local, h2]\n    ps_hosts: [role=ps]"),
                                hosts=host("name: h2, transport: local")),
    "every host is a ps host": Case("planner", "every host matches ps_hosts",
                                    exp=exp("strategy: single\n    hosts: [local]",
                                            "strategy: parameter_server\n    ps: 1\n    workers: 1\n    hosts: [local]\n    ps_hosts: [local]")),
    "workers beyond slots": Case("planner", "configurations[0].workers: 3 workers need 3 slots",
                                 exp=exp("strategy: single", "strategy: horovod\n    workers: 3")),
    "selector matches no host": Case("planner", "configurations[0].hosts: 'gpu9' matches no host", exp=exp("hosts: [local]", "hosts: [gpu9]")),
    "mpi hosts differ in ssh user": Case("planner", "launcher 'mpi' passes one ssh port and user",
                                         exp=exp("strategy: single\n    hosts: [local]",
                                                 "strategy: horovod\n    launcher: mpi\n    workers: 3\n    hosts: [a, b, c]"),
                                         hosts="hosts:\n  - {name: a, address: 127.0.0.1, port: 1, user: x}\n"
                                               "  - {name: b, address: 127.0.0.1, port: 1, user: x}\n"
                                               "  - {name: c, address: 127.0.0.1, port: 1, user: y}\n"),
    # --- dataset format, checked on this machine before anything starts ---
    "cifar10 folder without batches": Case("dataset", "has no data_batch_1", exp=dataset("{name: cifar10, path: data}"),
                                           files={"data/readme.txt": text("hi")}),
    "cifar10 batch not a pickle": Case("dataset", "data_batch_1 is not a Python pickle", exp=dataset("{name: cifar10, path: data}"),
                                       files={"data/data_batch_1": text("not a pickle")}),
    "cifar10 pickle without data": Case("dataset", "has no 'data' and 'labels' entries", exp=dataset("{name: cifar10, path: data}"),
                                        files={"data/data_batch_1": cifar_batch(keys=(b"other",))}),
    "cifar10 path is a file": Case("dataset", "is not a directory", exp=dataset("{name: cifar10, path: data}"),
                                   files={"data": text("x")}),
    "keypoints csv without columns": Case("dataset", "the CSV header lacks column(s) left_eye_center_y",
                                          exp=dataset("{name: facial_keypoints, path: t.csv}"), files={"t.csv": text(KP)}),
    "keypoints csv empty": Case("dataset", "is empty", exp=dataset("{name: facial_keypoints, path: t.csv}"), files={"t.csv": text("")}),
    "keypoints folder without training.csv": Case("dataset", "holds no training.csv",
                                                  exp=dataset("{name: facial_keypoints, path: kp}"), files={"kp/x.csv": text(KP)}),
    "keypoints csv not text": Case("dataset", "cannot be read as UTF-8 text", exp=dataset("{name: facial_keypoints, path: t.csv}"),
                                   files={"t.csv": text(b"\xff\xfe\xfa")}),
    "image folder with one class": Case("dataset", "has 1 class folder(s), need at least 2",
                                        exp=dataset("{name: image_folder, path: imgs, image_size: [8, 8]}"), files={"imgs/a/1.png": image}),
    "image folder with an empty class": Case("dataset", "class folder 'b' has no images",
                                             exp=dataset("{name: image_folder, path: imgs, image_size: [8, 8]}"),
                                             files={"imgs/a/1.png": image, "imgs/b/notes.txt": text("x")}),
    "image folder empty": Case("dataset", "has 0 class folder(s)",
                               exp=dataset("{name: image_folder, path: imgs, image_size: [8, 8]}"), files={"imgs": mkdir}),
    # --- the classes the harness already refused (kept in the corpus) ---
    "unknown key": Case("schema", "workload.bach_size: unknown key", exp=work("bach_size: 3")),
    "wrong type": Case("schema", "workload.batch_size: Input should be a valid integer", exp=exp("batch_size: 16", "batch_size: lots")),
    "negative batch": Case("schema", "workload.batch_size: Input should be greater than or equal to 1", exp=exp("batch_size: 16", "batch_size: -1")),
    "unknown model": Case("schema", "workload.model: unknown model", exp=exp("model: mlp", "model: vgg99")),
    "unknown dataset": Case("schema", "workload.dataset.name: Input should be", exp=dataset("{name: imagenet}")),
    "file dataset without path": Case("schema", "dataset 'cifar10' needs 'path'", exp=dataset("{name: cifar10}")),
    "missing dataset path": Case("schema", "workload.dataset.path: ", exp=dataset("{name: cifar10, path: nowhere}")),
    "missing script": Case("schema", "workload.script: ", exp=exp("  model: mlp\n", "  script: nowhere.py\n")),
    "unknown strategy": Case("schema", "configurations[0].strategy: unknown strategy", exp=exp("strategy: single", "strategy: magic")),
    "single with workers": Case("schema", "strategy 'single' runs exactly one worker", exp=conf("workers: 2")),
    "duplicate configurations": Case("schema", "configuration names must be unique", exp=GOOD_EXP + "  - {name: a}\n"),
    "target out of range": Case("schema", "workload.target_accuracy: Input should be less than or equal to 1", exp=work("target_accuracy: 1.5")),
    "ssh host without address": Case("schema", "an ssh host needs 'address'", hosts=host("name: s")),
    "duplicate host names": Case("schema", "host name 'local' appears more than once", hosts=host("name: local, transport: local")),
    "bad port": Case("schema", "hosts[1].port: Input should be less than or equal to 65535", hosts=host("name: s, address: h, port: 70000")),
    "slash in host name": Case("schema", "hosts[1].name: host name must not", hosts=host("name: a/b, transport: local")),
    "reserved env name": Case("schema", "TF_CONFIG", exp=work("env: {TF_CONFIG: x}")),
}


def materialize(case: Case, d: Path) -> tuple[str, str]:
    """Write the case's files under `d`; return the experiment and inventory paths."""
    for rel, make in case.files.items():
        p = d / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        make(p)
    e, h = d / "exp.yaml", d / "hosts.yaml"
    e.write_text(case.exp)
    h.write_text(case.hosts)
    return str(d / case.exp_path) if case.exp_path else str(e), str(d / case.hosts_path) if case.hosts_path else str(h)
