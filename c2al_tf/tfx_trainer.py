"""C2AL inside *your* TFX Trainer module file: your Transform, your model, c2al's heads
and protocol, and an export TF Serving and the Evaluator call on raw tf.Examples.

Your module file (the Trainer's ``module_file``)::

    import c2al_tf
    import tensorflow as tf
    from c2al_tf.tfx_trainer import train_in_trainer

    def build_model(tf_transform_output):
        # your functional model on your preprocessing_fn's outputs
        ...
        return tf.keras.Model(inputs, tf.keras.layers.Dense(1, activation="sigmoid")(h))

    def run_fn(fn_args):
        train_in_trainer(fn_args, build_model, label="click", representation="shared")

Wire the Trainer after the CohortMiner (its ``examples``: the miner's
``output_examples``, which carry the ``aux__*`` labels and ``cohorts.json``) and with
your Transform's ``transform_graph``. A second Trainer with the same module file and
``custom_config={"baseline": True}`` gives the Evaluator its baseline (lambda 0, the
same model without heads); pass its model to the C2AL Trainer as ``base_model`` and,
when lambda 0 wins (or no cohort was mined), the C2AL Trainer's output is that very
export, which the Evaluator blesses.

The Trainer helper: carves validation rows out of the train split by a hash of each
example's content (:func:`c2al_tf.data.content_hash.example_records`), trains lambda 0
and the candidates > 0 under the protocol (:func:`c2al_tf.train_cohort_model`: early
stopping, the evidence rule), and exports the chosen model's **primary head only**:
``serving_default(examples) -> {"probabilities"}`` and ``regress(inputs) -> {"outputs"}``
parse raw tf.Examples, apply your transform graph (saved inside the SavedModel) and run
your model; their ops and variables are those of your model without heads.
"""
from __future__ import annotations

import json
import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Union

from c2al_tf.errors import C2ALInputError
from c2al_tf.names import COHORTS_FILE



def miner_cohorts(train_patterns, label: str, baseline: bool = False):
    """The CohortSpec the CohortMiner stored beside the Trainer's examples (a baseline
    may read ExampleGen's examples, which carry none: an empty spec)."""
    import tensorflow as tf

    from c2al_tf.cohorts import CohortSpec

    split_dir = os.path.dirname(list(train_patterns)[0])
    path = os.path.join(os.path.dirname(split_dir), COHORTS_FILE)
    if not tf.io.gfile.exists(path):
        if baseline:
            return CohortSpec.from_pairs(label, [], method="manual")
        raise C2ALInputError(f"{path} not found: the Trainer's examples must be the CohortMiner's output_examples")
    return CohortSpec.load(path)


def training_files(patterns) -> List[str]:
    import tensorflow as tf

    files = sorted(f for p in patterns for f in tf.io.gfile.glob(p))
    if not files:
        raise C2ALInputError(f"no training files match {list(patterns)}")
    return files


def _transform_output(fn_args):
    path = getattr(fn_args, "transform_graph_path", None) or getattr(fn_args, "transform_output", None)
    if not path:
        raise C2ALInputError("train_in_trainer needs the Trainer wired with transform_graph=<your Transform's "
                             "transform_graph>")
    import tensorflow_transform as tft

    return tft.TFTransformOutput(path)


def raw_examples_functions(serving_model, tf_transform_output, label: str) -> Dict[str, Any]:
    """``serving_default`` and ``regress`` tf.functions for ``serving_model`` (a Keras
    model on the transform's outputs): raw serialized tf.Examples in, the primary
    probability out. The transform layer is returned as ``functions["tft_layer"]`` so
    the caller tracks it on the saved object (its assets and tables are saved)."""
    import tensorflow as tf

    from c2al_tf.data.transform import serving_parse_spec

    tft_layer = tf_transform_output.transform_features_layer()
    raw_spec = serving_parse_spec(tf_transform_output, label)
    names = list(serving_model.input) if isinstance(serving_model.input, Mapping) else list(serving_model.input_names)

    def predict(examples):
        transformed = tft_layer(tf.io.parse_example(examples, raw_spec))
        missing = [n for n in names if n not in transformed]
        if missing:
            raise C2ALInputError(f"the model reads {', '.join(missing)}, which the transform graph does not output")
        return tf.cast(serving_model({n: transformed[n] for n in names}, training=False), tf.float32)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(examples):
        return {"probabilities": predict(examples)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def regress(inputs):
        return {"outputs": predict(inputs)}

    return {"serving_default": serve, "regress": regress, "tft_layer": tft_layer}


def export_raw_examples_model(serving_model, tf_transform_output, label: str, export_dir: str,
                              metadata: Optional[Dict[str, Any]] = None) -> str:
    """Saves ``serving_model`` with :func:`raw_examples_functions`' signatures and the
    transform graph inside, ``regress`` marked as TF Serving's regress method, and
    ``metadata`` in ``assets.extra/c2al.json``."""
    import tensorflow as tf

    from c2al_tf.export import REGRESS, REGRESS_METHOD, set_signature_method

    functions = raw_examples_functions(serving_model, tf_transform_output, label)
    view = tf.keras.Model(serving_model.inputs, serving_model.outputs, name=serving_model.name)
    view.tft_layer = functions.pop("tft_layer")
    view.save(export_dir, save_format="tf", include_optimizer=False,
              signatures={k: f.get_concrete_function() for k, f in functions.items()})
    set_signature_method(export_dir, REGRESS, REGRESS_METHOD)
    tf.io.gfile.makedirs(os.path.join(export_dir, "assets.extra"))
    with tf.io.gfile.GFile(os.path.join(export_dir, "assets.extra", "c2al.json"), "w") as f:
        f.write(json.dumps({"format": "c2al.model/1", "label": label, **(metadata or {})}, indent=2, default=str))
    return export_dir


def _copy_baseline(base_model: str, serving_model_dir: str, metadata: Dict[str, Any]):
    """The BaselineTrainer's export as this trainer's result (lambda 0 is that model:
    the Evaluator then compares a model with itself and blesses it), its metadata
    replaced by this trainer's (the cohorts and the lambda table)."""
    import tensorflow as tf

    from c2al_tf.io_utils import copy_tree

    copy_tree(base_model, serving_model_dir)
    path = os.path.join(serving_model_dir, "assets.extra", "c2al.json")
    with tf.io.gfile.GFile(path) as f:
        doc = json.loads(f.read())
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(json.dumps({**doc, **metadata}, indent=2, default=str))


def train_in_trainer(fn_args, model_fn: Callable[[Any], Any], label: str, representation: Union[str, Any],
                     training=None, seed: Optional[int] = None, baseline: Optional[bool] = None,
                     batch_size: Optional[int] = None):
    """Trains and exports your model with C2AL from a TFX Trainer's ``run_fn``.

    Args:
      fn_args: the Trainer's ``FnArgs`` (train files, transform output, serving dir,
        ``custom_config``).
      model_fn: ``tf_transform_output -> tf.keras.Model``, your functional model on the
        transform's outputs, ending in the click probability (or its logit).
      label: the label feature (read untransformed from the raw examples).
      representation: the layer (name) whose output feeds your logit: the auxiliary
        heads read it.
      training: a :class:`~c2al_tf.models.protocol.TrainConfig` (lambda candidates,
        epochs, patience, validation fraction); default: its fields found in
        ``custom_config``, else its defaults.
      seed: defaults to ``custom_config["seed"]`` or 0.
      baseline: train without heads (the Evaluator's baseline); defaults to
        ``custom_config["baseline"]``.

    Returns:
      The :class:`~c2al_tf.models.search.SearchResult` of the lambda search.
    """
    import tensorflow as tf

    from c2al_tf.data.content_hash import example_records
    from c2al_tf.models.heads import add_cohort_heads
    from c2al_tf.models.protocol import TrainConfig
    from c2al_tf.models.search import train_cohort_model

    import dataclasses

    cfg = dict(getattr(fn_args, "custom_config", None) or {})
    protocol = {f.name for f in dataclasses.fields(TrainConfig)}
    training = training or TrainConfig(**{k: v for k, v in cfg.items() if k in protocol})
    seed = int(cfg.get("seed", 0) if seed is None else seed)
    baseline = bool(cfg.get("baseline", False) if baseline is None else baseline)
    batch_size = int(batch_size or training.batch_size)
    files = training_files(fn_args.train_files)
    cohorts = [] if baseline else list(miner_cohorts(fn_args.train_files, label, baseline).cohorts())
    tft_output = _transform_output(fn_args)
    raw_spec = dict(tft_output.raw_feature_spec())
    raw_spec.pop(label, None)
    targets = {label: tf.io.FixedLenFeature([], tf.int64)}
    targets.update({c["aux_label"]: tf.io.FixedLenFeature([], tf.int64, default_value=0) for c in cohorts})
    tft_layer = tft_output.transform_features_layer()

    def to_xy(serialized):
        features = tft_layer(tf.io.parse_example(serialized, {k: v for k, v in raw_spec.items()
                                                              if not k.startswith("aux__")}))
        features.pop(label, None)
        parsed = tf.io.parse_example(serialized, targets)
        return features, {"primary": parsed[label], **{c["aux_label"]: parsed[c["aux_label"]] for c in cohorts}}

    def data(part, shuffle):
        ds = example_records(files, training.validation_fraction, part)
        if shuffle:
            ds = ds.shuffle(100_000, seed=seed, reshuffle_each_iteration=True)
        return ds.batch(batch_size).map(to_xy, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(2)

    priors = {c["aux_label"]: float(c["support"]) * float(c["positive_rate"]) for c in cohorts
              if c.get("support") is not None and c.get("positive_rate") is not None}

    def build(lam):
        tf.keras.utils.set_random_seed(seed)
        return add_cohort_heads(model_fn(tft_output), cohorts if lam > 0 else [], representation=representation,
                                aux_weight=lam, priors=priors, check_features=False)

    base_model = getattr(fn_args, "base_model", None)
    if not cohorts and base_model and not baseline:
        print("[trainer] no cohort was mined: the C2AL trainer returns the baseline model", flush=True)
        _copy_baseline(base_model, fn_args.serving_model_dir, {"baseline": False, "cohorts": [], "selection": []})
        return None
    candidates = training if cohorts else TrainConfig(**{**training.to_dict(), "aux_weights": (0.0,)})
    result = train_cohort_model(build, data("fit", True), data("validation", False), candidates)
    print("\n".join(f"[trainer] {line}" for line in result.summary().splitlines()), flush=True)
    if result.aux_weight == 0 and base_model and not baseline:
        print("[trainer] lambda 0 won: the C2AL trainer returns the baseline model", flush=True)
        _copy_baseline(base_model, fn_args.serving_model_dir, {"baseline": False, "aux_weight": 0.0,
                                                               "selection": result.table, "cohorts": cohorts})
        return result
    export_raw_examples_model(result.model.serving_model, tft_output, label, fn_args.serving_model_dir,
                              {"aux_weight": result.aux_weight, "epochs": result.epochs, "baseline": baseline,
                               "validation_logloss": result.val_logloss, "selection": result.table,
                               "cohorts": cohorts})
    return result
