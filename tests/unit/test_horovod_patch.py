"""harness/preflight/horovod_patch.py: the edits to Horovod's source before the build
(run.sh, `hosts setup --with horovod`). The build itself, and Horovod's Keras callbacks
working with it, are checked by tests/integration/test_script.py's Keras benchmark run."""

import ast
import io
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from packaging.version import Version

from harness.preflight import horovod_patch as hp
from harness.requirements import HOROVOD_VERSION

SCRIPT = Path(hp.__file__)


def _tree(root: Path, version: str = hp.UPSTREAM_VERSION) -> Path:
    """A source tree holding, in each file the patch edits, the text it expects."""
    src = root / f"horovod-{version}"
    for rel, old, _new in hp.EDITS:
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if rel == "horovod/__init__.py":
            old = old.replace(hp.UPSTREAM_VERSION, version)
        path.write_text(f"# before\n{old}# after\n")
    return src


def _snapshot(src: Path) -> dict[str, str]:
    return {str(p.relative_to(src)): p.read_text() for p in sorted(src.rglob("*")) if p.is_file()}


def test_version_is_the_pinned_release_with_a_local_label():
    v = Version(hp.VERSION)
    assert v.public == HOROVOD_VERSION == hp.UPSTREAM_VERSION and v.local == hp.LABEL


def test_every_edit_is_applied_and_the_results_are_python(tmp_path):
    src = _tree(tmp_path)
    hp.apply(src)
    after = _snapshot(src)
    for rel, old, new in hp.EDITS:
        assert new in after[rel] and after[rel].startswith("# before\n") and after[rel].endswith("# after\n")
    keras_files = [rel for rel, old, _ in hp.EDITS if "from keras import backend" in old]
    assert sorted(keras_files) == ["horovod/tensorflow/keras/__init__.py", "horovod/tensorflow/keras/callbacks.py"]
    for rel in keras_files:
        assert "from keras import" not in after[rel] and "K = tf.compat.v1.keras.backend" in after[rel]
        ast.parse(after[rel].replace("# before\n", "import tensorflow as tf\n"))
    method = after["horovod/_keras/callbacks.py"].split("# before\n")[1]
    ast.parse("class C:\n    def f(self):\n" + method + "            pass\n")
    assert f"__version__ = '{hp.VERSION}'" in after["horovod/__init__.py"]


def test_a_patched_tree_or_another_release_is_left_as_it_was(tmp_path):
    src = _tree(tmp_path / "a")
    hp.apply(src)
    patched = _snapshot(src)
    with pytest.raises(hp.PatchError, match="not there once"):
        hp.apply(src)                       # twice: refused, nothing changes
    assert _snapshot(src) == patched
    other = _tree(tmp_path / "b", version="0.28.2")
    before = _snapshot(other)
    with pytest.raises(hp.PatchError, match=r"horovod/__init__\.py.*is this horovod 0\.28\.1"):
        hp.apply(other)                     # the keras files match, the release does not: no file written
    assert _snapshot(other) == before


def _sdist(path: Path, members: dict[str, bytes | None], symlink: str | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        if symlink:
            info = tarfile.TarInfo(symlink)
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)
    return path


def test_unpack_takes_only_plain_files_inside_one_top_folder(tmp_path):
    good = _sdist(tmp_path / "good.tar.gz", {"horovod-0.28.1": None, "horovod-0.28.1/setup.py": b"x = 1\n"})
    assert hp.unpack(good, tmp_path / "out") == tmp_path / "out" / "horovod-0.28.1"
    assert (tmp_path / "out" / "horovod-0.28.1" / "setup.py").read_text() == "x = 1\n"
    for name, members, link in (("up", {"horovod-0.28.1/../../evil": b"x"}, None),
                                ("abs", {"/tmp/evil": b"x"}, None),
                                ("link", {"horovod-0.28.1/a": b"x"}, "horovod-0.28.1/passwd"),
                                ("two", {"a/x": b"x", "b/y": b"y"}, None)):
        bad = _sdist(tmp_path / f"{name}.tar.gz", members, link)
        with pytest.raises(hp.PatchError):
            hp.unpack(bad, tmp_path / f"out-{name}")
        assert not (tmp_path / f"out-{name}").exists()   # refused before anything is written


def test_the_script_runs_alone_on_the_standard_library(tmp_path):
    """It is copied to hosts that have no harness: only standard-library imports, and it
    runs as a file with no harness on sys.path (-I: isolated mode)."""
    tree = ast.parse(SCRIPT.read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported
    run = lambda *a: subprocess.run([sys.executable, "-I", str(SCRIPT), *a], capture_output=True, text=True,
                                    cwd=tmp_path)
    assert run("--version").stdout.strip() == hp.VERSION
    assert run().returncode == 2
    bad = run(str(tmp_path / "missing.tar.gz"), str(tmp_path))
    assert bad.returncode == 1 and bad.stderr.startswith("horovod_patch: ") and len(bad.stderr.splitlines()) == 1
    sdist = tmp_path / "h.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        tar.add(_tree(tmp_path / "t"), arcname=f"horovod-{hp.UPSTREAM_VERSION}")
    ok = run(str(sdist), str(tmp_path / "out"))
    assert ok.returncode == 0, ok.stderr
    assert Path(ok.stdout.strip()) == tmp_path / "out" / f"horovod-{hp.UPSTREAM_VERSION}"
    assert hp.VERSION in (Path(ok.stdout.strip()) / "horovod" / "__init__.py").read_text()


def _wheel(path: Path, names: list[str]) -> Path:
    import zipfile

    with zipfile.ZipFile(path, "w") as z:
        for n in names:
            z.writestr(n, b"")
    return path


def test_check_wheel_wants_this_build_with_its_tensorflow_extension(tmp_path):
    name = f"horovod-{hp.VERSION}-cp311-cp311-linux_x86_64.whl"
    so = "horovod/tensorflow/mpi_lib.cpython-311-x86_64-linux-gnu.so"
    hp.check_wheel(_wheel(tmp_path / name, ["horovod/__init__.py", so]))
    # what Horovod's CMake did with a '+' in the build path before the patch: the library under the absolute path
    (tmp_path / "bad").mkdir()
    with pytest.raises(hp.PatchError, match=r"no horovod/tensorflow/mpi_lib\*\.so.*at root/x\+y/horovod/tensorflow"):
        hp.check_wheel(_wheel(tmp_path / "bad" / name, ["horovod/__init__.py", f"root/x+y/{so}"]))
    unpatched = _wheel(tmp_path / f"horovod-{hp.UPSTREAM_VERSION}-cp311-cp311-linux_x86_64.whl", [so])
    with pytest.raises(hp.PatchError, match="not a horovod"):
        hp.check_wheel(unpatched)
    run = subprocess.run([sys.executable, "-I", str(SCRIPT), "--check-wheel", str(unpatched)], capture_output=True,
                         text=True)
    assert run.returncode == 1 and "not a horovod" in run.stderr
