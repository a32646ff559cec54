"""Trains a tiny model with `train_model` in its own process (used by test_run.py).

    python resume_worker.py RUN_DIR OUT_WEIGHTS.npz SLEEP_PER_BATCH_S

Deterministic: fixed seeds and TF op determinism, so an interrupted-then-resumed run must end
with exactly the weights of an uninterrupted one. The sleep only stretches the run so that the
test's SIGKILL lands while training is under way.
"""
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from dcase_lowcomplexity.config import TrainingConfig  # noqa: E402
from dcase_lowcomplexity.data.generator import ArrayClipSource  # noqa: E402
from dcase_lowcomplexity.evaluation.inference import make_validation  # noqa: E402
from dcase_lowcomplexity.training.run import train_model  # noqa: E402

CONFIG = TrainingConfig(epochs=6, sgdr_first_cycle=2, batch_size=8, seed=0)  # cycles 2 + 4


def tiny_data(n_per_class, seed):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), n_per_class)
    x = rng.normal(size=(len(labels), 8, 469, 2)).astype(np.float32)
    x[:, :, :, 0] += labels[:, None, None] * 0.5  # a learnable class cue
    return x, labels


def tiny_model():
    return keras.Sequential([
        keras.Input((8, None, 2)),
        keras.layers.BatchNormalization(),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu",
                            kernel_regularizer=keras.regularizers.L2(5e-4)),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(3, activation="softmax"),
    ])


class Sleep(keras.callbacks.Callback):
    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds

    def on_train_batch_end(self, batch, logs=None):
        time.sleep(self.seconds)


def main(run_dir, out_path, sleep_s):
    keras.utils.set_random_seed(0)
    tf.config.experimental.enable_op_determinism()
    x, y = tiny_data((20, 26, 22), seed=0)  # balanced ordering 60 → 3 steps of 8 pairs
    xv, yv = tiny_data((5, 6, 4), seed=1)
    model = tiny_model()
    train_model(model, ArrayClipSource(x), y, CONFIG, run_dir,
                validation=make_validation(ArrayClipSource(xv), yv),
                callbacks=[Sleep(sleep_s)], verbose=0)
    np.savez(out_path, *model.get_weights())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]))
