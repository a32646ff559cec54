"""One SGD step on one device vs MirroredStrategy over two logical CPUs (test_strategy.py).

Run in a fresh process: the logical devices must be configured before TensorFlow initialises.
Prints one JSON line: replicas and the largest weight difference per model variant.
"""
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])

import keras  # noqa: E402
import numpy as np  # noqa: E402

from dcase_lowcomplexity.training.strategy import make_strategy  # noqa: E402


def build(bn):
    layers = [keras.Input((8, 40, 2))]
    if bn:
        layers.append(keras.layers.BatchNormalization(synchronized=(bn == "sync")))
    layers += [keras.layers.Conv2D(4, 3, padding="same", activation="relu",
                                   kernel_regularizer=keras.regularizers.L2(5e-4)),
               keras.layers.GlobalAveragePooling2D(),
               keras.layers.Dense(3, activation="softmax")]
    model = keras.Sequential(layers)
    model.compile(keras.optimizers.SGD(0.025, momentum=0.9), "categorical_crossentropy")
    return model


def one_step(strategy, bn, init, x, y):
    with strategy.scope():
        model = build(bn)
        model.set_weights(init)
    model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    return model.get_weights()


def main():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 8, 40, 2)).astype(np.float32)
    x[16:] += 1.0  # the two replicas' halves differ, as real batches do
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 32)]
    mirrored = make_strategy("mirrored", devices=["/cpu:0", "/cpu:1"])
    report = {"replicas": mirrored.num_replicas_in_sync}
    for bn in (None, "per_replica", "sync"):
        keras.utils.set_random_seed(1)
        init = build(bn).get_weights()
        single = one_step(make_strategy("default"), bn, init, x, y)
        multi = one_step(mirrored, bn, init, x, y)
        moved = max(float(np.abs(a - b).max()) for a, b in zip(single, init))
        diff = max(float(np.abs(a - b).max()) for a, b in zip(single, multi))
        report[str(bn)] = {"max_diff": diff, "max_update": moved}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
