"""Pinned package sets, shared by setup.py (extras) and `harness hosts setup`."""

TRAIN = [
    "tensorflow==2.17.1",
    "tf-keras==2.17.0",
    "scikit-learn>=1.3",
    "pillow>=10",
    "psutil>=5.9",
    "nvidia-ml-py>=12",
]
