"""TFX Trainer module: ``run_fn`` trains the C2AL model (or, with
``custom_config["baseline"]``, the same encoder without auxiliary heads) from the
CohortMiner's Examples and exports the serving SavedModel.

custom_config: :class:`pipeline.trainer_config.TrainerConfig` (label, baseline, model,
embedding_l2, seed, and the protocol's
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

Features: the Trainer is wired with the Transform's ``transform_graph``; the model
reads the transformed features (:mod:`c2al_tf.data.transform`: vocabularies and
quantile buckets computed over the whole train split, typed by the rule every
``c2al`` command uses); the input pipeline applies the graph to the raw examples,
the labels (and the ``aux__<cohort>`` targets CohortMiner wrote) are read
untransformed, and the export saves the graph inside the SavedModel so that
``serving_default`` takes raw tf.Examples.

This module is the thin caller of :func:`c2al_tf.tfx_trainer.train_in_trainer`,
the helper a user's own module file calls: c2al's attention-FM encoder is the
``model_fn``, and the export adds c2al's ``all_heads`` signature and metadata.
"""
import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"

import dataclasses  # noqa: E402

import c2al_tf  # noqa: E402,F401

from c2al_tf.data.transform import model_spec  # noqa: E402
from c2al_tf.export import export_saved_model  # noqa: E402
from c2al_tf.models import PRIMARY, ModelConfig, build_model  # noqa: E402
from c2al_tf.models.builder import C2ALModel  # noqa: E402
from c2al_tf.tfx_trainer import label_rate, train_in_trainer, training_files, transform_output  # noqa: E402
from pipeline.trainer_config import TrainerConfig  # noqa: E402


def run_fn(fn_args):
    cfg = TrainerConfig.from_custom_config(fn_args.custom_config)
    config = ModelConfig(model=cfg.model, embedding_l2=float(cfg.embedding_l2))
    prior = label_rate(training_files(fn_args.train_files), cfg.label)

    spec = model_spec(transform_output(fn_args), cfg.label)  # the model's inputs: the transform's outputs

    def model_fn(tf_transform_output):  # c2al's encoder and primary head on the transformed features
        return build_model(spec, [], config, priors={PRIMARY: prior}).serving_model

    def export(model, tf_transform_output, export_dir, metadata):
        full = C2ALModel(spec, dataclasses.replace(config, aux_weight=float(metadata["aux_weight"])),
                         model.cohorts, model.training_model, model.serving_model, None, None)
        export_saved_model(full, export_dir, transform_output=tf_transform_output, extra_metadata=metadata)

    train_in_trainer(fn_args, model_fn, cfg.label, training=cfg.training, seed=int(cfg.seed), baseline=cfg.baseline,
                     export=export, record=cfg.to_custom_config())
