"""Pre-flight check: the probe for real on this machine, and the pure interpretation."""

import json

from harness.preflight.check import HostCheck, cross_host_problems, interpret, probe_hosts
from harness.config.inventory import Host
from harness.transport import LocalTransport


def answer(**over):
    facts = {"time": 1000.0, "hostname": "h", "python": "3.11.7", "cpus": 4, "memory_bytes": 8 * 1024**3,
             "gpus": [], "workdir": "/tmp/harness", "free_disk_bytes": 50 * 1024**3, "ports": {},
             "packages": {"tensorflow": "2.17.1", "tf-keras": "2.17.0", "horovod": None}}
    facts.update(over)
    return json.dumps(facts)


def test_probe_runs_for_real_with_this_python():
    host = Host(name="local", transport="local")
    checks = probe_hosts([host], {"local": LocalTransport()}, {"local": [1]})
    c = checks["local"]
    assert c.ok_connect and c.facts["cpus"] >= 1 and c.facts["python"]
    assert c.facts["packages"]["tf-keras"] == "2.17.0"
    assert abs(c.clock_offset_s) < 1.0
    assert c.facts["ports"] == {"1": False} or c.facts["ports"] == {"1": True}  # root may bind port 1


def test_clock_offset_is_midpoint_and_skew_warns():
    c = interpret("h", 0, answer(time=1010.0), "", 1000.0, 1000.2)
    assert abs(c.clock_offset_s - 9.9) < 1e-9 and abs(c.clock_uncertainty_s - 0.1) < 1e-9
    assert any("clock is +9.90 s off" in w for w in c.warnings) and not c.blockers


def test_blockers():
    c = interpret("h", 0, answer(time=1000.1, packages={"tensorflow": None, "tf-keras": None},
                                 free_disk_bytes=10, ports={"29500": False}), "", 1000.0, 1000.2)
    text = " | ".join(c.blockers)
    assert "TensorFlow is not installed" in text and "tf-keras" in text and "GiB free" in text
    assert "ports in use: 29500" in text
    bad = interpret("h", 127, "", "sh: 1: python9: not found\n", 0, 1)
    assert bad.blockers == ["probe failed with exit 127: sh: 1: python9: not found (is the inventory's python right?)"]


def test_versions_that_differ_block_distributed_runs_only():
    def two():
        return {"a": interpret("a", 0, answer(time=1000.1), "", 1000, 1000.2),
                "b": interpret("b", 0, answer(time=1000.1, packages={"tensorflow": "2.16.1", "tf-keras": "2.17.0"}),
                               "", 1000, 1000.2)}
    single = two()
    cross_host_problems(single, {"single"})
    assert not single["a"].blockers and "tensorflow versions differ" in single["a"].warnings[0]
    dist = two()
    cross_host_problems(dist, {"single", "horovod"})
    assert any("tensorflow versions differ" in b for b in dist["b"].blockers)
    assert any("horovod is not installed" in b for b in dist["a"].blockers)


def test_a_horovod_build_without_the_tf_keras_patch_warns():
    from harness.preflight.horovod_patch import VERSION

    checks = {h: interpret(h, 0, answer(time=1000.1, packages={"tensorflow": "2.17.1", "tf-keras": "2.17.0",
                                                               "horovod": v}), "", 1000, 1000.2)
              for h, v in (("a", "0.28.1"), ("b", VERSION))}
    cross_host_problems(checks, {"horovod"})
    assert any("horovod 0.28.1 is not the build" in w and VERSION in w for w in checks["a"].warnings)
    assert not any("not the build" in w for w in checks["b"].warnings)
    assert any("horovod versions differ" in b for b in checks["a"].blockers)


def test_check_command_exit_codes(tmp_path, capsys):
    from harness.cli import main

    (tmp_path / "h.yaml").write_text("hosts:\n  - {name: local, transport: local}\n"
                                     "  - {name: broken, transport: local, python: /no/such/python}\n")
    rc = main(["check", "--hosts", str(tmp_path / "h.yaml")])
    out = capsys.readouterr()
    assert rc == 1 and "1 of 2 host(s) not ready: broken" in out.err
    assert "probe failed with exit 127" in out.out


def test_unreachable_hosts_exit_4_for_check_and_run(tmp_path, capsys):
    from harness.cli import main

    # Port 1 on loopback: nothing listens, the connection is refused at once.
    (tmp_path / "h.yaml").write_text("hosts:\n  - {name: gone, address: 127.0.0.1, port: 1, python: python3}\n")
    (tmp_path / "e.yaml").write_text("name: e\nworkload: {model: mlp, dataset: {name: digits}, batch_size: 8, "
                                     "epochs: 1}\nconfigurations: [{name: c}]\n")
    assert main(["check", "--hosts", str(tmp_path / "h.yaml")]) == 4
    assert "1 of 1 host(s) unreachable: gone" in capsys.readouterr().err
    assert main(["run", "-e", str(tmp_path / "e.yaml"), "--hosts", str(tmp_path / "h.yaml"),
                 "--runs-dir", str(tmp_path / "runs")]) == 4
    err = capsys.readouterr().err
    assert "host gone" in err and "nothing was started" in err and not (tmp_path / "runs").exists()
