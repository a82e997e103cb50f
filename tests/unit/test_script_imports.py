"""The modules a user's script needs, from its syntax tree (harness/preflight/script_imports.py)."""

import pytest

from harness.preflight.script_imports import ScriptSyntaxError, script_modules, top_level_modules, uses_horovod

SCRIPT = '''
import os, sys
import numpy as np
import tensorflow.keras.layers
from sklearn.datasets import load_digits
from harness.callback import HarnessCallback
from . import sibling
from helpers import util
import numpy
try:
    import optional_thing
except ImportError:
    optional_thing = None
if "HOROVOD_RANK" in os.environ:
    import horovod.tensorflow.keras as hvd
def main():
    import lazy_dependency
hvd_init_would_run_here()
'''


def test_top_level_imports_only_once_each_without_shipped_or_local_modules():
    assert top_level_modules(SCRIPT, "train.py", local={"helpers"}) == [
        "os", "sys", "numpy", "tensorflow.keras.layers", "sklearn.datasets"]


def test_a_script_that_does_not_parse_is_named_with_its_line():
    with pytest.raises(ScriptSyntaxError, match=r"train.py:2: "):
        top_level_modules("import os\ndef broken(:\n", "train.py")


def test_modules_beside_the_script_travel_with_it(tmp_path):
    (tmp_path / "train.py").write_text("import mylib\nimport pkg.sub\nimport requests\n")
    (tmp_path / "mylib.py").write_text("")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    assert script_modules(tmp_path / "train.py") == ["requests"]


def test_horovod_scripts_are_recognised():
    assert uses_horovod(["numpy", "horovod.tensorflow.keras"]) and not uses_horovod(["horovodish"])
