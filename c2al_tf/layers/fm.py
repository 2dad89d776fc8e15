"""Plain factorization-machine interaction (the baseline interaction layer)."""
from __future__ import annotations

import c2al_tf  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
import tensorflow as tf

from c2al_tf.layers.base import StaticLayer


@tf.keras.utils.register_keras_serializable(package="c2al")
class FMInteraction(StaticLayer):
    """Second-order factorization machine over ``m`` feature embeddings.

    For X in R^{m x d} (rows x_i):

        v = 1/2 * ((sum_i x_i)^2 - sum_i x_i^2)     in R^d   (elementwise squares)
        sum_{i<j} <x_i, x_j> = sum_f v_f

    computed in O(m d). With ``reduce=True`` (default) the output is the scalar
    sum of pairwise dot products, shape ``[batch, 1]``; with ``reduce=False`` it is
    the bi-interaction vector ``v``, shape ``[batch, d]`` (NFM's pooling).

    Input shape: ``[batch, m, d]``, ``m >= 2``.
    """

    def __init__(self, reduce: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.reduce = bool(reduce)

    def build(self, input_shape):
        shape = tf.TensorShape(input_shape)
        if shape.rank != 3:
            raise ValueError(f"FMInteraction expects [batch, m, d] embeddings, got shape {shape}")
        if shape[1] is not None and shape[1] < 2:
            raise ValueError(f"FMInteraction needs m >= 2 feature embeddings, got m={shape[1]}")
        super().build(input_shape)

    def call(self, x):
        summed = tf.reduce_sum(x, axis=1)
        v = 0.5 * (tf.square(summed) - tf.reduce_sum(tf.square(x), axis=1))
        return tf.reduce_sum(v, axis=-1, keepdims=True) if self.reduce else v

    def compute_output_shape(self, input_shape):
        shape = tf.TensorShape(input_shape)
        return tf.TensorShape([shape[0], 1 if self.reduce else shape[2]])

    def get_config(self):
        config = super().get_config()
        config.update({"reduce": self.reduce})
        return config
