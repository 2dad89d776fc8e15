"""Pipeline assembly (wiring only):

ExampleGen -> StatisticsGen -> SchemaGen (or ImportSchemaGen) -> ExampleValidator
-> CohortMiner + Transform -> Trainer (C2AL) + Trainer (baseline, same encoder, no aux heads)
-> Evaluator (TFMA: overall and per mined cohort; NE, AUC, calibration, count;
C2AL vs baseline with a non-regression threshold on overall NE, default "not
worse") -> Pusher.

Transform (tf.Transform, :mod:`c2al_tf.data.transform`) analyzes ExampleGen's
train split, beside the CohortMiner rather than after it: it reads only the
model's input features, which the miner does not change (the miner adds the
auxiliary labels, which must not be transformed), so its vocabularies and
quantiles are the same either way, and the BaselineTrainer that the predictions
and residuals modes train *before* mining can use it. It does not materialize
transformed examples: both Trainers read the miner's examples and apply the
transform graph in their input pipelines, and the same graph is saved inside
every exported model (its ``serving_default`` takes raw tf.Examples).
"""
from __future__ import annotations

import dataclasses
import os
from typing import List, Optional, Sequence

import tensorflow_data_validation as tfdv
from tfx import v1 as tfx

from c2al_tf.cohorts.binning import QUANTILE_BUCKETS
from c2al_tf.cohorts.config import MiningConfig
from c2al_tf.data.transform import TransformConfig
from c2al_tf.models.config import EMBEDDING_L2
from c2al_tf.models.protocol import TrainConfig
from components.cohort_miner import CohortMiner
from components.example_gen import StreamingCsvExampleGen
from pipeline.evaluation import NE_TOLERANCE, eval_config
from pipeline.options import SPLIT
from pipeline.trainer_config import TrainerConfig

RUN_FN = "pipeline.trainer_module.run_fn"
PREPROCESSING_FN = "pipeline.transform_module.preprocessing_fn"


def example_gen(data: str, split: Sequence[int] = SPLIT):
    """CsvExampleGen for a CSV file or directory of CSVs (TFX's component with the
    streaming executor, :mod:`components.example_gen`), ImportExampleGen for TFRecords;
    split train/eval by hash, ``split`` = (train, eval) buckets (default 4:1)."""
    output = tfx.proto.Output(split_config=tfx.proto.SplitConfig(splits=[
        tfx.proto.SplitConfig.Split(name="train", hash_buckets=int(split[0])),
        tfx.proto.SplitConfig.Split(name="eval", hash_buckets=int(split[1]))]))
    if "://" in data:  # remote storage (compile for a cluster): a .csv file, else a directory of CSVs
        base, pattern = (data.rsplit("/", 1) if data.endswith(".csv") else (data, None))
        is_csv = True
    else:
        base, pattern = (os.path.dirname(os.path.abspath(data)), os.path.basename(data)) if os.path.isfile(data) \
            else (os.path.abspath(data), None)
        is_csv = data.endswith(".csv") or (pattern is None and any(f.endswith(".csv") for f in os.listdir(base)))
    if pattern is None:
        pattern = "*.csv" if is_csv else "*"
    input_config = tfx.proto.Input(splits=[tfx.proto.Input.Split(name="single", pattern=pattern)])
    if not is_csv:
        return tfx.components.ImportExampleGen(input_base=base, input_config=input_config, output_config=output)
    return StreamingCsvExampleGen(input_base=base, input_config=input_config,
                                  output_config=output).with_id("CsvExampleGen")


def trainer_class(cluster: Optional["TrainingCluster"]):
    """(Trainer component class, extra custom_config): TFX's Trainer, or with a
    multi-worker ``cluster`` the Vertex AI Trainer extension, which starts
    ``cluster.workers`` replicas (one chief pool + one worker pool) of ``image``
    and gives each its ``TF_CONFIG``; every replica runs the same ``run_fn``
    under ``MultiWorkerMirroredStrategy`` (``strategy: auto``)."""
    if cluster is None or cluster.workers <= 1:
        return tfx.components.Trainer, {}
    from tfx.extensions.google_cloud_ai_platform import constants as vertex
    from tfx.extensions.google_cloud_ai_platform.trainer import executor as vertex_trainer

    machine = {"machine_type": cluster.machine_type}
    container = {"image_uri": cluster.image}
    pools = [{"machine_spec": machine, "replica_count": 1, "container_spec": container},
             {"machine_spec": machine, "replica_count": cluster.workers - 1, "container_spec": container}]
    return tfx.extensions.google_cloud_ai_platform.Trainer, {
        vertex.ENABLE_VERTEX_KEY: True, vertex.VERTEX_REGION_KEY: cluster.region,
        vertex_trainer.TRAINING_ARGS_KEY: {"project": cluster.project, "worker_pool_specs": pools}}


class TrainingCluster:
    """Where the Trainers run on Kubeflow/Vertex: ``workers`` replicas of ``image``
    on ``machine_type`` in ``project``/``region`` (``workers`` 1: in the pipeline's
    own pod, as TFX's Trainer does)."""

    def __init__(self, workers: int = 1, image: str = "c2al-tf:latest", project: Optional[str] = None,
                 region: str = "us-central1", machine_type: str = "n1-standard-8"):
        from c2al_tf.errors import C2ALInputError

        if int(workers) < 1:
            raise C2ALInputError(f"--workers must be >= 1, got {workers}")
        if int(workers) > 1 and not project:
            raise C2ALInputError(f"--workers {workers} starts the Trainers as Vertex AI training jobs, which need "
                                 f"--vertex-project (and --vertex-region)")
        self.workers, self.image, self.project = int(workers), image, project
        self.region, self.machine_type = region, machine_type


def _join(root: str, name: str) -> str:
    """root/name for local paths (made absolute) and remote URIs (gs://, s3://, hdfs://)."""
    return root.rstrip("/") + "/" + name if "://" in root else os.path.join(os.path.abspath(root), name)


def transform_config(label: str, categorical: Optional[List[str]], schema_file: Optional[str],
                     training: TrainConfig) -> TransformConfig:
    """The Transform's typing: ``--categorical`` plus the schema's
    ``int_domain.is_categorical`` features; the Trainer's vocabulary budget."""
    forced = list(categorical or [])
    if schema_file:
        from c2al_tf.data.schema import categorical_features

        forced += [c for c in categorical_features(schema_file, label) if c not in forced]
    return TransformConfig(label, tuple(forced), (), training.vocab_budget)


def create_pipeline(data: str, label: str, root: str, *, pipeline_name: str = "c2al",
                    schema_file: Optional[str] = None, model: str = "attention_fm",
                    training: Optional[TrainConfig] = None, seed: int = 0, embedding_l2: float = EMBEDDING_L2,
                    mining: Optional[MiningConfig] = None, categorical: Optional[List[str]] = None,
                    ne_tolerance: float = NE_TOLERANCE, beam_args: Optional[List[str]] = None,
                    metadata_path: Optional[str] = None, enable_cache: bool = True,
                    cluster: Optional[TrainingCluster] = None, split: Sequence[int] = SPLIT) -> tfx.dsl.Pipeline:
    """The whole C2AL pipeline. ``root`` holds pipeline outputs (``root/pipeline``),
    the SQLite MLMD (``root/metadata.sqlite``) and pushed models (``root/serving``).
    ``cluster``: train on several workers (Kubeflow/Vertex; see :func:`trainer_class`).
    ``split``: ExampleGen's train and eval hash buckets."""
    gen = example_gen(data, split)
    # percentile histograms, so the CohortMiner can cut numeric axes at their 1/2/5...% tails
    stats = tfx.components.StatisticsGen(examples=gen.outputs["examples"], stats_options=tfdv.StatsOptions(
        num_quantiles_histogram_buckets=QUANTILE_BUCKETS))
    if schema_file:
        schema = tfx.components.ImportSchemaGen(schema_file=schema_file)
    else:
        schema = tfx.components.SchemaGen(statistics=stats.outputs["statistics"], infer_feature_shape=False)
    validator = tfx.components.ExampleValidator(statistics=stats.outputs["statistics"],
                                                schema=schema.outputs["schema"])
    mining = mining if mining is not None else MiningConfig(seed=seed)
    props = mining.to_properties()
    training = training if training is not None else TrainConfig()
    trainer_cls, remote = trainer_class(cluster)
    config = TrainerConfig(label=label, model=model, seed=seed, embedding_l2=float(embedding_l2), training=training, platform=remote)

    transform = tfx.components.Transform(
        examples=gen.outputs["examples"], schema=schema.outputs["schema"], preprocessing_fn=PREPROCESSING_FN,
        splits_config=tfx.proto.SplitsConfig(analyze=["train"]), materialize=False, disable_statistics=True,
        disable_analyzer_cache=True,
        custom_config=transform_config(label, categorical, schema_file, training).to_dict())
    graph = transform.outputs["transform_graph"]

    def baseline_on(examples):
        return trainer_cls(
            run_fn=RUN_FN, examples=examples, schema=schema.outputs["schema"], transform_graph=graph,
            train_args=tfx.proto.TrainArgs(num_steps=0), eval_args=tfx.proto.EvalArgs(num_steps=0),
            custom_config=dataclasses.replace(config, baseline=True).to_custom_config()).with_id("BaselineTrainer")

    # mining by a model's predictions or residuals needs the baseline first, trained on the
    # raw examples (it reads no auxiliary label); mining by statistics or pairwise needs no model
    baseline = baseline_on(gen.outputs["examples"]) if mining.needs_model else None
    miner = CohortMiner(examples=gen.outputs["examples"], statistics=stats.outputs["statistics"],
                        anomalies=validator.outputs["anomalies"], label=label,
                        categorical=",".join(categorical or []) or None,
                        baseline_model=baseline.outputs["model"] if baseline is not None else None,
                        **{k: props[k] for k in ("axes", "max_pairs", "divergence", "min_support", "min_positives",
                                                 "by", "seed", "cross_top", "max_rows")})
    if baseline is None:
        baseline = baseline_on(miner.outputs["output_examples"])
    # the baseline is C2AL's lambda = 0 candidate: the C2AL trainer reads it instead of training it again
    trainer = trainer_cls(
        run_fn=RUN_FN, examples=miner.outputs["output_examples"], schema=schema.outputs["schema"],
        transform_graph=graph, base_model=baseline.outputs["model"],
        train_args=tfx.proto.TrainArgs(num_steps=0), eval_args=tfx.proto.EvalArgs(num_steps=0),
        custom_config=config.to_custom_config())
    evaluator = tfx.components.Evaluator(
        examples=miner.outputs["output_examples"], model=trainer.outputs["model"],
        baseline_model=baseline.outputs["model"], eval_config=eval_config(label, ne_tolerance))
    pusher = tfx.components.Pusher(
        model=trainer.outputs["model"], model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(filesystem=tfx.proto.PushDestination.Filesystem(
            base_directory=_join(root, "serving"))))
    components = [gen, stats, schema, validator, miner, transform, trainer, baseline, evaluator, pusher]
    metadata = None
    if metadata_path is not None:
        metadata = tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path)
    return tfx.dsl.Pipeline(
        pipeline_name=pipeline_name, pipeline_root=_join(root, "pipeline"),
        components=components, enable_cache=enable_cache, metadata_connection_config=metadata,
        beam_pipeline_args=list(beam_args or []))
