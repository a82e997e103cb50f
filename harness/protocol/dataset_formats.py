"""Dataset file formats both sides read: the control side checks a local dataset's shape at
load time (harness/config/dataset_check.py), the host's loader reads it
(harness/worker/datasets.py). Standard library only."""

from __future__ import annotations

# The Kaggle "Facial Keypoints Detection" training.csv columns, in file order, before "Image".
KEYPOINT_COLUMNS = tuple(
    f"{point}_{axis}"
    for point in (
        "left_eye_center", "right_eye_center",
        "left_eye_inner_corner", "left_eye_outer_corner",
        "right_eye_inner_corner", "right_eye_outer_corner",
        "left_eyebrow_inner_end", "left_eyebrow_outer_end",
        "right_eyebrow_inner_end", "right_eyebrow_outer_end",
        "nose_tip",
        "mouth_left_corner", "mouth_right_corner",
        "mouth_center_top_lip", "mouth_center_bottom_lip",
    )
    for axis in ("x", "y")
)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".pgm", ".ppm", ".tif", ".tiff", ".webp")
