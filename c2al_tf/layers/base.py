"""The base of c2al's layers."""
from __future__ import annotations

import c2al_tf  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
import tensorflow as tf


def as_text(x, layer: str):
    """A categorical input as the text it is looked up by: strings as they are, integers
    as decimal text, floats as their integral decimal text with NaN as missing ("")."""
    if x.dtype.is_floating:
        present = tf.logical_not(tf.math.is_nan(x))
        return tf.where(present, tf.strings.as_string(tf.cast(tf.where(present, x, 0), tf.int64)), "")
    if x.dtype.is_integer:
        return tf.strings.as_string(x)
    if x.dtype != tf.string:
        raise TypeError(f"{layer} expects tf.string or numeric input, got {x.dtype}")
    return x


def write_json_asset(dir_path: str, name: str, value) -> None:
    """A layer's state that is not a Keras weight (a vocabulary), as ``<dir_path>/<name>``
    in a ``.keras`` file's assets."""
    import json

    with tf.io.gfile.GFile(tf.io.gfile.join(dir_path, name), "w") as f:
        f.write(json.dumps(value))


def read_json_asset(dir_path: str, name: str):
    import json

    with tf.io.gfile.GFile(tf.io.gfile.join(dir_path, name)) as f:
        return json.loads(f.read())


class StaticLayer(tf.keras.layers.Layer):
    """A Keras layer whose ``call`` has no Python control flow on tensor values, so
    Keras need not convert it with AutoGraph each time it is called on a symbolic
    input. Conversion dominated building a model with one embedding layer per
    column: about 0.05 s per layer, 23 s for 400 columns (``bench/train_serve.py``,
    wide data). Graph-mode tracing (``tf.function``, SavedModel) is unchanged."""

    def _should_use_autograph(self):
        return False
