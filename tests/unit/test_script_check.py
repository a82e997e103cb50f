"""One host's answer to the script import check, turned into blockers (pure part of
harness/preflight/script_check.py)."""

import json

from harness.preflight.script_check import interpret, probe_input


def _answer(failed=None, horovod=None) -> str:
    return "noise a module printed\n" + json.dumps({"python": "/venv/bin/python", "failed": failed or {},
                                                  **({"horovod": horovod} if horovod is not None else {})})


def test_a_missing_module_is_named_with_the_fix():
    (p,) = interpret("train.py", 0, _answer({"requests": "ModuleNotFoundError: No module named 'requests'"}), "",
                     set())
    assert p.startswith("script train.py: `import requests` fails: ModuleNotFoundError") and "/venv/bin/python" in p


def test_horovod_builds_that_lack_what_the_launcher_needs():
    ok = {"tensorflow_built": True, "gloo_built": True, "mpi_built": False}
    assert interpret("t.py", 0, _answer(horovod=ok), "", {"gloo"}) == []
    assert "without MPI" in interpret("t.py", 0, _answer(horovod=ok), "", {"mpi"})[0]
    (p,) = interpret("t.py", 0, _answer(horovod={**ok, "tensorflow_built": False}), "", {"gloo"})
    assert "built without TensorFlow" in p
    (p,) = interpret("t.py", 0, _answer(horovod={"error": "ImportError: libmpi.so.40"}), "", set())
    assert "import horovod.tensorflow` fails: ImportError: libmpi.so.40" in p


def test_no_answer_says_why():
    (p,) = interpret("t.py", 127, "", "sh: 1: /no/python: not found\n", set())
    assert "exit 127" in p and "not found" in p


def test_environment_values_travel_on_stdin_not_the_command_line():
    data = probe_input(["numpy"], {"API_TOKEN": "s3cr3t"}, False).decode()
    assert data.startswith("import json\nARGS = json.loads(") and "s3cr3t" in data.splitlines()[1]
