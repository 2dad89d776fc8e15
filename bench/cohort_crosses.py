"""Cohort crosses as inputs, beside C2AL: the same mined cohorts given to the model as
features instead of as auxiliary heads.

C2AL keeps the serving model's inputs and adds heads in training only. The plain
alternative a ranking engineer would try is to give the model the cohort itself:
each categorical feature crossed with the row's cohort (``surface`` -> ``surface x
cohort``), so that an interaction layer of order two (an FM) can express a cohort's own
interactions (cohort x surface x category). This script measures both on the same rows,
split and seeds:

1. ``c2al experiment --variants baseline,c2al`` on the data as it is (the cohorts mined
   on its train rows, or ``--cohorts``); its ``cohorts.json`` is kept;
2. the same rows with one crossed column per categorical feature (its value, ``_``, the
   name of the row's cohort or ``none``; columns with more than ``--max-levels`` values,
   e.g. ids, are not crossed), and ``c2al experiment --cohorts`` that ``cohorts.json``
   (the same cohorts, so C2AL on crosses is measured too).

Both runs read a CSV written from the same table (typed once by ``c2al_tf.read_table``;
the split, by row index, is the same). Reports each variant's NE_diff against the plain
baseline per slice, paired over seeds (95% CI). The crosses change the serving model's
inputs (and its cost: one more embedding per crossed feature); C2AL does not.

    .venv/bin/python -m bench.cohort_crosses --run lone,lone.csv,click \\
        --run movielens-100k,../shared/data/movielens-100k,rating,'>=4' [--seeds 5]

(``--run NAME,DATA,LABEL[,POSITIVE_LABEL][,COHORTS_JSON]``). Prints a table and writes
bench/results/cohort_crosses.json.
"""
import argparse
import os

import c2al_tf  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
import numpy as np

from bench.common import RESULTS, format_ci, print_table, run_experiment, variant_runs, write_json

NONE = "none"


def cohort_of(spec, features) -> np.ndarray:
    """Each row's cohort name (the first cohort of ``spec`` it belongs to), or ``none``."""
    out = np.full(len(features), NONE, dtype=object)
    for name, mask in reversed(list(spec.masks({k: features[k].to_numpy() for k in features.columns}).items())):
        out[mask] = name
    return out


def crossed(table, spec, max_levels: int):
    """The table's frame with ``<feature>_x_cohort`` added for every categorical (or
    integer-coded) feature with at most ``max_levels`` values; returns (frame, crossed names)."""
    frame = table.to_frame()
    cohort = cohort_of(spec, table.features)
    names = []
    for name in table.features.columns:
        if table.kind(name) == "numeric" or table.features[name].nunique() > max_levels:
            continue
        frame[f"{name}_x_cohort"] = table.features[name].astype(str).to_numpy() + "_" + cohort
        names.append(f"{name}_x_cohort")
    label = frame.pop(table.label_name)
    frame[table.label_name] = label  # label last, as written by to_frame
    return frame, names


def measure(name, data, label, positive, cohorts, seeds, max_levels, work, extra):
    from c2al_tf.cohorts.spec import CohortSpec
    from c2al_tf.data import read_table
    from c2al_tf.metrics import paired_comparison

    os.makedirs(work, exist_ok=True)
    table = read_table(data, label, positive)
    plain_csv = os.path.join(work, f"{name}.csv")
    if not os.path.exists(plain_csv):
        table.to_frame().to_csv(plain_csv, index=False)
    common = ["--label", table.label_name, "--seeds", seeds, "--variants", "baseline,c2al", *extra]
    plain = run_experiment(["--data", plain_csv, *common, *(["--cohorts", cohorts] if cohorts else [])],
                           os.path.join(work, f"{name}-plain"))
    spec_path = os.path.join(work, f"{name}-plain", "cohorts.json")
    spec = CohortSpec.load(spec_path)
    if not list(spec.cohorts()):
        return [{"data": name, "slice": "-", "variant": "no cohort mined: nothing to cross"}], []
    crossed_csv = os.path.join(work, f"{name}-crossed.csv")
    frame, names = crossed(table, spec, max_levels)
    frame.to_csv(crossed_csv, index=False)
    cross = run_experiment(["--data", crossed_csv, *common, "--cohorts", spec_path],
                           os.path.join(work, f"{name}-crossed"))
    base = variant_runs(plain["doc"], "baseline")
    arms = {"C2AL": variant_runs(plain["doc"], "c2al"), "crosses": variant_runs(cross["doc"], "baseline"),
            "crosses + C2AL": variant_runs(cross["doc"], "c2al")}
    rows = []
    for slice_name in ["overall", *[c["name"] for c in spec.cohorts()]]:
        def ne(runs):
            return [(r["overall"] if slice_name == "overall" else r["cohorts"][slice_name])["ne"] for r in runs]
        for arm, runs in arms.items():
            comp = paired_comparison(ne(base), ne(runs))
            rows.append({"data": name, "slice": slice_name, "variant": arm, "baseline NE": float(np.mean(ne(base))),
                         "NE": float(np.mean(ne(runs))), "NE_diff (95%)": format_ci(comp),
                         "lambda per seed": ",".join(format(r["aux_weight"], "g") for r in runs)
                         if arm != "crosses" else "", "_comparison": comp})
    return rows, names


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", action="append", required=True,
                    metavar="NAME,DATA,LABEL[,POSITIVE_LABEL][,COHORTS_JSON]")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--max-levels", type=int, default=100,
                    help="cross a categorical feature only when it has at most this many values (default 100)")
    ap.add_argument("--work", default=os.path.join(RESULTS, "cohort_crosses"))
    ap.add_argument("--experiment-arg", action="append", default=[], metavar="X",
                    help="extra `c2al experiment` argument for both runs (repeatable)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    rows, crosses = [], {}
    for run in args.run:
        parts = run.split(",")
        if len(parts) < 3:
            ap.error(f"--run {run!r}: expected NAME,DATA,LABEL[,POSITIVE_LABEL][,COHORTS_JSON]")
        name, data, label = parts[:3]
        positive = parts[3] if len(parts) > 3 and parts[3] else None
        cohorts = parts[4] if len(parts) > 4 and parts[4] else None
        got, names = measure(name, data, label, positive, cohorts, args.seeds, args.max_levels,
                             os.path.join(args.work, name), args.experiment_arg)
        rows += got
        crosses[name] = names
    print_table(rows, ["data", "slice", "variant", "baseline NE", "NE", "NE_diff (95%)", "lambda per seed"])
    write_json("cohort_crosses", {"seeds": args.seeds, "max_levels": args.max_levels, "crossed": crosses,
                                  "rows": [{k: v for k, v in r.items() if k != "_comparison"} | (
                                      {"comparison": r["_comparison"]} if "_comparison" in r else {})
                                      for r in rows]}, args.out)


if __name__ == "__main__":
    main()
