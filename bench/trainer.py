"""The C2AL Trainer alone: its ``run_fn`` on a finished pipeline root's artifacts, one
child process per (root, lambda grid), with its wall time and peak RSS from wait4.

    .venv/bin/python -m bench.trainer --root R1 [--root R2 ...] [--grids "0.1;0.1,0.3,1"]
        [--seeds 0,1,2,3,4 --ema-momentum 0,0.98 --own-baseline]
    .venv/bin/python -m bench.trainer --root R1 [--root R2 ...] --grids 0.1,0.3,1 --compare-search

Per root (a finished ``c2al pipeline run --root``, e.g. ``bench/pipeline.py``'s) and
grid: ``pipeline.trainer_module.run_fn`` on the CohortMiner's train split, the Transform
graph and the BaselineTrainer's export as lambda 0, with the root's own Trainer
``custom_config`` except ``aux_weights``. The export goes to a temporary directory.
Separates what grows with the rows from what grows with the candidates trained: in a
whole pipeline run the Trainer shares its process with every other component.

``--seeds`` and ``--ema-momentum`` rerun the search with other training seeds and weight
averaging; with ``--own-baseline`` lambda 0 is trained in the child with the same seed
and averaging (not read from the BaselineTrainer's export), so each row is one paired
search: lambda 0's validation logloss, the first candidate's paired difference with its
90% interval, and the lambda chosen. The spread of that difference over seeds is the
training noise the evidence rule does not see.

``--compare-search`` runs, per root, the BaselineTrainer's ``run_fn`` and the C2AL
Trainer's twice: with the candidates trained side by side (the default,
:mod:`c2al_tf.models.joint`) and one at a time. It prints each one's wall time as a
ratio to the BaselineTrainer's and whether the two searches chose the same lambda
with the same table.
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
    if spec.get("search") == "sequential":
        config["side_by_side"] = False  # the one-at-a-time search
    if spec.get("search") == "baseline":
        config["baseline"] = True
    for key in ("seed", "ema_momentum"):
        if spec.get(key) is not None:
            config[key] = spec[key]
    base = None if spec.get("own_baseline") or spec.get("search") == "baseline" else \
        os.path.join(newest(root, "BaselineTrainer", "model"), "Format-Serving")
    # the BaselineTrainer reads ExampleGen's examples, the C2AL Trainer the CohortMiner's
    examples = newest(root, "CsvExampleGen", "examples") if spec.get("search") == "baseline" else \
        newest(root, "CohortMiner", "output_examples")
    with tempfile.TemporaryDirectory(prefix="c2al-bench-trainer-") as out:
        run_fn(FnArgs(train_files=[os.path.join(examples, "Split-train", "*")],
                      serving_model_dir=out, base_model=base,
                      transform_graph_path=newest(root, "Transform", "transform_graph"), custom_config=config))
        with open(os.path.join(out, "assets.extra", "trainer.json")) as f:
            record = json.load(f)
    print("SELECTION " + json.dumps({"aux_weight": record["aux_weight"], "table": record["selection"],
                                     "trained": [r["aux_weight"] for r in record["selection"]
                                                 if r.get("trained", True) and r["aux_weight"] > 0]}))


def measure(root, grid, seed=None, ema_momentum=None, own_baseline=False, search=None):
    spec = json.dumps({"root": root, "grid": grid, "seed": seed, "ema_momentum": ema_momentum,
                       "own_baseline": own_baseline, "search": search})
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
    row = {"root": root, "grid": ",".join(f"{w:g}" for w in grid)}
    if seed is not None or ema_momentum is not None:
        table = {r["aux_weight"]: r for r in selection["table"]}
        first = table.get(min(w for w in grid if w > 0), {})
        row.update({"seed": seed, "ema momentum": ema_momentum, "lambda 0 val logloss": table[0.0]["val_logloss"],
                    "first vs 0": first.get("diff"), "low": first.get("low"), "high": first.get("high")})
    return {**row, "lambdas trained": len(selection["trained"]), "chosen": selection["aux_weight"], "s": wall,
            "peak RSS MB": usage.ru_maxrss / 1024.0, "table": selection["table"]}


def compare_search(root, grid):
    """The BaselineTrainer, then the C2AL Trainer's search side by side and one at a time."""
    runs = {search: measure(root, grid, search=search) for search in ("baseline", "joint", "sequential")}
    base = runs["baseline"]["s"]
    return {"root": root, "grid": runs["joint"]["grid"], "lambdas tested": runs["sequential"]["lambdas trained"],
            "chosen": runs["joint"]["chosen"], "same choice and table": runs["joint"]["table"] == runs["sequential"]["table"],
            "baseline s": base, "side by side s": runs["joint"]["s"], "one at a time s": runs["sequential"]["s"],
            "side by side / baseline": runs["joint"]["s"] / base, "one at a time / baseline": runs["sequential"]["s"] / base,
            "peak RSS MB side by side": runs["joint"]["peak RSS MB"],
            "peak RSS MB one at a time": runs["sequential"]["peak RSS MB"]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", action="append", default=[], help="a finished pipeline root (repeatable)")
    ap.add_argument("--grids", default="0.1;0.1,0.3,1", help="lambda grids, ';' between grids")
    ap.add_argument("--seeds", default=None, help="training seeds, e.g. 0,1,2,3,4 (default: the root's own)")
    ap.add_argument("--ema-momentum", default=None, help="weight averaging momenta, e.g. 0,0.98 (default: the root's)")
    ap.add_argument("--own-baseline", action="store_true",
                    help="train lambda 0 in the child with the same seed and averaging (paired searches)")
    ap.add_argument("--compare-search", action="store_true",
                    help="per root: the BaselineTrainer, then the search side by side and one at a time")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    if args.child:
        return child(json.loads(args.child))
    if not args.root:
        ap.error("give at least one --root")
    rows = []
    if args.compare_search:
        for root in args.root:
            for grid in args.grids.split(";"):
                rows.append(compare_search(root, [float(w) for w in grid.split(",")]))
                print_table(rows[-1:], list(rows[-1]))
        print()
        print_table(rows, list(rows[0]))
        write_json("trainer_search", {"rows": rows}, args.out)
        return
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else [None]
    momenta = [float(m) for m in args.ema_momentum.split(",")] if args.ema_momentum else [None]
    for root in args.root:
        for grid in args.grids.split(";"):
            for momentum in momenta:
                for seed in seeds:
                    row = measure(root, [float(w) for w in grid.split(",")], seed, momentum, args.own_baseline)
                    row.pop("table")
                    rows.append(row)
                    print_table(rows[-1:], list(rows[-1]))
    print()
    print_table(rows, list(rows[0]))
    write_json("trainer", {"rows": rows}, args.out)


if __name__ == "__main__":
    main()
