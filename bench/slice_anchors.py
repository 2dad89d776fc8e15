"""The miner against the slice-discovery tools a user would reach for instead.

On each generator world (``--rows``, seed ``--seed``) and on the real sets, with
``c2al experiment``'s split (80% train, 20% test, seed 12345):

- ``c2al``: the default miner (``mine_table``, ``by="pairwise"``) on the train rows;
  its top pair and the number of pairs it keeps;
- ``sliceline``: SliceLine (Sagadeeva & Boehm, SIGMOD 2021; the ``sliceline``
  package) on a baseline's per-row log loss over the test rows, the features binned
  alike (numeric: cuts at the 2, 5, 10, 20 ... 80, 90, 95, 98% quantiles of the train
  rows; a code with at most 64 values and a text column: its 30 most frequent values,
  the rest pooled); slices of up to two features, support >= 2% of the rows;
- ``welch``: what TFMA's ``find_significant_slices`` did before TFMA 0.26 removed it:
  per single-feature slice, a one-sided Welch t-test of the slice's mean log loss
  against the other rows', Bonferroni over the slices, ranked by effect size
  (difference of means / pooled sd).

The baseline is c2al's attention FM trained on the train rows under the protocol
(validation carved from them, early stopping), as every C2AL comparison uses.

A method finds a world's planted cohort when its top slice (``c2al``: its top pair)
lies on the planted axis and inside a planted cohort: for ``c2al``, both cuts within
2.5 points of the planted quantiles (the mining tests' rule; ``lone``: its head);
for a slice of bins, at least 80% of its test rows in the planted tail or head (a
single bin cannot match a 10% tail to 2.5 points, so this rule is looser). On the
null world every slice a method returns is false. Wall times exclude the baseline's
training, which the other two need and ``c2al`` does not.

    pip install -e ".[bench]"      # sliceline, outside the product install
    .venv/bin/python -m bench.slice_anchors [--worlds a,b] [--real] [--rows 200000]

Prints a table and writes bench/results/slice_anchors.json.
"""
import argparse
import time

import c2al_tf  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
import numpy as np

from bench.common import movielens_dir, print_table, shared_data_dir, write_json

EDGES = (0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98)
MAX_VALUES = 30
MIN_SUPPORT = 0.02
INSIDE = 0.8  # a slice "is" a planted cohort when this share of its rows lies in it


def binned(train, test):
    """Per feature, the test rows' bin labels (strings) from the train rows' cuts."""
    out = {}
    for name in train.features.columns:
        tr, te = train.features[name], test.features[name]
        if tr.dtype != object and tr.nunique() > 64:
            edges = np.unique(np.nanquantile(tr.to_numpy(np.float64), EDGES))
            codes = np.searchsorted(edges, te.to_numpy(np.float64), side="right")
            labels = np.array([f"q{c:02d}" for c in codes], dtype=object)
            labels[np.isnan(te.to_numpy(np.float64))] = "missing"
        else:
            keep = set(tr.astype(str).value_counts().index[:MAX_VALUES])
            labels = np.array([v if v in keep else "other" for v in te.astype(str)], dtype=object)
        out[name] = labels
    return out


def baseline_losses(train, test, seed: int = 0):
    """Per test row, the log loss of c2al's baseline trained on ``train`` (the protocol)."""
    from c2al_tf.experiment import ExperimentConfig, build_variant_model
    from c2al_tf.metrics import row_logloss
    from c2al_tf.models import FeatureSpec, predict, set_seed
    from c2al_tf.models.protocol import carve_validation, fit

    config = ExperimentConfig()
    fit_table, val_table = carve_validation(train, config.train.validation_fraction, config.train.validation_seed)
    spec = FeatureSpec.from_table(train, vocab_budget=config.train.vocab_budget)
    set_seed(seed)
    model = build_variant_model(spec, config, fit_table, [], {}, 0.0, config.model)
    fit(model, fit_table, val_table, config.train, seed)
    p = predict(model, test)[model.head_names[0]].reshape(-1)
    return row_logloss(test.label, p)


def run_sliceline(bins, losses):
    """SliceLine's slices with a positive score, best first: [(predicates, size, score)]."""
    from sliceline.slicefinder import Slicefinder

    names = list(bins)
    x = np.stack([bins[n] for n in names], axis=1)
    finder = Slicefinder(alpha=0.95, k=5, max_l=2, min_sup=int(MIN_SUPPORT * len(losses)), verbose=False)
    finder.fit(x, losses)
    out = []
    for slice_, stats in zip(finder.top_slices_, finder.top_slices_statistics_):
        if stats["slice_score"] <= 0:
            continue
        predicates = {names[j]: v for j, v in enumerate(slice_) if v is not None}
        out.append((predicates, int(stats["slice_size"]), float(stats["slice_score"])))
    return out


def run_welch(bins, losses, alpha: float = 0.05):
    """Significant single-feature slices (one-sided Welch, Bonferroni), by effect size."""
    from scipy import stats

    tests = []
    for name, labels in bins.items():
        for value in np.unique(labels):
            inside = labels == value
            if inside.sum() < MIN_SUPPORT * len(losses) or inside.all():
                continue
            a, b = losses[inside], losses[~inside]
            t, p = stats.ttest_ind(a, b, equal_var=False, alternative="greater")
            pooled = np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
            tests.append(({name: value}, int(inside.sum()), float((a.mean() - b.mean()) / pooled), float(p)))
    kept = [t for t in tests if t[3] < alpha / max(len(tests), 1)]
    return sorted(kept, key=lambda t: -t[2])


def slice_is_planted(predicates, bins, truth, test):
    if truth is None or truth.axis is None or truth.axis not in predicates:
        return False
    inside = np.logical_and.reduce([bins[f] == v for f, v in predicates.items()])
    role = truth.cohort_of(test.features[truth.axis].to_numpy(np.float64))[inside]
    return bool(len(role) and max(np.mean(role == "tail"), np.mean(role == "head")) >= INSIDE)


def pair_is_planted(spec, truth, train):
    """The mining tests' rule (``bench.mining_worlds.judge``): the top pair on the
    planted axis, both cuts within 2.5 points (``lone``: its head); no pair in the null world."""
    from bench.mining_worlds import judge

    return bool(judge(truth, spec, train)["pass"])


def describe(predicates):
    return " & ".join(f"{f}={v}" for f, v in predicates.items())


def one(name, table, truth):
    from c2al_tf.cohorts.miner import mine_table
    from c2al_tf.experiment import ExperimentConfig, split

    config = ExperimentConfig()
    train, test = split(table, config.test_fraction, config.split_seed)
    start = time.perf_counter()
    spec, _ = mine_table(train)
    mine_s = time.perf_counter() - start
    losses = baseline_losses(train, test)
    bins = binned(train, test)
    start = time.perf_counter()
    sl = run_sliceline(bins, losses)
    sl_s = time.perf_counter() - start
    start = time.perf_counter()
    we = run_welch(bins, losses)
    we_s = time.perf_counter() - start
    top = spec.pairs[0] if spec.pairs else None
    rows = [{"data": name, "method": "c2al", "returned": len(spec.pairs),
             "top": (",".join(top["axis"]) + f": {top['head']['name']} / {top['tail']['name']}") if top else "-",
             "planted": pair_is_planted(spec, truth, train) if truth is not None else None, "seconds": round(mine_s, 1)}]
    for method, found, seconds in (("sliceline", sl, sl_s), ("welch", we, we_s)):
        rows.append({"data": name, "method": method, "returned": len(found),
                     "top": describe(found[0][0]) if found else "-",
                     "planted": (slice_is_planted(found[0][0], bins, truth, test) if found else False)
                     if truth is not None else None, "seconds": round(seconds, 1)})
    return rows


def main(argv=None):
    from c2al_tf.data import ground_truth, read_table
    from c2al_tf.data.readers import table_from_frame
    from c2al_tf.data.synthetic import generate, scenario_names

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--worlds", default=",".join(scenario_names()), help="generator worlds (default: all)")
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--real", action="store_true", help="also MovieLens 100K and the clothing reviews")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    try:
        import sliceline  # noqa: F401
    except ImportError:
        raise SystemExit("bench/slice_anchors.py needs the sliceline package: pip install -e '.[bench]'")

    results = []
    for world in [w for w in args.worlds.split(",") if w]:
        frame = generate(args.rows, args.seed, world)
        results += one(world, table_from_frame(frame, "click", source=world), ground_truth(world))
        print(f"[anchors] {world} done", flush=True)
    if args.real:
        import os

        results += one("movielens-100k", read_table(movielens_dir(), "rating", ">=4"), None)
        results += one("clothing-reviews", read_table(os.path.join(shared_data_dir(), "clothing-reviews",
                                                                   "clothing_reviews.csv"), "recommended"), None)
    print_table(results, ["data", "method", "returned", "top", "planted", "seconds"])
    write_json("slice_anchors", {"rows": args.rows, "seed": args.seed, "results": results}, args.out)


if __name__ == "__main__":
    main()
