"""CohortMiner vs a plain StatisticsGen pass on the same Examples: wall time, and
the miner's peak RSS as rows grow.

    .venv/bin/python -m bench.mining [--rows 1000000] [--rss-rows 1000000,10000000]

Each stage is the real TFX executor (StatisticsGen's, then CohortMiner's) run in
its own child process on the same TFRecord Examples (train/eval split 2:1, as
ExampleGen writes them), with Beam's DirectRunner; wall time and peak RSS
(ru_maxrss of the child) are measured per stage. Target: CohortMiner wall time
<= 1.5x StatisticsGen's; its peak RSS must not grow with rows.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "bench", "results", "data")


def make_examples(rows, out):
    """Synthetic rows as an ExampleGen-style Examples directory (Split-train/Split-eval)."""
    import c2al_tf  # noqa: F401
    import tensorflow as tf

    from c2al_tf.data.examples import table_to_examples
    from c2al_tf.data.readers import table_from_frame
    from c2al_tf.data.synthetic import iter_chunks

    if os.path.exists(os.path.join(out, "DONE")):
        return
    writers = {s: tf.io.TFRecordWriter(os.path.join(out, f"Split-{s}", "data_tfrecord-00000-of-00001.gz"),
                                       tf.io.TFRecordOptions(compression_type="GZIP")) for s in ("train", "eval")
               if os.makedirs(os.path.join(out, f"Split-{s}"), exist_ok=True) is None}
    i = 0
    for chunk in iter_chunks(rows, seed=0, chunk_rows=50_000):
        table = table_from_frame(chunk, "click", source="gen")
        for record in table_to_examples(table):
            writers["eval" if i % 3 == 2 else "train"].write(record)
            i += 1
    for w in writers.values():
        w.close()
    open(os.path.join(out, "DONE"), "w").close()


def run_stage(stage, examples_dir, out_dir, by=None):
    import c2al_tf  # noqa: F401
    from tfx.components.statistics_gen import executor as stats_executor
    from tfx.types import artifact_utils, standard_artifacts

    from components.cohort_miner import executor as miner_executor
    from components.cohort_miner.component import CohortSpecArtifact

    def artifact(cls, uri, splits=None):
        a = cls()
        a.uri = uri
        if splits:
            a.split_names = artifact_utils.encode_split_names(splits)
        return a

    examples = artifact(standard_artifacts.Examples, examples_dir, ["train", "eval"])
    stats = artifact(standard_artifacts.ExampleStatistics, os.path.join(out_dir, "stats"))
    beam = {"beam_pipeline_args": ["--direct_num_workers=1", "--direct_running_mode=in_memory"]}
    t0 = time.perf_counter()
    if stage == "statisticsgen":
        stats_executor.Executor(stats_executor.Executor.Context(**beam)).Do(
            {"examples": [examples]}, {"statistics": [stats]}, {"exclude_splits": "[]"})
    else:
        stats.split_names = artifact_utils.encode_split_names(["train", "eval"])
        out_examples = artifact(standard_artifacts.Examples, os.path.join(out_dir, "labeled"))
        cohorts = artifact(CohortSpecArtifact, os.path.join(out_dir, "cohorts"))
        os.makedirs(cohorts.uri, exist_ok=True)
        miner_executor.Executor(miner_executor.Executor.Context(**beam)).Do(
            {"examples": [examples], "statistics": [stats]}, {"cohorts": [cohorts], "output_examples": [out_examples]},
            {"label": "click", **({"by": by} if by else {})})
    print(json.dumps({"seconds": time.perf_counter() - t0}))


def child(stage, examples_dir, out_dir, by=None):
    """Runs one stage in a child process; its own peak RSS comes from wait4."""

    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, "-m", "bench.mining", "--run-stage", stage, "--examples",
                                 examples_dir, "--out", out_dir] + (["--by", by] if by else []),
                                stdout=out, stderr=err, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{stage} failed:\n{err.read()[-3000:]}")
        inner = json.loads(out.read().strip().splitlines()[-1])["seconds"]
    return {"stage": stage, "executor_seconds": inner, "process_seconds": wall, "peak_rss_mb": usage.ru_maxrss / 1024.0}


def main():
    ap = argparse.ArgumentParser(description="CohortMiner vs StatisticsGen: wall time and peak RSS")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--rss-rows", default="", help="comma-separated row counts for the miner's RSS scaling")
    ap.add_argument("--run-stage")
    ap.add_argument("--examples")
    ap.add_argument("--out")
    ap.add_argument("--json")
    ap.add_argument("--by", default=None, help="the CohortMiner's mining mode (default: MiningConfig's)")
    args = ap.parse_args()
    if args.run_stage:
        return run_stage(args.run_stage, args.examples, args.out, args.by)
    from bench.common import print_table, write_json

    rows_out = []
    sizes = [args.rows] + [int(r) for r in args.rss_rows.split(",") if r.strip() and int(r) != args.rows]
    for n in sizes:
        examples = os.path.join(DATA, f"examples_{n}")
        t0 = time.perf_counter()
        make_examples(n, examples)
        print(f"[bench] {n:,} rows of Examples ready ({time.perf_counter() - t0:.0f} s)", flush=True)
        with tempfile.TemporaryDirectory(prefix=f"work_{n}_", dir=DATA) as work:  # removed afterwards
            stats = child("statisticsgen", examples, work)   # the miner needs these statistics too
            miner = child("cohortminer", examples, work, args.by)
        from c2al_tf.cohorts.config import MiningConfig

        rows_out.append({"rows": n, "by": args.by or MiningConfig.by, "statisticsgen_s": stats["executor_seconds"],
                         "cohortminer_s": miner["executor_seconds"],
                         "ratio": miner["executor_seconds"] / stats["executor_seconds"],
                         "statisticsgen_rss_mb": stats["peak_rss_mb"], "cohortminer_rss_mb": miner["peak_rss_mb"]})
        print(f"[bench] {rows_out[-1]}", flush=True)
    print()
    print_table(rows_out, ["rows", "by", "statisticsgen_s", "cohortminer_s", "ratio", "statisticsgen_rss_mb",
                           "cohortminer_rss_mb"])
    target = {"time_ratio<=1.5": rows_out[0]["ratio"] <= 1.5}
    if len(rows_out) > 1:
        growth = rows_out[-1]["cohortminer_rss_mb"] / rows_out[0]["cohortminer_rss_mb"]
        target["rss_growth"] = growth
        target["rss_bounded(growth<1.5x for 10x rows)"] = growth < 1.5
    print("Targets:", target)
    write_json("mining", {"results": rows_out, "targets": target}, args.json)


if __name__ == "__main__":
    main()
