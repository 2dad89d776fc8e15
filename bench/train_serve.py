"""Training throughput and serving latency: C2AL vs the same encoder without
auxiliary heads (and DCN), same data, same run.

    .venv/bin/python -m bench.train_serve [--rows 200000] [--epochs 4] [--out bench/results/train_serve.json]

Training, measured two ways in one run:
- paired chunks (the target is read on this): after a warm-up, ``--rounds`` rounds, each
  running ``--chunk-steps`` training steps of every variant in a new random order, on
  each variant's own shuffled tf.data pipeline (the same code ``fit`` runs, called
  through Keras's ``train_function``). A round's ratio is the baseline's chunk time over
  the variant's; the figure is the geometric mean over rounds with its 95% t interval.
  Chunks a second apart share the machine's state, so a slow spell on this shared
  machine (steady epochs here flip between ~39k and ~65k ex/s for every variant)
  cancels within a round instead of deciding the ratio.
- whole epochs (``fit``, epochs interleaved, the first one dropped as tracing):
  examples/s as the mean over epochs and on the best epoch, printed beside it.
Serving: p50/p99 latency of ``serving_default`` on serialized tf.Examples at batch 1
and 256, C2AL and baseline SavedModels loaded side by side and called alternately.
Targets: C2AL training throughput >= 0.9x the baseline's; serving latency ratio
C2AL / baseline within 1.00 +- 0.05. Export format: the C2AL model's Keras
SavedModel (``model.save``, loadable by ``tf.keras.models.load_model``) vs the
same signatures written by plain ``tf.saved_model.save`` of a ``tf.Module`` (the
earlier format): latency and size ratio, target 1.00 +- 0.05.

Scaling (``--sections workers,memory``):
- one worker vs two (``c2al train`` in one process, and in two processes on this
  machine with ``TF_CONFIG`` and MultiWorkerMirroredStrategy), same data, same
  global batch: examples/s from Keras's ms/step over the epochs after the first.
  On one small machine two workers share the same cores and add gRPC all-reduce,
  so this measures the overhead, not a speed-up.
- memory of one categorical column with ``--ids`` distinct ids (default 5M): a
  full vocabulary (lookup table + (V+1) x d embedding) vs hashed into
  ``--vocab-budget`` buckets, each built and called once in a fresh process
  (peak RSS and variable bytes).
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

import c2al_tf  # noqa: E402,F401
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bench.common import print_table, write_json  # noqa: E402
from c2al_tf.data import generate, ground_truth  # noqa: E402
from c2al_tf.data.examples import table_to_examples  # noqa: E402
from c2al_tf.data.readers import table_from_frame  # noqa: E402
from c2al_tf.export import export_saved_model, serving_functions  # noqa: E402
from c2al_tf.models import FeatureSpec, ModelConfig, build_model, set_seed  # noqa: E402
from c2al_tf.models import head_priors, make_dataset  # noqa: E402


def planted_cohorts():
    return ground_truth().cohort_spec()


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


def run_workers(n, args, tmp, timeout=1800):
    """``c2al train ARGS`` in n processes (n > 1: TF_CONFIG, multi_worker); returns
    the chief's stdout."""
    import subprocess

    from c2al_tf.models.distribute import free_ports, local_tf_config

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ports = free_ports(n)
    procs = []
    for i in range(n):
        env = dict(os.environ, PYTHONPATH=repo, TF_CPP_MIN_LOG_LEVEL="2")
        extra = []
        if n > 1:
            env["TF_CONFIG"] = local_tf_config(n, i, ports)
            extra = ["--strategy", "multi_worker"]
        out = open(os.path.join(tmp, f"w{n}_{i}.out"), "w")
        procs.append(subprocess.Popen([sys.executable, "-m", "c2al_tf.cli", "train", *args,
                                       "--export", os.path.join(tmp, f"model{n}_{i}"), *extra],
                                      stdout=out, stderr=subprocess.DEVNULL, env=env))
    for p in procs:
        p.wait(timeout=timeout)
    if any(p.returncode for p in procs):
        raise RuntimeError(f"{n}-worker run failed: see {tmp}")
    with open(os.path.join(tmp, f"w{n}_0.out")) as f:
        return f.read()


def workers_section(rows, epochs, batch_size):
    """One worker vs two on this machine (see the module docstring)."""
    import re

    from c2al_tf.data import write_csv

    tmp = tempfile.mkdtemp(prefix="c2al-bench-workers-")
    data = os.path.join(tmp, "train.csv")
    write_csv(data, rows, 0)
    cohorts = os.path.join(tmp, "cohorts.json")
    planted_cohorts().save(cohorts)
    args = ["--data", data, "--label", "click", "--cohorts", cohorts, "--aux-weight", "0.3", "--epochs", str(epochs),
            "--no-early-stopping", "--verbose-epochs", "--batch-size", str(batch_size)]
    out = []
    for n in (1, 2):
        t0 = time.perf_counter()
        log = run_workers(n, args, tmp)
        wall = time.perf_counter() - t0
        steps = [float(ms) for ms in re.findall(r"- (\d+)ms/step", log)]
        steady = steps[1:] or steps
        eps = batch_size / (np.mean(steady) / 1000) if steady else float("nan")
        out.append({"workers": n, "ms_per_step": float(np.mean(steady)), "train_examples_per_s": eps,
                    "wall_s": wall})
    for r in out:
        r["ratio_vs_one_worker"] = r["train_examples_per_s"] / out[0]["train_examples_per_s"]
    shutil.rmtree(tmp, ignore_errors=True)  # our own mkdtemp
    return out


MEMORY_PROBE = """
import resource, sys, time
import c2al_tf
import numpy as np, tensorflow as tf
from c2al_tf.layers import CategoricalEmbedding
ids, budget, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
if mode == "vocabulary":
    layer = CategoricalEmbedding([f"id{k}" for k in range(ids)], 16)
else:
    layer = CategoricalEmbedding(None, 16, hash_buckets=budget)
x = tf.constant(np.array([[f"id{k}"] for k in np.random.default_rng(0).integers(0, ids, 4096)], dtype=object))
layer(x)
built = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(peak / 1024, (peak - base) / 1024, layer.table.embeddings.shape[0] * 16 * 4 / 2**20, built)
"""


def memory_section(ids, budget):
    import subprocess

    out = []
    for mode in ("vocabulary", "hashed"):
        run = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(ids), str(budget), mode],
                             capture_output=True, text=True, timeout=1800,
                             env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
        if run.returncode:
            raise RuntimeError(run.stderr[-2000:])
        peak, grew, table_mb, built = (float(v) for v in run.stdout.strip().splitlines()[-1].split())
        out.append({"mode": mode, "ids": ids, "rows": ids + 1 if mode == "vocabulary" else budget + 1,
                    "embedding_mb": table_mb, "peak_rss_mb": peak, "rss_growth_mb": grew, "build_s": built})
    return out


def paired_chunks(variants, rounds, steps, batch_size, warmup=20, seed=1):
    """``{name: {paired_examples_per_s, paired_ratio_vs_baseline, ci}}`` from ``rounds``
    rounds of ``steps`` training steps per variant (``variants``: ``{name: (C2ALModel,
    dataset)}``, the first is the baseline), variants in a new random order each round."""
    from scipy import stats

    runs = {}
    for name, (model, ds) in variants.items():
        fn, it = model.training_model.make_train_function(), iter(ds.repeat())
        for _ in range(warmup):
            fn(it)
        runs[name] = (fn, it, [])
    rng = np.random.default_rng(seed)
    for _ in range(rounds):
        for name in rng.permutation(list(runs)):
            fn, it, times = runs[name]
            t0 = time.perf_counter()
            for _ in range(steps):
                logs = fn(it)
            float(logs["loss"])  # wait for the last step
            times.append(time.perf_counter() - t0)
    base = np.asarray(runs[next(iter(runs))][2])
    out = {}
    for name, (_, _, times) in runs.items():
        log_ratio = np.log(base / np.asarray(times))
        half = stats.t.ppf(0.975, rounds - 1) * log_ratio.std(ddof=1) / np.sqrt(rounds) if rounds > 1 else 0.0
        out[name] = {"paired_examples_per_s": steps * batch_size / float(np.median(times)),
                     "paired_ratio_vs_baseline": float(np.exp(log_ratio.mean())),
                     "paired_ratio_ci_low": float(np.exp(log_ratio.mean() - half)),
                     "paired_ratio_ci_high": float(np.exp(log_ratio.mean() + half))}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--iters", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=40, help="paired training chunks per variant")
    ap.add_argument("--chunk-steps", type=int, default=40, help="training steps per chunk")
    ap.add_argument("--sections", default="train,workers,memory", help="train (and serve), workers, memory")
    ap.add_argument("--ids", type=int, default=5_000_000, help="distinct ids of the memory section's column")
    ap.add_argument("--vocab-budget", type=int, default=1_000_000)
    ap.add_argument("--out")
    args = ap.parse_args()
    sections = set(args.sections.split(","))
    doc = {"rows": args.rows, "epochs": args.epochs, "batch_size": args.batch_size}
    if "workers" in sections:
        doc["workers"] = workers_section(args.rows, max(args.epochs, 2), args.batch_size)
        print("\nOne worker vs two on this machine (c2al train, same data and global batch)")
        print_table(doc["workers"], ["workers", "ms_per_step", "train_examples_per_s", "ratio_vs_one_worker",
                                     "wall_s"])
    if "memory" in sections:
        doc["memory"] = memory_section(args.ids, args.vocab_budget)
        print(f"\nOne categorical column with {args.ids:,} distinct ids, d = 16")
        print_table(doc["memory"], ["mode", "ids", "rows", "embedding_mb", "peak_rss_mb", "rss_growth_mb",
                                    "build_s"])
    if "train" not in sections:
        write_json("train_serve_scaling", doc, args.out)
        return
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
    paired = paired_chunks({n: (b[1], b[2]) for n, b in built.items()}, args.rounds, args.chunk_steps,
                           args.batch_size)
    for name, (encoder, model, _, times) in built.items():
        steady = times[1:] or times
        eps = len(table) * len(steady) / sum(steady)
        best_eps = len(table) / min(steady)  # the least disturbed epoch: another job only ever adds time
        path = export_saved_model(model, os.path.join(tmp, name))
        exports[name] = path
        rows.append({"variant": name, "encoder": encoder, "heads": len(model.head_names),
                     **paired[name], "train_examples_per_s": eps, "best_epoch_examples_per_s": best_eps,
                     "params": model.training_model.count_params(),
                     "serving_params": model.serving_model.count_params(), "savedmodel_bytes": dir_size(path)})
    base_eps = rows[0]["train_examples_per_s"]
    base_best = rows[0]["best_epoch_examples_per_s"]
    for r in rows:
        r["train_ratio_vs_baseline"] = r["train_examples_per_s"] / base_eps
        r["best_epoch_ratio_vs_baseline"] = r["best_epoch_examples_per_s"] / base_best
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
    print(f"\nTraining throughput, paired chunks ({args.rounds} rounds x {args.chunk_steps} steps; "
          "ratio = geometric mean of per-round ratios vs the baseline, 95% CI)")
    print_table(rows, ["variant", "encoder", "heads", "paired_examples_per_s", "paired_ratio_vs_baseline",
                       "paired_ratio_ci_low", "paired_ratio_ci_high", "serving_params", "savedmodel_bytes"])
    print("\nTraining throughput, whole epochs (examples/s, epochs after the first)")
    print_table(rows, ["variant", "train_examples_per_s", "train_ratio_vs_baseline",
                       "best_epoch_examples_per_s", "best_epoch_ratio_vs_baseline"])
    print("\nServing latency of serving_default (ms)")
    print_table(serving, ["batch", "baseline_p50_ms", "c2al_p50_ms", "p50_ratio", "baseline_p99_ms",
                          "c2al_p99_ms", "p99_ratio"])
    size_ratio = dir_size(exports["c2al"]) / dir_size(legacy)
    print(f"\nExport format: Keras SavedModel {dir_size(exports['c2al']):,} bytes vs tf.Module SavedModel "
          f"{dir_size(legacy):,} bytes (ratio {size_ratio:.3f}); p50 ratio "
          + ", ".join(f"batch {s['batch']}: {s['keras_vs_module_p50_ratio']:.3f}" for s in serving))
    c2al = rows[1]
    targets = {"train_ratio>=0.9 (paired chunks)": c2al["paired_ratio_vs_baseline"] >= 0.9,
               "serving_p50_ratio_within_5pct": all(abs(s["p50_ratio"] - 1) <= 0.05 for s in serving),
               "serving_params_equal": c2al["serving_params"] == rows[0]["serving_params"],
               "keras_export_p50_within_5pct": all(abs(s["keras_vs_module_p50_ratio"] - 1) <= 0.05 for s in serving),
               "keras_export_size_within_5pct": abs(size_ratio - 1) <= 0.05}
    print("\nTargets:", ", ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in targets.items()))
    write_json("train_serve", {**doc, "training": rows, "serving": serving,
                               "export_size_ratio_keras_vs_module": size_ratio, "targets": targets}, args.out)


if __name__ == "__main__":
    main()
