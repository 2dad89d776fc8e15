"""Checks on a user's TFDV schema (``--schema schema.pbtxt``) before the pipeline runs.

The schema is where a pipeline user states typing (``int_domain { is_categorical:
true }`` makes an integer feature an embedded category). Marking the label, an
auxiliary label ``aux__<cohort>`` or the ``c2al_cohorts`` membership feature that
way would make a training target a model input (label leakage), so it is refused.
"""
from __future__ import annotations

from typing import List

from c2al_tf.errors import C2ALInputError
from c2al_tf.labels import is_target


def load_schema(path: str):
    """The ``tensorflow_metadata`` Schema proto of a text-format schema file."""
    import tensorflow as tf
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    if not tf.io.gfile.exists(path):
        raise C2ALInputError(f"schema {path}: no such file", arguments=("schema",))
    with tf.io.gfile.GFile(path) as f:
        text = f.read()
    try:
        return text_format.Parse(text, schema_pb2.Schema())
    except text_format.ParseError as e:
        raise C2ALInputError(f"schema {path}: not a text-format TFDV schema ({e})", arguments=("schema",)) from None


def categorical_features(path: str, label: str) -> List[str]:
    """Features the schema marks ``int_domain.is_categorical``; refuses a schema that
    marks the label or a C2AL target (``aux__*``, ``c2al_cohorts``) as an input."""
    schema = load_schema(path)
    out = []
    for feature in schema.feature:
        if not (feature.HasField("int_domain") and feature.int_domain.is_categorical):
            continue
        name = feature.name
        if is_target(name, label):
            what = "the label" if name == label else "a C2AL training target, written by CohortMiner"
            raise C2ALInputError(f"schema {path}: feature '{name}' is {what} and cannot be a model input; remove "
                                 f"its int_domain.is_categorical", arguments=("schema",))
        out.append(name)
    return out
