"""The miner against the slice-discovery tools a user would reach for instead.

On each generator world (``--rows``, seed ``--seed``) and on the real sets, with
``c2al experiment``'s split (80% train, 20% test, seed 12345):

- ``c2al``: the default miner (``mine_table``, ``by="pairwise"``) on the train rows;
  its top pair and the number of pairs it keeps;
- ``sliceline``: SliceLine (Sagadeeva & Boehm, SIGMOD 2021; the ``sliceline``
  package) on a baseline's per-row log loss over the validation rows (the 25% of the
  train rows ``c2al experiment`` chooses lambda on; never the test rows), the features binned
  alike (numeric: cuts at the 2, 5, 10, 20 ... 80, 90, 95, 98% quantiles of the train
  rows; a code with at most 64 values and a text column: its 30 most frequent values,
  the rest pooled); slices of up to two features, support >= 2% of the rows;
- ``welch``: what TFMA's ``find_significant_slices`` did before TFMA 0.26 removed it:
  per single-feature slice, a one-sided Welch t-test of the slice's mean log loss
  against the other rows', Bonferroni over the slices, ranked by effect size
  (difference of means / pooled sd).
- ``sliceline_normalized``, ``welch_normalized``: the same on each row's log loss
  divided by the entropy of the baseline's own prediction there (the loss the model
  expects): error slicing without the click rate's effect on the loss.

The baseline is c2al's attention FM trained on the train rows under the protocol
(validation carved from them, early stopping), as every C2AL comparison uses.

A method finds a world's planted cohort when its top slice (``c2al``: its top pair)
lies on the planted axis and inside a planted cohort: for ``c2al``, both cuts within
2.5 points of the planted quantiles (the mining tests' rule; ``lone``: its head);
for a slice of bins, at least 80% of its validation rows in the planted tail or head (a
single bin cannot match a 10% tail to 2.5 points, so this rule is looser). On the
null world every slice a method returns is false. Wall times exclude the baseline's
training, which the other two need and ``c2al`` does not.

``--heads DATA,...``: on those data sets each method's slices also become C2AL's
heads. ``c2al`` is a plain ``c2al experiment`` (it mines its own cohorts, on the same
train rows); the others pass their first two slices a predicate can name as
``--cohorts`` (one pair: the first slice as head, the second as tail; a lone slice is
paired with the rows outside it when a predicate can name them; with none, there is no
head and C2AL is the baseline). Each is ``--seeds`` seeds
of baseline and C2AL, lambda by the evidence rule; the table gives C2AL's NE_diff on
the test rows, overall and on the two heads' rows.

    pip install -e ".[bench]"      # sliceline, outside the product install
    .venv/bin/python -m bench.slice_anchors [--worlds a,b] [--real] [--rows 200000]
        [--heads rate_shift,movielens-100k] [--seeds 5] [--work DIR]

Prints the tables and writes bench/results/slice_anchors.json.
"""
import argparse
import time

import c2al_tf  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
import numpy as np
import pandas as pd

from bench.common import movielens_dir, print_table, shared_data_dir, write_json

EDGES = (0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98)
MAX_VALUES = 30
MIN_SUPPORT = 0.02
HEADS_COLUMNS = ["data", "method", "heads", "NE_diff overall", "NE_diff head", "NE_diff tail", "lambda"]
INSIDE = 0.8  # a slice "is" a planted cohort when this share of its rows lies in it


def _text(values):
    """Values as the strings a cohort predicate's ``in`` compares (c2al_tf.cohorts.spec):
    a whole float as an integer ("3", not "3.0"), a missing value as ""."""
    if values.dtype == object:
        return values.astype(str).to_numpy(object)
    v = values.to_numpy(np.float64)
    return np.array(["" if np.isnan(x) else (str(int(x)) if float(x).is_integer() else str(x)) for x in v],
                    dtype=object)


def binned(train, rows):
    """Per feature, ``rows``' bin labels (strings) from the train rows' cuts, and the
    cohort predicate of each (feature, label) (None: the missing bin, which no
    predicate can name)."""
    out, predicates = {}, {}
    for name in train.features.columns:
        tr, te = train.features[name], rows.features[name]
        if tr.dtype != object and tr.nunique() > 64:
            edges = np.unique(np.nanquantile(tr.to_numpy(np.float64), EDGES))
            codes = np.searchsorted(edges, te.to_numpy(np.float64), side="right")
            labels = np.array([f"q{c:02d}" for c in codes], dtype=object)
            labels[np.isnan(te.to_numpy(np.float64))] = "missing"
            bounds = [None, *map(float, edges), None]
            for c in range(len(edges) + 1):  # code c: edges[c-1] <= x < edges[c] (searchsorted, side right)
                predicates[name, f"q{c:02d}"] = {"feature": name, "min": bounds[c], "max": bounds[c + 1]}
        else:
            counts = pd.Series(_text(tr)).value_counts()
            keep = [v for v in counts.index[:MAX_VALUES] if v != ""]
            rest = sorted(v for v in counts.index[MAX_VALUES:] if v != "")
            labels = np.array([v if v in set(keep) else ("missing" if v == "" else "other") for v in _text(te)],
                              dtype=object)
            predicates.update({(name, v): {"feature": name, "in": [v]} for v in keep})
            if rest:
                predicates[name, "other"] = {"feature": name, "in": rest}
        out[name] = labels
    return out, predicates


def baseline_losses(train, seed: int = 0):
    """(validation rows, their per-row log loss): c2al's baseline trained on the rest of
    ``train`` under the protocol, scored on the validation rows the protocol carves from
    ``train`` (the rows ``c2al experiment`` chooses lambda on; never the test rows)."""
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
    p = predict(model, val_table)[model.head_names[0]].reshape(-1)
    return val_table, row_logloss(val_table.label, p), p


def normalized_losses(losses, p):
    """Each row's log loss over the loss the model itself expects there, the entropy of
    its prediction ``H(p_i)``: about 1 where the model is calibrated whatever the click
    rate, above 1 where it is wrong (``E[loss] = H(q) + KL(q || p)``)."""
    p = np.clip(np.asarray(p, np.float64), 1e-7, 1 - 1e-7)
    return np.asarray(losses, np.float64) / -(p * np.log(p) + (1 - p) * np.log(1 - p))


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


def complement(predicate, predicates):
    """The rows outside a one-feature slice, when a predicate can name them: the other
    values of a code (the missing value excluded), or the other side of a one-sided
    range. None otherwise."""
    if "in" in predicate:
        rest = sorted({v for (f, _), p in predicates.items() if f == predicate["feature"] and "in" in p
                       for v in p["in"]} - set(predicate["in"]))
        return {"feature": predicate["feature"], "in": rest} if rest else None
    if "all" in predicate or (predicate.get("min") is None) == (predicate.get("max") is None):
        return None
    if predicate.get("min") is None:
        return {"feature": predicate["feature"], "min": predicate["max"], "max": None}
    return {"feature": predicate["feature"], "min": None, "max": predicate["min"]}


def slice_cohorts(method, found, predicates, label):
    """A ``cohorts.json`` whose one pair is ``method``'s first two slices that a predicate
    can name (a slice of the missing bin cannot be): the first as ``head``, the second
    as ``tail``, each its own auxiliary head. With one such slice, the tail is its
    complement when a predicate can name it (:func:`complement`). None otherwise."""
    from c2al_tf.cohorts.spec import CohortSpec, aux_label_name, predicate_features

    cohorts = []
    for found_slice in found:
        parts = [predicates.get((f, v)) for f, v in found_slice[0].items()]
        if any(p is None for p in parts):
            continue
        name = f"{method}_{len(cohorts) + 1}"
        cohorts.append({"name": name, "aux_label": aux_label_name(name),
                        "predicate": parts[0] if len(parts) == 1 else {"all": parts}})
        if len(cohorts) == 2:
            break
    if len(cohorts) == 1:
        rest = complement(cohorts[0]["predicate"], predicates)
        if rest is None:
            return None
        name = f"{method}_1_rest"
        cohorts.append({"name": name, "aux_label": aux_label_name(name), "predicate": rest})
    if len(cohorts) < 2:
        return None
    axis = []
    for c in cohorts:
        axis += [f for f in predicate_features(c["predicate"]) if f not in axis]
    return CohortSpec.from_pairs(label, [{"axis": axis, "divergence": 0.0, "head": cohorts[0], "tail": cohorts[1]}],
                                 method="manual")


def one(name, table, truth):
    """The detection rows of one data set, and each slice method's cohorts (or None)."""
    from c2al_tf.cohorts.miner import mine_table
    from c2al_tf.experiment import ExperimentConfig, split

    config = ExperimentConfig()
    train, _ = split(table, config.test_fraction, config.split_seed)
    start = time.perf_counter()
    spec, _ = mine_table(train)
    mine_s = time.perf_counter() - start
    val, losses, p = baseline_losses(train)
    bins, predicates = binned(train, val)
    found = {}
    for target, errors in (("", losses), ("_normalized", normalized_losses(losses, p))):
        for method, run in (("sliceline", run_sliceline), ("welch", run_welch)):
            start = time.perf_counter()
            found[method + target] = (run(bins, errors), time.perf_counter() - start)
    top = spec.pairs[0] if spec.pairs else None
    rows = [{"data": name, "method": "c2al", "returned": len(spec.pairs),
             "top": (",".join(top["axis"]) + f": {top['head']['name']} / {top['tail']['name']}") if top else "-",
             "planted": pair_is_planted(spec, truth, train) if truth is not None else None, "seconds": round(mine_s, 1)}]
    specs = {"c2al": None}  # the experiment mines its own (the same miner, the same train rows)
    for method, (slices, seconds) in found.items():
        rows.append({"data": name, "method": method, "returned": len(slices),
                     "top": describe(slices[0][0]) if slices else "-",
                     "planted": (slice_is_planted(slices[0][0], bins, truth, val) if slices else False)
                     if truth is not None else None, "seconds": round(seconds, 1)})
        specs[method] = slice_cohorts(method, slices, predicates, table.label_name)
    return rows, specs


def heads_row(name, method, spec, data_args, seeds, work):
    """``c2al experiment`` (baseline and C2AL, ``seeds`` seeds, lambda by the evidence rule)
    with ``method``'s cohorts as the heads (``c2al``: mined by the experiment itself)."""
    import os

    from bench.common import format_ci, lambdas_per_seed, run_experiment

    out = os.path.join(work, f"exp-{name}-{method}")
    args = [*data_args, "--seeds", seeds, "--variants", "baseline,c2al"]
    if method != "c2al":
        if spec is None:
            return {"data": name, "method": method, "heads": "no slice a predicate can name"}
        path = os.path.join(work, f"{name}-{method}.json")
        spec.save(path)
        args += ["--cohorts", path]
    # an earlier run with other slices (another baseline's) is not reused
    doc = run_experiment(args, out, reuse=lambda d: spec is None or d["cohorts"]["pairs"] == spec.pairs)["doc"]
    comps = doc["comparisons"].get("c2al", {})
    cohorts = [c["name"] for p in doc["cohorts"]["pairs"] for c in (p["head"], p["tail"])]
    return {"data": name, "method": method, "heads": " / ".join(cohorts) if cohorts else "none",
            "NE_diff overall": format_ci(comps["overall"]) if "overall" in comps else "-",
            "NE_diff head": format_ci(comps[cohorts[0]]) if cohorts and cohorts[0] in comps else "-",
            "NE_diff tail": format_ci(comps[cohorts[1]]) if len(cohorts) > 1 and cohorts[1] in comps else "-",
            "lambda": lambdas_per_seed(doc)}


def main(argv=None):
    import os
    import tempfile

    from c2al_tf.data import read_table, write_csv
    from c2al_tf.data.synthetic import scenario_names

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--worlds", default=",".join(scenario_names()), help="generator worlds (default: all)")
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--real", action="store_true", help="also MovieLens 100K and the clothing reviews")
    ap.add_argument("--heads", default="", metavar="DATA,DATA",
                    help="data sets (world names, movielens-100k, clothing-reviews) on which each method's top "
                         "slices become C2AL's heads in a 'c2al experiment'")
    ap.add_argument("--heads-methods", default="c2al,sliceline,welch", metavar="M,M",
                    help="the methods whose slices become heads with --heads (also sliceline_normalized, "
                         "welch_normalized)")
    ap.add_argument("--seeds", type=int, default=5, help="seeds of each --heads experiment")
    ap.add_argument("--work", help="directory for the generated CSVs and experiments (default: a temporary one)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    try:
        import sliceline  # noqa: F401
    except ImportError:
        raise SystemExit("bench/slice_anchors.py needs the sliceline package: pip install -e '.[bench]'")
    work = args.work or tempfile.mkdtemp(prefix="c2al-anchors-")
    os.makedirs(work, exist_ok=True)
    heads_on = [d for d in args.heads.split(",") if d]

    datasets = []  # (name, table, truth, experiment data args)
    for world in [w for w in args.worlds.split(",") if w]:
        csv = os.path.join(work, f"{world}.csv")
        truth = write_csv(csv, args.rows, seed=args.seed, scenario=world)
        datasets.append((world, csv, truth, ["--data", csv, "--label", "click"]))
    if args.real or any(d in heads_on for d in ("movielens-100k", "clothing-reviews")):
        clothing = os.path.join(shared_data_dir(), "clothing-reviews", "clothing_reviews.csv")
        datasets += [("movielens-100k", None, None, ["--data", movielens_dir(), "--label", "rating",
                                                     "--positive-label", ">=4"]),
                     ("clothing-reviews", None, None, ["--data", clothing, "--label", "recommended"])]
    results, heads = [], []
    for name, csv, truth, data_args in datasets:
        table = read_table(data_args[1], data_args[3], *(data_args[5:6]))
        rows, specs = one(name, table, truth)
        results += rows
        print(f"[anchors] {name} done", flush=True)
        if name in heads_on:
            methods = args.heads_methods.split(",")
            heads += [heads_row(name, m, specs[m], data_args, args.seeds, work) for m in methods]
            print_table(heads[-len(methods):], HEADS_COLUMNS)
    print_table(results, ["data", "method", "returned", "top", "planted", "seconds"])
    if heads:
        print()
        print_table(heads, HEADS_COLUMNS)
    write_json("slice_anchors", {"rows": args.rows, "seed": args.seed, "results": results, "heads": heads,
                                 "seeds": args.seeds, "work": work}, args.out)


if __name__ == "__main__":
    main()
