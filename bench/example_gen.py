"""CSV ingestion: TFX's CsvExampleGen executor against the streaming one, time and peak memory by rows.

    .venv/bin/python -m bench.example_gen [--rows 1000000,4000000] [--work DIR]

For each size: the generator's CSV (seed 0, as ``bench/pipeline.py`` writes it,
reused when present in ``--work``), then each executor's ``Do`` in a child process
on the same file, with the pipeline's split (4:1 by hash) and its default Beam
options (multi-process DirectRunner, one worker per core). Per run: wall seconds,
rows/s, peak RSS sampled every 0.5 s over the child's process tree (the largest
process and the tree's sum), the files written for the train split (the stages
after ExampleGen read one file per worker at most); then the streaming executor's time and memory over
TFX's in the same run, and each executor's memory growth from the smallest size
to the largest. Writes ``bench/results/example_gen.json``.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from bench.common import print_table, write_json
from bench.pipeline import tree_rss

EXECUTORS = {
    "tfx": "tfx.components.example_gen.csv_example_gen.executor",
    "streaming": "components.example_gen.executor",
}
BEAM_ARGS = ["--direct_running_mode=multi_processing", "--direct_num_workers=0"]


def child(executor, data, out):
    """Runs one executor's Do on ``data`` into ``out`` (in this process and its Beam workers)."""
    import importlib

    import c2al_tf  # noqa: F401 (TF_USE_LEGACY_KERAS before TensorFlow)
    from tfx.dsl.components.base.base_beam_executor import BaseBeamExecutor
    from tfx.proto import example_gen_pb2
    from tfx.types import standard_artifacts, standard_component_specs as specs
    from tfx.utils import proto_utils

    examples = standard_artifacts.Examples()
    examples.uri = out
    output_config = example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=[
        example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=4),
        example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=1)]))
    input_config = example_gen_pb2.Input(splits=[
        example_gen_pb2.Input.Split(name="single", pattern=os.path.basename(data))])
    props = {specs.INPUT_BASE_KEY: os.path.dirname(os.path.abspath(data)),
             specs.INPUT_CONFIG_KEY: proto_utils.proto_to_json(input_config),
             specs.OUTPUT_CONFIG_KEY: proto_utils.proto_to_json(output_config),
             specs.OUTPUT_DATA_FORMAT_KEY: example_gen_pb2.FORMAT_TF_EXAMPLE,
             specs.OUTPUT_FILE_FORMAT_KEY: example_gen_pb2.FORMAT_TFRECORDS_GZIP}
    cls = importlib.import_module(EXECUTORS[executor]).Executor
    cls(BaseBeamExecutor.Context(beam_pipeline_args=BEAM_ARGS)).Do(
        {}, {specs.EXAMPLES_KEY: [examples]}, props)


def measure(executor, data, rows, sample_s=0.5):
    import psutil

    with tempfile.TemporaryDirectory(prefix="examplegen_") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "bench.example_gen", "--child", executor, "--data", data,
                                 "--out", out], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        me, largest, tree = psutil.Process(proc.pid), 0.0, 0.0
        while proc.poll() is None:
            a, b = tree_rss(me)
            largest, tree = max(largest, a), max(tree, b)
            time.sleep(sample_s)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"{executor} on {data} failed:\n{proc.stderr.read()[-3000:]}")
        written = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
        shards = len([f for d, _, fs in os.walk(out) if d.endswith("Split-train") for f in fs])
    return {"executor": executor, "rows": rows, "s": wall, "rows_per_s": rows / wall, "largest_mb": largest,
            "tree_mb": tree, "written_mb": written / 2**20, "train_files": shards}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default="1000000,4000000", help="comma-separated sizes")
    ap.add_argument("--work", default=None, help="folder for the CSVs (default: a temporary folder)")
    ap.add_argument("--executors", default="tfx,streaming")
    ap.add_argument("--out-json", default=None)
    ap.add_argument("--child", choices=sorted(EXECUTORS), help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.data, args.out)
        return
    from c2al_tf.data.synthetic import write_csv

    work = args.work or tempfile.mkdtemp(prefix="bench_example_gen_")
    os.makedirs(work, exist_ok=True)
    sizes = [int(r) for r in args.rows.split(",")]
    runs = []
    for rows in sizes:
        data = os.path.join(work, f"data_{rows}.csv")
        if not os.path.exists(data):
            write_csv(data, rows, seed=0)
        for executor in args.executors.split(","):
            runs.append(measure(executor, data, rows))
            print(json.dumps(runs[-1]), flush=True)
    by = {(r["executor"], r["rows"]): r for r in runs}
    columns = ["executor", "rows", "s", "rows/s", "peak RSS largest MB", "tree MB", "written MB", "train files"]
    print_table([dict(zip(columns, [r["executor"], r["rows"], f"{r['s']:.1f}", f"{r['rows_per_s']:,.0f}",
                                    f"{r['largest_mb']:,.0f}", f"{r['tree_mb']:,.0f}", f"{r['written_mb']:,.0f}",
                                    r["train_files"]])) for r in runs], columns)
    ratios = []
    for rows in sizes:
        if ("tfx", rows) in by and ("streaming", rows) in by:
            a, b = by["streaming", rows], by["tfx", rows]
            ratios.append({"rows": rows, "streaming / tfx: s": f"{a['s'] / b['s']:.2f}",
                           "largest RSS": f"{a['largest_mb'] / b['largest_mb']:.2f}",
                           "tree RSS": f"{a['tree_mb'] / b['tree_mb']:.2f}"})
    if ratios:
        print_table(ratios, list(ratios[0]))
    growth = []
    if len(sizes) > 1:
        for executor in args.executors.split(","):
            lo, hi = by[executor, sizes[0]], by[executor, sizes[-1]]
            growth.append({"executor": executor, "rows": f"{sizes[0]:,} -> {sizes[-1]:,}",
                           "largest RSS growth": f"{hi['largest_mb'] / lo['largest_mb']:.2f}",
                           "tree RSS growth": f"{hi['tree_mb'] / lo['tree_mb']:.2f}",
                           "time growth": f"{hi['s'] / lo['s']:.2f}"})
        print_table(growth, list(growth[0]))
    write_json("example_gen", {"runs": runs}, args.out_json)


if __name__ == "__main__":
    main()
