"""Attention factorization machine (the interaction layer of C2AL)."""
from __future__ import annotations

import c2al_tf  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
import tensorflow as tf

from c2al_tf.layers.base import StaticLayer


@tf.keras.utils.register_keras_serializable(package="c2al")
class AttentionFM(StaticLayer):
    """Attention factorization machine interaction.

    For ``m`` feature embeddings of size ``d`` per example, ``X`` in R^{m x d}:

        Y = MLP(X)            in R^{m x k}   (the same MLP on every row of X)
        G = X X^T Y           in R^{m x k}

    ``G`` is computed as ``X (X^T Y)``: ``X^T Y`` is ``d x k``, so the cost per
    example is O(m d k) and the ``m x m`` matrix ``X X^T`` is never formed.

    Args:
      num_attention: ``k``, the number of attention columns (output width per feature).
      hidden_units: widths of the hidden layers of the attention MLP (ReLU);
        its last layer is linear with ``k`` units.
      kernel_initializer, kernel_regularizer: for the MLP's Dense layers.

    Input shape: ``[batch, m, d]`` float tensor, ``m >= 2``, ``d >= 1``.
    Output shape: ``[batch, m, k]``.
    """

    def __init__(self, num_attention: int = 8, hidden_units=(32,), kernel_initializer="glorot_uniform",
                 kernel_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        if int(num_attention) < 1:
            raise ValueError(f"AttentionFM: num_attention must be >= 1, got {num_attention}")
        if any(int(u) < 1 for u in hidden_units):
            raise ValueError(f"AttentionFM: hidden_units must be positive, got {hidden_units}")
        self.num_attention = int(num_attention)
        self.hidden_units = tuple(int(u) for u in hidden_units)
        self.kernel_initializer = tf.keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = tf.keras.regularizers.get(kernel_regularizer)
        def fresh_initializer():  # one instance per layer, or Keras repeats the same values
            return tf.keras.initializers.get(tf.keras.initializers.serialize(self.kernel_initializer))

        self.attention_mlp = [
            tf.keras.layers.Dense(u, activation="relu", kernel_initializer=fresh_initializer(),
                                  kernel_regularizer=self.kernel_regularizer, name=f"attention_hidden_{i}",
                                  dtype=self.dtype_policy)
            for i, u in enumerate(self.hidden_units)]
        self.attention_out = tf.keras.layers.Dense(
            self.num_attention, kernel_initializer=fresh_initializer(),
            kernel_regularizer=self.kernel_regularizer, name="attention_out", dtype=self.dtype_policy)

    def build(self, input_shape):
        shape = tf.TensorShape(input_shape)
        if shape.rank != 3:
            raise ValueError(f"AttentionFM expects [batch, m, d] embeddings, got shape {shape}; "
                             f"stack feature embeddings with tf.stack(embeddings, axis=1)")
        m, d = shape[1], shape[2]
        if m is None or d is None:
            raise ValueError(f"AttentionFM needs static m and d, got shape {shape}")
        if m < 2:
            raise ValueError(f"AttentionFM needs m >= 2 feature embeddings to interact, got m={m}")
        width = d
        for layer in self.attention_mlp:
            layer.build(tf.TensorShape([None, m, width]))
            width = layer.units
        self.attention_out.build(tf.TensorShape([None, m, width]))
        super().build(input_shape)

    def attention(self, x):
        """``Y = MLP(X)``, shape ``[batch, m, k]``."""
        y = x
        for layer in self.attention_mlp:
            y = layer(y)
        return self.attention_out(y)

    def call(self, x):
        y = self.attention(x)                       # [b, m, k]
        xty = tf.matmul(x, y, transpose_a=True)     # [b, d, k] = X^T Y
        return tf.matmul(x, xty)                    # [b, m, k] = X (X^T Y)

    def compute_output_shape(self, input_shape):
        shape = tf.TensorShape(input_shape)
        return tf.TensorShape([shape[0], shape[1], self.num_attention])

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_attention": self.num_attention,
            "hidden_units": list(self.hidden_units),
            "kernel_initializer": tf.keras.initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": tf.keras.regularizers.serialize(self.kernel_regularizer),
        })
        return config
