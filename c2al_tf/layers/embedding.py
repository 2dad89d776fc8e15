"""Per-feature embeddings: numeric values and categorical values to R^d."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import c2al_tf  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
import tensorflow as tf


@tf.keras.utils.register_keras_serializable(package="c2al")
class NumericEmbedding(tf.keras.layers.Layer):
    """Embeds one numeric feature.

        z = (x - mean) / std, clipped to [-clip, clip]
        e = z * w + b          if x is present
        e = e_missing          if x is NaN

    with learned ``w, b, e_missing`` in R^d. Input ``[batch, 1]`` float (NaN =
    missing); output ``[batch, d]``.
    """

    def __init__(self, dim: int, mean: float = 0.0, std: float = 1.0, clip: float = 10.0, **kwargs):
        super().__init__(**kwargs)
        if int(dim) < 1:
            raise ValueError(f"NumericEmbedding: dim must be >= 1, got {dim}")
        if not std > 0:
            raise ValueError(f"NumericEmbedding: std must be > 0, got {std}")
        self.dim, self.mean, self.std, self.clip = int(dim), float(mean), float(std), float(clip)

    def build(self, input_shape):
        def init():
            return tf.keras.initializers.RandomNormal(stddev=0.05)

        self.w = self.add_weight(name="w", shape=(1, self.dim), initializer=init())
        self.b = self.add_weight(name="b", shape=(1, self.dim), initializer="zeros")
        self.missing = self.add_weight(name="missing", shape=(1, self.dim), initializer=init())
        super().build(input_shape)

    def call(self, x):
        x = tf.cast(x, tf.float32)
        is_missing = tf.math.is_nan(x)
        z = tf.clip_by_value((tf.where(is_missing, self.mean, x) - self.mean) / self.std, -self.clip, self.clip)
        return tf.where(is_missing, self.missing, z * self.w + self.b)

    def get_config(self):
        config = super().get_config()
        config.update({"dim": self.dim, "mean": self.mean, "std": self.std, "clip": self.clip})
        return config


@tf.keras.utils.register_keras_serializable(package="c2al")
class CategoricalEmbedding(tf.keras.layers.Layer):
    """Embeds one categorical feature through a fixed vocabulary.

        i = index of x in vocabulary, or 0 (the OOV bucket) for unseen/missing values
        e = E[i],  E in R^{(|vocabulary| + 1) x d}

    Input ``[batch, 1]`` tf.string; output ``[batch, d]``. Unknown categories at
    training or serving time share the OOV row; they never fail.
    """

    def __init__(self, vocabulary: Sequence[str], dim: int, **kwargs):
        super().__init__(**kwargs)
        if int(dim) < 1:
            raise ValueError(f"CategoricalEmbedding: dim must be >= 1, got {dim}")
        self.vocabulary = [str(v) for v in vocabulary]
        self.dim = int(dim)
        keys = self.vocabulary if self.vocabulary else ["\x00<empty vocabulary>"]
        self.lookup = tf.keras.layers.StringLookup(vocabulary=np.array(keys, dtype=object), num_oov_indices=1,
                                                   mask_token=None, name="lookup")
        self.table = tf.keras.layers.Embedding(len(keys) + 1, self.dim, name="table",
                                               embeddings_initializer=tf.keras.initializers.RandomNormal(stddev=0.05))

    def call(self, x):
        if x.dtype != tf.string:
            raise TypeError(f"CategoricalEmbedding '{self.name}' expects tf.string input, got {x.dtype}")
        return tf.squeeze(self.table(self.lookup(x)), axis=1)

    def get_config(self):
        config = super().get_config()
        config.update({"vocabulary": self.vocabulary, "dim": self.dim})
        return config
