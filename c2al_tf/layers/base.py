"""The base of c2al's layers."""
from __future__ import annotations

import c2al_tf  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
import tensorflow as tf


class StaticLayer(tf.keras.layers.Layer):
    """A Keras layer whose ``call`` has no Python control flow on tensor values, so
    Keras need not convert it with AutoGraph each time it is called on a symbolic
    input. Conversion dominated building a model with one embedding layer per
    column: about 0.05 s per layer, 23 s for 400 columns (``bench/train_serve.py``,
    wide data). Graph-mode tracing (``tf.function``, SavedModel) is unchanged."""

    def _should_use_autograph(self):
        return False
