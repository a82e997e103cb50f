"""The user's script bundle: what travels, the size limit, the ignore list, the digest."""

import io
import tarfile

import pytest

from harness.config.script_bundle import ScriptFilesError, build_script_bundle, script_files


def _tree(tmp_path):
    d = tmp_path / "proj"
    (d / "lib").mkdir(parents=True)
    (d / ".git").mkdir()
    (d / "__pycache__").mkdir()
    (d / "train.py").write_text("import lib.util\n")
    (d / "lib" / "util.py").write_text("X = 1\n")
    (d / "notes.txt").write_text("n\n")
    (d / ".git" / "HEAD").write_text("ref\n")
    (d / "__pycache__" / "train.cpython-311.pyc").write_bytes(b"\0")
    return d


def test_default_ships_the_scripts_folder_without_ignored_names(tmp_path):
    d = _tree(tmp_path)
    assert [n for n, _ in script_files(d / "train.py")] == ["lib/util.py", "notes.txt", "train.py"]


def test_files_list_picks_what_travels_and_must_stay_beside_the_script(tmp_path):
    d = _tree(tmp_path)
    assert [n for n, _ in script_files(d / "train.py", [str(d / "lib")])] == ["lib/util.py", "train.py"]
    with pytest.raises(ScriptFilesError, match="not inside the script's folder"):
        script_files(d / "train.py", [str(tmp_path)])
    with pytest.raises(ScriptFilesError, match="does not exist"):
        script_files(d / "train.py", [str(d / "nope.py")])


def test_size_limit_names_the_largest_files(tmp_path):
    d = _tree(tmp_path)
    (d / "big.bin").write_bytes(b"x" * 5000)
    with pytest.raises(ScriptFilesError, match=r"largest: big\.bin.*workload\.files"):
        script_files(d / "train.py", max_bytes=4000)
    assert len(script_files(d / "train.py", [str(d / "lib")], max_bytes=4000)) == 2


def test_digest_follows_the_contents_only(tmp_path):
    d = _tree(tmp_path)
    a = build_script_bundle(d / "train.py")
    (d / "notes.txt").touch()   # same contents, new mtime
    assert build_script_bundle(d / "train.py") == a
    (d / "lib" / "util.py").write_text("X = 2\n")
    b = build_script_bundle(d / "train.py")
    assert b.digest != a.digest and b.script == "train.py" and b.files == 3
    with tarfile.open(fileobj=io.BytesIO(b.data)) as tar:
        assert tar.extractfile("lib/util.py").read() == b"X = 2\n"


def test_experiment_loader_refuses_an_oversized_folder(tmp_path, monkeypatch):
    from harness.config import load_experiment
    from harness.errors import ConfigError
    import harness.config.script_bundle as sb

    d = _tree(tmp_path)
    (tmp_path / "e.yaml").write_text("name: e\nworkload: {script: proj/train.py, files: [proj/lib]}\n"
                                     "configurations: [{name: c}]\n")
    exp = load_experiment(tmp_path / "e.yaml")
    assert exp.workload.files == [str(d / "lib")] and exp.workload.script == str(d / "train.py")
    monkeypatch.setattr(sb, "MAX_BYTES", 10)
    monkeypatch.setattr(sb.script_files, "__defaults__", (None, 10))
    with pytest.raises(ConfigError, match=r"e\.yaml: workload\.files: .*MiB shipped with a script"):
        load_experiment(tmp_path / "e.yaml")


def test_regex_settings_belong_to_a_script_workload(tmp_path):
    from harness.config import load_experiment
    from harness.errors import ConfigError

    (tmp_path / "e.yaml").write_text("name: e\nworkload: {model: mlp, dataset: {name: digits}, batch_size: 8, "
                                     "epochs: 1, throughput_scope: total}\nconfigurations: [{name: c}]\n")
    with pytest.raises(ConfigError, match="throughput_scope: for a 'script' workload"):
        load_experiment(tmp_path / "e.yaml")
