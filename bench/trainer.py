"""The C2AL Trainer alone: its ``run_fn`` on a finished pipeline root's artifacts, one
child process per (root, lambda grid), with its wall time and peak RSS from wait4.

    .venv/bin/python -m bench.trainer --root R1 [--root R2 ...] [--grids "0.1;0.1,0.3,1"]

Per root (a finished ``c2al pipeline run --root``, e.g. ``bench/pipeline.py``'s) and
grid: ``pipeline.trainer_module.run_fn`` on the CohortMiner's train split, the Transform
graph and the BaselineTrainer's export as lambda 0, with the root's own Trainer
``custom_config`` except ``aux_weights``. The export goes to a temporary directory.
Separates what grows with the rows from what grows with the candidates trained: in a
whole pipeline run the Trainer shares its process with every other component.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from bench.common import print_table, write_json


def newest(root, component, output):
    from pipeline.report import newest as newest_artifact

    return newest_artifact(root, component, output)


def child(spec):
    """Runs in the child: run_fn with the grid of ``spec``; prints the selection as JSON."""
    import c2al_tf  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
    from tfx.components.trainer.fn_args_utils import FnArgs

    from pipeline.trainer_module import run_fn

    root = spec["root"]
    trainer = os.path.join(newest(root, "Trainer", "model"), "Format-Serving", "assets.extra", "trainer.json")
    with open(trainer) as f:
        config = json.load(f)["custom_config"]
    config["aux_weights"] = spec["grid"]
    with tempfile.TemporaryDirectory(prefix="c2al-bench-trainer-") as out:
        run_fn(FnArgs(train_files=[os.path.join(newest(root, "CohortMiner", "output_examples"), "Split-train", "*")],
                      serving_model_dir=out,
                      base_model=os.path.join(newest(root, "BaselineTrainer", "model"), "Format-Serving"),
                      transform_graph_path=newest(root, "Transform", "transform_graph"), custom_config=config))
        with open(os.path.join(out, "assets.extra", "trainer.json")) as f:
            record = json.load(f)
    print("SELECTION " + json.dumps({"aux_weight": record["aux_weight"],
                                     "trained": [r["aux_weight"] for r in record["selection"]
                                                 if r.get("trained", True) and r["aux_weight"] > 0]}))


def measure(root, grid):
    spec = json.dumps({"root": root, "grid": grid})
    with tempfile.TemporaryFile("w+") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "bench.trainer", "--child", spec], stdout=log,
                                stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        log.seek(0)
        text = log.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"run_fn on {root} failed:\n{text[-3000:]}")
    selection = json.loads(text.split("SELECTION ", 1)[1].splitlines()[0])
    return {"root": root, "grid": ",".join(f"{w:g}" for w in grid), "lambdas trained": len(selection["trained"]),
            "chosen": selection["aux_weight"], "s": wall, "peak RSS MB": usage.ru_maxrss / 1024.0}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", action="append", default=[], help="a finished pipeline root (repeatable)")
    ap.add_argument("--grids", default="0.1;0.1,0.3,1", help="lambda grids, ';' between grids")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    if args.child:
        return child(json.loads(args.child))
    if not args.root:
        ap.error("give at least one --root")
    rows = []
    for root in args.root:
        for grid in args.grids.split(";"):
            rows.append(measure(root, [float(w) for w in grid.split(",")]))
            print_table(rows[-1:], list(rows[-1]))
    print()
    print_table(rows, list(rows[0]))
    write_json("trainer", {"rows": rows}, args.out)


if __name__ == "__main__":
    main()
