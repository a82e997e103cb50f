"""Training datasets as in-memory numpy arrays, loaded on the host from the task spec's
typed dataset part (harness.protocol.workload.Dataset).

Every loader returns x as float32 in [0, 1] (images as H x W x C) and y as int64 class ids
(classification) or float32 targets (regression). Bad input raises DatasetError with one
line naming the dataset, the path, what is wrong and what to do.

No TensorFlow here: the worker wraps these arrays in tf.data itself, and the loaders stay
testable without it. scikit-learn and PIL are imported only by the loaders that need them.
"""

from __future__ import annotations

import csv
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NoReturn

import numpy as np

from harness.protocol.dataset_formats import IMAGE_EXTENSIONS, KEYPOINT_COLUMNS
from harness.protocol.workload import Dataset


class DatasetError(ValueError):
    """A dataset that cannot be used, one line per problem naming the dataset, the path and
    what to do. Host-side (no harness.errors): the control side wraps it when it checks a
    local dataset before a run."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))

    def lines(self) -> list[str]:
        return list(self.problems)


# facial_keypoints targets are stored as (pixel - 48) / 48, so coordinates lie in [-1, 1]
# and an RMSE on them is in those units: multiply by KEYPOINT_SCALE to get pixels.
KEYPOINT_SCALE = 48.0
KEYPOINT_IMAGE_SIDE = 96


@dataclass
class ArrayDataset:
    name: str
    task: str  # "classification" or "regression"
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    input_shape: tuple[int, ...]
    outputs: int  # classes, or regression targets
    # image_folder: folder name of each class id; empty where classes have no names.
    class_names: tuple[str, ...] = field(default=())


def load_dataset(ds: Dataset, seed: int) -> ArrayDataset:
    """Load the dataset `ds` and split it with `seed`."""
    loader = _LOADERS.get(ds.name)
    if loader is None:   # a name the protocol knows (DATASETS) but no loader here: say so, in one line
        raise DatasetError([f"dataset {ds.name!r}: unknown; expected one of {', '.join(sorted(_LOADERS))}"])
    return loader(ds, seed)


# --- splitting ------------------------------------------------------------------------

def _split(ds: Dataset, seed: int, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """Seeded shuffle, then hold out validation_split of the examples."""
    n = len(x)
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * float(ds.validation_split or 0.0)))
    n_val = min(n_val, n - 1)  # keep at least one training example
    val, train = order[:n_val], order[n_val:]
    return x[train], y[train], x[val], y[val]


def _finish(ds: Dataset, seed: int, task: str, outputs: int, x, y, x_val=None, y_val=None,
            class_names: tuple[str, ...] = ()) -> ArrayDataset:
    if x_val is None:
        x, y, x_val, y_val = _split(ds, seed, x, y)
    limit = ds.limit
    if limit:
        x, y = x[:limit], y[:limit]
    return ArrayDataset(
        name=ds.name, task=task,
        x_train=x, y_train=y, x_val=x_val, y_val=y_val,
        input_shape=tuple(int(d) for d in x.shape[1:]), outputs=int(outputs),
        class_names=tuple(class_names),
    )


def _fail(ds: Dataset, path, problem: str, todo: str) -> NoReturn:
    raise DatasetError([f"{ds.name}: {path}: {problem}; {todo}"])


# --- synthetic ------------------------------------------------------------------------

def _synthetic(ds: Dataset, seed: int) -> ArrayDataset:
    shape = tuple(int(d) for d in ds.shape or ())
    if not shape:
        raise DatasetError(["synthetic: workload.dataset.shape is missing; set it, e.g. [32, 32, 3]"])
    classes = int(ds.classes or 10)
    samples = int(ds.samples or 1024)
    rng = np.random.default_rng(seed)
    # Each class gets its own mean pattern and examples are noisy copies of it, so a model
    # can learn the labels and the loss really falls (pure noise would measure nothing).
    means = rng.uniform(0.2, 0.8, size=(classes, *shape)).astype(np.float32)
    y = rng.integers(0, classes, size=samples, dtype=np.int64)
    noise = rng.normal(0.0, 0.15, size=(samples, *shape)).astype(np.float32)
    x = np.clip(means[y] + noise, 0.0, 1.0)
    targets = int(ds.targets or 0)
    if targets:
        # Regression of the same shape as facial keypoints: each latent class has its own
        # target vector in [-1, 1] (like the keypoints' scaled coordinates), plus noise.
        centers = rng.uniform(-0.8, 0.8, size=(classes, targets)).astype(np.float32)
        yr = centers[y] + rng.normal(0.0, 0.02, size=(samples, targets)).astype(np.float32)
        return _finish(ds, seed, "regression", targets, x, yr)
    return _finish(ds, seed, "classification", classes, x, y)


# --- digits (scikit-learn's bundled copy, no download) ---------------------------------

def _digits(ds: Dataset, seed: int) -> ArrayDataset:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[..., np.newaxis]  # pixel values are 0..16
    y = d.target.astype(np.int64)
    return _finish(ds, seed, "classification", 10, x, y)


# --- cifar10 (python-pickle batches) --------------------------------------------------

_CIFAR_TODO = "point workload.dataset.path at the folder of the CIFAR-10 python-pickle batches (cifar-10-batches-py)"


def _cifar_dir(ds: Dataset) -> Path:
    p = Path(ds.path).expanduser()
    if not p.exists():
        _fail(ds, p, "does not exist", _CIFAR_TODO)
    if not p.is_dir():
        _fail(ds, p, "is not a directory", _CIFAR_TODO)
    # The official tarball unpacks to cifar-10-batches-py/; accept its parent too.
    if not (p / "data_batch_1").exists() and (p / "cifar-10-batches-py").is_dir():
        p = p / "cifar-10-batches-py"
    if not (p / "data_batch_1").is_file():
        _fail(ds, p, "data_batch_1 not found", _CIFAR_TODO)
    return p


def _cifar_batch(ds: Dataset, file: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(file, "rb") as f:
            # The batches were pickled by Python 2; encoding="bytes" keeps their keys as bytes.
            # Unpickling runs code from the file: only the user's own data is ever loaded here.
            d = pickle.load(f, encoding="bytes")
        data, labels = d[b"data"], d[b"labels"]
    except (OSError, pickle.UnpicklingError, EOFError, KeyError, TypeError, AttributeError,
            ValueError, IndexError) as e:
        _fail(ds, file, f"not a CIFAR-10 python batch ({type(e).__name__}: {e})".replace("\n", " "),
              "re-extract cifar-10-python.tar.gz")
    data = np.asarray(data)
    labels = np.asarray(labels, dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
        _fail(ds, file, f"expected N x 3072 pixel rows and N labels, found data {data.shape} "
              f"and {len(labels)} labels", "re-extract cifar-10-python.tar.gz")
    # Rows are channel-first (1024 R, 1024 G, 1024 B); the models want H x W x C.
    x = data.astype(np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return x, labels


def _to_unit(x_uint8: np.ndarray) -> np.ndarray:
    x = x_uint8.astype(np.float32)
    x /= 255.0  # in place: CIFAR-10 in float32 is 600 MB, avoid a second copy
    return x


def _cifar10(ds: Dataset, seed: int) -> ArrayDataset:
    root = _cifar_dir(ds)
    parts = [_cifar_batch(ds, root / f"data_batch_{i}") for i in range(1, 6)
             if (root / f"data_batch_{i}").is_file()]
    x = _to_unit(np.concatenate([p[0] for p in parts]))
    y = np.concatenate([p[1] for p in parts])
    if (root / "test_batch").is_file():
        xv, yv = _cifar_batch(ds, root / "test_batch")
        return _finish(ds, seed, "classification", 10, x, y, _to_unit(xv), yv)
    return _finish(ds, seed, "classification", 10, x, y)


# --- facial_keypoints (Kaggle training.csv) --------------------------------------------

_FKP_TODO = "point workload.dataset.path at the Kaggle facial-keypoints training.csv"


def _keypoints_csv(ds: Dataset) -> Path:
    p = Path(ds.path).expanduser()
    if p.is_dir() and (p / "training.csv").is_file():
        p = p / "training.csv"
    if not p.exists():
        _fail(ds, p, "does not exist", _FKP_TODO)
    if not p.is_file():
        _fail(ds, p, "is not a file (and holds no training.csv)", _FKP_TODO)
    return p


def _read_keypoint_rows(ds: Dataset, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Return (pixels uint8 N x 9216, coordinates float32 N x 30 with NaN where missing)."""
    n_pixels = KEYPOINT_IMAGE_SIDE * KEYPOINT_IMAGE_SIDE
    # The Image field is ~40 KB per row, above csv's default field limit on some builds.
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 24))
    pixels, coords = [], []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                _fail(ds, path, "is empty", _FKP_TODO)
            header = [h.strip() for h in header]
            missing = [c for c in (*KEYPOINT_COLUMNS, "Image") if c not in header]
            if missing:
                shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
                _fail(ds, path, f"missing column(s) {shown}; expected the 30 keypoint columns "
                      f"(left_eye_center_x ... mouth_center_bottom_lip_y) and Image", _FKP_TODO)
            coord_idx = [header.index(c) for c in KEYPOINT_COLUMNS]
            image_idx = header.index("Image")
            for line, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) != len(header):
                    _fail(ds, path, f"line {line}: {len(row)} fields, header has {len(header)}",
                          "fix or remove that row")
                try:
                    px = np.array(row[image_idx].split(), dtype=np.float32)
                except ValueError:
                    _fail(ds, path, f"line {line}: Image holds a non-numeric pixel value",
                          "Image must be 9216 space-separated numbers 0-255")
                if px.size != n_pixels:
                    _fail(ds, path, f"line {line}: Image has {px.size} pixel values, expected "
                          f"{n_pixels} (96x96)", "use the Kaggle 96x96 grayscale training.csv")
                if px.min() < 0 or px.max() > 255:
                    _fail(ds, path, f"line {line}: Image has pixel values outside 0-255",
                          "use the Kaggle 96x96 grayscale training.csv")
                try:
                    coords.append([float(row[i]) if row[i].strip() else np.nan for i in coord_idx])
                except ValueError:
                    _fail(ds, path, f"line {line}: a keypoint coordinate is not a number",
                          "coordinates must be numbers or empty")
                pixels.append(px.astype(np.uint8))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        _fail(ds, path, f"cannot read ({type(e).__name__}: {e})".replace("\n", " "), _FKP_TODO)
    if not pixels:
        return np.zeros((0, n_pixels), np.uint8), np.zeros((0, len(KEYPOINT_COLUMNS)), np.float32)
    return np.stack(pixels), np.asarray(coords, dtype=np.float32)


def _ffill(a: np.ndarray) -> np.ndarray:
    """Fill each NaN with the last value above it in the same column (like pandas ffill)."""
    idx = np.where(np.isnan(a), 0, np.arange(len(a))[:, None])
    np.maximum.accumulate(idx, axis=0, out=idx)
    return a[idx, np.arange(a.shape[1])]


def _facial_keypoints(ds: Dataset, seed: int) -> ArrayDataset:
    path = _keypoints_csv(ds)
    pixels, y = _read_keypoint_rows(ds, path)
    total = len(y)
    if ds.missing_labels == "ffill":
        y = _ffill(y)
    # After ffill, rows above the first value of a column are still missing: drop those too.
    keep = ~np.isnan(y).any(axis=1)
    pixels, y = pixels[keep], y[keep]
    if len(y) == 0:
        how = ds.missing_labels or "drop"
        todo = ("set missing_labels: ffill, or use a CSV with complete rows" if how == "drop"
                else "use a CSV whose first row has all 30 keypoints")
        _fail(ds, path, f"no usable rows: {total} row(s) read, none left with all 30 keypoints "
              f"(missing_labels: {how})", todo)
    x = _to_unit(pixels).reshape(-1, KEYPOINT_IMAGE_SIDE, KEYPOINT_IMAGE_SIDE, 1)
    y = ((y - KEYPOINT_SCALE) / KEYPOINT_SCALE).astype(np.float32)
    return _finish(ds, seed, "regression", len(KEYPOINT_COLUMNS), x, y)


# --- image_folder (one sub-folder per class) --------------------------------------------

_FOLDER_TODO = "point workload.dataset.path at a folder with one sub-folder of images per class"


def _image_folder(ds: Dataset, seed: int) -> ArrayDataset:
    from PIL import Image, UnidentifiedImageError

    root = Path(ds.path).expanduser()
    if not root.is_dir():
        _fail(ds, root, "does not exist" if not root.exists() else "is not a directory", _FOLDER_TODO)
    classes = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(classes) < 2:
        _fail(ds, root, f"found {len(classes)} class folder(s), need at least 2", _FOLDER_TODO)
    h, w = (int(v) for v in ds.image_size)
    mode = "L" if ds.grayscale else "RGB"
    xs, ys = [], []
    for label, folder in enumerate(classes):
        files = sorted(f for f in folder.iterdir()
                       if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS and not f.name.startswith("."))
        if not files:
            _fail(ds, folder, f"class folder has no images ({', '.join(IMAGE_EXTENSIONS)})",
                  "add images or remove the folder")
        for file in files:
            try:
                with Image.open(file) as im:
                    # PIL's resize takes (width, height); image_size is [height, width].
                    arr = np.asarray(im.convert(mode).resize((w, h), Image.BILINEAR), dtype=np.uint8)
            except UnidentifiedImageError:
                _fail(ds, file, "unreadable image (not a format PIL recognises, or corrupt)",
                      "replace or remove the file")
            except (OSError, ValueError, Image.DecompressionBombError) as e:
                _fail(ds, file, f"unreadable image ({type(e).__name__}: {e})".replace("\n", " "),
                      "replace or remove the file")
            xs.append(arr if arr.ndim == 3 else arr[..., np.newaxis])
            ys.append(label)
    x = _to_unit(np.stack(xs))
    y = np.asarray(ys, dtype=np.int64)
    return _finish(ds, seed, "classification", len(classes), x, y,
                   class_names=tuple(c.name for c in classes))


_LOADERS: dict[str, Callable[[Dataset, int], ArrayDataset]] = {
    "synthetic": _synthetic,
    "digits": _digits,
    "cifar10": _cifar10,
    "facial_keypoints": _facial_keypoints,
    "image_folder": _image_folder,
}
