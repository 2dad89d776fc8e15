"""Headroom: how much of the gain that exists does C2AL take?

On a generator world the label's law is known, so every test row has its
Bayes-optimal probability (``c2al_tf.data.synthetic.oracle_probabilities``) and the
probability of the best predictor that ignores the planted axis (``axis_blind``).
This script reads a finished ``c2al experiment`` run on a generated file and scores
those two oracles on the experiment's own test split, overall and on each cohort of
its ``cohorts.json``:

- ``max NE_diff`` = (NE_bayes - NE_baseline) / NE_baseline: the largest NE_diff any
  model could reach on that slice (the baseline's distance from the law);
- ``C2AL NE_diff`` (paired over seeds, 95% CI, as in the experiment's report);
- ``closed`` = C2AL's NE_diff / max NE_diff: the share of the headroom C2AL takes;
- ``law fit NE_diff``: the same for a logistic regression on the terms of the world's
  law (``c2al_tf.data.scenarios.law_design``: per cohort its indicator and
  interactions, the per-item and main effects), fitted on the experiment's train rows:
  the correctly specified model, told the law's form and the cohorts' cuts. It shows how
  much of the gap those rows let a model learn; ``learnable closed`` = C2AL's NE_diff /
  the law fit's. Where the law fit gains little, no model could gain there from these
  rows; where it gains much and C2AL little, the shortfall is the model's;
- when the cohorts are disjoint, the rows in none of them ("rest") are a slice too, and
  ``beyond rest`` = a cohort's max NE_diff minus the rest's: the part of its gap that is
  its own. Where it is about 0, the baseline misses the cohort's rows no more than anyone
  else's, and a cohort head has nothing of the cohort's to take.

    .venv/bin/python -m bench.headroom --run rate_shift,5,world.csv,exp_dir [--run ...]

(``scenario,generator seed,CSV written by c2al generate --scenario S --seed N,
experiment output directory``). Prints a table and writes bench/results/headroom.json.
The law fit (scikit-learn, a few seconds) is the only training.
"""
import argparse
import json
import os


import c2al_tf  # noqa: E402,F401
import numpy as np  # noqa: E402

from bench.common import format_ci, print_table, write_json  # noqa: E402


REST = "rest (no cohort)"


def law_fit(scenario: str, train, test):
    """P(label = 1) on ``test`` of a logistic regression on the law's terms fitted on
    ``train`` (``None`` for the ``planted`` world, whose law is not a scenario's)."""
    from sklearn.linear_model import LogisticRegression

    from c2al_tf.data.scenarios import WORLDS, law_design

    world = WORLDS.get(scenario)
    if world is None:
        return None
    model = LogisticRegression(C=1.0, max_iter=2000).fit(law_design(world, train), train["click"].to_numpy())
    return model.predict_proba(law_design(world, test))[:, 1]


def slice_headroom(scenario: str, seed: int, csv: str, exp_dir: str, variant: str = "c2al"):
    """One row per slice (overall and each cohort) of one experiment run."""
    import pandas as pd

    from c2al_tf.cohorts.spec import CohortSpec
    from c2al_tf.data.synthetic import oracle_probabilities
    from c2al_tf.errors import C2ALInputError
    from c2al_tf.experiment import split_indices
    from c2al_tf.metrics import complement_metrics, normalized_entropy, paired_comparison

    with open(os.path.join(exp_dir, "metrics.json")) as f:
        doc = json.load(f)
    spec = CohortSpec.load(os.path.join(exp_dir, "cohorts.json"))
    frame = pd.read_csv(csv)
    split = doc["split"]
    train_rows, test_rows = split_indices(len(frame), split["test_fraction"], split["split_seed"])
    test = frame.iloc[test_rows].reset_index(drop=True)
    if len(test) != split["test"]:
        raise C2ALInputError(f"{csv}: {len(test)} test rows, the experiment in {exp_dir} scored {split['test']}")
    y = test["click"].to_numpy(np.int64)
    bayes = oracle_probabilities(test, scenario, seed)
    blind = oracle_probabilities(test, scenario, seed, axis_blind=True)
    law = law_fit(scenario, frame.iloc[train_rows], test)
    masks = {"overall": np.ones(len(test), bool)}
    masks.update(spec.masks({k: test[k].to_numpy() for k in test.columns}))
    runs = doc["runs"]
    cohort_names = [n for n in masks if n != "overall"]
    if cohort_names and int(sum(masks[n].astype(int) for n in cohort_names).max()) == 1:
        # Disjoint cohorts: the rows in none of them are a slice too. Its NE per run
        # follows from the stored sums (logloss and positives are additive over rows).
        masks[REST] = ~np.any([masks[n] for n in cohort_names], axis=0)
        for r in runs:
            r["cohorts"][REST] = complement_metrics(r["overall"], [r["cohorts"][n] for n in cohort_names])
    rows = []
    for name, mask in masks.items():
        def ne_of(v):
            out = {}
            for r in runs:
                if r["variant"] == v:
                    s = r["overall"] if name == "overall" else r["cohorts"][name]
                    out[r["seed"]] = s["ne"]
            return out

        base, cand = ne_of("baseline"), ne_of(variant)
        seeds = sorted(set(base) & set(cand))
        if not seeds:
            raise C2ALInputError(f"{exp_dir}: no seed has both baseline and {variant} runs")
        if int(mask.sum()) != (doc["runs"][0]["overall"]["count"] if name == "overall"
                               else doc["runs"][0]["cohorts"][name]["count"]):
            raise C2ALInputError(f"{csv}: slice {name} has {int(mask.sum())} test rows, the experiment scored another "
                                 "number (not the file the experiment read?)")
        base_ne = float(np.mean([base[s] for s in seeds]))
        ne_bayes = normalized_entropy(y[mask], bayes[mask])
        ne_blind = normalized_entropy(y[mask], blind[mask])
        law_diff = (normalized_entropy(y[mask], law[mask]) - base_ne) / base_ne if law is not None else None
        comp = paired_comparison([base[s] for s in seeds], [cand[s] for s in seeds])
        max_diff = (ne_bayes - base_ne) / base_ne
        rows.append({"world": scenario, "slice": name, "rows": int(mask.sum()), "baseline NE": base_ne,
                     f"{variant} NE": float(np.mean([cand[s] for s in seeds])), "axis-blind NE": ne_blind,
                     "Bayes NE": ne_bayes, "max NE_diff": f"{100 * max_diff:+.2f}%",
                     f"{variant} NE_diff": format_ci(comp),
                     "closed": f"{100 * comp['mean'] / max_diff:.0f}%" if max_diff < 0 else "-",
                     "law fit NE_diff": "-" if law_diff is None else f"{100 * law_diff:+.2f}%",
                     "learnable closed": (f"{100 * comp['mean'] / law_diff:.0f}%"
                                          if law_diff is not None and law_diff < 0 else "-"),
                     "_max_diff": max_diff, "_comparison": comp})
    rest = next((r for r in rows if r["slice"] == REST), None)
    for r in rows:
        # How much more of the slice's gap than of the rest's: the part only a model that
        # treats this cohort differently can take (0 = its rows are missed like everyone's).
        r["beyond rest"] = (f"{100 * (r['_max_diff'] - rest['_max_diff']):+.2f}%"
                            if rest is not None and r["slice"] not in ("overall", REST) else "-")
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", action="append", required=True, metavar="SCENARIO,SEED,CSV,EXPERIMENT_DIR")
    ap.add_argument("--variant", default="c2al", help="the variant compared with the baseline (default c2al)")
    ap.add_argument("--out", default=None, help="JSON path (default bench/results/headroom.json)")
    args = ap.parse_args(argv)
    rows = []
    for spec in args.run:
        parts = spec.split(",")
        if len(parts) != 4:
            ap.error(f"--run {spec!r}: expected SCENARIO,SEED,CSV,EXPERIMENT_DIR")
        rows += slice_headroom(parts[0], int(parts[1]), parts[2], parts[3], args.variant)
    columns = [c for c in rows[0] if not c.startswith("_")]
    print_table(rows, columns)
    write_json("headroom", {"rows": rows, "runs": args.run}, args.out)


if __name__ == "__main__":
    main()
