"""harness/config/dataset_check.py: a local dataset in the right format passes, a wrong one
is named before anything starts (the corpus in tests/support/malformed_corpus.py has the wrong ones)."""

import subprocess
import sys
from pathlib import Path

from harness.config.dataset_check import dataset_problem
from harness.worker.datasets import KEYPOINT_COLUMNS
from tests.support.datasets import write_cifar_batch

ROOT = Path(__file__).resolve().parents[2]


def test_cifar10_folder_and_its_parent_pass(tmp_path):
    batches = tmp_path / "cifar-10-batches-py"
    batches.mkdir()
    write_cifar_batch(batches / "data_batch_1", 3, 0)
    assert dataset_problem("cifar10", batches) is None
    assert dataset_problem("cifar10", tmp_path) is None
    (batches / "data_batch_1").write_bytes(b"\x80\x02garbage")
    assert "cannot be read as a pickle" in dataset_problem("cifar10", batches)


def test_keypoints_csv_header_is_enough(tmp_path):
    csv = tmp_path / "training.csv"
    csv.write_text(",".join((*KEYPOINT_COLUMNS, "Image")) + "\n")
    assert dataset_problem("facial_keypoints", csv) is None
    assert dataset_problem("facial_keypoints", tmp_path) is None  # a folder holding training.csv
    csv.write_text(",".join(KEYPOINT_COLUMNS) + "\n")
    assert "lacks column(s) Image" in dataset_problem("facial_keypoints", csv)


def test_image_folder_needs_two_classes_with_images(tmp_path):
    from PIL import Image

    for c in ("cat", "dog"):
        (tmp_path / c).mkdir()
        Image.new("RGB", (2, 2)).save(tmp_path / c / "1.png")
    (tmp_path / ".hidden").mkdir()  # ignored, as the host's loader ignores it
    assert dataset_problem("image_folder", tmp_path) is None
    (tmp_path / "empty").mkdir()
    assert "class folder 'empty' has no images" in dataset_problem("image_folder", tmp_path)


def test_datasets_without_files_need_no_check(tmp_path):
    assert dataset_problem("digits", tmp_path) is None and dataset_problem("synthetic", tmp_path) is None


def test_the_check_imports_no_tensorflow():
    code = ("import sys, harness.config.dataset_check, harness.config; "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
