"""Is a local dataset in the format its loader expects? Checked on the control side at
load time, so a wrong folder or file is one error line before any host is touched, not a
failed task minutes later. Cheap: file names, a CSV header, the first pickle opcodes;
the full read (and its own checks) happens on the host (harness/worker/datasets.py).
No TensorFlow, no numpy arrays, and no unpickling (which would run code from the file)."""

from __future__ import annotations

import csv
import pickletools
from pathlib import Path

from harness.protocol.dataset_formats import IMAGE_EXTENSIONS, KEYPOINT_COLUMNS


def dataset_problem(name: str, path: Path) -> str | None:
    """None if `path` looks like a `name` dataset, else what is wrong and what to do."""
    check = _CHECKS.get(name)
    return check(Path(path)) if check else None


def _cifar10(p: Path) -> str | None:
    todo = "point it at the folder of the CIFAR-10 python batches (cifar-10-batches-py)"
    if not p.is_dir():
        return f"is not a directory; {todo}"
    if not (p / "data_batch_1").exists() and (p / "cifar-10-batches-py").is_dir():
        p = p / "cifar-10-batches-py"  # the tarball's top folder, as the host's loader accepts
    batch = p / "data_batch_1"
    if not batch.is_file():
        return f"has no data_batch_1, so it is not a CIFAR-10 folder; {todo}"
    strings: set[str] = set()
    try:
        with open(batch, "rb") as f:
            if f.read(1) != b"\x80":  # PROTO: every pickle of protocol 2 or later starts so
                return f"{batch.name} is not a Python pickle; {todo}"
            f.seek(0)
            for i, (op, arg, _) in enumerate(pickletools.genops(f)):
                if isinstance(arg, (str, bytes)) and len(arg) < 16:
                    strings.add(arg.decode("latin-1") if isinstance(arg, bytes) else arg)
                if {"data", "labels"} <= strings or i > 2000:
                    break
    except (OSError, ValueError) as e:
        return f"{batch.name} cannot be read as a pickle ({type(e).__name__}); {todo}"
    if not {"data", "labels"} <= strings:
        return f"{batch.name} has no 'data' and 'labels' entries, so it is not a CIFAR-10 batch; {todo}"
    return None


def _facial_keypoints(p: Path) -> str | None:
    todo = "point it at the Kaggle facial-keypoints training.csv"
    if p.is_dir() and (p / "training.csv").is_file():
        p = p / "training.csv"
    if not p.is_file():
        return f"is not a file (and holds no training.csv); {todo}"
    try:
        with open(p, newline="", encoding="utf-8") as f:
            first = f.readline(1 << 16)  # the header is ~900 characters
    except (OSError, UnicodeDecodeError) as e:
        return f"cannot be read as UTF-8 text ({type(e).__name__}); {todo}"
    if not first.strip():
        return f"is empty; {todo}"
    header = [h.strip() for h in next(csv.reader([first]), [])]
    missing = [c for c in (*KEYPOINT_COLUMNS, "Image") if c not in header]
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        return f"the CSV header lacks column(s) {shown}; {todo}"
    return None


def _image_folder(p: Path) -> str | None:
    todo = "point it at a folder with one sub-folder of images per class"
    if not p.is_dir():
        return f"is not a directory; {todo}"
    classes = sorted(d for d in p.iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(classes) < 2:
        return f"has {len(classes)} class folder(s), need at least 2; {todo}"
    for d in classes:
        if not any(f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS and not f.name.startswith(".")
                   for f in d.iterdir()):
            return (f"class folder {d.name!r} has no images ({', '.join(IMAGE_EXTENSIONS)}); "
                    "add images or remove the folder")
    return None


_CHECKS = {"cifar10": _cifar10, "facial_keypoints": _facial_keypoints, "image_folder": _image_folder}
