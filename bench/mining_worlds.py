"""Does the miner find the planted axis on every generator world? One table per mode.

    .venv/bin/python -m bench.mining_worlds [--rows 200000] [--seed 5]
        [--worlds planted,rate_shift,interaction,extremes,decoys,int_ids,null]
        [--modes pairwise,stats,residuals] [--out bench/results/mining_worlds.json]

Per world: ``--rows`` rows of ``c2al generate --scenario WORLD --seed S``, read with
the default typing, split 80/20 as ``c2al experiment`` splits; mining sees only the
training rows. ``residuals`` uses the baseline ``c2al experiment --by residuals``
trains (protocol: validation carve-out, early stopping, default ModelConfig). A world
passes when the top pair's axis is the planted one and its tail / head shares (of the
training rows) lie within 2.5 percentage points of the planted quantiles; the null
world passes when no pair is kept. Prints the table and writes JSON.
"""
import argparse
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

import c2al_tf  # noqa: E402,F401  (sets TF_USE_LEGACY_KERAS before TensorFlow)
from bench.common import print_table, write_json  # noqa: E402
from c2al_tf.data.synthetic import scenario_names  # noqa: E402

TOLERANCE = 0.025


def shares(table, pair):
    """(tail share, head share) of ``pair``'s cohorts on ``table``: the cohort whose
    predicate has no lower bound is the tail (low values), the other the head."""
    import numpy as np

    from c2al_tf.cohorts.spec import CohortSpec

    masks = CohortSpec.from_pairs(table.label_name, [pair], method="manual").masks(table.features)
    masks = {side: masks[pair[side]["name"]] for side in ("head", "tail")}
    lows = [s for s in ("head", "tail") if pair[s]["predicate"].get("min") is None]
    if len(pair["axis"]) != 1 or len(lows) != 1:
        return None, None
    low = lows[0]
    high = "tail" if low == "head" else "head"
    return float(np.mean(masks[low])), float(np.mean(masks[high]))


def judge(truth, spec, table):
    if not spec.pairs:
        return {"axis": None, "tail_share": None, "head_share": None, "pass": truth.axis is None}
    pair = spec.pairs[0]
    tail, head = shares(table, pair) if pair["axis"] == [truth.axis] else (None, None)
    ok = (truth.axis is not None and tail is not None
          and (truth.tail_quantile is None or abs(tail - truth.tail_quantile) <= TOLERANCE)  # lone: the head alone
          and abs(head - (1 - truth.head_quantile)) <= TOLERANCE)
    return {"axis": ",".join(pair["axis"]), "tail_share": tail, "head_share": head, "pass": bool(ok)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--worlds", default=",".join(scenario_names()), help="default: every generator world")
    parser.add_argument("--modes", default="pairwise,stats", help="pairwise (the default mode), stats, residuals, "
                        "predictions (the last two train the protocol's baseline first)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    from c2al_tf.cohorts.miner import mine_table
    from c2al_tf.data import ground_truth, read_table, write_csv
    from c2al_tf.experiment import ExperimentConfig, baseline_predictions, split

    config = ExperimentConfig()
    rows, work = [], tempfile.mkdtemp(prefix="mining_worlds_")
    for world in args.worlds.split(","):
        path = os.path.join(work, f"{world}.csv")
        write_csv(path, args.rows, seed=args.seed, scenario=world)
        truth = ground_truth(world)
        train, _ = split(read_table(path, "click"), config.test_fraction, config.split_seed)
        predictions, baseline_seconds = None, None
        for mode in args.modes.split(","):
            t0 = time.perf_counter()
            if mode in ("residuals", "predictions") and predictions is None:
                predictions = baseline_predictions(train, config)
                baseline_seconds = time.perf_counter() - t0
                t0 = time.perf_counter()
            spec, results = mine_table(train, by=mode, predictions=predictions if mode != "stats" else None)
            kept = [",".join(r.axis) for r in results if r.significant]
            row = {"world": world, "mode": mode, "planted": truth.axis,
                   "planted_tail": truth.tail_quantile,
                   "planted_head": None if truth.head_quantile is None else round(1 - truth.head_quantile, 4),
                   **judge(truth, spec, train), "kept": " ".join(kept[:6]),
                   "mining_s": round(time.perf_counter() - t0, 1),
                   "baseline_s": None if baseline_seconds is None else round(baseline_seconds, 1)}
            rows.append(row)
            print_table([row], list(row))
            sys.stdout.flush()
    columns = ["world", "mode", "planted", "planted_tail", "planted_head", "axis", "tail_share", "head_share",
               "pass", "kept", "mining_s", "baseline_s"]
    print()
    print_table(rows, columns)
    write_json("mining_worlds", {"args": vars(args), "rows": rows}, args.out)


if __name__ == "__main__":
    main()
