"""`harness check -e` imports what a user's script imports, on every host, with the task's
environment, and never runs the script (tests/unit/test_script_imports.py for the parsing)."""

import pytest
import yaml

from harness.cli import main
from tests.support.sshd_hosts import inventory_dict, write_known_hosts


def _experiment(tmp_path, script_text: str, configurations=({"name": "c"},)) -> str:
    script = tmp_path / "proj" / "train.py"
    script.parent.mkdir()
    script.write_text(script_text)
    exp = {"name": "scr", "workload": {"script": str(script), "env": {"MY_SETTING": "on"}},
           "configurations": list(configurations)}
    (tmp_path / "e.yaml").write_text(yaml.safe_dump(exp))
    return str(tmp_path / "e.yaml")


MISSING = ("import os\nimport numpy\nimport no_such_module_for_the_check\n"
           "open(os.environ.get('MARKER', '/tmp/never'), 'w').write('ran')\n")


def test_a_module_the_host_lacks_is_named_and_the_script_never_runs(tmp_path, capsys, monkeypatch):
    marker = tmp_path / "script-ran"
    monkeypatch.setenv("MARKER", str(marker))
    (tmp_path / "h.yaml").write_text("hosts:\n  - {name: here, transport: local}\n")
    rc = main(["check", "--hosts", str(tmp_path / "h.yaml"), "-e", _experiment(tmp_path, MISSING)])
    out = capsys.readouterr()
    assert rc == 1 and "1 of 1 host(s) not ready: here" in out.err
    line = next(x for x in out.out.splitlines() if x.startswith("here: script"))
    assert "`import no_such_module_for_the_check` fails: ModuleNotFoundError" in line
    assert "numpy" not in line and not marker.exists()


def test_on_ssh_hosts_each_host_is_named(sshd_hosts, tmp_path, capsys):
    import sys

    inv = inventory_dict(sshd_hosts[:2], python=sys.executable)
    (tmp_path / "h.yaml").write_text(yaml.safe_dump(inv))
    kh = write_known_hosts(sshd_hosts[:2], tmp_path / "kh")
    rc = main(["check", "--hosts", str(tmp_path / "h.yaml"), "--known-hosts", str(kh), "-e",
               _experiment(tmp_path, MISSING, [{"name": "a", "hosts": ["h0"]}, {"name": "b", "hosts": ["h1"]}])])
    out = capsys.readouterr()
    bad = sorted(x.split(":")[0] for x in out.out.splitlines()
                 if x.split(":")[0] in ("h0", "h1") and "no_such_module_for_the_check" in x)
    assert rc == 1 and bad == sorted(h.name for h in sshd_hosts[:2])


def test_the_probe_imports_with_the_tasks_environment(tmp_path):
    import subprocess
    import sys

    from harness.preflight.script_check import interpret, probe_input

    (tmp_path / "needs_setting.py").write_text(
        "import os\nif os.environ.get('MY_SETTING') != 'on':\n    raise ImportError('MY_SETTING is not on')\n")

    def probe(env):
        r = subprocess.run([sys.executable, "-"], input=probe_input(["needs_setting", "json"], env, False),
                           capture_output=True, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path)}, timeout=60)
        return interpret("t.py", r.returncode, r.stdout.decode(), r.stderr.decode(), set())

    assert probe({"MY_SETTING": "on"}) == []
    (p,) = probe({"MY_SETTING": "off"})
    assert "`import needs_setting` fails: ImportError: MY_SETTING is not on" in p


@pytest.mark.horovod
def test_a_horovod_script_passes_where_horovod_has_tensorflow_and_gloo(tmp_path, capsys):
    (tmp_path / "h.yaml").write_text("hosts:\n  - {name: here, transport: local, slots: 2}\n")
    exp = _experiment(tmp_path, "import horovod.tensorflow.keras as hvd\nhvd.init()\n",
                      [{"name": "hvd", "strategy": "horovod", "workers": 2, "launcher": "gloo"}])
    rc = main(["check", "--hosts", str(tmp_path / "h.yaml"), "-e", exp])
    out = capsys.readouterr()
    assert not [x for x in out.out.splitlines() if x.startswith("here: ")], out.out
    assert rc == 0, out.err
