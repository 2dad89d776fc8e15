"""Multi-gate mixture of experts (MMoE, Ma et al., KDD 2018): one gate per task."""
from __future__ import annotations

import c2al_tf  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
import tensorflow as tf

from c2al_tf.layers.base import StaticLayer


@tf.keras.utils.register_keras_serializable(package="c2al")
class MixtureOfExperts(StaticLayer):
    """K ReLU experts shared by T tasks, each task mixing them with its own gate.

    For an input x in R^D:

        e_k = ReLU(W_k x + b_k)                   in R^U,  k = 1..K   (experts)
        g_t = softmax(G_t x + c_t)                in R^K,  t = 1..T   (one gate per task)
        r_t = sum_k g_tk e_k                      in R^U               (task t's input)

    Input shape: ``[batch, D]``. Output: a list of T tensors ``[batch, U]``, the
    t-th being r_t. Weights: ``experts`` ``[D, K, U]``,
    ``expert_bias`` ``[K, U]``, ``gates`` ``[T, D, K]``, ``gate_bias`` ``[T, K]``.

    Args:
        num_experts: K >= 1.
        units: U >= 1, each expert's output size.
        num_tasks: T >= 1 (one gate each).
    """

    def __init__(self, num_experts: int = 4, units: int = 32, num_tasks: int = 1, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("num_experts", num_experts), ("units", units), ("num_tasks", num_tasks)):
            if int(value) < 1:
                raise ValueError(f"MixtureOfExperts: {name} must be >= 1, got {value}")
        self.num_experts, self.units, self.num_tasks = int(num_experts), int(units), int(num_tasks)

    def build(self, input_shape):
        shape = tf.TensorShape(input_shape)
        if shape.rank != 2 or shape[-1] is None:
            raise ValueError(f"MixtureOfExperts expects [batch, D] inputs with a known D, got shape {shape}")
        d = int(shape[-1])
        k, u, t = self.num_experts, self.units, self.num_tasks
        self.experts = self.add_weight(name="experts", shape=(d, k, u), initializer="glorot_uniform")
        self.expert_bias = self.add_weight(name="expert_bias", shape=(k, u), initializer="zeros")
        self.gates = self.add_weight(name="gates", shape=(t, d, k), initializer="glorot_uniform")
        self.gate_bias = self.add_weight(name="gate_bias", shape=(t, k), initializer="zeros")
        super().build(input_shape)

    def call(self, x):
        experts = tf.nn.relu(tf.einsum("bd,dku->bku", x, self.experts) + self.expert_bias)   # [B, K, U]
        gates = tf.nn.softmax(tf.einsum("bd,tdk->btk", x, self.gates) + self.gate_bias, axis=-1)  # [B, T, K]
        return tf.unstack(tf.einsum("btk,bku->btu", gates, experts), num=self.num_tasks, axis=1)

    def compute_output_shape(self, input_shape):
        return [tf.TensorShape([tf.TensorShape(input_shape)[0], self.units])] * self.num_tasks

    def get_config(self):
        config = super().get_config()
        config.update({"num_experts": self.num_experts, "units": self.units, "num_tasks": self.num_tasks})
        return config
