"""Full-pass preprocessing with tf.Transform: what the pipeline's ``Transform`` runs.

The library commands (``c2al train``, ``experiment``) build their vocabularies and
bucket edges in memory (:meth:`c2al_tf.models.features.FeatureSpec.from_table`).
The TFX pipeline computes the same things with tf.Transform analyzers over the
whole training split on Beam, and the resulting transform graph is applied by the
Trainers' input pipelines and inside the exported SavedModel, so training and
serving cannot skew. Per input column (typing: :func:`plan`, the same rule as
:mod:`c2al_tf.data.column_types` where the schema alone can decide it):

* **categorical** ``c`` (text, an id-named integer, or an integer the schema or
  ``--categorical`` marks categorical) -> ``c``: int64 ``[batch, 1]``,

      i = 1 + rank of c among the ``vocab_budget`` most frequent values seen at
          least MIN_COUNT (2) times; 0 = OOV (rarer or unseen) or missing

  (``tft.vocabulary``, file ``c``; the model embeds it with
  ``CategoricalEmbedding(indices=V)``).
* **numeric** ``x`` (a float, or an integer's numeric view) -> ``x``: float32
  ``[batch, 1]``, its position on the quantile edges q_1 < ... < q_K of the split
  (``tft.quantiles``, at :data:`c2al_tf.models.features.BUCKET_LEVELS`, so 1/2/5%
  tails get buckets of their own)::

      k = #{j : q_j <= x}                        (bucket, 0..K)
      r = k + (x - q_k) / (q_{k+1} - q_k)        inside an inner bucket; k + 0.5 in the two end buckets
      r = NaN                                    if x is missing

  The model embeds ``r`` with ``NumericEmbedding(boundaries=[1..K])``: bucket k
  gets its own vector and the within-bucket position a linear term, so a
  feature's extremes get embeddings of their own. ``r`` is bounded, so it loses
  how far a value lies inside its bucket's range; that magnitude is a second output,
  ``x__z`` (:data:`~c2al_tf.names.MAGNITUDE_VIEW`): float32 ``[batch, 1]``,

      z = (x - mean) / std                       (``tft.mean``, ``tft.var`` over the split; NaN if missing)

  embedded linearly (the layer clips it to +-10). The library path gets the same
  two things from one embedding per column: its bucket's vector plus a linear term
  in the z-score of the raw value. Without ``x__z`` the pipeline's baseline was
  weaker on the demo's data (bench/README.md, "The pipeline's numeric features").
* **integer** (other integers) -> both: ``x`` (numeric) and ``x__cat``
  (categorical).

The label, the auxiliary labels ``aux__*`` and ``c2al_cohorts`` are never
transformed: the Trainers read them from the raw examples, so none of them can
reach the serving inputs.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Sequence

import c2al_tf  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from c2al_tf.data.column_types import CATEGORICAL, INTEGER, NUMERIC, looks_like_id_name
from c2al_tf.errors import C2ALInputError
from c2al_tf.labels import is_target
from c2al_tf.models.features import (BUCKET_LEVELS, CATEGORICAL_VIEW, MIN_COUNT, VOCAB_BUDGET,
                                     CategoricalFeature, FeatureSpec, NumericFeature)
from c2al_tf.names import MAGNITUDE_VIEW

QUANTILE_BUCKETS = 100  # tft.quantiles resolution: every BUCKET_LEVELS level is a multiple of 1%
QUANTILE_EPSILON = 1e-3  # approximation error of the quantile sketch (rank error, as a fraction of rows)


@dataclasses.dataclass(frozen=True)
class TransformConfig:
    """What the Transform needs to know (the pipeline passes it as custom_config)."""

    label: str
    categorical: Sequence[str] = ()
    numeric: Sequence[str] = ()
    vocab_budget: int = VOCAB_BUDGET

    def to_dict(self) -> dict:
        return {"label": self.label, "categorical": list(self.categorical), "numeric": list(self.numeric),
                "vocab_budget": int(self.vocab_budget)}

    @classmethod
    def from_dict(cls, d: dict) -> "TransformConfig":
        if not d or "label" not in d:
            raise C2ALInputError("Transform custom_config: 'label' is required")
        return cls(d["label"], tuple(d.get("categorical", ())), tuple(d.get("numeric", ())),
                   int(d.get("vocab_budget", VOCAB_BUDGET)))


def plan(dtypes: Dict[str, str], config: TransformConfig) -> Dict[str, str]:
    """``{column: numeric | categorical | integer}`` for the model's input columns,
    from each column's tf.Example type (``string`` / ``int64`` / ``float32``)."""
    overlap = set(config.categorical) & set(config.numeric)
    if overlap:
        raise C2ALInputError(f"columns both categorical and numeric: {', '.join(sorted(overlap))}")
    for name in list(config.categorical) + list(config.numeric):
        if is_target(name, config.label):
            raise C2ALInputError(f"feature '{name}' is a training target and cannot be a model input; remove it "
                                 f"from categorical, numeric and the schema's is_categorical",
                                 arguments=("categorical", "numeric"))
    out = {}
    for name, dtype in sorted(dtypes.items()):
        if is_target(name, config.label):
            continue
        if dtype == "string" or name in config.categorical:
            kind = CATEGORICAL
        elif dtype == "float32" or name in config.numeric:
            kind = NUMERIC
        else:
            kind = CATEGORICAL if looks_like_id_name(name) else INTEGER
        out[name] = kind
    return out


# -- the preprocessing function --------------------------------------------------
def _first(x, default):
    """A dense ``[batch, 1]`` tensor of each row's first value, and a ``[batch, 1]``
    bool of whether the row had one (sparse / ragged / dense inputs)."""
    import tensorflow as tf

    if isinstance(x, tf.RaggedTensor):
        x = x.to_sparse()
    if isinstance(x, tf.SparseTensor):
        batch = x.dense_shape[0]
        dense = tf.sparse.to_dense(x, default_value=default)
        pad = tf.fill(tf.stack([tf.shape(dense)[0], 1]), tf.constant(default, x.dtype))
        first = tf.reshape(tf.concat([dense, pad], axis=1)[:, :1], [-1, 1])
        counts = tf.math.bincount(tf.cast(x.indices[:, 0], tf.int32), minlength=tf.cast(batch, tf.int32),
                                  maxlength=tf.cast(batch, tf.int32))
        return first, tf.expand_dims(counts > 0, -1)
    x = tf.reshape(x, [tf.shape(x)[0], -1])[:, :1]
    return x, tf.ones_like(x, dtype=tf.bool)


def _present_values(x):
    import tensorflow as tf

    if isinstance(x, tf.RaggedTensor):
        return x.flat_values
    if isinstance(x, tf.SparseTensor):
        return x.values
    return tf.reshape(x, [-1])


def _as_text(x):
    import tensorflow as tf

    return x if x.dtype == tf.string else tf.strings.as_string(x)


def op_name(name: str) -> str:
    """A column name as a TensorFlow op / scope / vocabulary file name: unchanged when
    it is one already (letters, digits, ``_ . -``), else its other characters replaced
    by ``_`` and a short hash added so two columns never share one (e.g. ``dis:count``)."""
    import hashlib
    import re

    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", name):
        return name
    safe = re.sub(r"[^A-Za-z0-9_.\-]", "_", name).lstrip("_.-") or "col"
    return f"{safe}_{hashlib.sha1(name.encode('utf-8')).hexdigest()[:8]}"


def _categorical(x, name: str, top_k: int, min_count: int):
    import tensorflow as tf
    import tensorflow_transform as tft

    values = _as_text(_present_values(x))
    vocab = tft.vocabulary(values, top_k=int(top_k), frequency_threshold=int(min_count) if min_count > 1 else None,
                           vocab_filename=op_name(name),
                           name=f"vocab_{op_name(name)}")
    first, present = _first(x, "" if x.dtype == tf.string else 0)
    index = tft.apply_vocabulary(_as_text(first), vocab, default_value=-1) + 1
    return tf.where(present, index, tf.zeros_like(index))


def _numeric(x, name: str):
    """(r, z) of the module docstring: the bucket position and the z-score."""
    import numpy as np
    import tensorflow as tf
    import tensorflow_transform as tft

    values = tf.cast(_present_values(x), tf.float32)
    mean = tft.mean(values, name=f"mean_{op_name(name)}")
    std = tf.sqrt(tft.var(values, name=f"var_{op_name(name)}"))
    all_edges = tft.quantiles(values, num_buckets=QUANTILE_BUCKETS, epsilon=QUANTILE_EPSILON,
                              name=f"quantiles_{op_name(name)}")
    levels = [int(round(q * QUANTILE_BUCKETS)) - 1 for q in BUCKET_LEVELS]
    edges = tf.gather(tf.reshape(all_edges, [-1]), levels)  # [K], sorted (ties possible)
    first, present = _first(x, 0)
    v = tf.cast(first, tf.float32)
    k = tf.cast(tft.apply_buckets(v, tf.expand_dims(edges, 0)), tf.int32)  # [batch, 1] in 0..K
    n = len(levels)
    lower = tf.gather(edges, tf.clip_by_value(k - 1, 0, n - 1))
    upper = tf.gather(edges, tf.clip_by_value(k, 0, n - 1))
    width = upper - lower
    inner = (k >= 1) & (k <= n - 1) & (width > 0)
    frac = tf.where(inner, (v - lower) / tf.where(width > 0, width, 1.0), 0.5)
    frac = tf.clip_by_value(frac, 0.0, np.nextafter(np.float32(1), np.float32(0)))
    r = tf.cast(k, tf.float32) + frac
    z = (v - mean) / tf.where(std > 0, std, 1.0)
    missing = tf.fill(tf.shape(r), np.float32(np.nan))
    return tf.where(present, r, missing), tf.where(present, z, missing)


def preprocessing(inputs: Dict, config: TransformConfig) -> Dict:
    """The body of the pipeline's ``preprocessing_fn`` (see the module docstring)."""
    import tensorflow as tf

    dtypes = {name: _dtype_name(t.dtype) for name, t in inputs.items()}
    kinds = plan(dtypes, config)
    if not kinds:
        raise C2ALInputError("Transform: the schema has no model input besides the label and C2AL targets")
    out = {}
    for name, kind in kinds.items():
        x = inputs[name]
        if kind in (NUMERIC, INTEGER):
            out[name], out[name + MAGNITUDE_VIEW] = _numeric(x, name)
        if kind == CATEGORICAL:
            out[name] = _categorical(x, name, config.vocab_budget, MIN_COUNT)
        elif kind == INTEGER:
            view = name + CATEGORICAL_VIEW
            out[view] = _categorical(x, view, config.vocab_budget, MIN_COUNT)
    return {k: tf.reshape(v, [-1, 1], name=f"out_{op_name(k)}") for k, v in out.items()}


def _dtype_name(dtype) -> str:
    import tensorflow as tf

    if dtype == tf.string:
        return "string"
    return "int64" if dtype.is_integer else "float32"


# -- what the model reads ------------------------------------------------------------
def model_spec(tft_output, label: str) -> FeatureSpec:
    """The model's FeatureSpec over the transformed features of ``tft_output``
    (a ``tft.TFTransformOutput``): float features numeric on the bucket scale (a
    ``__z`` z-score linear, without buckets), int64 features categorical indices into
    their vocabulary file. A vocabulary
    that came out empty (a column missing in every training row, or with no value
    seen twice) is refused; an integer column's categorical view with no value
    seen twice is left out."""
    import tensorflow as tf

    n = len(BUCKET_LEVELS)
    numeric: List[NumericFeature] = []
    categorical: List[CategoricalFeature] = []
    for name, feature in sorted(tft_output.transformed_feature_spec().items()):
        if feature.dtype == tf.float32 and name.endswith(MAGNITUDE_VIEW):
            numeric.append(NumericFeature(name, 0.0, 1.0, "float32", []))  # a z-score already
        elif feature.dtype == tf.float32:
            # r is uniform-ish on [0, K + 1): centre and scale it like a z-score
            numeric.append(NumericFeature(name, (n + 1) / 2.0, (n + 1) / 12 ** 0.5, "float32",
                                          [float(b) for b in range(1, n + 1)]))
        else:
            size = int(tft_output.vocabulary_size_by_name(op_name(name)))
            if size <= 1 and _empty_vocabulary(tft_output, name):
                if name.endswith(CATEGORICAL_VIEW):  # no integer value seen twice: its numeric view stays
                    continue
                raise C2ALInputError(f"Transform: column '{name}' has an empty vocabulary (missing in every "
                                     f"training row, or no value seen twice); drop it from the data or the schema")
            categorical.append(CategoricalFeature(name, [], "int64", indices=size))
    if not numeric and not categorical:
        raise C2ALInputError("Transform: the transform graph has no output feature")
    return FeatureSpec(label, numeric, categorical)


def _empty_vocabulary(tft_output, name: str) -> bool:
    """tf.Transform writes one placeholder entry for a vocabulary that saw no value."""
    from tensorflow_transform.analyzers import get_empy_vocabulary_dummy_value

    vocabulary = tft_output.vocabulary_by_name(op_name(name))
    return not vocabulary or vocabulary[0] == get_empy_vocabulary_dummy_value("string")[1]


def raw_input_columns(tft_output, label: str) -> Dict[str, str]:
    """``{column: string|int64|float32}``: the raw tf.Example features the served
    model reads (the schema's features minus the label and C2AL targets)."""
    return {name: _dtype_name(f.dtype) for name, f in sorted(tft_output.raw_feature_spec().items())
            if not is_target(name, label)}


def serving_parse_spec(tft_output, label: str) -> Dict:
    """The raw parsing spec of the served inputs (no label, no C2AL target)."""
    return {name: f for name, f in tft_output.raw_feature_spec().items() if not is_target(name, label)}


def to_model_inputs(transformed: Dict, spec: FeatureSpec) -> Dict:
    """The transform layer's outputs -> the model's ``[batch, 1]`` inputs."""
    import tensorflow as tf

    out = {}
    for name in spec.names:
        if name not in transformed:
            raise C2ALInputError(f"the transform graph does not output feature '{name}' that the model reads")
        out[name] = tf.reshape(transformed[name], [-1, 1])
    return out


def transform_parser(transform_output, spec: FeatureSpec):
    """(parse, tft_layer): serialized raw tf.Examples -> the model's inputs through
    the transform graph of ``transform_output`` (a ``tft.TFTransformOutput``)."""
    import tensorflow as tf

    tft_layer = transform_output.transform_features_layer()
    raw_spec = serving_parse_spec(transform_output, spec.label)

    def parse(examples):
        return to_model_inputs(tft_layer(tf.io.parse_example(examples, raw_spec)), spec)

    return parse, tft_layer
