"""SavedModel export with serving signatures.

``serving_default(examples: tf.string [None]) -> {"probabilities": float32 [None, 1]}``
parses serialized ``tf.Example``s and runs the encoder and the primary head only;
its graph captures no auxiliary-head variable or op, so serving a C2AL model costs
what serving the same encoder without auxiliary heads costs.

``all_heads(examples) -> {"probabilities": [None, 1], "aux__<cohort>": [None, 1], ...}``
returns every head (for diagnostics and evaluation), and is left out with
``all_heads=False``.

``regress(inputs) -> {"outputs": [None, 1]}`` (method
``tensorflow/serving/regress``) is the same primary probability for TF Serving's
Regress API, whose REST ``:regress`` endpoint takes JSON feature dicts
(``{"examples": [{"user_value": 3.5, "surface": "feed"}]}``) and feeds them as
serialized ``tf.Example``s; ``tf.saved_model.save`` always writes the predict
method, so the method name is set in ``saved_model.pb`` after saving.

``assets.extra/c2al.json`` records the feature spec, model config, label and
cohorts, so ``c2al evaluate`` and the TFX components can read them back.

The export is a Keras SavedModel of the **serving model** (primary head only;
saved with ``model.save(..., signatures=...)`` as TFX's Keras examples do), so
``tf.keras.models.load_model(dir)`` gives a Keras model whose ``predict`` takes
a dict of raw features (one ``[n, 1]`` array per column: numbers as float32 with
NaN for missing, text as strings with "" for missing; see :func:`keras_inputs`)
and which can be fine-tuned. The auxiliary heads' variables ride along in a
tracked module (``all_heads`` needs them) that is not part of the Keras model.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional

import c2al_tf  # noqa: F401
import tensorflow as tf

from c2al_tf.models.builder import PRIMARY, C2ALModel
from c2al_tf.models.features import FeatureSpec

METADATA = os.path.join("assets.extra", "c2al.json")
_EXAMPLES = tf.TensorSpec([None], tf.string, name="examples")
REGRESS = "regress"
REGRESS_METHOD = "tensorflow/serving/regress"


def primary_functions(spec: FeatureSpec, serving_model, parse=None) -> Dict[str, Any]:
    """``serving_default`` and ``regress`` for a primary-only Keras model.
    ``parse``: serialized examples -> model inputs (default ``spec.parse_examples``;
    a pipeline model parses raw features and applies its transform graph)."""
    parse = parse or spec.parse_examples

    @tf.function(input_signature=[_EXAMPLES], autograph=False)  # static Python loops only: no conversion
    def serve(examples):
        features = parse(examples)
        return {"probabilities": tf.cast(serving_model(features, training=False), tf.float32)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")], autograph=False)
    def regress(inputs):
        return {"outputs": serve(inputs)["probabilities"]}

    return {"serving_default": serve, REGRESS: regress}


def serving_functions(model: C2ALModel, all_heads: bool = True, parse=None):
    """``{signature name: tf.function}`` for a built model."""
    spec = model.spec
    parse = parse or spec.parse_examples
    functions = primary_functions(spec, model.serving_model, parse)
    if all_heads:
        training_model = model.training_model

        @tf.function(input_signature=[_EXAMPLES], autograph=False)  # static Python loops only: no conversion
        def heads(examples):
            outputs = training_model(parse(examples), training=False)
            result = {"probabilities": tf.cast(outputs[PRIMARY], tf.float32)}
            result.update({k: tf.cast(v, tf.float32) for k, v in outputs.items() if k != PRIMARY})
            return result

        functions["all_heads"] = heads
    return functions


def export_saved_model(model: C2ALModel, export_dir: str, all_heads: bool = True,
                       extra_metadata: Optional[Dict[str, Any]] = None, name: str = "export_dir",
                       transform_output=None) -> str:
    """Writes the SavedModel to a temporary directory beside ``export_dir`` and
    renames it into place. With ``transform_output`` (a ``tft.TFTransformOutput``;
    the model then reads transformed features) the signatures take raw examples
    and the transform graph is saved inside the SavedModel. An existing ``export_dir`` is replaced only if it is
    empty or a previous c2al output (see :mod:`c2al_tf.io_utils`); remote
    (``gs://``...) paths go through ``tf.io.gfile``."""
    from c2al_tf.io_utils import atomic_directory, is_remote

    if not is_remote(export_dir):
        export_dir = os.path.abspath(export_dir)
    serving = model.serving_model
    parse, tft_layer, raw = None, None, None
    if transform_output is not None:
        from c2al_tf.data.transform import raw_input_columns, transform_parser

        parse, tft_layer = transform_parser(transform_output, model.spec)
        raw = raw_input_columns(transform_output, model.spec.label)
    functions = serving_functions(model, all_heads, parse)
    signatures = {name: fn.get_concrete_function() for name, fn in functions.items()}
    # A new Keras model object over the same layers (so the caller's serving model
    # gains no attribute) that also tracks the aux heads' variables for all_heads.
    view = tf.keras.Model(serving.inputs, serving.outputs, name=serving.name)
    if all_heads:
        extra = tf.Module()
        extra.training_model = model.training_model
        view.c2al_all_heads = extra
    if tft_layer is not None:
        view.tft_layer = tft_layer  # tracked: the transform graph's assets and tables are saved with the model
    with atomic_directory(export_dir, name) as tmp:
        save_keras(view, tmp, signatures)
        tf.io.gfile.makedirs(os.path.join(tmp, "assets.extra"))
        meta = {"format": "c2al.model/1", "label": model.spec.label, "feature_spec": model.spec.to_dict(),
                "config": model.config.to_dict(), "cohorts": model.cohorts, "heads": model.head_names,
                **({"raw_features": raw} if raw is not None else {}), **(extra_metadata or {})}
        with tf.io.gfile.GFile(os.path.join(tmp, METADATA), "w") as f:
            f.write(json.dumps(meta, indent=2))
    return export_dir


def export_keras_model(keras_model, like: str, export_dir: str, name: str = "export_dir") -> str:
    """Re-exports a primary-only Keras model (e.g. an export loaded with
    ``tf.keras.models.load_model`` and fine-tuned) for serving, with the
    ``serving_default`` and ``regress`` signatures and the feature spec of the
    export ``like`` it came from (no ``all_heads``: it has no auxiliary head)."""
    from c2al_tf.io_utils import atomic_directory, is_remote

    meta = load_metadata(like)
    spec = meta["feature_spec"]
    if "raw_features" in meta:
        raise ValueError(f"export_keras_model: {like} serves through a tf.Transform graph (a pipeline model); "
                         f"fine-tune it in the pipeline (Trainer base_model) instead")
    if len(keras_model.outputs) != 1:
        raise ValueError(f"export_keras_model: the model has {len(keras_model.outputs)} outputs; "
                         f"export the primary-only serving model")
    if not is_remote(export_dir):
        export_dir = os.path.abspath(export_dir)
    signatures = {k: f.get_concrete_function() for k, f in primary_functions(spec, keras_model).items()}
    with atomic_directory(export_dir, name) as tmp:
        save_keras(keras_model, tmp, signatures)
        tf.io.gfile.makedirs(os.path.join(tmp, "assets.extra"))
        meta = {**meta, "feature_spec": spec.to_dict(), "heads": [PRIMARY], "fine_tuned_from": like}
        with tf.io.gfile.GFile(os.path.join(tmp, METADATA), "w") as f:
            f.write(json.dumps(meta, indent=2))
    return export_dir


def is_own_keras(path: str) -> bool:
    """Whether ``path`` is a ``.keras`` file holding a c2al training model (safe to replace)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            return '"c2al>' in z.read("config.json").decode("utf-8", "replace")
    except (OSError, KeyError, zipfile.BadZipFile):
        return False


def save_training_model(model: C2ALModel, path: str) -> str:
    """The multi-head training model (heads, lambdas, optimizer state) as ``.keras``,
    written to a temporary name and renamed."""
    from c2al_tf.io_utils import atomic_file, is_remote

    if is_remote(path):
        model.training_model.save(path)
        return path
    with atomic_file(path, suffix=".keras") as tmp:
        model.training_model.save(tmp, overwrite=True)
    return path


def keras_inputs(model, frame) -> Dict[str, Any]:
    """A pandas DataFrame (or dict of columns) -> the ``{input: [n, 1] array}`` a
    loaded Keras model's ``predict`` takes: each input's column cast to its dtype
    (float32, NaN for missing; or str, "" for missing). Columns the model does not
    read are ignored; a missing one is an error naming it."""
    import numpy as np
    import pandas as pd

    from c2al_tf.errors import C2ALInputError

    out = {}
    for tensor in model.inputs:
        name = tensor.name.split(":")[0]
        if name not in frame:
            raise C2ALInputError(f"the model reads column '{name}', which the data does not have")
        values = pd.Series(np.asarray(frame[name]).reshape(-1))
        if tensor.dtype == tf.string:
            arr = values.where(values.notna(), "").map(
                lambda v: str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)).to_numpy(object)
        else:
            arr = pd.to_numeric(values, errors="coerce").to_numpy(np.float32)
        out[name] = arr.reshape(-1, 1)
    return out


def save_keras(keras_model, path: str, signatures) -> None:
    """Keras SavedModel with our signatures; per-layer traces are not saved (every
    c2al layer has a ``get_config`` and is registered, so ``load_model`` rebuilds
    them from their config: import ``c2al_tf.models`` before loading)."""
    keras_model.save(path, save_format="tf", signatures=signatures, include_optimizer=False, save_traces=False)
    set_signature_method(path, REGRESS, REGRESS_METHOD)


def set_signature_method(export_dir: str, signature: str, method_name: str) -> None:
    """Sets a signature's ``method_name`` in ``saved_model.pb`` (TF2's
    ``tf.saved_model.save`` writes ``tensorflow/serving/predict`` for all)."""
    from tensorflow.core.protobuf import saved_model_pb2

    path = os.path.join(export_dir, "saved_model.pb")
    proto = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(path, "rb") as f:
        proto.ParseFromString(f.read())
    for meta_graph in proto.meta_graphs:
        if signature in meta_graph.signature_def:
            meta_graph.signature_def[signature].method_name = method_name
    # A new file (some filesystems append when a file is reopened for writing). The
    # directory is still the temporary one (or, remotely, not yet marked complete).
    tf.io.gfile.remove(path)
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(proto.SerializeToString())


def load_metadata(export_dir: str) -> Dict[str, Any]:
    """The ``assets.extra/c2al.json`` of an exported model."""
    from c2al_tf.errors import C2ALInputError

    path = os.path.join(export_dir, METADATA)
    if not tf.io.gfile.exists(os.path.join(export_dir, "saved_model.pb")):
        raise C2ALInputError(f"{export_dir}: not a SavedModel directory (no saved_model.pb)")
    if not tf.io.gfile.exists(path):
        raise C2ALInputError(f"{path}: missing; the model was not exported by c2al")
    with tf.io.gfile.GFile(path) as f:
        meta = json.loads(f.read())
    meta["feature_spec"] = FeatureSpec.from_dict(meta["feature_spec"])
    return meta
