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
same model without heads); pass its model to the C2AL Trainer as ``base_model``: that
export is the lambda 0 candidate (its per-row losses on the same validation rows are
scored, it is not trained again) and, when lambda 0 wins (or no cohort was mined), the
C2AL Trainer's output is that very export, which the Evaluator blesses.

c2al's own Trainer module (``pipeline/trainer_module.py``) is a thin caller of
:func:`train_in_trainer` too: its ``model_fn`` is c2al's attention-FM, its ``export``
adds the ``all_heads`` signature and c2al's metadata.

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
import tempfile
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


def transform_output(fn_args, required: bool = True):
    """The Transform's output (``tft.TFTransformOutput``) the Trainer was wired with;
    without one, None, or (``required``) a one-line error saying how to wire it."""
    path = getattr(fn_args, "transform_graph_path", None) or getattr(fn_args, "transform_output", None)
    if not path:
        if not required:
            return None
        raise C2ALInputError("train_in_trainer needs the Trainer wired with transform_graph=<your Transform's "
                             "transform_graph>")
    import tensorflow_transform as tft

    return tft.TFTransformOutput(path)


def part_records(files, validation_fraction: float, part: str, cache: Optional[str] = None):
    """The serialized records of ``part`` ("fit", "validation" or "all") of ``files``
    (:func:`c2al_tf.data.content_hash.example_records`); with ``cache``, a local file,
    written once in content order (:func:`~c2al_tf.data.content_hash.write_in_content_order`)
    and read from then on."""
    import tensorflow as tf

    from c2al_tf.data.content_hash import example_records, write_in_content_order

    records = example_records(files, validation_fraction, part)
    if not cache:
        return records
    if not os.path.exists(cache):
        write_in_content_order(records, cache)
    return tf.data.TFRecordDataset(cache)


def export_row_losses(export_dir: str, files, label: str, validation_fraction: float,
                      batch_size: int = 4096, cache: Optional[str] = None):
    """An export's primary logloss per validation row of ``files``, scored through its
    ``serving_default`` on the raw examples, in the order the validation dataset yields
    them (:func:`part_records`, ``part="validation"``, the same ``cache``): the
    BaselineTrainer's evidence on this trainer's validation rows, paired with each
    candidate's."""
    import numpy as np
    import tensorflow as tf

    from c2al_tf.models.protocol import row_logloss

    serve = tf.saved_model.load(export_dir).signatures["serving_default"]
    out = []
    for batch in part_records(files, validation_fraction, "validation", cache).batch(batch_size):
        p = serve(examples=batch)["probabilities"].numpy()
        y = tf.io.parse_example(batch, {label: tf.io.FixedLenFeature([], tf.int64)})[label].numpy()
        out.append(row_logloss(y, p).astype(np.float32))
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def baseline_candidate(fn_args, label: str, files=None, validation_fraction: Optional[float] = None,
                       cache: Optional[str] = None):
    """The lambda = 0 candidate from the BaselineTrainer's export (``fn_args.base_model``:
    the same model, data, carve-out and seed, without heads), so the C2AL Trainer does
    not train it twice: ``{0.0: (None, FitResult)}``, or None without a base model.
    With ``files`` its per-row losses on those files' validation rows are scored too
    (the pairing the evidence rule needs), in the order of ``cache`` (:func:`part_records`)."""
    import tensorflow as tf

    from c2al_tf.models.protocol import FitResult

    base_model = getattr(fn_args, "base_model", None)
    path = os.path.join(base_model, "assets.extra", "c2al.json") if base_model else None
    if not path or not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        meta = json.loads(f.read())
    if meta.get("validation_logloss") is None:
        return None
    rows = export_row_losses(base_model, files, label, validation_fraction, cache=cache) if files is not None else None
    epochs = meta.get("epochs", 0)
    return {0.0: (None, FitResult(epochs, epochs, meta["validation_logloss"], {}, rows))}


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


def return_baseline(fn_args, metadata: Dict[str, Any], why: str):
    """The BaselineTrainer's export as this trainer's result (lambda 0 is that model:
    the Evaluator then compares a model with itself and blesses it), its metadata
    updated with this trainer's (the cohorts and the lambda table); ``why`` is printed."""
    import tensorflow as tf

    from c2al_tf.io_utils import copy_tree

    print(f"[trainer] {why}: the C2AL trainer returns the baseline model", flush=True)
    serving_model_dir = fn_args.serving_model_dir
    copy_tree(fn_args.base_model, serving_model_dir)
    path = os.path.join(serving_model_dir, "assets.extra", "c2al.json")
    with tf.io.gfile.GFile(path) as f:
        doc = json.loads(f.read())
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(json.dumps({**doc, **metadata}, indent=2, default=str))


def label_rate(files, label: str, max_rows: int = 50_000) -> float:
    """The positive rate of ``label`` over the first ``max_rows`` records of ``files``
    (the primary head's starting base rate)."""
    import tensorflow as tf

    from c2al_tf.data.content_hash import example_records

    spec = {label: tf.io.FixedLenFeature([], tf.int64)}
    total, positives = 0, 0
    for batch in example_records(files, 0.0, "all").take(max_rows).batch(8192):
        y = tf.io.parse_example(batch, spec)[label].numpy()
        total, positives = total + len(y), positives + int(y.sum())
    return positives / total if total else 0.5


def trainer_dataset(files, parse, batch_size: int, seed: int = 0, validation_fraction: float = 0.0,
                    part: str = "all", shuffle: bool = False, workers: int = 1, cache: Optional[str] = None):
    """``parse(serialized batch) -> (features, {head: label})`` over the records of
    ``files``: ``part`` "fit" / "validation" keeps the rows outside / inside the hashed
    validation carve-out (:func:`c2al_tf.data.content_hash.example_records`), "all"
    every row. Under a multi-worker strategy (``workers`` > 1) each worker reads its
    own files when there are at least as many files as workers, else its part of every
    batch (:func:`c2al_tf.models.distribute.shard_policy`).

    ``cache``: a local file; the records of ``part`` are written there once, sorted by
    their content (:func:`c2al_tf.data.content_hash.write_in_content_order`), and read
    back by every epoch and every dataset made with the same file. The carve-out is
    then hashed once per Trainer, not once per epoch and candidate, and the shuffle
    starts from an order that does not depend on how Beam wrote the records: the
    same seed gives the same training in every pipeline run, and the BaselineTrainer
    (ExampleGen's records) and the C2AL Trainer (the CohortMiner's) see the same
    order. Memory holds a 64th of the records while the file is written. Without
    ``cache`` the records are read in file order every epoch."""
    import tensorflow as tf

    from c2al_tf.models import distribute

    ds = part_records(files, validation_fraction, part, cache)
    if shuffle:
        ds = ds.shuffle(100_000, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(2)
    return distribute.with_shard_policy(ds, distribute.shard_policy(len(files), workers))


def example_parser(tf_transform_output, label: str, cohorts):
    """Serialized raw tf.Examples -> ``(features, {"primary": y, aux_label: y_C})``: the
    features through the transform graph (the auxiliary targets never are), the labels
    read untransformed (an ``aux__*`` feature a record lacks reads 0)."""
    import tensorflow as tf

    from c2al_tf.data.transform import serving_parse_spec
    from c2al_tf.models.config import PRIMARY

    raw_spec = serving_parse_spec(tf_transform_output, label)
    targets = {label: tf.io.FixedLenFeature([], tf.int64)}
    targets.update({c["aux_label"]: tf.io.FixedLenFeature([], tf.int64, default_value=0) for c in cohorts})
    tft_layer = tf_transform_output.transform_features_layer()

    def parse(serialized):
        features = dict(tft_layer(tf.io.parse_example(serialized, raw_spec)))
        features.pop(label, None)
        parsed = tf.io.parse_example(serialized, targets)
        return features, {PRIMARY: parsed[label], **{c["aux_label"]: parsed[c["aux_label"]] for c in cohorts}}

    return parse


def train_in_trainer(fn_args, model_fn: Callable[[Any], Any], label: str, representation: Union[str, Any, None] = None,
                     training=None, seed: Optional[int] = None, baseline: Optional[bool] = None,
                     batch_size: Optional[int] = None, export: Optional[Callable[..., Any]] = None,
                     record: Optional[Mapping[str, Any]] = None):
    """Trains and exports your model with C2AL from a TFX Trainer's ``run_fn``.

    Args:
      fn_args: the Trainer's ``FnArgs`` (train files, transform output, serving dir,
        ``custom_config``).
      model_fn: ``tf_transform_output -> tf.keras.Model``, your functional model on the
        transform's outputs, ending in the click probability (or its logit).
      label: the label feature (read untransformed from the raw examples).
      representation: the layer (name) whose output feeds your logit: the auxiliary
        heads read it (default: the input of the Dense layer computing the logit).
      training: a :class:`~c2al_tf.models.protocol.TrainConfig` (lambda candidates,
        epochs, patience, validation fraction, ``strategy``); default: its fields
        found in ``custom_config``, else its defaults.
      seed: defaults to ``custom_config["seed"]`` or 0.
      baseline: train without heads (the Evaluator's baseline); defaults to
        ``custom_config["baseline"]``.
      export: ``(cohort_model, tf_transform_output, export_dir, metadata) -> None``
        writes the chosen model (default: :func:`export_raw_examples_model` of its
        serving model).
      record: written to ``assets.extra/trainer.json`` beside what was trained
        (default: the ``custom_config``).

    Distribution: ``training.strategy`` ("auto") picks the ``tf.distribute`` strategy
    (:mod:`c2al_tf.models.distribute`); under several workers each reads its shard and
    only the chief's export is kept.

    Returns:
      The :class:`~c2al_tf.models.search.SearchResult` of the lambda search (None when
      no cohort was mined and the baseline's export is returned).
    """
    import dataclasses

    import tensorflow as tf

    from c2al_tf.models import distribute
    from c2al_tf.models.heads import add_cohort_heads
    from c2al_tf.models.protocol import TrainConfig

    cfg = dict(getattr(fn_args, "custom_config", None) or {})
    protocol = {f.name for f in dataclasses.fields(TrainConfig)}
    training = training or TrainConfig(**{k: v for k, v in cfg.items() if k in protocol})
    seed = int(cfg.get("seed", 0) if seed is None else seed)
    baseline = bool(cfg.get("baseline", False) if baseline is None else baseline)
    batch_size = int(batch_size or training.batch_size)
    files = training_files(fn_args.train_files)
    cohorts = [] if baseline else list(miner_cohorts(fn_args.train_files, label, baseline).cohorts())
    tft_output = transform_output(fn_args)
    parse = example_parser(tft_output, label, cohorts)
    strategy = distribute.make_strategy(training.strategy)
    workers = distribute.num_workers(strategy)

    priors = {c["aux_label"]: float(c["support"]) * float(c["positive_rate"]) for c in cohorts
              if c.get("support") is not None and c.get("positive_rate") is not None}

    def build(lam):
        tf.keras.utils.set_random_seed(seed)
        with strategy.scope():
            model = add_cohort_heads(model_fn(tft_output), cohorts if lam > 0 else [], representation=representation,
                                     aux_weight=lam, priors=priors, check_features=False)
            model.compile()
        return model

    # the records in content order, on local disk; the directory and all in it are this call's own
    with tempfile.TemporaryDirectory(prefix="c2al-trainer-records-") as scratch:
        def cache(part):  # one worker reads its records from a local file; several shard the files
            return os.path.join(scratch, part) if workers == 1 else None

        def data(part, shuffle):
            # the global seed first: the shuffle's order then depends on ``seed`` alone, not on what ran
            # before in this process (a local run trains both Trainers in one process)
            tf.keras.utils.set_random_seed(seed)
            return trainer_dataset(files, parse, batch_size, seed, training.validation_fraction, part, shuffle,
                                   workers, cache=cache(part))

        return _search_and_export(fn_args, label, baseline, cohorts, training, seed, files, tft_output, data, build,
                                  export, record, cfg, cache("validation"))


def _search_and_export(fn_args, label, baseline, cohorts, training, seed, files, tft_output, data, build, export,
                       record, cfg, validation_cache):
    """The lambda search of :func:`train_in_trainer` and the export of its choice."""
    from c2al_tf.models import distribute
    from c2al_tf.models.protocol import TrainConfig
    from c2al_tf.models.search import train_cohort_model

    # lambda 0 is the BaselineTrainer's export when there is one: scored, not trained again
    known = None if baseline else baseline_candidate(fn_args, label, files if cohorts else None,
                                                     training.validation_fraction, cache=validation_cache)
    trainer_record = {"custom_config": dict(record if record is not None else cfg), "train_files": files,
                      "training": training.to_dict()}
    if not cohorts and known:
        return_baseline(fn_args, {"baseline": False, "cohorts": [], "selection": []}, "the CohortMiner kept no cohort")
        _write_record(fn_args.serving_model_dir, {**trainer_record, "aux_weight": 0.0, "selection": []})
        return None
    candidates = training if cohorts else TrainConfig(**{**training.to_dict(), "aux_weights": (0.0,)})
    try:
        # a new fit dataset per candidate: each sees the rows in the baseline's order (the pairing)
        result = train_cohort_model(build, lambda: data("fit", True), data("validation", False), candidates,
                                    trained=known)
    except distribute.cluster_errors() as e:
        raise RuntimeError(distribute.lost_worker_message(e)) from None
    metadata = {"aux_weight": result.aux_weight, "epochs": result.epochs, "baseline": baseline, "seed": seed,
                "validation_logloss": result.val_logloss, "selection": result.table, "cohorts": cohorts}
    export = export or (lambda m, t, d, meta: export_raw_examples_model(m.serving_model, t, label, d, meta))
    if not distribute.is_chief():  # every worker joins the save; only the chief's export is kept
        if result.model is not None:
            with distribute.discarded_directory() as scratch:
                export(result.model, tft_output, scratch, metadata)
        return result
    print("\n".join(f"[trainer] {line}" for line in result.summary().splitlines()), flush=True)
    if result.model is None:  # lambda 0 won, and lambda 0 is the baseline's export
        return_baseline(fn_args, {"baseline": False, "aux_weight": 0.0, "selection": result.table,
                                  "cohorts": cohorts}, "no lambda > 0 beat lambda 0 on evidence")
    else:
        export(result.model, tft_output, fn_args.serving_model_dir, metadata)
    _write_record(fn_args.serving_model_dir, {**trainer_record, "aux_weight": result.aux_weight,
                                              "selection": result.table})
    return result


def _write_record(serving_model_dir: str, doc: Mapping[str, Any]) -> None:
    """``assets.extra/trainer.json``: the Trainer's configuration, files and lambda table."""
    import tensorflow as tf

    tf.io.gfile.makedirs(os.path.join(serving_model_dir, "assets.extra"))
    with tf.io.gfile.GFile(os.path.join(serving_model_dir, "assets.extra", "trainer.json"), "w") as f:
        f.write(json.dumps(doc, default=str))
