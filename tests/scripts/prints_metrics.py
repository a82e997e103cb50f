"""A user's own script (tests) that reports only by printing: the experiment's regular
expressions pull images/s, loss and accuracy from its output."""

import sys
import time

import numpy as np
import tensorflow as tf
from sklearn.datasets import load_digits

keras = tf.keras
epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
d = load_digits()
x, y = (d.images / 16.0).astype("float32").reshape(-1, 64), d.target.astype("int64")
model = keras.Sequential([keras.layers.Dense(64, activation="relu", input_shape=(64,)),
                          keras.layers.Dense(10, activation="softmax")])
model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
for epoch in range(1, epochs + 1):
    t = time.monotonic()
    h = model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    rate = len(x) / (time.monotonic() - t)
    print(f"epoch {epoch}: {rate:.1f} images/sec loss={h.history['loss'][0]:.4f} "
          f"acc={h.history['accuracy'][0]:.4f}", flush=True)
