"""A TFX pipeline a user wrote, with their own preprocessing_fn (preprocessing.py) and
model (model.py), plus C2AL's three pieces:

1. ``CohortMiner`` after ExampleValidator: mines the cohorts and writes the examples with
   their ``aux__*`` labels;
2. the Trainer module calls ``c2al_tf.tfx_trainer.train_in_trainer``; a second Trainer
   with ``custom_config={"baseline": True}`` trains the same model without heads;
3. the Evaluator's config is ``pipeline.evaluation.eval_config``: overall and per-cohort
   slices, NE, AUC, calibration, and the gate "C2AL's NE not worse than the baseline's".

    python examples/tfx_own_pipeline/own_pipeline.py --data clicks.csv --root /tmp/own
"""
import argparse
import os
import sys

import c2al_tf  # noqa: F401  (first: TF_USE_LEGACY_KERAS=1)
import tensorflow_data_validation as tfdv
from tfx import v1 as tfx

from c2al_tf.cohorts.binning import QUANTILE_BUCKETS
from components.cohort_miner import CohortMiner
from pipeline.evaluation import eval_config

HERE = os.path.dirname(os.path.abspath(__file__))
LABEL = "click"


def create_pipeline(data_dir: str, root: str, epochs: int = 20) -> tfx.dsl.Pipeline:
    examples = tfx.components.CsvExampleGen(input_base=data_dir)
    # quantile histograms let the CohortMiner cut numeric axes at their 1/2/5..% tails
    statistics = tfx.components.StatisticsGen(examples=examples.outputs["examples"], stats_options=tfdv.StatsOptions(
        num_quantiles_histogram_buckets=QUANTILE_BUCKETS))
    schema = tfx.components.SchemaGen(statistics=statistics.outputs["statistics"], infer_feature_shape=False)
    validator = tfx.components.ExampleValidator(statistics=statistics.outputs["statistics"],
                                                schema=schema.outputs["schema"])
    miner = CohortMiner(examples=examples.outputs["examples"], statistics=statistics.outputs["statistics"],
                        anomalies=validator.outputs["anomalies"], label=LABEL)                      # C2AL 1
    transform = tfx.components.Transform(examples=examples.outputs["examples"], schema=schema.outputs["schema"],
                                         module_file=os.path.join(HERE, "preprocessing.py"))

    def trainer(baseline: bool, **base):
        return tfx.components.Trainer(
            module_file=os.path.join(HERE, "model.py"), examples=miner.outputs["output_examples"],  # C2AL 2
            transform_graph=transform.outputs["transform_graph"], schema=schema.outputs["schema"],
            train_args=tfx.proto.TrainArgs(num_steps=0), eval_args=tfx.proto.EvalArgs(num_steps=0),
            custom_config={"baseline": baseline, "epochs": epochs}, **base)

    baseline = trainer(True).with_id("BaselineTrainer")
    c2al = trainer(False, base_model=baseline.outputs["model"])
    evaluator = tfx.components.Evaluator(examples=miner.outputs["output_examples"], model=c2al.outputs["model"],
                                         baseline_model=baseline.outputs["model"],
                                         eval_config=eval_config(LABEL))                          # C2AL 3
    pusher = tfx.components.Pusher(model=c2al.outputs["model"], model_blessing=evaluator.outputs["blessing"],
                                   push_destination=tfx.proto.PushDestination(
                                       filesystem=tfx.proto.PushDestination.Filesystem(
                                           base_directory=os.path.join(root, "serving"))))
    return tfx.dsl.Pipeline(
        pipeline_name="own_pipeline", pipeline_root=os.path.join(root, "pipeline"),
        components=[examples, statistics, schema, validator, miner, transform, c2al, baseline, evaluator, pusher],
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            os.path.join(root, "metadata.db")),
        beam_pipeline_args=["--direct_running_mode=in_memory", "--direct_num_workers=1"])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="a directory holding one CSV (the generator's columns)")
    ap.add_argument("--root", required=True)
    ap.add_argument("--epochs", type=int, default=20)
    args = ap.parse_args(argv)
    tfx.orchestration.LocalDagRunner().run(create_pipeline(os.path.abspath(args.data), os.path.abspath(args.root),
                                                           args.epochs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
