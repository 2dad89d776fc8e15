"""Training throughput and serving latency: C2AL vs the same encoder without
auxiliary heads (and DCN), same data, same run.

    .venv/bin/python bench/train_serve.py [--rows 200000] [--epochs 4] [--out bench/results/train_serve.json]

Training: examples/s over the epochs after the first (the first includes tracing).
Serving: p50/p99 latency of ``serving_default`` on serialized tf.Examples at batch 1
and 256, C2AL and baseline SavedModels loaded side by side and called alternately.
Targets: C2AL training throughput >= 0.9x the baseline's; serving latency ratio
C2AL / baseline within 1.00 +- 0.05. Export format: the C2AL model's Keras
SavedModel (``model.save``, loadable by ``tf.keras.models.load_model``) vs the
same signatures written by plain ``tf.saved_model.save`` of a ``tf.Module`` (the
earlier format): latency and size ratio, target 1.00 +- 0.05.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import c2al_tf  # noqa: E402,F401
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bench.common import print_table, write_json  # noqa: E402
from c2al_tf.cohorts import CohortSpec  # noqa: E402
from c2al_tf.data import generate, ground_truth  # noqa: E402
from c2al_tf.data.examples import table_to_examples  # noqa: E402
from c2al_tf.data.readers import table_from_frame  # noqa: E402
from c2al_tf.export import export_saved_model, serving_functions  # noqa: E402
from c2al_tf.models import FeatureSpec, ModelConfig, build_model, set_seed, train  # noqa: E402
from c2al_tf.models.training import head_priors, make_dataset  # noqa: E402


def planted_cohorts():
    t = ground_truth()
    return CohortSpec.from_pairs("click", [{
        "axis": [t.axis], "divergence": 0.0,
        "head": {"name": "user_value_head", "aux_label": "aux__user_value_head",
                 "predicate": {"feature": t.axis, "min": t.head_min, "max": None}},
        "tail": {"name": "user_value_tail", "aux_label": "aux__user_value_tail",
                 "predicate": {"feature": t.axis, "min": None, "max": t.tail_max}}}], method="manual")


def latency(fns, batch, examples, iters):
    """Interleaved calls in a random order each round, so both models see the same
    machine load and neither always runs second; ms per call."""
    data = tf.constant(examples[:batch])
    times = {k: [] for k in fns}
    rng = np.random.default_rng(0)
    names = list(fns)
    for _ in range(20):
        for fn in fns.values():
            fn(examples=data)
    for _ in range(iters):
        for name in rng.permutation(names):
            fn = fns[name]
            t0 = time.perf_counter()
            fn(examples=data)
            times[name].append((time.perf_counter() - t0) * 1000)
    return {k: (float(np.percentile(v, 50)), float(np.percentile(v, 99))) for k, v in times.items()}


def dir_size(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--iters", type=int, default=1000)
    ap.add_argument("--out")
    args = ap.parse_args()
    table = table_from_frame(generate(args.rows, 0), "click", source="synthetic")
    spec = FeatureSpec.from_table(table)
    cohorts = planted_cohorts()
    variants = [("baseline", "attention_fm", None), ("c2al", "attention_fm", cohorts), ("dcn", "dcn", None)]
    rows, exports = [], {}
    tmp = tempfile.mkdtemp(prefix="c2al-bench-")
    built = {}
    for name, encoder, cs in variants:
        set_seed(0)
        model = build_model(spec, cs, ModelConfig(model=encoder),
                            priors=head_priors(list(cs.cohorts()) if cs else [], table))
        model.compile()
        built[name] = (encoder, model, make_dataset(model, table, args.batch_size, True, 0), [])
    # epochs interleaved across variants, in a new random order each epoch, so each variant
    # sees the same machine load and none always runs first (right after data preparation)
    order_rng = np.random.default_rng(1)
    for epoch in range(args.epochs):
        for name in order_rng.permutation(list(built)):
            _, model, ds, times = built[name]
            t0 = time.perf_counter()
            model.training_model.fit(ds, epochs=1, verbose=0)
            times.append(time.perf_counter() - t0)
        print(f"[bench] epoch {epoch + 1}/{args.epochs}: " + ", ".join(
            f"{n} {len(table) / t[-1]:,.0f} ex/s" for n, (_, _, _, t) in built.items()), flush=True)
    for name, (encoder, model, _, times) in built.items():
        steady = times[1:] or times
        eps = len(table) * len(steady) / sum(steady)
        path = export_saved_model(model, os.path.join(tmp, name))
        exports[name] = path
        rows.append({"variant": name, "encoder": encoder, "heads": len(model.head_names),
                     "train_examples_per_s": eps, "params": model.training_model.count_params(),
                     "serving_params": model.serving_model.count_params(), "savedmodel_bytes": dir_size(path)})
    base_eps = rows[0]["train_examples_per_s"]
    for r in rows:
        r["train_ratio_vs_baseline"] = r["train_examples_per_s"] / base_eps
    examples = table_to_examples(table.take(np.arange(256)), include_label=False)
    legacy = os.path.join(tmp, "c2al_module")
    module = tf.Module()
    module.serving_model, module.training_model = built["c2al"][1].serving_model, built["c2al"][1].training_model
    tf.saved_model.save(module, legacy, signatures={k: f.get_concrete_function() for k, f in
                                                    serving_functions(built["c2al"][1]).items()})
    # like for like: the same assets.extra (c2al.json, part of the export contract) in both
    shutil.copytree(os.path.join(exports["c2al"], "assets.extra"), os.path.join(legacy, "assets.extra"))
    exports["c2al_module"] = legacy
    fns = {n: tf.saved_model.load(exports[n]).signatures["serving_default"] for n in ("baseline", "c2al", "c2al_module")}
    serving = []
    for batch in (1, 256):
        lat = latency(fns, batch, examples, args.iters)
        serving.append({"batch": batch, "baseline_p50_ms": lat["baseline"][0], "baseline_p99_ms": lat["baseline"][1],
                        "c2al_p50_ms": lat["c2al"][0], "c2al_p99_ms": lat["c2al"][1],
                        "p50_ratio": lat["c2al"][0] / lat["baseline"][0],
                        "p99_ratio": lat["c2al"][1] / lat["baseline"][1],
                        "module_p50_ms": lat["c2al_module"][0],
                        "keras_vs_module_p50_ratio": lat["c2al"][0] / lat["c2al_module"][0]})
    print("\nTraining throughput (examples/s, epochs after the first)")
    print_table(rows, ["variant", "encoder", "heads", "train_examples_per_s", "train_ratio_vs_baseline",
                       "serving_params", "savedmodel_bytes"])
    print("\nServing latency of serving_default (ms)")
    print_table(serving, ["batch", "baseline_p50_ms", "c2al_p50_ms", "p50_ratio", "baseline_p99_ms",
                          "c2al_p99_ms", "p99_ratio"])
    size_ratio = dir_size(exports["c2al"]) / dir_size(legacy)
    print(f"\nExport format: Keras SavedModel {dir_size(exports['c2al']):,} bytes vs tf.Module SavedModel "
          f"{dir_size(legacy):,} bytes (ratio {size_ratio:.3f}); p50 ratio "
          + ", ".join(f"batch {s['batch']}: {s['keras_vs_module_p50_ratio']:.3f}" for s in serving))
    c2al = rows[1]
    targets = {"train_ratio>=0.9": c2al["train_ratio_vs_baseline"] >= 0.9,
               "serving_p50_ratio_within_5pct": all(abs(s["p50_ratio"] - 1) <= 0.05 for s in serving),
               "serving_params_equal": c2al["serving_params"] == rows[0]["serving_params"],
               "keras_export_p50_within_5pct": all(abs(s["keras_vs_module_p50_ratio"] - 1) <= 0.05 for s in serving),
               "keras_export_size_within_5pct": abs(size_ratio - 1) <= 0.05}
    print("\nTargets:", ", ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in targets.items()))
    write_json("train_serve", {"rows": args.rows, "epochs": args.epochs, "batch_size": args.batch_size,
                               "training": rows, "serving": serving, "export_size_ratio_keras_vs_module": size_ratio,
                               "targets": targets}, args.out)


if __name__ == "__main__":
    main()
