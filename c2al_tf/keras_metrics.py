"""Keras metrics (tf_keras) used by TFMA's Evaluator and by training.

``NormalizedEntropy``: NE = logloss / H(base rate) over everything seen, with
float64 accumulators so that it equals :func:`c2al_tf.metrics.normalized_entropy`
to ~1e-7.
"""
from __future__ import annotations

import c2al_tf  # noqa: F401
import tensorflow as tf

from c2al_tf.metrics import EPS as _EPS


@tf.keras.utils.register_keras_serializable(package="c2al")
class NormalizedEntropy(tf.keras.metrics.Metric):
    """Normalized entropy (He et al., 2014):

        NE = (-1/W sum_i w_i [y_i log p_i + (1 - y_i) log(1 - p_i)]) / H(q),
        q = sum_i w_i y_i / W,  H(q) = -(q log q + (1 - q) log(1 - q))

    Inputs: ``y_true`` and ``y_pred`` (probabilities) of any matching shape,
    optional ``sample_weight``. NaN when every label is the same.
    """

    def __init__(self, name: str = "normalized_entropy", dtype=tf.float64, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.loss_sum = self.add_weight("loss_sum", initializer="zeros", dtype=tf.float64)
        self.weight_sum = self.add_weight("weight_sum", initializer="zeros", dtype=tf.float64)
        self.positive_sum = self.add_weight("positive_sum", initializer="zeros", dtype=tf.float64)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y = tf.reshape(tf.cast(y_true, tf.float64), [-1])
        p = tf.clip_by_value(tf.reshape(tf.cast(y_pred, tf.float64), [-1]), _EPS, 1 - _EPS)
        w = tf.ones_like(y) if sample_weight is None else tf.reshape(
            tf.broadcast_to(tf.cast(sample_weight, tf.float64), tf.shape(y_true)), [-1])
        loss = -(y * tf.math.log(p) + (1 - y) * tf.math.log(1 - p))
        self.loss_sum.assign_add(tf.reduce_sum(w * loss))
        self.weight_sum.assign_add(tf.reduce_sum(w))
        self.positive_sum.assign_add(tf.reduce_sum(w * y))

    def result(self):
        q = self.positive_sum / tf.maximum(self.weight_sum, 1e-300)
        h = -(q * tf.math.log(q) + (1 - q) * tf.math.log(1 - q))
        return (self.loss_sum / tf.maximum(self.weight_sum, 1e-300)) / h

    def reset_state(self):
        for v in (self.loss_sum, self.weight_sum, self.positive_sum):
            v.assign(0.0)
