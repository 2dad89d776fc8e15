"""Training glue: seeding, tf.data from a FeatureTable, fit, predict."""
from __future__ import annotations

import sys
from typing import Dict, Mapping, Optional

import numpy as np

import c2al_tf  # noqa: F401
import tensorflow as tf

from c2al_tf.labels import aux_labels
from c2al_tf.models.builder import PRIMARY, C2ALModel


def set_seed(seed: int) -> None:
    """Seeds Python, numpy and TF and makes TF ops deterministic, so a run with
    the same seed and data reproduces every weight."""
    tf.keras.utils.set_random_seed(int(seed))
    try:
        tf.config.experimental.enable_op_determinism()
    except Exception:  # already enabled, or unavailable
        pass


def head_labels(model: C2ALModel, table, aux_override: Optional[Mapping[str, np.ndarray]] = None
                ) -> Dict[str, np.ndarray]:
    """``{"primary": y, "aux__C": y * 1[x in C], ...}`` as float32 ``[n, 1]``;
    ``aux_override`` supplies auxiliary labels directly (e.g. random cohorts)."""
    y = table.label.astype(np.float32).reshape(-1, 1)
    labels = {PRIMARY: y}
    values = dict(aux_override) if aux_override is not None else aux_labels(table.label, table.features,
                                                                              model.cohorts)
    for c in model.cohorts:
        labels[c["aux_label"]] = np.asarray(values[c["aux_label"]]).astype(np.float32).reshape(-1, 1)
    return labels


def head_priors(cohorts, table) -> Dict[str, float]:
    """Training positive rate of every head (for :func:`build_model`'s ``priors``)."""
    priors = {PRIMARY: float(table.label.mean())}
    for name, values in aux_labels(table.label, table.features, cohorts or []).items():
        priors[name] = float(values.mean())
    return priors


def make_dataset(model: C2ALModel, table, batch_size: int = 1024, shuffle: bool = True, seed: int = 0,
                 sample_weights: Optional[Mapping[str, np.ndarray]] = None,
                 aux_override: Optional[Mapping[str, np.ndarray]] = None) -> tf.data.Dataset:
    """(features, {head: label}[, {head: weight}]) batches."""
    inputs = model.spec.table_to_inputs(table)
    labels = head_labels(model, table, aux_override)
    parts = (inputs, labels)
    if sample_weights is not None:
        weights = {h: np.asarray(sample_weights.get(h, np.ones(len(table))), np.float32).reshape(-1, 1)
                   for h in model.head_names}
        parts = (inputs, labels, weights)
    n = len(table)
    tensors = tf.nest.map_structure(tf.constant, parts)
    # Shuffle row indices and gather whole batches: much faster than shuffling
    # per-element dicts of strings, and the same rows/order for a given seed.
    index = tf.data.Dataset.range(n)
    if shuffle:
        index = index.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    ds = index.batch(batch_size).map(lambda i: tf.nest.map_structure(lambda t: tf.gather(t, i), tensors),
                                     num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    # In memory there are no files to shard: under a multi-worker strategy every
    # worker builds the same batches (same seed) and keeps its part of each.
    from c2al_tf.models.distribute import shard_policy, with_shard_policy

    return with_shard_policy(ds.prefetch(tf.data.AUTOTUNE), shard_policy(None, 1))


def train(model: C2ALModel, table, epochs: int = 2, batch_size: int = 1024, seed: int = 0,
          sample_weights: Optional[Mapping[str, np.ndarray]] = None, verbose: Optional[int] = None,
          validation_table=None, aux_override: Optional[Mapping[str, np.ndarray]] = None):
    """Fits the training model; returns the Keras History. Progress: a Keras bar on
    a terminal, one line per epoch otherwise. ``sample_weights``: per-head row
    weights; ``aux_override``: auxiliary labels instead of the cohort predicates'."""
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    model.ensure_compiled()
    ds = make_dataset(model, table, batch_size, True, seed, sample_weights, aux_override)
    val = make_dataset(model, validation_table, batch_size, False) if validation_table is not None else None
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    return model.training_model.fit(ds, epochs=epochs, verbose=verbose, validation_data=val)


def predict(model: C2ALModel, table, batch_size: int = 8192) -> Dict[str, np.ndarray]:
    """``{head: probabilities [n]}`` for every head."""
    inputs = model.spec.table_to_inputs(table)
    ds = tf.data.Dataset.from_tensor_slices(inputs).batch(batch_size)
    out = model.training_model.predict(ds, verbose=0)
    return {k: np.asarray(v).reshape(-1) for k, v in out.items()}
