"""C2AL on any Keras ranking model: auxiliary cohort heads on the model's shared
representation, trained with the fused multi-head loss; the serving model is the
user's own model, unchanged.

Three entry points, one per kind of user model:

- :func:`add_cohort_heads` -- a functional Keras model (inputs -> primary probability)
  and the layer (or tensor) whose output feeds its logit;
- :func:`add_cohort_heads_to_encoder` -- an encoder (inputs -> representation) and a
  primary head (representation -> probability);
- :class:`CohortHeads` -- a Keras layer with its own loss, for a model with a custom
  ``compute_loss`` (a ``tfrs.models.Model``): call it on the representation and add
  :meth:`CohortHeads.loss` to the task's loss.

For each cohort C of a :class:`~c2al_tf.cohorts.CohortSpec` (or a list of its cohort
dicts), with ``h`` the representation ``[batch, d]``::

    z_C = w_C^T h + b_C          b_C starts at logit(prior_C), the head's training positive rate
    L   = BCE(y, p) + sum_C lambda_C * BCE(y * 1[x in C], sigmoid(z_C))

Both functions return a :class:`CohortModel`: ``training_model`` (a
:class:`~c2al_tf.models.multihead.MultiHeadModel`, outputs ``{"primary": p,
"aux__C": p_C}``, labels ``{"primary": y, "aux__C": y_C}``, see
:func:`c2al_tf.models.cohort_labels`) and ``serving_model``, the user's primary model
itself: exactly its variables and ops.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import c2al_tf  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
import numpy as np
import tensorflow as tf

from c2al_tf.cohorts.spec import cohort_list
from c2al_tf.labels import check_cohort_features as _check_features, cohort_labels  # noqa: F401  (re-exported)
from c2al_tf.errors import C2ALInputError
from c2al_tf.models.config import PRIMARY
from c2al_tf.models.multihead import MultiHeadModel

DEFAULT_LAMBDA = 0.1  # the smallest non-zero candidate of the protocol's default grid


def head_weights(cohorts: Sequence[Mapping[str, Any]], aux_weight) -> List[float]:
    """lambda per cohort: one number for all, or a mapping by cohort name or aux label."""
    if isinstance(aux_weight, Mapping):
        unknown = set(aux_weight) - {c["name"] for c in cohorts} - {c["aux_label"] for c in cohorts}
        if unknown:
            raise C2ALInputError(f"aux_weight names {', '.join(sorted(unknown))}, which no cohort is; cohorts: "
                                 f"{', '.join(c['name'] for c in cohorts)}")
        weights = [float(aux_weight.get(c["name"], aux_weight.get(c["aux_label"], DEFAULT_LAMBDA))) for c in cohorts]
    else:
        weights = [float(aux_weight)] * len(cohorts)
    if any(not np.isfinite(w) or w < 0 for w in weights):
        raise C2ALInputError(f"aux_weight must be finite and >= 0, got {aux_weight}")
    return weights


def _prior_bias(prior: Optional[float]):
    if prior is not None and 0 < float(prior) < 1:
        return tf.keras.initializers.Constant(float(np.log(prior / (1 - prior))))
    return "zeros"


@tf.keras.utils.register_keras_serializable(package="c2al")
class CohortHeads(tf.keras.layers.Layer):
    """One auxiliary logit per cohort on a shared representation, and their loss.

    Equation, for the representation ``h`` ``[batch, d]`` and each cohort C::

        z_C = w_C^T h + b_C                       (call: {aux_label: z_C [batch, 1]})
        L_aux = sum_C lambda_C * (1/B) sum_i BCE(y_iC, sigmoid(z_iC))     (loss)

    ``b_C`` starts at ``logit(priors[aux_label])`` when a prior in (0, 1) is given.
    ``y_C = y * 1[x in C]`` comes from the CohortMiner's ``aux__*`` features or from
    :meth:`labels` (the cohort predicates evaluated on raw features).

    Usage in a ``tfrs.models.Model``::

        self.cohort_heads = CohortHeads(cohorts, aux_weight=0.1)
        ...
        def compute_loss(self, features, training=False):
            h = self.tower(features)
            loss = self.task(labels=features["click"], predictions=self.head(h))
            aux = self.cohort_heads.labels(features, features["click"])
            return loss + self.cohort_heads.loss(aux, self.cohort_heads(h))

    Args:
      cohorts: a CohortSpec, a cohorts.json path or its cohort dicts.
      aux_weight: lambda for every head, or a mapping cohort name / aux label -> lambda.
      priors: aux label -> the head's training positive rate (the bias' start).
    """

    def __init__(self, cohorts, aux_weight: Union[float, Mapping[str, float]] = DEFAULT_LAMBDA,
                 priors: Optional[Mapping[str, float]] = None, **kwargs):
        super().__init__(**kwargs)
        cohorts = cohort_list(cohorts)
        self._cohorts_json = json.dumps(cohorts)  # plain JSON: Keras would wrap a list of dicts it tracks
        if not cohorts:
            raise C2ALInputError("CohortHeads needs at least one cohort (the CohortSpec has no pair)")
        names = [c["aux_label"] for c in cohorts]
        if len(set(names)) != len(names):
            raise C2ALInputError(f"cohorts repeat an aux label: {names}")
        self._aux_weight_json = json.dumps(dict(aux_weight) if isinstance(aux_weight, Mapping) else float(aux_weight))
        self.weights_per_head = head_weights(cohorts, aux_weight)
        self._priors_json = json.dumps({k: float(v) for k, v in (priors or {}).items()})
        priors = json.loads(self._priors_json)
        self.logit_layers = [tf.keras.layers.Dense(1, bias_initializer=_prior_bias(priors.get(n)),
                                                   name=f"{n}_logit") for n in names]

    @property
    def cohorts(self) -> List[Dict[str, Any]]:
        return json.loads(self._cohorts_json)

    @property
    def names(self) -> List[str]:
        return [c["aux_label"] for c in self.cohorts]

    def build(self, input_shape):
        shape = tf.TensorShape(input_shape)
        if shape.rank != 2 or shape[-1] is None:
            raise C2ALInputError(f"CohortHeads takes a representation [batch, d] with a known d, got shape "
                                 f"{shape}; flatten it first (tf.keras.layers.Flatten)")
        for layer in self.logit_layers:
            layer.build(shape)
        super().build(input_shape)

    def call(self, representation):
        return {n: layer(representation) for n, layer in zip(self.names, self.logit_layers)}

    def labels(self, features: Mapping[str, Any], label):
        """``{aux_label: y * 1[x in C]}`` from raw features (a cohort's predicate reads them)."""
        return cohort_labels(features, label, self.cohorts)

    def loss(self, labels: Mapping[str, Any], logits: Mapping[str, Any]):
        """``sum_C lambda_C * mean_i BCE(y_iC, sigmoid(z_iC))`` (a scalar)."""
        missing = [n for n in self.names if n not in labels]
        if missing:
            raise C2ALInputError(f"CohortHeads.loss: no label for {', '.join(missing)}; pass labels(features, "
                                 f"label) or the CohortMiner's aux__* features")
        total = 0.0
        for name, weight in zip(self.names, self.weights_per_head):
            z = tf.reshape(tf.cast(logits[name], tf.float32), [-1])
            y = tf.reshape(tf.cast(labels[name], tf.float32), [-1])
            total += weight * tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=z))
        return total

    def get_config(self):
        return {**super().get_config(), "cohorts": self.cohorts, "aux_weight": json.loads(self._aux_weight_json),
                "priors": json.loads(self._priors_json)}


@dataclasses.dataclass
class CohortModel:
    """What :func:`add_cohort_heads` returns."""

    training_model: tf.keras.Model   # outputs {"primary": p, aux_label: p_C}; fused loss; lambda per head
    serving_model: tf.keras.Model    # the user's primary model: its variables and ops only
    cohorts: List[Dict[str, Any]]
    aux_weights: Dict[str, float]

    @property
    def head_names(self) -> List[str]:
        return [PRIMARY] + [c["aux_label"] for c in self.cohorts]

    def compile(self, optimizer="adam", **kwargs) -> None:
        """Compiles the training model (its loss is the fused multi-head loss)."""
        self.training_model.compile(optimizer=optimizer, **kwargs)

    def ensure_compiled(self) -> None:
        """Compiles with Adam once, unless the training model is compiled already."""
        if getattr(self.training_model, "optimizer", None) is None:
            self.compile()


def _is_sigmoid(activation) -> bool:
    return activation is tf.keras.activations.sigmoid or getattr(activation, "__name__", "") == "sigmoid"


def _primary_logit(model: tf.keras.Model):
    """(logit tensor, probability tensor) of a functional model with one output.

    The output layer is ``Activation("sigmoid")`` (the logit is its input), a layer with
    ``activation="sigmoid"`` (the logit is recomputed from the same weights by
    :class:`_PreActivation`), or a linear layer (its output is the logit; the training
    model adds the sigmoid)."""
    if len(model.outputs) != 1:
        raise C2ALInputError(f"model '{model.name}' has {len(model.outputs)} outputs; C2AL needs one, the primary "
                             f"click probability (use add_cohort_heads_to_encoder with your primary head)")
    output = model.outputs[0]
    layer = output._keras_history.layer
    activation = getattr(layer, "activation", None)
    if isinstance(layer, tf.keras.layers.Activation) and _is_sigmoid(activation):
        return layer.input, output
    if _is_sigmoid(activation) and isinstance(layer, tf.keras.layers.Dense):
        return _PreActivation(layer, name=f"{PRIMARY}_logit")(layer.input), output
    if activation is None or activation is tf.keras.activations.linear or \
            getattr(activation, "__name__", "") == "linear":
        return output, tf.keras.layers.Activation("sigmoid", name=PRIMARY)(output)
    raise C2ALInputError(f"cannot find the logit of model '{model.name}': its output layer '{layer.name}' has "
                         f"activation '{getattr(activation, '__name__', activation)}'; end the model with "
                         f"Dense(1, activation='sigmoid'), Activation('sigmoid') or a linear logit")


@tf.keras.utils.register_keras_serializable(package="c2al")
class _PreActivation(tf.keras.layers.Layer):
    """The pre-activation ``x W + b`` of an existing Dense layer, with its own variables
    (shared, not copied): the logit under a ``Dense(1, activation="sigmoid")``."""

    def __init__(self, dense, **kwargs):
        super().__init__(**kwargs)
        self.dense = dense

    def call(self, x):
        z = tf.matmul(tf.cast(x, self.dense.kernel.dtype), self.dense.kernel)
        return z + self.dense.bias if self.dense.use_bias else z


def _representation(model: tf.keras.Model, representation, logit):
    if representation is None:  # the input of the layer that computes the logit
        layer = logit._keras_history.layer
        layer = getattr(layer, "dense", layer)  # _PreActivation: the Dense it reads
        if not isinstance(layer, tf.keras.layers.Dense) or isinstance(layer.input, (list, tuple, dict)):
            raise C2ALInputError(f"representation: model '{model.name}' computes its logit in layer '{layer.name}', "
                                 f"not a Dense layer on one tensor; name the layer whose output feeds the logit")
        return layer.input
    if isinstance(representation, str):
        names = [layer.name for layer in model.layers]
        if representation not in names:
            raise C2ALInputError(f"representation='{representation}': model '{model.name}' has no such layer; its "
                                 f"layers are {', '.join(names[-12:])}")
        return model.get_layer(representation).output
    return representation


def add_cohort_heads(model: tf.keras.Model, cohorts, representation: Union[str, Any, None] = None,
                     aux_weight: Union[float, Mapping[str, float]] = DEFAULT_LAMBDA,
                     priors: Optional[Mapping[str, float]] = None, aux_tower=None, check_features: bool = True,
                     name: Optional[str] = None, **training_options) -> CohortModel:
    """Adds one auxiliary head per cohort to a functional Keras ranking model.

    Args:
      model: a functional ``tf.keras.Model`` with one output, the click probability
        (``Dense(1, activation="sigmoid")``, ``Activation("sigmoid")``) or its logit.
      cohorts: a CohortSpec, a cohorts.json path or its cohort dicts.
      representation: the name of the layer (or its output tensor) that feeds the logit:
        the shared representation ``h`` the auxiliary heads read, ``[batch, d]``. Default:
        the input of the Dense layer that computes the logit.
      aux_weight: lambda for every head, or a mapping cohort name / aux label -> lambda.
      priors: aux label -> the head's training positive rate (each bias starts at its logit).
      aux_tower: optional ``callable(aux_label, h) -> tensor`` between ``h`` and a head.
      check_features: refuse a cohort whose predicate reads a feature the model does not
        take (its labels could not be computed from the model's inputs). ``False`` when
        the labels come from the CohortMiner's ``aux__*`` features.
      name: the training model's name (default ``<model name>_c2al``).
      **training_options: ``aux_warmup_steps``, ``gradient_projection`` of
        :class:`~c2al_tf.models.multihead.MultiHeadModel`.

    Returns:
      A :class:`CohortModel`. Its ``serving_model`` is ``model`` itself.
    """
    cohorts = cohort_list(cohorts)
    if not isinstance(model, tf.keras.Model) or not hasattr(model, "outputs") or model.outputs is None:
        raise C2ALInputError("add_cohort_heads takes a functional Keras model (built from tf.keras.Input); for a "
                             "subclassed model use CohortHeads in its train step or compute_loss")
    logit, probability = _primary_logit(model)
    h = _representation(model, representation, logit)
    if cohorts and check_features:
        names = list(model.input) if isinstance(model.input, Mapping) else list(model.input_names)
        _check_features(cohorts, names, f"the inputs of model '{model.name}'")
    return _assemble(model.inputs, logit, probability, h, cohorts, aux_weight, priors, model, aux_tower,
                     training_options, name=name or f"{model.name}_c2al")


def add_cohort_heads_to_encoder(encoder: tf.keras.Model, primary_head, cohorts,
                                aux_weight: Union[float, Mapping[str, float]] = DEFAULT_LAMBDA,
                                priors: Optional[Mapping[str, float]] = None, name: str = "ranking",
                                **training_options) -> CohortModel:
    """Adds C2AL to an encoder (inputs -> representation ``[batch, d]``) and a primary
    head (a layer or model: representation -> click probability or logit). The serving
    model is ``Model(encoder.inputs, primary_head(encoder.outputs))``: the encoder and the
    head, nothing else. Other arguments as in :func:`add_cohort_heads`."""
    if not isinstance(encoder, tf.keras.Model) or encoder.outputs is None or len(encoder.outputs) != 1:
        raise C2ALInputError("encoder: a functional Keras model with one output, the shared representation")
    serving = tf.keras.Model(encoder.inputs, primary_head(encoder.outputs[0]), name=name)
    return add_cohort_heads(serving, cohorts, representation=encoder.outputs[0], aux_weight=aux_weight,
                            priors=priors, **training_options)


def _assemble(inputs, logit, probability, h, cohorts, aux_weight, priors, serving, aux_tower, training_options,
              name: str) -> CohortModel:
    weights = head_weights(cohorts, aux_weight)
    outputs = {PRIMARY: probability}
    logits = {PRIMARY: logit}
    if cohorts:
        heads = CohortHeads(cohorts, aux_weight, priors, name="cohort_heads")
        for layer, c in zip(heads.logit_layers, cohorts):
            name_c = c["aux_label"]
            tower = aux_tower(name_c, h) if aux_tower else h
            logits[name_c] = layer(tower)
            outputs[name_c] = tf.keras.layers.Activation("sigmoid", name=name_c)(logits[name_c])
    training = MultiHeadModel(inputs, outputs, name=name, heads=list(outputs),
                              head_weights=[1.0] + weights, logits=logits, **training_options)
    return CohortModel(training, serving, cohorts, {c["aux_label"]: w for c, w in zip(cohorts, weights)})
