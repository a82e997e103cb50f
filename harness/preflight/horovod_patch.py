"""The changes the harness makes to Horovod's source before building it (run.sh here,
`harness hosts setup --with horovod` on hosts), so that `horovod.tensorflow.keras` works
under TensorFlow 2.17 with tf-keras.

1. Its backend. horovod 0.28.1 (the last release) takes the backend `K` of
`horovod.tensorflow.keras` and of its callbacks from `keras` whenever TensorFlow >= 2.6.
Under TensorFlow 2.16+ that package is Keras 3, whose `keras.backend` has no constant,
variable, get_value, set_value or get_session, while tf.keras (the model, the optimizer,
the callbacks' base class) is tf-keras (TF_USE_LEGACY_KERAS=1, which every harness task
gets). So MetricAverageCallback and the learning-rate callbacks fail on first use.
`tf.compat.v1.keras.backend` is the backend of whatever tf.keras is, with get_session for
graph-mode scripts too. Nothing else in Horovod's TensorFlow code reads `keras`: the
optimizer, broadcast and elastic paths already go through tf.keras.

2. Momentum correction in LearningRateScheduleCallback / LearningRateWarmupCallback. It
sets `optimizer.momentum` through the backend, which only works where momentum is a
variable (the legacy optimizers). tf.keras's default optimizers since TF 2.11 keep it as
a Python number that the traced train step has already baked in, so set_value fails
("'float' object has no attribute 'dtype'") and no assignment could reach the step
anyway: for those optimizers the correction is skipped, as it already is for optimizers
without momentum (Adam).

3. The build folder. Horovod's CMake strips the source folder from each library's folder
with a regular expression made of the source path, so a path with a `+` in it (as this
build's version puts in run.sh's wheel cache, or a host's workdir may have) does not
match, and the extension is built under an absolute path that the wheel then carries
as `root/...`, leaving `horovod/tensorflow/mpi_lib*.so` out. A literal replacement does
the same for every path. `check-wheel` refuses a wheel without the extension.

The patched build is versioned `UPSTREAM_VERSION+LABEL` (a PEP 440 local label), so an
install, a cached wheel and `hvd.__version__` tell it from the unpatched release. Standard
library only: `harness hosts setup` copies this file to a host and runs it there.

    python horovod_patch.py --version          the patched build's version
    python horovod_patch.py SDIST.tar.gz DEST  unpack the sdist under DEST, patch it,
                                               print the source folder to build
    python horovod_patch.py --check-wheel WHL  exit 1 unless WHL is this build, with
                                               Horovod's TensorFlow extension"""

from __future__ import annotations

import sys
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

UPSTREAM_VERSION = "0.28.1"
LABEL = "tfkeras1"   # bump with any change to EDITS: it keys run.sh's wheel cache
VERSION = f"{UPSTREAM_VERSION}+{LABEL}"

_KERAS_BACKEND_OLD = ('if is_version_greater_equal_than(tf.__version__, "2.6.0"):\n'
                      '    from keras import backend as K\n')
_KERAS_BACKEND_NEW = ('if is_version_greater_equal_than(tf.__version__, "2.6.0"):\n'
                      f'    # patched ({LABEL}): the backend of tf.keras (tf-keras under TF_USE_LEGACY_KERAS=1),\n'
                      '    # not the `keras` package\'s (Keras 3 under TF 2.16+)\n'
                      '    K = tf.compat.v1.keras.backend\n')
_MOMENTUM_OLD = "        if hasattr(self.model.optimizer, 'momentum') and self.momentum_correction:\n"
_MOMENTUM_NEW = ("        # patched (" + LABEL + "): only a momentum variable can be corrected (legacy optimizers);\n"
                 "        # tf.keras's newer optimizers hold a Python number, fixed in the traced step\n"
                 "        if (hasattr(self.model.optimizer, 'momentum') and self.momentum_correction\n"
                 "                and not isinstance(self.model.optimizer.momentum, (int, float))):\n")
_OUTPUT_DIR_OLD = '    string(REGEX REPLACE "${PROJECT_SOURCE_DIR}(/)?" "" SUB_FOLDER "${CMAKE_CURRENT_SOURCE_DIR}")\n'
_OUTPUT_DIR_NEW = (f"    # patched ({LABEL}): literal, so a source path with regex characters (+) still matches\n"
                   '    string(REPLACE "${PROJECT_SOURCE_DIR}/" "" SUB_FOLDER "${CMAKE_CURRENT_SOURCE_DIR}")\n')
# (file in the sdist, text that must occur exactly once, its replacement)
EDITS = (
    ("horovod/tensorflow/keras/__init__.py", _KERAS_BACKEND_OLD, _KERAS_BACKEND_NEW),
    ("horovod/tensorflow/keras/callbacks.py", _KERAS_BACKEND_OLD, _KERAS_BACKEND_NEW),
    ("horovod/_keras/callbacks.py", _MOMENTUM_OLD, _MOMENTUM_NEW),
    ("cmake/Utilities.cmake", _OUTPUT_DIR_OLD, _OUTPUT_DIR_NEW),
    ("horovod/__init__.py", f"__version__ = '{UPSTREAM_VERSION}'\n", f"__version__ = '{VERSION}'\n"),
)


class PatchError(Exception):
    pass


def apply(src: Path) -> None:
    """Apply EDITS to an unpacked Horovod source tree; every edit is checked before any
    file is written, so a tree that is not UPSTREAM_VERSION is left as it was."""
    texts = {}
    for rel, old, _new in EDITS:
        path = src / rel
        text = texts.get(rel) or (path.read_text() if path.is_file() else "")
        if text.count(old) != 1:
            raise PatchError(f"{path}: the text to patch is not there once (is this horovod {UPSTREAM_VERSION}, "
                             f"unpatched?)")
        texts[rel] = text
    for rel, old, new in EDITS:
        texts[rel] = texts[rel].replace(old, new)
    for rel, text in texts.items():
        (src / rel).write_text(text)


def unpack(sdist: Path, dest: Path) -> Path:
    """The sdist's single top folder under `dest`; only plain files and folders inside it."""
    with tarfile.open(sdist) as tar:
        members = tar.getmembers()
        tops = {PurePosixPath(m.name).parts[0] for m in members if m.name}
        for m in members:
            parts = PurePosixPath(m.name).parts
            if PurePosixPath(m.name).is_absolute() or ".." in parts or not (m.isfile() or m.isdir()):
                raise PatchError(f"{sdist}: refusing member {m.name!r} (not a plain file or folder inside the sdist)")
        if len(tops) != 1:
            raise PatchError(f"{sdist}: expected one top folder, found {sorted(tops)}")
        tar.extractall(dest, members=members)
    return dest / tops.pop()


def check_wheel(wheel: Path) -> None:
    """A wheel of this build that carries Horovod's TensorFlow extension where Python finds it."""
    if not wheel.name.startswith(f"horovod-{VERSION}-"):
        raise PatchError(f"{wheel}: not a horovod {VERSION} wheel")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
    if not any(n.startswith("horovod/tensorflow/mpi_lib") and n.endswith(".so") for n in names):
        misplaced = [n for n in names if n.endswith(".so")]
        raise PatchError(f"{wheel}: no horovod/tensorflow/mpi_lib*.so (TensorFlow extension not built"
                         f"{'; shared libraries at ' + ', '.join(misplaced) if misplaced else ''})")


def main(argv: list[str]) -> int:
    if argv == ["--version"]:
        print(VERSION)
        return 0
    if len(argv) == 2 and argv[0] == "--check-wheel":
        try:
            check_wheel(Path(argv[1]))
        except (PatchError, OSError, zipfile.BadZipFile) as e:
            print(f"horovod_patch: {e}", file=sys.stderr)
            return 1
        return 0
    if len(argv) != 2:
        print(__doc__.split("\n\n")[-1], file=sys.stderr)
        return 2
    try:
        src = unpack(Path(argv[0]), Path(argv[1]))
        apply(src)
    except (PatchError, OSError, tarfile.TarError) as e:
        print(f"horovod_patch: {e}", file=sys.stderr)
        return 1
    print(src)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
