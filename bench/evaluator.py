"""Where the Evaluator's time goes, and how it grows with rows: TFMA on a finished
pipeline's two models against one TFDV statistics pass and against calling the two
models directly, on the eval split repeated ``--repeat`` times.

For each size, one after the other in one process on the same local file:

- ``stats``: ``tfdv.generate_statistics_from_tfrecord`` (one pass over the rows, the
  StatisticsGen's work; the reference);
- ``models``: both SavedModels' ``serving_default`` on batches of serialized examples
  (``--batch`` rows), the inference any evaluation must pay;
- ``tfma NAME``: ``tfma.run_model_analysis`` with the Evaluator's own
  :func:`pipeline.evaluation.eval_config` on both models (overall and per-cohort
  slices, the gate), i.e. the Evaluator without TFX around it.

Prints seconds, rows/s and each run's ratio to the statistics pass, and writes
bench/results/evaluator.json. A ratio that grows with ``--repeat`` is a cost that grows
faster than the rows.

    ./c2al demo --out /tmp/demo          # or any finished `c2al pipeline run` root
    .venv/bin/python -m bench.evaluator --root /tmp/demo/run --repeat 1,4
"""
import argparse
import glob
import os
import tempfile
import time

import c2al_tf  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)

from bench.common import print_table, write_json


def newest(root, component, output):
    from pipeline.report import newest as newest_artifact

    return newest_artifact(root, component, output)


def repeated(files, times, path):
    """The records of ``files`` written ``times`` over to one GZIP file; returns rows."""
    import tensorflow as tf

    rows = 0
    with tf.io.TFRecordWriter(path, options="GZIP") as w:
        for _ in range(times):
            for record in tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator():
                w.write(record)
                rows += 1
    return rows


def call_models(paths, data, batch):
    import tensorflow as tf

    for path in paths:
        serve = tf.saved_model.load(path).signatures["serving_default"]
        for records in tf.data.TFRecordDataset(data, compression_type="GZIP").batch(batch):
            serve(examples=records)


def variants(label, names):
    """name -> EvalConfig: ``evaluator`` (the Evaluator's own), ``tfma_calibration`` (the
    same with TFMA's own Calibration instead of the one from NE's sums), ``keras`` (the
    earlier configuration: NE and cross-entropy as wrapped Keras metrics, TFMA's
    Calibration), ``count`` (example
    count only: TFMA's floor per row), ``overall`` (the Evaluator's metrics, no cohort
    slices), ``no_keras`` (without NE and cross-entropy, TFMA's Calibration), and any of
    them with ``_batch<N>`` appended: both models called on batches of N rows
    (``ModelSpec.inference_batch_size``; ``_batch0``: Beam's adaptive batch sizes,
    TFMA's default) instead of the Evaluator's ``INFERENCE_BATCH``."""
    from pipeline.evaluation import eval_config

    out = {}
    for name in names:
        config = eval_config(label)
        base, _, batch = name.partition("_batch")
        if batch:
            for spec in config.model_specs:
                spec.inference_batch_size = int(batch)
        metrics = config.metrics_specs[0].metrics
        if base == "keras":  # the earlier configuration: NE and cross-entropy as wrapped Keras metrics
            for m in metrics:
                if m.class_name == "NormalizedEntropy":
                    m.module = "c2al_tf.keras_metrics"
                elif m.class_name == "BinaryCrossentropy":
                    m.module = ""
        if base in ("keras", "tfma_calibration", "no_keras"):  # TFMA's own Calibration (a second per-example pass)
            for m in metrics:
                if m.class_name == "CalibrationFromSums":
                    m.class_name, m.module = "Calibration", ""
        keep = {"evaluator": None, "keras": None, "tfma_calibration": None, "overall": None,
                "count": {"ExampleCount"}, "no_keras": {"ExampleCount", "AUC", "Calibration"}}[base]
        if keep is not None:
            kept = [m for m in metrics if m.class_name in keep]
            del metrics[:]
            metrics.extend(kept)
        if base == "overall":
            del config.slicing_specs[1:]
        out[name] = config
    return out


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
    ap.add_argument("--repeat", default="1,4", help="sizes, as multiples of the eval split (default 1,4)")
    ap.add_argument("--batch", type=int, default=1024, help="rows per direct model call (default 1024)")
    ap.add_argument("--configs", default="evaluator",
                    help="TFMA configurations to time: evaluator, tfma_calibration, keras, count, overall, no_keras, "
                         "each also with "
                         "_batch<N> (rows per model call; _batch0: Beam's adaptive sizes) (default evaluator)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)

    import tensorflow_data_validation as tfdv
    import tensorflow_model_analysis as tfma

    files = sorted(glob.glob(os.path.join(newest(args.root, "CohortMiner", "output_examples"), "Split-eval", "*")))
    candidate = os.path.join(newest(args.root, "Trainer", "model"), "Format-Serving")
    baseline = os.path.join(newest(args.root, "BaselineTrainer", "model"), "Format-Serving")
    order = args.configs.split(",")  # a name given twice runs twice (interleave to see the noise)
    configs = variants(args.label, order)
    results = []
    with tempfile.TemporaryDirectory(prefix="c2al-bench-evaluator-") as scratch:
        for times in [int(t) for t in args.repeat.split(",")]:
            data = os.path.join(scratch, f"eval_x{times}.gz")
            rows = repeated(files, times, data)
            timed = {}
            start = time.perf_counter()
            tfdv.generate_statistics_from_tfrecord(data)
            timed["stats"] = time.perf_counter() - start
            start = time.perf_counter()
            call_models([candidate, baseline], data, args.batch)
            timed["models"] = time.perf_counter() - start
            ne = {}
            for i, name in enumerate(order):
                config = configs[name]
                if order[:i].count(name):
                    name = f"{name} #{order[:i].count(name) + 1}"
                models = [tfma.default_eval_shared_model(eval_saved_model_path=candidate, eval_config=config,
                                                         model_name="candidate"),
                          tfma.default_eval_shared_model(eval_saved_model_path=baseline, eval_config=config,
                                                         model_name="baseline")]
                out = os.path.join(scratch, f"tfma_{i}_x{times}")
                start = time.perf_counter()
                tfma.run_model_analysis(eval_shared_model=models, eval_config=config, data_location=data,
                                        output_path=out, file_format="tfrecords")
                timed[f"tfma {name}"] = time.perf_counter() - start
                ne[f"tfma {name}"] = overall_ne(out)
            for run, seconds in timed.items():
                results.append({"rows": rows, "run": run, "seconds": round(seconds, 2),
                                "rows_per_s": round(rows / seconds), "x_stats": round(seconds / timed["stats"], 2),
                                **{f"ne_{k}": round(v, 8) for k, v in sorted(ne.get(run, {}).items())}})
            print(f"[evaluator] {rows:,} rows done", flush=True)
    print("two models, overall + cohort slices")
    print_table(results, ["rows", "run", "seconds", "rows_per_s", "x_stats", "ne_candidate", "ne_baseline"])
    write_json("evaluator", {"root": args.root, "batch": args.batch, "results": results}, args.out)


if __name__ == "__main__":
    main()
