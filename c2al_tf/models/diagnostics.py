"""Keras model diagnostics: the attention layer's weight density and dead units,
and the conflict between auxiliary and primary gradients on the shared encoder."""
from __future__ import annotations

from typing import Any, Dict, Mapping

import numpy as np

def attention_weight_histogram(model, bins: int = 50, near_zero: float = 1e-3) -> Dict[str, Any]:
    """Histogram of the attention layer's MLP kernel weights (the paper's Figure 2)
    and the fraction of near-zero weights (``|w| < near_zero``)."""
    layer = getattr(model, "attention_layer", None)
    if layer is None:
        raise ValueError("this model has no attention layer (use attention_fm or dhen)")
    weights = np.concatenate([w.numpy().reshape(-1) for w in layer.trainable_weights if "kernel" in w.name])
    counts, edges = np.histogram(weights, bins=bins)
    return {"counts": counts.tolist(), "edges": edges.tolist(), "weights": weights,
            "near_zero_fraction": float(np.mean(np.abs(weights) < near_zero)),
            "std": float(weights.std())}


def attention_dead_units(model, inputs: Mapping[str, np.ndarray], eps: float = 1e-6) -> Dict[str, float]:
    """Fraction of hidden attention-MLP units that never activate (ReLU output
    <= eps for every example and feature of ``inputs``): dead units."""
    import tensorflow as tf

    layer = getattr(model, "attention_layer", None)
    if layer is None:
        raise ValueError("this model has no attention layer (use attention_fm or dhen)")
    x = model.training_model.get_layer("embeddings")
    embed = tf.keras.Model(model.training_model.inputs, x.output)
    h = embed(dict(inputs), training=False)
    fractions = {}
    for hidden in layer.attention_mlp:
        h = hidden(h)
        active = tf.reduce_max(tf.reshape(h, [-1, h.shape[-1]]), axis=0) > eps
        fractions[hidden.name] = float(1.0 - tf.reduce_mean(tf.cast(active, tf.float32)).numpy())
    return fractions


def gradient_conflict(model, inputs: Mapping[str, np.ndarray], labels: Mapping[str, np.ndarray]) -> Dict[str, Any]:
    """Splits the (weighted) auxiliary gradient on the shared encoder into the parts
    parallel and orthogonal to the primary gradient.

    Returns ``cosine`` (aux vs primary), ``parallel_norm`` (signed: negative means
    the aux heads pull against the primary), ``orthogonal_norm``, ``primary_norm``
    and ``per_head_cosine``.
    """
    import tensorflow as tf

    if not model.cohorts:
        raise ValueError("gradient_conflict needs a model with auxiliary heads")
    variables = model.encoder.trainable_variables
    bce = tf.keras.losses.BinaryCrossentropy()
    weights = model.loss_weights()
    with tf.GradientTape(persistent=True) as tape:
        out = model.training_model(dict(inputs), training=False)
        losses = {h: bce(labels[h], out[h]) for h in model.head_names}
    def flat(loss):
        grads = tape.gradient(loss, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return tf.concat([tf.reshape(tf.convert_to_tensor(g), [-1]) for g in grads], 0).numpy().astype(np.float64)
    g_p = flat(losses["primary"])
    per_head = {h: weights[h] * flat(losses[h]) for h in model.head_names if h != "primary"}
    g_a = np.sum(list(per_head.values()), axis=0)
    def cos(a, b):
        na, nb = np.linalg.norm(a), np.linalg.norm(b)
        return float(a @ b / (na * nb)) if na > 0 and nb > 0 else float("nan")
    pn = np.linalg.norm(g_p)
    parallel = float(g_a @ g_p / pn) if pn > 0 else float("nan")
    orthogonal = g_a - (g_a @ g_p / pn ** 2) * g_p if pn > 0 else g_a
    return {"cosine": cos(g_a, g_p), "parallel_norm": parallel, "orthogonal_norm": float(np.linalg.norm(orthogonal)),
            "primary_norm": float(pn), "aux_norm": float(np.linalg.norm(g_a)),
            "per_head_cosine": {h: cos(g, g_p) for h, g in per_head.items()}}
