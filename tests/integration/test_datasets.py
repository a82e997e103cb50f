"""Dataset loaders against small files in the real on-disk formats."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from harness.config.experiment import DatasetSpec
from harness.protocol.workload import Dataset
from harness.worker.datasets import DatasetError, KEYPOINT_COLUMNS, KEYPOINT_SCALE, ArrayDataset, load_dataset
from tests.support.datasets import write_cifar_batch


def spec(**kw) -> Dataset:
    # Go through the real config model and its JSON form so the tests see exactly what the worker gets.
    return Dataset.from_dict(DatasetSpec(**kw).model_dump())


def one_line_error(s: Dataset, needle: str) -> str:
    with pytest.raises(DatasetError) as info:
        load_dataset(s, seed=0)
    lines = info.value.lines()
    assert len(lines) == 1 and "\n" not in lines[0], lines
    assert needle in lines[0], lines[0]
    assert lines[0].startswith(s.name + ": "), lines[0]
    return lines[0]


def test_no_tensorflow_import():
    # The worker's data code must stay usable without paying for a TF import.
    # A fresh interpreter: other tests in this process may already have imported TF.
    code = "import sys, harness.worker.datasets; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- synthetic -----------------------------------------------------------------------

def test_synthetic_shapes_split_and_learnable():
    ds = load_dataset(spec(name="synthetic", shape=[4, 4, 1], classes=3, samples=200,
                           validation_split=0.25), seed=1)
    assert isinstance(ds, ArrayDataset)
    assert (ds.task, ds.outputs, ds.input_shape) == ("classification", 3, (4, 4, 1))
    assert ds.x_train.shape == (150, 4, 4, 1) and ds.x_val.shape == (50, 4, 4, 1)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
    # Learnable: nearest class mean (from the training part) classifies validation well.
    flat = ds.x_train.reshape(len(ds.x_train), -1)
    means = np.stack([flat[ds.y_train == c].mean(0) for c in range(3)])
    pred = np.argmin(((ds.x_val.reshape(50, 1, -1) - means) ** 2).sum(-1), axis=1)
    assert (pred == ds.y_val).mean() > 0.9


def test_synthetic_default_classes_seeded_and_limit():
    s = spec(name="synthetic", shape=[6], samples=50, limit=10)
    a, b, c = load_dataset(s, 7), load_dataset(s, 7), load_dataset(s, 8)
    assert a.outputs == 10 and a.x_train.shape == (10, 6) and a.x_val.shape == (10, 6)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_val, b.y_val)
    assert not np.array_equal(a.x_train, c.x_train)


def test_zero_validation_split_keeps_everything_for_training():
    ds = load_dataset(spec(name="synthetic", shape=[3], samples=20, validation_split=0.0), 0)
    assert len(ds.x_train) == 20 and ds.x_val.shape == (0, 3) and ds.y_val.shape == (0,)


# --- digits --------------------------------------------------------------------------

def test_digits():
    ds = load_dataset(spec(name="digits", validation_split=0.2, limit=1000), seed=0)
    assert ds.input_shape == (8, 8, 1) and ds.outputs == 10
    assert ds.x_train.shape == (1000, 8, 8, 1) and len(ds.x_val) == round(1797 * 0.2)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.x_train.max() == 1.0 and ds.x_train.min() == 0.0
    assert set(np.unique(ds.y_val)) == set(range(10))


# --- cifar10 -------------------------------------------------------------------------

def test_cifar10_with_test_batch_and_channel_order(tmp_path):
    d1, l1 = write_cifar_batch(tmp_path / "data_batch_1", 6, 1)
    write_cifar_batch(tmp_path / "data_batch_2", 4, 2)
    dt, lt = write_cifar_batch(tmp_path / "test_batch", 5, 3)
    ds = load_dataset(spec(name="cifar10", path=str(tmp_path)), seed=0)
    assert ds.x_train.shape == (10, 32, 32, 3) and ds.x_val.shape == (5, 32, 32, 3)
    assert ds.y_train.dtype == np.int64 and ds.x_train.dtype == np.float32
    assert ds.outputs == 10 and ds.input_shape == (32, 32, 3)
    # Row layout is 1024 red, 1024 green, 1024 blue, each row-major 32x32.
    assert ds.x_train[0, 0, 1, 0] == pytest.approx(d1[0, 1] / 255)
    assert ds.x_train[0, 2, 0, 1] == pytest.approx(d1[0, 1024 + 64] / 255)
    assert ds.x_train[0, 31, 31, 2] == pytest.approx(d1[0, 3071] / 255)
    np.testing.assert_array_equal(ds.y_train[:6], l1)
    np.testing.assert_array_equal(ds.y_val, lt)


def test_cifar10_parent_folder_split_and_limit(tmp_path):
    inner = tmp_path / "cifar-10-batches-py"
    inner.mkdir()
    write_cifar_batch(inner / "data_batch_1", 20, 1)
    ds = load_dataset(spec(name="cifar10", path=str(tmp_path), validation_split=0.25, limit=8), seed=0)
    assert ds.x_train.shape == (8, 32, 32, 3) and ds.x_val.shape == (5, 32, 32, 3)


def test_cifar10_errors(tmp_path):
    missing = tmp_path / "nope"
    one_line_error(spec(name="cifar10", path=str(missing)), str(missing))
    line = one_line_error(spec(name="cifar10", path=str(tmp_path)), str(tmp_path))
    assert "data_batch_1 not found" in line and "workload.dataset.path" in line
    (tmp_path / "data_batch_1").write_bytes(b"not a pickle")
    one_line_error(spec(name="cifar10", path=str(tmp_path)), str(tmp_path / "data_batch_1"))
    with open(tmp_path / "data_batch_1", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, f)
    one_line_error(spec(name="cifar10", path=str(tmp_path)), "3072")
    with open(tmp_path / "data_batch_1", "wb") as f:
        pickle.dump({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1]}, f)  # str keys
    one_line_error(spec(name="cifar10", path=str(tmp_path)), str(tmp_path / "data_batch_1"))


# --- facial_keypoints ------------------------------------------------------------------

def write_keypoints_csv(path, coords, pixel_counts=None):
    """coords: rows of 30 values (None = missing). Pixels of row i are all equal to i."""
    lines = [",".join((*KEYPOINT_COLUMNS, "Image"))]
    for i, row in enumerate(coords):
        n = (pixel_counts or {}).get(i, 96 * 96)
        cells = ["" if v is None else f"{v:.4f}" for v in row]
        lines.append(",".join(cells + [" ".join([str(i * 10)] * n)]))
    path.write_text("\n".join(lines) + "\n")


def full(v):
    return [float(v)] * 30


def test_keypoint_header_is_kaggle():
    assert len(KEYPOINT_COLUMNS) == 30
    assert KEYPOINT_COLUMNS[:2] == ("left_eye_center_x", "left_eye_center_y")
    assert KEYPOINT_COLUMNS[-1] == "mouth_center_bottom_lip_y"


def test_facial_keypoints_drop(tmp_path):
    partial = full(30)
    partial[5] = None
    csv_path = tmp_path / "training.csv"
    write_keypoints_csv(csv_path, [full(48), partial, full(96), full(0)])
    ds = load_dataset(spec(name="facial_keypoints", path=str(csv_path), validation_split=0.0), 0)
    assert (ds.task, ds.outputs, ds.input_shape) == ("regression", 30, (96, 96, 1))
    assert ds.x_train.shape == (3, 96, 96, 1) and ds.y_train.shape == (3, 30)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.float32
    # Row order is shuffled; pair each image (pixel value i*10) with its targets.
    by_row = {int(round(x[0, 0, 0] * 255)) // 10: y[0] for x, y in zip(ds.x_train, ds.y_train)}
    assert by_row == pytest.approx({0: 0.0, 2: 1.0, 3: -1.0})
    assert ds.y_train.min() >= -1 and ds.y_train.max() <= 1
    assert KEYPOINT_SCALE == 48.0


def test_facial_keypoints_ffill_and_directory_path(tmp_path):
    first_missing = full(10)
    first_missing[0] = None  # nothing above it to fill from: the row is dropped
    later_missing = full(60)
    later_missing[3] = None  # filled from the row above (value 24)
    rows = [first_missing, full(24), later_missing, full(72)]
    write_keypoints_csv(tmp_path / "training.csv", rows)
    ds = load_dataset(spec(name="facial_keypoints", path=str(tmp_path), missing_labels="ffill",
                           validation_split=0.0), 0)
    assert len(ds.x_train) == 3
    by_row = {int(round(x[0, 0, 0] * 255)) // 10: y for x, y in zip(ds.x_train, ds.y_train)}
    assert set(by_row) == {1, 2, 3}
    expect = np.full(30, (60 - 48) / 48, np.float32)
    expect[3] = (24 - 48) / 48
    np.testing.assert_allclose(by_row[2], expect, rtol=1e-5)


def test_facial_keypoints_split_seeded(tmp_path):
    write_keypoints_csv(tmp_path / "t.csv", [full(i) for i in range(10)])
    s = spec(name="facial_keypoints", path=str(tmp_path / "t.csv"), validation_split=0.3, limit=5)
    a, b = load_dataset(s, 3), load_dataset(s, 3)
    assert a.x_train.shape == (5, 96, 96, 1) and a.x_val.shape == (3, 96, 96, 1)
    np.testing.assert_array_equal(a.y_val, b.y_val)


def test_facial_keypoints_errors(tmp_path):
    p = tmp_path / "training.csv"
    one_line_error(spec(name="facial_keypoints", path=str(p)), str(p))

    p.write_text("left_eye_center_x,left_eye_center_y,Image\n1,2,3 4\n")
    line = one_line_error(spec(name="facial_keypoints", path=str(p)), str(p))
    assert "right_eye_center_x" in line

    write_keypoints_csv(p, [full(1), full(2)], pixel_counts={1: 100})
    line = one_line_error(spec(name="facial_keypoints", path=str(p)), str(p))
    assert "line 3" in line and "100" in line and "9216" in line

    row = full(1)
    row[0] = None
    write_keypoints_csv(p, [row, row])
    line = one_line_error(spec(name="facial_keypoints", path=str(p)), str(p))
    assert "no usable rows" in line and "ffill" in line

    p.write_text("")
    one_line_error(spec(name="facial_keypoints", path=str(p)), str(p))


# --- image_folder ------------------------------------------------------------------------

def make_image_folder(root, classes=("cat", "dog", "emu"), per_class=4, size=(10, 6)):
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            # Width x height = size; each class a distinct colour, so labels can be checked.
            colour = (c * 100, 50, 200 - c * 50)
            Image.new("RGB", size, colour).save(root / name / f"{i}.png")
    (root / classes[0] / "notes.txt").write_text("not an image, ignored by extension")


def test_image_folder_rgb(tmp_path):
    make_image_folder(tmp_path)
    ds = load_dataset(spec(name="image_folder", path=str(tmp_path), image_size=[5, 7],
                           validation_split=0.25), seed=0)
    assert ds.outputs == 3 and ds.class_names == ("cat", "dog", "emu")
    assert ds.input_shape == (5, 7, 3)
    assert ds.x_train.shape == (9, 5, 7, 3) and ds.x_val.shape == (3, 5, 7, 3)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    for x, y in zip(ds.x_train, ds.y_train):
        assert x[0, 0, 0] == pytest.approx(y * 100 / 255, abs=1 / 255)


def test_image_folder_grayscale_limit(tmp_path):
    make_image_folder(tmp_path, classes=("a", "b"))
    ds = load_dataset(spec(name="image_folder", path=str(tmp_path), image_size=[4, 4],
                           grayscale=True, validation_split=0.0, limit=3), seed=0)
    assert ds.x_train.shape == (3, 4, 4, 1) and ds.input_shape == (4, 4, 1)
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0


def test_image_folder_errors(tmp_path):
    missing = tmp_path / "missing"
    one_line_error(spec(name="image_folder", path=str(missing), image_size=[4, 4]), str(missing))

    root = tmp_path / "data"
    root.mkdir()
    (root / "loose.png").write_bytes(b"")
    line = one_line_error(spec(name="image_folder", path=str(root), image_size=[4, 4]), str(root))
    assert "class folder" in line

    make_image_folder(root / "set", classes=("a", "b"))
    (root / "set" / "b" / "broken.png").write_bytes(b"\x89PNG garbage")
    broken = root / "set" / "b" / "broken.png"
    one_line_error(spec(name="image_folder", path=str(root / "set"), image_size=[4, 4]), str(broken))

    broken.unlink()
    (root / "set" / "c").mkdir()
    one_line_error(spec(name="image_folder", path=str(root / "set"), image_size=[4, 4]),
                   str(root / "set" / "c"))


def test_synthetic_regression_targets_like_facial_keypoints():
    ds = load_dataset(spec(name="synthetic", shape=[96, 96, 1], classes=8, samples=40, targets=30), 0)
    assert ds.task == "regression" and ds.outputs == 30 and ds.input_shape == (96, 96, 1)
    assert ds.y_train.shape[1] == 30 and ds.y_train.dtype == np.float32
    assert float(np.abs(ds.y_train).max()) <= 1.0
