"""What the Evaluator's time is spent on: TFMA on a finished pipeline's two models and
eval split, with each metric set, against one TFDV statistics pass over the same rows.

Runs, in one process and one after the other on the same files:

- ``stats``: ``tfdv.generate_statistics_from_tfrecord`` on the eval split (the
  reference: one pass over the rows, the StatisticsGen's work);
- ``keras NE (before)``: the EvalConfig with NE and binary cross-entropy as Keras metrics
  (``c2al_tf.keras_metrics.NormalizedEntropy``, Keras ``BinaryCrossentropy``), the
  Evaluator's configuration before this benchmark;
- ``native NE``: :func:`pipeline.evaluation.eval_config` (TFMA's native
  ``BinaryCrossEntropy`` and ``pipeline.tfma_metrics.NormalizedEntropy``);
- ``no NE``: the native metrics alone (example count, AUC, calibration), the floor
  of a TFMA run on both models.

Every TFMA run is ``tfma.run_model_analysis`` on both models (``tf_generic``, called
through ``serving_default`` on raw tf.Examples), overall and one slice per cohort: the
Evaluator's own work, without TFX around it. Each row gives seconds, rows/s and the
ratio to the statistics pass; the NE of both configurations is printed so they can be
seen to agree. Prints a table and writes bench/results/evaluator.json.

    ./c2al demo --out /tmp/demo          # or any finished `c2al pipeline run` root
    .venv/bin/python bench/evaluator.py --root /tmp/demo/run
"""
import argparse
import glob
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import c2al_tf  # noqa: E402,F401  (TF_USE_LEGACY_KERAS before TensorFlow)

from bench.common import print_table, write_json  # noqa: E402


def newest(root, component, output):
    from pipeline.report import newest as newest_artifact

    return newest_artifact(root, component, output)


def configs(label):
    """name -> EvalConfig."""
    from pipeline.evaluation import eval_config

    native = eval_config(label)
    before = eval_config(label)
    for m in before.metrics_specs[0].metrics:
        if m.class_name == "NormalizedEntropy":
            m.module = "c2al_tf.keras_metrics"
        if m.class_name == "BinaryCrossEntropy":
            m.class_name = "BinaryCrossentropy"  # Keras'
    floor = eval_config(label)
    kept = [m for m in floor.metrics_specs[0].metrics if m.class_name in ("ExampleCount", "AUC", "Calibration")]
    del floor.metrics_specs[0].metrics[:]
    floor.metrics_specs[0].metrics.extend(kept)
    return {"keras NE (before)": before, "native NE": native, "no NE": floor}


def overall_ne(output_path):
    import tensorflow_model_analysis as tfma

    out = {}
    for m in tfma.load_metrics(output_path):
        if m.slice_key.single_slice_keys:
            continue
        for kv in m.metric_keys_and_values:
            if kv.key.name == "normalized_entropy" and not kv.key.is_diff:
                out[kv.key.model_name] = kv.value.double_value.value
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", required=True, help="a finished `c2al pipeline run` --root")
    ap.add_argument("--label", default="click")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)

    import tensorflow_data_validation as tfdv
    import tensorflow_model_analysis as tfma

    examples = os.path.join(newest(args.root, "CohortMiner", "output_examples"), "Split-eval")
    files = sorted(glob.glob(os.path.join(examples, "*")))
    rows = sum(1 for f in files for _ in __import__("tensorflow").data.TFRecordDataset(f, "GZIP"))
    candidate = os.path.join(newest(args.root, "Trainer", "model"), "Format-Serving")
    baseline = os.path.join(newest(args.root, "BaselineTrainer", "model"), "Format-Serving")
    results = []
    start = time.perf_counter()
    tfdv.generate_statistics_from_tfrecord(os.path.join(examples, "*"))
    stats_s = time.perf_counter() - start
    results.append({"stage": "stats", "seconds": round(stats_s, 2), "rows_per_s": round(rows / stats_s),
                    "x_stats": 1.0})
    for name, config in configs(args.label).items():
        models = [tfma.default_eval_shared_model(eval_saved_model_path=candidate, eval_config=config,
                                                 model_name="candidate"),
                  tfma.default_eval_shared_model(eval_saved_model_path=baseline, eval_config=config,
                                                 model_name="baseline")]
        with tempfile.TemporaryDirectory(prefix="c2al-bench-tfma-") as out:
            start = time.perf_counter()
            tfma.run_model_analysis(eval_shared_model=models, eval_config=config,
                                    data_location=os.path.join(examples, "*"), output_path=out,
                                    file_format="tfrecords")
            seconds = time.perf_counter() - start
            ne = overall_ne(out)
        results.append({"stage": name, "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds),
                        "x_stats": round(seconds / stats_s, 2),
                        **{f"ne_{k}": round(v, 6) for k, v in sorted(ne.items())}})
    print(f"{rows:,} eval rows, two models, overall + cohort slices")
    print_table(results, ["stage", "seconds", "rows_per_s", "x_stats", "ne_candidate", "ne_baseline"])
    write_json("evaluator", {"root": args.root, "rows": rows, "results": results}, args.out)


if __name__ == "__main__":
    main()
