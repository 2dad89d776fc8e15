"""The C2AL model: shared encoder -> primary head + one auxiliary head per cohort.

    embeddings X = [e_1 .. e_m]  (one per feature, [batch, m, d])
    h = MLP(interaction(X))      (the shared encoder)
    p = sigmoid(w_0 h + b_0)     primary head, output "primary" (logit layer "primary_logit")
    p_C = sigmoid(w_C h + b_C)   auxiliary head per cohort C, output "aux__<C>"
    L = BCE(y, p) + sum_C lambda_C * BCE(y * 1[x in C], p_C)

Encoders (``ModelConfig.model``):

* ``attention_fm``: ``[flatten(AttentionFM(X)), flatten(X)] -> MLP``
* ``dhen``: ensemble of attention FM, DCN-v2 cross stack (tfrs) and an MLP branch,
  concatenated -> MLP
* ``dcn``: DCN-v2 cross stack (``tfrs.layers.dcn.Cross``) on flatten(X) -> MLP
* ``fm``: ``[flatten(X), FM bi-interaction(X)] -> MLP``
* ``mlp``: flatten(X) -> MLP

The serving model is the encoder plus the primary head only: it has exactly the
variables and ops of the same encoder built without auxiliary heads.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union

import c2al_tf  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
import numpy as np
import tensorflow as tf

from c2al_tf.cohorts.spec import CohortSpec
from c2al_tf.layers import AttentionFM, CategoricalEmbedding, FMInteraction, NumericEmbedding
from c2al_tf.models.features import FeatureSpec

PRIMARY = "primary"
ENCODERS = ("attention_fm", "dhen", "dcn", "fm", "mlp")
DEFAULT_AUX_WEIGHT = 0.5


@dataclasses.dataclass
class ModelConfig:
    """Hyper-parameters. ``aux_weight`` is lambda_C for every auxiliary head (0.5 by
    default, so a head/tail pair adds at most the primary loss's weight);
    ``aux_weights`` overrides it per head (keys: cohort names or aux labels)."""

    model: str = "attention_fm"
    embedding_dim: int = 16
    num_attention: int = 8
    attention_hidden: Sequence[int] = (32,)
    mlp_units: Sequence[int] = (128, 64)
    cross_layers: int = 2
    dropout: float = 0.0
    learning_rate: float = 1e-3
    aux_weight: float = DEFAULT_AUX_WEIGHT
    aux_weights: Optional[Dict[str, float]] = None
    numeric_buckets: bool = True  # quantile-bucket embedding beside each numeric feature's scaled value

    def __post_init__(self):
        if self.model not in ENCODERS:
            raise ValueError(f"unknown model '{self.model}'; choose one of {', '.join(ENCODERS)}")
        if self.aux_weight < 0:
            raise ValueError(f"aux_weight must be >= 0, got {self.aux_weight}")
        if self.embedding_dim < 1 or self.num_attention < 1:
            raise ValueError("embedding_dim and num_attention must be >= 1")

    def weight_for(self, cohort: Mapping[str, Any]) -> float:
        weights = self.aux_weights or {}
        for key in (cohort["name"], cohort["aux_label"]):
            if key in weights:
                return float(weights[key])
        return float(self.aux_weight)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["attention_hidden"], d["mlp_units"] = list(self.attention_hidden), list(self.mlp_units)
        return d


@dataclasses.dataclass
class C2ALModel:
    """The built model and its parts."""

    spec: FeatureSpec
    config: ModelConfig
    cohorts: List[Dict[str, Any]]
    training_model: tf.keras.Model   # outputs {"primary": p, "aux__C": p_C, ...}
    serving_model: tf.keras.Model    # outputs p only
    encoder: tf.keras.Model          # inputs -> shared representation h
    attention_layer: Optional[AttentionFM]

    @property
    def head_names(self) -> List[str]:
        return [PRIMARY] + [c["aux_label"] for c in self.cohorts]

    def loss_weights(self) -> Dict[str, float]:
        return {PRIMARY: 1.0, **{c["aux_label"]: self.config.weight_for(c) for c in self.cohorts}}

    def compile(self) -> None:
        """Adam; the loss is MultiHeadModel's fused weighted BCE over all heads."""
        self.training_model.compile(optimizer=tf.keras.optimizers.Adam(self.config.learning_rate))


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _cohort_list(cohorts) -> List[Dict[str, Any]]:
    if cohorts is None:
        return []
    if isinstance(cohorts, CohortSpec):
        return list(cohorts.cohorts())
    return list(cohorts)


def _mlp(x, units: Iterable[int], dropout: float, prefix: str):
    for i, u in enumerate(units):
        x = tf.keras.layers.Dense(u, activation="relu", name=f"{prefix}_{i}")(x)
        if dropout > 0:
            x = tf.keras.layers.Dropout(dropout, name=f"{prefix}_dropout_{i}")(x)
    return x


def _cross_stack(x0, n: int, prefix: str):
    import tensorflow_recommenders as tfrs

    x = x0
    for i in range(n):
        x = tfrs.layers.dcn.Cross(name=f"{prefix}_{i}")(x0, x)
    return x


def _head(name: str, prior: Optional[float], representation):
    """Logit ``Dense(1)`` then sigmoid; the bias starts at logit(prior) when the
    positive rate is known. Returns (logit, probability) tensors."""
    bias = "zeros"
    if prior is not None and 0 < prior < 1:
        bias = tf.keras.initializers.Constant(float(np.log(prior / (1 - prior))))
    logit = tf.keras.layers.Dense(1, bias_initializer=bias, name=f"{name}_logit")(representation)
    return logit, tf.keras.layers.Activation("sigmoid", name=name)(logit)


@tf.keras.utils.register_keras_serializable(package="c2al")
class MultiHeadModel(tf.keras.Model):
    """Functional multi-head model whose train/test step computes the C2AL loss in
    one fused op over all heads:

        L = sum_h lambda_h * (1/B) sum_i w_ih * BCE(y_ih, sigmoid(z_ih))  (+ regularization)

    with logits ``z`` ([B, H], from the heads' logit layers), labels ``y`` and
    optional per-head sample weights ``w`` (default 1), i.e. Keras's
    ``sum_over_batch_size`` reduction per head. It matches
    ``compile(loss=BCE per output, loss_weights=lambda)`` but costs one loss op
    instead of one per head, so auxiliary heads add almost nothing to a step.

    ``heads`` (output names, primary first) and ``head_weights`` (lambda per head)
    are part of the config, so the model saves and loads as ``.keras`` (with its
    optimizer) and continues training where it stopped. Each head ``h`` must have
    a logit layer named ``<h>_logit`` (see :func:`build_model`).
    """

    def __init__(self, *args, heads: Optional[Sequence[str]] = None,
                 head_weights: Optional[Sequence[float]] = None, **kwargs):
        super().__init__(*args, **kwargs)
        heads = list(heads) if heads is not None else list(self.output_names)
        weights = [float(w) for w in head_weights] if head_weights is not None else [1.0] * len(heads)
        if len(weights) != len(heads):
            raise ValueError(f"MultiHeadModel: {len(heads)} heads but {len(weights)} head_weights")
        self.c2al_heads = heads
        self.c2al_head_weights = weights
        # Derived from the saved layers (each head's logit layer), rebuilt on load:
        # kept out of Keras tracking so the layers are not saved twice.
        object.__setattr__(self, "_c2al_logits", tf.keras.Model(
            self.inputs, {h: self.get_layer(f"{h}_logit").output for h in heads}, name=f"{self.name}_logits"))
        object.__setattr__(self, "_c2al_trackers", [tf.keras.metrics.Mean(name="loss"),
                                                    tf.keras.metrics.MeanTensor(name="head_losses", shape=(len(heads),))])

    @property
    def _c2al_heads(self) -> List[str]:
        return list(self.c2al_heads)

    @property
    def _c2al_weights(self):
        return tf.constant(list(self.c2al_head_weights), tf.float32)

    def get_config(self):
        import copy

        from tf_keras.src.engine import functional

        # the functional config (layers and connections) plus the heads; the base
        # class returns only the constructor's extra arguments for a custom __init__
        config = copy.deepcopy(functional.get_network_config(self, config={"name": self.name,
                                                                           "trainable": self.trainable}))
        config.update({"heads": list(self.c2al_heads), "head_weights": list(self.c2al_head_weights)})
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from tf_keras.src.engine import functional

        config = dict(config)
        heads, weights = config.pop("heads", None), config.pop("head_weights", None)
        inputs, outputs, _ = functional.reconstruct_from_config(config, custom_objects)
        return cls(inputs=inputs, outputs=outputs, name=config.get("name"), heads=heads, head_weights=weights)

    @property
    def metrics(self):
        return list(getattr(self, "_c2al_trackers", []))

    def _loss(self, data, training: bool):
        x, y, w = tf.keras.utils.unpack_x_y_sample_weight(data)
        logits = self._c2al_logits(x, training=training)
        z = tf.concat([tf.cast(logits[h], tf.float32) for h in self._c2al_heads], axis=1)
        labels = tf.concat([tf.reshape(tf.cast(y[h], tf.float32), [-1, 1]) for h in self._c2al_heads], axis=1)
        bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=z)
        if w is not None:
            bce = bce * tf.concat([tf.reshape(tf.cast(w[h], tf.float32), [-1, 1]) for h in self._c2al_heads], 1)
        per_head = tf.reduce_sum(bce, axis=0) / tf.cast(tf.shape(bce)[0], tf.float32)
        loss = tf.reduce_sum(per_head * self._c2al_weights)
        if self.losses:
            loss += tf.add_n(self.losses)
        return loss, per_head

    def _report(self, loss, per_head):
        total, heads = self._c2al_trackers
        total.update_state(loss)
        heads.update_state(per_head)
        result = {"loss": total.result()}
        values = heads.result()
        for i, h in enumerate(self._c2al_heads):
            result[f"{h}_loss"] = values[i]
        return result

    def train_step(self, data):
        with tf.GradientTape() as tape:
            loss, per_head = self._loss(data, training=True)
        self.optimizer.minimize(loss, self.trainable_variables, tape=tape)
        return self._report(loss, per_head)

    def test_step(self, data):
        loss, per_head = self._loss(data, training=False)
        return self._report(loss, per_head)


def build_model(spec: FeatureSpec, cohorts: Union[CohortSpec, Sequence[Mapping[str, Any]], None] = None,
                config: Optional[ModelConfig] = None, priors: Optional[Mapping[str, float]] = None) -> C2ALModel:
    """Builds (and compiles) the multi-head model for ``spec`` and ``cohorts``.

    ``priors`` (head name -> training positive rate, see
    :func:`c2al_tf.models.training.head_priors`) start each head at its base rate.
    """
    priors = dict(priors or {})
    config = config or ModelConfig()
    cohorts = _cohort_list(cohorts)
    names = [c["aux_label"] for c in cohorts]
    if len(set(names)) != len(names):
        raise ValueError(f"auxiliary heads repeat a name: {names}")
    if not spec.names:
        raise ValueError("the feature spec has no features")
    d = config.embedding_dim
    inputs = spec.keras_inputs()
    embedded = [NumericEmbedding(d, f.mean, f.std, boundaries=f.boundaries if config.numeric_buckets else (),
                                 name=f"emb_{_safe(f.name)}")(inputs[f.name]) for f in spec.numeric]
    embedded += [CategoricalEmbedding(f.vocabulary, d, name=f"emb_{_safe(f.name)}")(inputs[f.column])
                 for f in spec.categorical]
    rows = [tf.keras.layers.Reshape((1, d), name=f"row_{i}")(e) for i, e in enumerate(embedded)]
    x = tf.keras.layers.Concatenate(axis=1, name="embeddings")(rows) if len(rows) > 1 else rows[0]
    flat = tf.keras.layers.Flatten(name="flat_embeddings")(x)
    attention = None
    m = len(rows)
    if config.model in ("attention_fm", "dhen", "fm") and m < 2:
        raise ValueError(f"model '{config.model}' needs at least 2 features to interact; use --model mlp")
    if config.model == "attention_fm":
        attention = AttentionFM(config.num_attention, config.attention_hidden, name="attention_fm")
        h = tf.keras.layers.Concatenate(name="interactions")(
            [tf.keras.layers.Flatten(name="flat_attention")(attention(x)), flat])
    elif config.model == "dhen":
        attention = AttentionFM(config.num_attention, config.attention_hidden, name="attention_fm")
        branches = [tf.keras.layers.Flatten(name="flat_attention")(attention(x)),
                    _cross_stack(flat, config.cross_layers, "cross"),
                    _mlp(flat, config.mlp_units[:1], config.dropout, "dhen_mlp_branch")]
        h = tf.keras.layers.Concatenate(name="ensemble")(branches)
    elif config.model == "dcn":
        h = _cross_stack(flat, config.cross_layers, "cross")
    elif config.model == "fm":
        h = tf.keras.layers.Concatenate(name="interactions")([flat, FMInteraction(reduce=False, name="fm")(x)])
    else:
        h = flat
    representation = _mlp(h, config.mlp_units, config.dropout, "mlp")
    encoder = tf.keras.Model(inputs, representation, name="encoder")
    logits, outputs = {}, {}
    for name in [PRIMARY] + names:
        logits[name], outputs[name] = _head(name, priors.get(name), representation)
    training = MultiHeadModel(inputs, outputs, name="c2al_training", heads=[PRIMARY] + names,
                              head_weights=[1.0] + [config.weight_for(c) for c in cohorts])
    serving = tf.keras.Model(inputs, outputs[PRIMARY], name="c2al_serving")
    model = C2ALModel(spec, config, cohorts, training, serving, encoder, attention)
    model.compile()
    return model
