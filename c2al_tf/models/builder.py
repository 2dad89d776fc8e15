"""The C2AL model: shared encoder -> primary head + one auxiliary head per cohort.

    embeddings X = [e_1 .. e_m]  (one row per feature, [batch, m, d]; grouped layers, see embed)
    h = MLP(interaction(X))      (the shared encoder)
    p = sigmoid(w_0 h + b_0)     primary head, output "primary" (logit layer "primary_logit")
    p_C = sigmoid(w_C h + b_C)   auxiliary head per cohort C, output "aux__<C>"
    L = BCE(y, p) + sum_C lambda_C * BCE(y * 1[x in C], p_C)

Recipe options (``ModelConfig``, off by default): ``aux_tower`` puts a small MLP
between h and each auxiliary head (``p_C = sigmoid(w_C MLP_C(h) + b_C)``);
``aux_warmup_steps`` and ``gradient_projection`` change the training step
(:class:`~c2al_tf.models.multihead.MultiHeadModel`). None of them touches the
serving model. ``mmoe_experts = K > 0`` (an ablation, not a recipe: it changes
the serving model) puts a multi-gate mixture of experts on h, one gate per head,
``p_t = sigmoid(w_t r_t + b_t)`` with ``r_t = sum_k g_tk(h) e_k(h)``
(:class:`~c2al_tf.layers.MixtureOfExperts`).

Encoders (``ModelConfig.model``): the registry in :mod:`c2al_tf.models.encoders`.
Configuration: :mod:`c2al_tf.models.config`; the fused multi-head loss:
:mod:`c2al_tf.models.multihead`. ``build_model`` builds; it does not compile
(:meth:`C2ALModel.compile`, called by the training functions when needed).

The serving model is the encoder plus the primary head only: it has exactly the
variables and ops of the same encoder built without auxiliary heads.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

import c2al_tf  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
import numpy as np
import tensorflow as tf

from c2al_tf.cohorts.spec import CohortSpec
from c2al_tf.errors import C2ALInputError
from c2al_tf.layers import AttentionFM, CategoricalEmbeddings, MixtureOfExperts, NumericEmbeddings
from c2al_tf.models import encoders
from c2al_tf.models.config import DEFAULT_AUX_WEIGHT, ENCODERS, PRIMARY, ModelConfig  # noqa: F401
from c2al_tf.models.features import FeatureSpec
from c2al_tf.models.heads import add_cohort_heads
from c2al_tf.models.multihead import MultiHeadModel  # noqa: F401  (registered; imported here for callers)


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

    def ensure_compiled(self) -> None:
        """Compiles once (training functions call this; a model compiled by the user is kept)."""
        if getattr(self.training_model, "optimizer", None) is None:
            self.compile()


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _cohort_list(cohorts) -> List[Dict[str, Any]]:
    if cohorts is None:
        return []
    if isinstance(cohorts, CohortSpec):
        return list(cohorts.cohorts())
    return list(cohorts)


def _head(name: str, prior: Optional[float], representation):
    """Logit ``Dense(1)`` then sigmoid; the bias starts at logit(prior) when the
    positive rate is known. Returns (logit, probability) tensors."""
    bias = "zeros"
    if prior is not None and 0 < prior < 1:
        bias = tf.keras.initializers.Constant(float(np.log(prior / (1 - prior))))
    logit = tf.keras.layers.Dense(1, bias_initializer=bias, name=f"{name}_logit")(representation)
    return logit, tf.keras.layers.Activation("sigmoid", name=name)(logit)


def embed(spec: FeatureSpec, inputs, config: ModelConfig):
    """The feature embeddings X ``[batch, m, d]``: every numeric feature in one
    :class:`~c2al_tf.layers.NumericEmbeddings`, every categorical one in the
    :class:`~c2al_tf.layers.CategoricalEmbeddings` of its kind (vocabulary, hashed,
    indexed), in the order of ``spec.embedded`` within each group (numeric first).
    The number of layers and ops does not grow with the number of columns."""
    d = config.embedding_dim
    groups = []
    if spec.numeric:
        columns = [inputs[f.name] for f in spec.numeric]
        x = tf.keras.layers.Concatenate(axis=1, name="numeric_inputs")(columns) if len(columns) > 1 else columns[0]
        edges = [f.boundaries if config.numeric_buckets else [] for f in spec.numeric]
        groups.append(NumericEmbeddings(d, [f.mean for f in spec.numeric], [f.std for f in spec.numeric], edges,
                                        [config.numeric_scaled or not e for e in edges], name="numeric_embeddings")(x))
    kinds = (("vocabulary", lambda f: not f.hash_buckets and not f.indices,
              lambda fs: {"vocabularies": [f.vocabulary for f in fs]}),
             ("hashed", lambda f: f.hash_buckets, lambda fs: {"hash_buckets": [f.hash_buckets for f in fs]}),
             ("indexed", lambda f: f.indices and not f.hash_buckets, lambda fs: {"indices": [f.indices for f in fs]}))
    for kind, member, arguments in kinds:
        features = [f for f in spec.categorical if member(f)]
        if features:
            groups.append(CategoricalEmbeddings(d, l2=config.embedding_l2, name=f"{kind}_embeddings",
                                                **arguments(features))([inputs[f.column] for f in features]))
    return tf.keras.layers.Concatenate(axis=1, name="grouped_embeddings")(groups) if len(groups) > 1 else groups[0]


def build_model(spec: FeatureSpec, cohorts: Union[CohortSpec, Sequence[Mapping[str, Any]], None] = None,
                config: Optional[ModelConfig] = None, priors: Optional[Mapping[str, float]] = None) -> C2ALModel:
    """Builds the multi-head model for ``spec`` and ``cohorts`` (not compiled).

    ``priors`` (head name -> training positive rate, see
    :func:`c2al_tf.models.training.head_priors`) start each head at its base rate.
    A data column named like a layer the model adds (e.g. ``primary``) is refused
    with a C2ALInputError naming it.
    """
    try:
        return _build_model(spec, cohorts, config, priors)
    except ValueError as e:
        match = re.search(r'The name "([^"]+)" is used \d+ times in the model', str(e))
        if not match or isinstance(e, C2ALInputError):
            raise
        name = match.group(1)
        clashing = [c for c in spec.columns if c == name]
        if not clashing:
            raise
        raise C2ALInputError(f"column '{clashing[0]}' takes the name '{name}' of a layer the model adds; rename "
                             f"the column or leave it out (drop {clashing[0]})", arguments=("drop",)) from None


def _build_model(spec: FeatureSpec, cohorts: Union[CohortSpec, Sequence[Mapping[str, Any]], None] = None,
                config: Optional[ModelConfig] = None, priors: Optional[Mapping[str, float]] = None) -> C2ALModel:
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
    m = len(spec.embedded)
    x = tf.keras.layers.Reshape((m, d), name="embeddings")(embed(spec, inputs, config))  # X: [batch, m, d]
    flat = tf.keras.layers.Flatten(name="flat_embeddings")(x)
    encode = encoders.get(config.model)
    if config.model in encoders.NEEDS_TWO_FEATURES and m < 2:
        raise C2ALInputError(f"'{config.model}' needs at least 2 features to interact, the data has "
                             f"{m} ('{spec.embedded[0]}'); use model mlp or add features", arguments=("model",))
    h, attention = encode(x, flat, config)
    representation = encoders.mlp(h, config.mlp_units, config.dropout, "mlp")
    encoder = tf.keras.Model(inputs, representation, name="encoder")
    tasks = None
    if config.mmoe_experts:
        tasks = MixtureOfExperts(int(config.mmoe_experts), int(config.mmoe_units), 1 + len(names),
                                 name="mmoe")(representation)
    _, primary = _head(PRIMARY, priors.get(PRIMARY), tasks[0] if tasks is not None else representation)
    serving = tf.keras.Model(inputs, primary, name="c2al_serving")

    def tower(name, h):
        if tasks is not None:
            return tasks[1 + names.index(name)]
        if config.aux_tower:  # --aux-tower: each auxiliary head reads its own small MLP on h
            return encoders.mlp(h, config.aux_tower, config.dropout, f"{_safe(name)}_tower")
        return h

    # the auxiliary heads and the fused loss: the public API users call on their own models
    heads = add_cohort_heads(serving, cohorts, representation=representation,
                             aux_weight={c["aux_label"]: config.weight_for(c) for c in cohorts},
                             priors={n: priors[n] for n in names if n in priors}, aux_tower=tower,
                             check_features=False, name="c2al_training",
                             aux_warmup_steps=int(config.aux_warmup_steps),
                             gradient_projection=bool(config.gradient_projection))
    return C2ALModel(spec, config, cohorts, heads.training_model, serving, encoder, attention)


def load_model_fn(path: str) -> Callable[[FeatureSpec], Any]:
    """``package.module:function`` -> the function (the working directory is importable).
    Refused in one line when the module or the function cannot be found."""
    import importlib
    import os
    import sys

    module_name, _, name = str(path).partition(":")
    if not module_name or not name:
        raise C2ALInputError(f"model_fn '{path}': write it as package.module:function")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise C2ALInputError(f"model_fn '{path}': cannot import module '{module_name}' ({e})") from None
    fn = getattr(module, name, None)
    if not callable(fn):
        raise C2ALInputError(f"model_fn '{path}': module '{module_name}' has no function '{name}'")
    return fn


def build_from_model_fn(spec: FeatureSpec, model_fn: Callable[[FeatureSpec], Any], cohorts=None,
                        config: Optional[ModelConfig] = None, priors: Optional[Mapping[str, float]] = None,
                        representation: Optional[str] = None) -> C2ALModel:
    """A :class:`C2ALModel` around a user's model: ``model_fn(spec)`` returns a functional
    Keras model on ``spec.keras_inputs()`` ending in the click probability; the auxiliary
    heads read ``representation`` (default: the input of its logit layer). Its serving
    model is the user's model, unchanged."""
    config = config or ModelConfig()
    cohorts = _cohort_list(cohorts)
    model = model_fn(spec)
    if not isinstance(model, tf.keras.Model):
        raise C2ALInputError(f"model_fn returned {type(model).__name__}, not a tf.keras.Model")
    names = [c["aux_label"] for c in cohorts]
    heads = add_cohort_heads(model, cohorts, representation=representation,
                             aux_weight={c["aux_label"]: config.weight_for(c) for c in cohorts},
                             priors={n: priors[n] for n in names if priors and n in priors}, check_features=False,
                             name="c2al_training")
    h = heads.training_model.get_layer(f"{names[0]}_logit").input if names else None
    encoder = tf.keras.Model(model.inputs, h if h is not None else model.outputs[0], name="encoder")
    return C2ALModel(spec, config, cohorts, heads.training_model, model, encoder, None)
