"""Dataset files in the formats the loaders read, written by the tests."""

import pickle

import numpy as np

def write_cifar_batch(path, n, seed):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, size=n)]
    with open(path, "wb") as f:
        pickle.dump({b"batch_label": b"x", b"labels": labels, b"data": data,
                     b"filenames": [b"f"] * n}, f, protocol=2)
    return data, labels
