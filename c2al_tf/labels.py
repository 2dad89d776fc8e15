"""Auxiliary labels: ``y_C = y * 1[x in C]`` for every cohort C of a CohortSpec.

A positive outside every cohort keeps its primary label 1 and gets 0 on every
auxiliary head: the auxiliary heads pull against the primary one there, and that
partial conflict is C2AL's regularizer. Works on numpy / pandas columns
(:func:`aux_labels`) and on batches inside ``tf.data`` (:func:`tf_aux_labels`)
with identical semantics (numeric min inclusive / max exclusive, categorical
``in`` on string values, ``all`` crosses, missing values in no cohort).
"""
from __future__ import annotations

import re

from typing import Any, Dict, Iterable, Mapping

import numpy as np

from c2al_tf.cohorts.spec import AUX_PREFIX, cohort_mask, predicate_features, predicate_mask
from c2al_tf.data.arrow import batch_labels
from c2al_tf.errors import C2ALInputError
from c2al_tf.names import MEMBERSHIP_FEATURE


def aux_labels(label, columns: Mapping[str, Any], cohorts: Iterable[Mapping[str, Any]],
               source: str = "cohorts.json") -> Dict[str, np.ndarray]:
    """``{aux_label: int64 array}`` for numpy / pandas inputs (errors name ``source``)."""
    y = np.asarray(label).astype(np.int64).reshape(-1)
    return {c["aux_label"]: y * cohort_mask(c, columns, source).astype(np.int64) for c in cohorts}


def tf_predicate_mask(predicate: Mapping[str, Any], features: Mapping[str, Any]):
    """Membership as a tf.bool tensor shaped like the feature tensors."""
    import tensorflow as tf

    if "all" in predicate:
        masks = [tf_predicate_mask(p, features) for p in predicate["all"]]
        return tf.reduce_all(tf.stack(masks, axis=0), axis=0)
    x = features[predicate["feature"]]
    if "in" in predicate:
        if x.dtype.is_floating:
            integral = tf.equal(x, tf.floor(x))
            text = tf.where(integral, tf.strings.as_string(tf.cast(tf.where(integral, x, 0.0), tf.int64)),
                            tf.strings.as_string(x))
            text = tf.where(tf.math.is_nan(x), tf.constant(""), text)
        elif x.dtype.is_integer:
            text = tf.strings.as_string(x)
        else:
            text = x
        values = tf.constant([str(v) for v in predicate["in"]])
        return tf.reduce_any(tf.equal(tf.expand_dims(text, -1), values), axis=-1)
    x = tf.cast(x, tf.float64)
    mask = tf.logical_not(tf.math.is_nan(x))
    if predicate.get("min") is not None:
        mask = tf.logical_and(mask, x >= float(predicate["min"]))
    if predicate.get("max") is not None:
        mask = tf.logical_and(mask, x < float(predicate["max"]))
    return mask


def tf_aux_labels(label, features: Mapping[str, Any], cohorts: Iterable[Mapping[str, Any]]):
    """``{aux_label: tensor}`` (label's dtype and shape) inside a tf.data map."""
    import tensorflow as tf

    return {c["aux_label"]: label * tf.reshape(tf.cast(tf_predicate_mask(c["predicate"], features), label.dtype),
                                               tf.shape(label))
            for c in cohorts}


def cohort_labels(features: Mapping[str, Any], label, cohorts) -> Dict[str, Any]:
    """``{aux_label: y * 1[x in C]}`` for a batch of raw features inside TensorFlow
    (``tf.data`` maps, ``compute_loss``): numeric predicates min inclusive / max
    exclusive, categorical ones on string values, crosses all of their parts; a
    missing value (NaN) is in no cohort. A cohort on a feature the batch lacks is
    refused, naming both."""
    import tensorflow as tf

    from c2al_tf.cohorts.spec import cohort_list

    cohorts = cohort_list(cohorts)
    check_cohort_features(cohorts, features, "the features")
    label = tf.convert_to_tensor(label)
    return tf_aux_labels(label, features, cohorts)


def check_cohort_features(cohorts, available, where: str) -> None:
    """Refuses a cohort whose predicate reads a feature not in ``available``."""
    names = set(available)
    for c in cohorts:
        for f in predicate_features(c["predicate"]):
            if f not in names:
                raise C2ALInputError(f"cohort '{c.get('name', c['aux_label'])}' is defined on feature '{f}', which "
                                     f"{where} do not have ({', '.join(sorted(map(str, names))[:20])}); mine "
                                     f"cohorts on the model's own features, or pass the CohortMiner's aux__* labels")


def with_cohort_labels(dataset, cohorts, primary: str = "primary"):
    """A ``tf.data`` pipeline of ``(features, label)`` as ``(features, {primary: label,
    aux_label: y * 1[x in C], ...})``, the labels a model from
    :func:`c2al_tf.add_cohort_heads` trains on, computed from the raw features by each
    cohort's predicate (for users who skip the CohortMiner). ``cohorts``: a CohortSpec,
    a cohorts.json path or its cohort dicts. A ``(features, label, weight)`` pipeline
    keeps its weight for every head."""
    from c2al_tf.cohorts.spec import cohort_list

    cohorts = cohort_list(cohorts)

    def attach(features, label, *weight):
        labels = {primary: label, **cohort_labels(features, label, cohorts)}
        if weight:
            return features, labels, {k: weight[0] for k in labels}
        return features, labels

    return dataset.map(attach)


def with_miner_labels(dataset, label: str, cohorts=None, primary: str = "primary"):
    """A ``tf.data`` pipeline of parsed CohortMiner examples (feature dicts holding
    ``label`` and the ``aux__*`` features the miner wrote) as ``(features, {primary:
    label, aux__C: ...})``, the targets taken out of the features (and
    ``c2al_cohorts``, the slicing feature). With ``cohorts`` only their aux labels are
    kept, and a missing one is refused naming it."""
    from c2al_tf.errors import C2ALInputError
    from c2al_tf.cohorts.spec import cohort_list

    wanted = [c["aux_label"] for c in cohort_list(cohorts)] if cohorts is not None else None
    spec = dataset.element_spec
    if not isinstance(spec, Mapping) or label not in spec:
        raise C2ALInputError(f"with_miner_labels: the dataset's elements must be feature dicts holding the label "
                             f"'{label}' (parse the CohortMiner's examples with tf.io.parse_example)")
    present = [k for k in spec if k.startswith(AUX_PREFIX)]
    missing = [n for n in (wanted or []) if n not in present]
    if missing:
        raise C2ALInputError(f"with_miner_labels: no feature {', '.join(missing)} in the examples (their aux "
                             f"features: {', '.join(present) or 'none'}); read the CohortMiner's output examples")
    heads = wanted if wanted is not None else present

    def split(features):
        features = dict(features)
        labels = {primary: features.pop(label)}
        for name in present:
            value = features.pop(name)
            if name in heads:
                labels[name] = value
        features.pop(MEMBERSHIP_FEATURE, None)
        return features, labels

    return dataset.map(split)


# RE2/Python pattern of the feature names AuxSuffixes appends to a record (aux__<C>, the
# membership): not part of a row's identity (the Trainer's validation hash leaves them out)
APPENDED_FEATURES = f"{re.escape(AUX_PREFIX)}.*|{re.escape(MEMBERSHIP_FEATURE)}"


def is_target(name: str, label: str) -> bool:
    """The label, an auxiliary label ``aux__*`` or the cohort membership: a training
    target, never a model input."""
    return name == label or name.startswith(AUX_PREFIX) or name == MEMBERSHIP_FEATURE


class AuxSuffixes:
    """Serialized tf.Example fragments for a row's cohort memberships and label:
    ``aux__<C>`` (int64 ``y * 1[x in C]``) for every cohort and ``c2al_cohorts``
    (bytes, the names of the cohorts the row belongs to; absent when none).
    Appending a fragment to a serialized tf.Example adds those features, because
    protobuf merges repeated occurrences of a message field. Fragments are built
    once per (membership bits, label) combination."""

    def __init__(self, cohorts):
        self.cohorts = list(cohorts)
        self._cache = {}

    def get(self, members: int, y: int) -> bytes:
        key = (members, y)
        if key not in self._cache:
            import c2al_tf  # noqa: F401
            import tensorflow as tf

            feats = {}
            names = []
            for j, c in enumerate(self.cohorts):
                inside = (members >> j) & 1
                feats[c["aux_label"]] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(y) * inside]))
                if inside:
                    names.append(c["name"].encode())
            if names:
                feats[MEMBERSHIP_FEATURE] = tf.train.Feature(bytes_list=tf.train.BytesList(value=names))
            self._cache[key] = tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString()
        return self._cache[key]


def label_records(records, batch, label: str, cohorts, suffixes=None) -> list:
    """Serialized tf.Examples ``records`` with the aux label features and the
    membership feature appended, every original byte kept. ``batch`` is an Arrow
    RecordBatch of the same rows holding at least the label and the features the
    predicates read (e.g. :func:`c2al_tf.data.records.records_to_record_batch`)."""
    from c2al_tf.cohorts.spec import predicate_features
    from c2al_tf.data.arrow import predicate_columns

    cohorts = list(cohorts)
    suffixes = suffixes or AuxSuffixes(cohorts)
    if batch.num_rows != len(records):
        raise ValueError(f"{len(records)} records but {batch.num_rows} decoded rows")
    y = batch_labels(batch, label)
    features = sorted({f for c in cohorts for f in predicate_features(c["predicate"])})
    columns = predicate_columns(batch, features)
    members = np.zeros(batch.num_rows, dtype=np.int64)
    for j, c in enumerate(cohorts):
        members |= predicate_mask(c["predicate"], columns).astype(np.int64) << j
    keys, inverse = np.unique(members * 2 + y, return_inverse=True)
    table = np.array([suffixes.get(int(k) >> 1, int(k) & 1) for k in keys], dtype=object)
    return [r + s for r, s in zip(records, table[inverse].tolist())]
