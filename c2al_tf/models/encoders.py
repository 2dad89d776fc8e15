"""Encoder registry: how the per-feature embeddings interact before the shared MLP.

Each encoder maps the stacked embeddings ``X`` ([batch, m, d]) and their flattened
form ``flat`` ([batch, m*d]) to the representation fed to the MLP tower, and
returns the attention layer when it has one (for the diagnostics):

* ``attention_fm``: ``[flatten(AttentionFM(X)), flat]``
* ``dhen``: ``[flatten(AttentionFM(X)), Cross^L(flat), MLP(flat)]`` (an ensemble)
* ``dcn``: DCN-v2 cross stack (``tfrs.layers.dcn.Cross``) on ``flat``
* ``fm``: ``[flat, FM bi-interaction(X)]``
* ``mlp``: ``flat``

Add one with :func:`register`; ``ModelConfig.model`` names it.
"""
from __future__ import annotations

from typing import Callable, Dict, Iterable, Optional, Tuple

import c2al_tf  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
import tensorflow as tf

from c2al_tf.layers import AttentionFM, FMInteraction

Encoder = Callable[..., Tuple[tf.Tensor, Optional[AttentionFM]]]
REGISTRY: Dict[str, Encoder] = {}
NEEDS_TWO_FEATURES = {"attention_fm", "dhen", "fm"}


def register(name: str):
    """Decorator: ``@register("name") def encoder(x, flat, config) -> (h, attention_or_None)``."""
    def wrap(fn: Encoder) -> Encoder:
        REGISTRY[name] = fn
        return fn
    return wrap


def get(name: str) -> Encoder:
    if name not in REGISTRY:
        raise ValueError(f"unknown model '{name}'; choose one of {', '.join(REGISTRY)}")
    return REGISTRY[name]


def mlp(x, units: Iterable[int], dropout: float, prefix: str):
    for i, u in enumerate(units):
        x = tf.keras.layers.Dense(u, activation="relu", name=f"{prefix}_{i}")(x)
        if dropout > 0:
            x = tf.keras.layers.Dropout(dropout, name=f"{prefix}_dropout_{i}")(x)
    return x


def cross_stack(x0, n: int, prefix: str):
    import tensorflow_recommenders as tfrs

    x = x0
    for i in range(n):
        x = tfrs.layers.dcn.Cross(name=f"{prefix}_{i}")(x0, x)
    return x


@register("attention_fm")
def attention_fm(x, flat, config):
    attention = AttentionFM(config.num_attention, config.attention_hidden, name="attention_fm")
    h = tf.keras.layers.Concatenate(name="interactions")(
        [tf.keras.layers.Flatten(name="flat_attention")(attention(x)), flat])
    return h, attention


@register("dhen")
def dhen(x, flat, config):
    attention = AttentionFM(config.num_attention, config.attention_hidden, name="attention_fm")
    branches = [tf.keras.layers.Flatten(name="flat_attention")(attention(x)),
                cross_stack(flat, config.cross_layers, "cross"),
                mlp(flat, config.mlp_units[:1], config.dropout, "dhen_mlp_branch")]
    return tf.keras.layers.Concatenate(name="ensemble")(branches), attention


@register("dcn")
def dcn(x, flat, config):
    return cross_stack(flat, config.cross_layers, "cross"), None


@register("fm")
def fm(x, flat, config):
    return tf.keras.layers.Concatenate(name="interactions")([flat, FMInteraction(reduce=False, name="fm")(x)]), None


@register("mlp")
def plain(x, flat, config):
    return flat, None
