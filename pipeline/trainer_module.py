"""TFX Trainer module: ``run_fn`` trains the C2AL model (or, with
``custom_config["baseline"]``, the same encoder without auxiliary heads) from the
CohortMiner's Examples and exports the serving SavedModel.

custom_config: :class:`pipeline.trainer_config.TrainerConfig` (label, baseline, model,
embedding_l2, seed, categorical, vocab_rows, and the protocol's
:class:`c2al_tf.models.protocol.TrainConfig` fields); an unknown key is refused.

Distribution: ``strategy`` ("auto" by default) picks the ``tf.distribute``
strategy (:mod:`c2al_tf.models.distribute`): on Kubeflow/Vertex with several
worker replicas, ``TF_CONFIG`` names them and every replica runs this ``run_fn``
under ``MultiWorkerMirroredStrategy``; each reads its own shard of the
CohortMiner's files, and only the chief writes ``serving_model_dir``.

Protocol: the validation rows are carved out of the *train* split by a hash of
each example's features (``validation_fraction`` of them; :func:`c2al_tf.data.content_hash.in_validation`:
in any serialized order and without the auxiliary targets, so the same rows in
every trainer, epoch, worker and pipeline run, no extra pass over the data); the eval split stays
for the Evaluator alone. Early stopping watches the primary head's logloss on
those rows; the C2AL trainer chooses lambda among ``aux_weights`` on them, with
lambda = 0 (no auxiliary head) always a candidate, so it never pushes heads that
did not help on validation. The C2AL Trainer takes the BaselineTrainer's model as
``base_model``: that *is* the lambda = 0 candidate (same data, carve-out, seed and
encoder), so its validation logloss is read from its export instead of training
it twice, and when lambda = 0 wins the baseline's export is copied as the result.

Features: wired with the Transform's ``transform_graph`` (as the pipeline does),
the model reads the transformed features (:mod:`c2al_tf.data.transform`:
vocabularies and quantile buckets computed over the whole train split); the
input pipeline applies the graph to the raw examples, the labels are read
untransformed, and the export saves the graph inside the SavedModel so that
``serving_default`` takes raw tf.Examples. Without a transform graph the
Trainer builds the feature spec from the first ``vocab_rows`` records.

Typing: the same rule as every ``c2al`` command (:mod:`c2al_tf.data.column_types`:
id-named integers categorical, other integers numeric buckets + a categorical
view); the schema's ``int_domain.is_categorical: true`` (edit it and pass
``--schema``) and ``custom_config["categorical"]`` force a feature categorical.

Training streams the TFRecords: each batch of serialized examples is parsed with
the model's FeatureSpec and mapped to ``(features, {head: label})``, the
auxiliary labels coming from the ``aux__<cohort>`` features CohortMiner wrote.
"""
import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"

import dataclasses  # noqa: E402
import json  # noqa: E402

import c2al_tf  # noqa: E402,F401
import tensorflow as tf  # noqa: E402

from c2al_tf.data.content_hash import example_records as records  # noqa: E402
from c2al_tf.data.readers import read_tfrecord  # noqa: E402
from c2al_tf.data.transform import model_spec as transform_spec, transform_parser  # noqa: E402
from c2al_tf.export import export_saved_model  # noqa: E402
from c2al_tf.labels import MEMBERSHIP_FEATURE  # noqa: E402
from c2al_tf.models import PRIMARY, FeatureSpec, ModelConfig, build_model, distribute, set_seed  # noqa: E402
from pipeline.runner import verbose  # noqa: E402
from c2al_tf.models.protocol import TrainConfig, fit_datasets  # noqa: E402
from c2al_tf.models.search import fit_protocol, format_selection  # noqa: E402
from c2al_tf.models.training import head_priors  # noqa: E402
from pipeline.trainer_config import TrainerConfig  # noqa: E402
from c2al_tf.tfx_trainer import (baseline_candidate, miner_cohorts, return_baseline, training_files,  # noqa: E402
                                 transform_output as wired_transform)

PRIOR_ROWS = 50_000  # with a transform graph the sample only sets the heads' starting base rates




def dataset(files, spec: FeatureSpec, heads, batch_size: int, seed: int, shuffle: bool = True,
            validation_fraction: float = 0.0, part: str = "all", workers: int = 1, parse=None):
    """``(features, {head: label})`` batches; ``part`` "fit" / "validation" keeps the
    rows outside / inside the hashed validation carve-out, "all" every row.
    ``parse``: serialized examples -> model inputs (default ``spec.parse_examples``;
    with a transform graph, :func:`c2al_tf.data.transform.transform_parser`'s); the labels
    are always read untransformed from the raw examples.
    Under a multi-worker strategy (``workers`` > 1) each worker reads its own
    files when there are at least as many files as workers, else its part of
    every batch (:func:`c2al_tf.models.distribute.shard_policy`)."""
    label_features = [spec.label] + [h for h in heads if h != PRIMARY]
    ds = records(files, validation_fraction, part)
    if shuffle:
        ds = ds.shuffle(100_000, seed=seed, reshuffle_each_iteration=True)

    labels_only = FeatureSpec(spec.label, [], [])  # parses just the label features, untransformed

    def to_xy(serialized):
        if parse is None:
            parsed = spec.parse_examples(serialized, extra_int64=label_features)
            features = {name: parsed[name] for name in spec.names}
        else:
            features = parse(serialized)
            parsed = labels_only.parse_examples(serialized, extra_int64=label_features)
        labels = {PRIMARY: parsed[spec.label]}
        labels.update({h: parsed[h] for h in heads if h != PRIMARY})
        return features, labels

    ds = ds.batch(batch_size).map(to_xy, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(2)
    return distribute.with_shard_policy(ds, distribute.shard_policy(len(files), workers))


def schema_categorical(schema_path, label):
    """Features the schema marks ``int_domain { is_categorical: true }`` (refusing the
    label or a C2AL target marked so: :func:`c2al_tf.data.schema.categorical_features`)."""
    if not schema_path or not tf.io.gfile.exists(schema_path):
        return []
    from c2al_tf.data.schema import categorical_features

    return categorical_features(schema_path, label)


def _feature_spec(cfg: TrainerConfig, files, spec_doc, schema_path, transform_output=None):
    """(model FeatureSpec, sample table). With a transform graph the spec is the
    transform's (vocabularies and quantiles over the whole split) and the sample
    (the first :data:`PRIOR_ROWS` records) only gives the heads' starting base
    rates; without one the spec is built from the first ``vocab_rows`` records."""
    label = cfg.label
    drop = [MEMBERSHIP_FEATURE] + [c["aux_label"] for c in spec_doc.cohorts()]
    categorical = sorted(set(cfg.categorical) | set(schema_categorical(schema_path, label)))
    rows = int(cfg.vocab_rows)
    sample = read_tfrecord(files, label, categorical=[c for c in categorical if c != label], drop=drop,
                           max_rows=min(rows, PRIOR_ROWS) if transform_output is not None else rows)
    if transform_output is not None:
        return transform_spec(transform_output, label), sample
    vocab_budget = cfg.training.vocab_budget
    return FeatureSpec.from_table(sample, vocab_budget=vocab_budget), sample






def _train(cfg: TrainerConfig, files, spec, sample, cohorts, training: TrainConfig, seed: int, strategy, known=None,
           parse=None):
    """Trains under the protocol (each model built under ``strategy``); returns
    (model, lambda, FitResult, candidates table). ``known``: candidates already
    trained (:func:`c2al_tf.tfx_trainer.baseline_candidate`; model None: an export)."""
    workers = distribute.num_workers(strategy)

    def build(lam):
        set_seed(seed)
        heads = cohorts if lam > 0 else []
        with strategy.scope():
            config = ModelConfig(model=cfg.model, aux_weight=lam, embedding_l2=float(cfg.embedding_l2))
            model = build_model(spec, heads, config, priors=head_priors(heads, sample))
            model.compile()
        return model

    def train(lam, model):
        fit_ds = dataset(files, spec, model.head_names, training.batch_size, seed,
                         validation_fraction=training.validation_fraction, part="fit", workers=workers, parse=parse)
        val_ds = dataset(files, spec, model.head_names, training.batch_size, seed, shuffle=False,
                         validation_fraction=training.validation_fraction, part="validation", workers=workers,
                         parse=parse)
        result = fit_datasets(model, fit_ds, val_ds, training, verbose=2 if verbose() else 0)
        print(f"[trainer] lambda {lam:g}: validation logloss {result.val_logloss:.5f}, best epoch "
              f"{result.best_epoch} of {result.epochs_run}", flush=True)
        return result

    model, lam, result, table = fit_protocol(build, train, training, with_heads=bool(cohorts), trained=known)
    for line in format_selection(table, lam) if table else []:
        print(f"[trainer] {line}", flush=True)
    return model, lam, result, table


def run_fn(fn_args):
    cfg = TrainerConfig.from_custom_config(fn_args.custom_config)
    seed = int(cfg.seed)
    training = cfg.training
    files = training_files(fn_args.train_files)
    spec_doc = miner_cohorts(fn_args.train_files, cfg.label, baseline=cfg.baseline)
    transform_output = wired_transform(fn_args, required=False)
    spec, sample = _feature_spec(cfg, files, spec_doc, getattr(fn_args, "schema_path", None), transform_output)
    parse = transform_parser(transform_output, spec)[0] if transform_output is not None else None
    cohorts = [] if cfg.baseline else list(spec_doc.cohorts())
    # the lambda = 0 candidate is the BaselineTrainer's export; with cohorts, scored on this trainer's validation rows
    known = None if cfg.baseline else baseline_candidate(fn_args, cfg.label, files if cohorts else None,
                                                         training.validation_fraction)
    strategy = distribute.make_strategy(training.strategy)
    try:
        model, lam, result, selection = _train(cfg, files, spec, sample, cohorts, training, seed, strategy,
                                               known, parse)
    except distribute.cluster_errors() as e:
        raise RuntimeError(distribute.lost_worker_message(e)) from None
    if not distribute.is_chief():  # every worker joins the save; only the chief's export is kept
        if model is not None:
            with distribute.discarded_directory() as scratch:
                export_saved_model(model, scratch, transform_output=transform_output)
        return
    if model is None:  # lambda 0 won: the baseline's export is this trainer's result
        return_baseline(fn_args, {"baseline": False, "aux_weight": 0.0, "selection": selection or []},
                        "no lambda > 0 beat lambda 0 on evidence" if cohorts else "the CohortMiner kept no cohort")
    else:
        export_saved_model(model, fn_args.serving_model_dir, transform_output=transform_output, extra_metadata={
            "seed": seed, "baseline": cfg.baseline, "aux_weight": lam, "epochs": result.best_epoch,
            "validation_logloss": result.val_logloss, "selection": selection})
    with tf.io.gfile.GFile(os.path.join(fn_args.serving_model_dir, "assets.extra", "trainer.json"), "w") as f:
        f.write(json.dumps({"custom_config": cfg.to_custom_config(), "train_files": files, "training": training.to_dict(),
                            "aux_weight": lam, "selection": selection}, default=str))
