"""C2AL under the training protocol on several datasets: one ``c2al experiment`` per
dataset (validation carve-out, early stopping, lambda chosen on validation with 0
a candidate), summarised in one table.

    .venv/bin/python -m bench.protocol_evidence [--seeds 5] [--datasets synthetic,movielens,clothing]
        [--variants baseline,c2al,random,tail_only,dcn] [--out bench/results/protocol_evidence.json]

Recipe ablations (``--variants baseline,c2al,towers,warmup,projection,mmoe,per_head,masked,reweight``)
add, per recipe, its overall / head / tail NE_diff vs the baseline and its overall NE
vs C2AL's (paired by seed; a recipe uses C2AL's lambda, or its best non-zero
candidate; per_head starts there and chooses one lambda per head on validation).

Datasets: ``synthetic`` (the generator, 100k rows, planted cohorts given), any
scenario of ``c2al generate --scenario`` by name (``rate_shift``, ``interaction``,
... ; ``--scenario-rows`` rows, seed 11, its planted tail / head given as cohorts),
``synthetic_int_ids`` (the generator with integer-coded ids, cohorts mined),
``movielens`` (../shared/data/movielens-100k, label rating >= 4, cohorts mined) and
``clothing`` (../shared/data/clothing-reviews, label recommended, cohorts mined).
Per dataset: baseline NE/AUC (attention FM and DCN-v2), C2AL NE_diff overall /
head / tail with 95% CIs over paired seeds, the random-cohort and tail-only rows,
lambda chosen per seed and epochs kept. Every command is printed, so each row can
be reproduced alone.
"""
import argparse
import os
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

from bench.common import format_ci, lambdas_per_seed, print_table, run_experiment, variant_runs, write_json  # noqa: E402

from c2al_tf.experiment import RECIPES  # noqa: E402
from c2al_tf.report import format_lambdas  # noqa: E402

# rows compared with C2AL as well as with the baseline (masked: the auxiliary loss on cohort
# members only; reweight: cohort rows weighted 1 + lambda in the primary loss, no heads)
ABLATIONS = tuple(RECIPES) + ("per_head", "masked", "reweight")


def _shared():
    from bench.common import shared_data_dir

    return shared_data_dir()


def planted(scenario: str, rows: int, work: str):
    """(data path, experiment args): ``rows`` of a generator world (seed 11) with its
    planted tail / head given as the cohorts."""
    from c2al_tf.data import write_csv

    path = os.path.join(work, f"{scenario}.csv")
    spec = write_csv(path, rows, seed=11, scenario=scenario).cohort_spec()
    spec.save(os.path.join(work, f"{scenario}-planted.json"))
    return path, ["--label", "click", "--cohorts", os.path.join(work, f"{scenario}-planted.json")]


def prepare(name: str, work: str, scenario_rows: int = 200_000):
    """(data path, extra experiment args) for one dataset."""
    from c2al_tf.data.synthetic import scenario_names

    if name == "synthetic":
        return planted("planted", 100_000, work)
    if name in scenario_names() and name not in ("planted", "null"):
        return planted(name, scenario_rows, work)
    if name == "synthetic_int_ids":
        from feature_typing import synthetic_int_ids

        path = os.path.join(work, "synthetic_int_ids.csv")
        synthetic_int_ids(100_000, path)
        return path, ["--label", "click"]
    if name == "movielens":
        return os.path.join(_shared(), "movielens-100k"), ["--label", "rating", "--positive-label", ">=4"]
    if name == "clothing":
        return os.path.join(_shared(), "clothing-reviews", "clothing_reviews.csv"), ["--label", "recommended"]
    raise SystemExit(f"unknown dataset '{name}'")


def vs_c2al(runs, variant: str) -> str:
    """A recipe variant's overall test NE against C2AL's, paired by seed (95% CI)."""
    from c2al_tf.metrics import paired_comparison

    def ne(v):
        return [r["overall"]["ne"] for r in sorted((r for r in runs if r["variant"] == v), key=lambda r: r["seed"])]

    return format_ci(paired_comparison(ne("c2al"), ne(variant)))


def summarise(name: str, doc: dict, seconds: float) -> dict:
    import numpy as np

    runs = doc["runs"]

    def mean(variant, key):
        vals = [r["overall"][key] for r in runs if r["variant"] == variant]
        return float(np.mean(vals)) if vals else None

    def ci(variant, slice_name):
        c = doc["comparisons"].get(variant, {}).get(slice_name)
        if not c:
            return ""
        return format_ci(c)

    cohorts = [c["name"] for p in doc["cohorts"]["pairs"] for c in (p["head"], p["tail"])]
    head, tail = (cohorts + [None, None])[:2]
    c2al, base = variant_runs(doc, "c2al"), variant_runs(doc, "baseline")
    recipes = {}
    for v in sorted({r["variant"] for r in runs} & set(ABLATIONS)):
        recipes[f"{v}_overall"] = ci(v, "overall")
        recipes[f"{v}_head"] = ci(v, head) if head else ""
        recipes[f"{v}_tail"] = ci(v, tail) if tail else ""
        recipes[f"{v}_vs_c2al"] = vs_c2al(runs, v)
        if v == "per_head":
            recipes["per_head_lambdas"] = ",".join(
                format_lambdas(r["head_weights"].values())
                for r in sorted((r for r in runs if r["variant"] == v), key=lambda r: r["seed"]))
    return {**recipes, "dataset": name, "cohorts": f"{head} / {tail}" if head else "none mined",
            "baseline_ne": mean("baseline", "ne"), "baseline_auc": mean("baseline", "auc"),
            "dcn_ne": mean("dcn", "ne"), "dcn_auc": mean("dcn", "auc"),
            "c2al_overall": ci("c2al", "overall"), "c2al_head": ci("c2al", head) if head else "",
            "c2al_tail": ci("c2al", tail) if tail else "", "random_overall": ci("random", "overall"),
            "random_tail": ci("random", tail) if tail else "", "tail_only_tail": ci("tail_only", tail) if tail else "",
            "lambda_per_seed": lambdas_per_seed(doc),
            "epochs_baseline": ",".join(str(r["epochs"]) for r in base),
            "epochs_c2al": ",".join(str(r["epochs"]) for r in c2al), "minutes": seconds / 60}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--datasets", default="synthetic,movielens,clothing")
    ap.add_argument("--variants", default="baseline,c2al,random,tail_only,dcn")
    ap.add_argument("--experiment-arg", action="append", default=[], metavar="X",
                    help="extra flag for every 'c2al experiment' (repeatable)")
    ap.add_argument("--scenario-rows", type=int, default=200_000, help="rows of a named scenario")
    ap.add_argument("--work", help="directory for data and reports (default: a temporary one)")
    ap.add_argument("--out")
    args = ap.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="c2al-evidence-")
    os.makedirs(work, exist_ok=True)
    rows, commands = [], {}
    for name in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        data, extra = prepare(name, work, args.scenario_rows)
        out = os.path.join(work, f"exp-{name}")
        run = run_experiment(["--data", data, "--seeds", args.seeds, "--variants", args.variants, *extra,
                              *args.experiment_arg], out)
        commands[name] = run["command"]
        rows.append(summarise(name, run["doc"], run["wall_s"]))
        print_table(rows[-1:], list(rows[-1]))
    print()
    print_table(rows, ["dataset", "cohorts", "baseline_ne", "baseline_auc", "dcn_ne", "dcn_auc", "c2al_overall",
                       "c2al_head", "c2al_tail", "random_overall", "random_tail", "tail_only_tail",
                       "lambda_per_seed", "epochs_baseline", "epochs_c2al", "minutes"]
                + sorted({k for r in rows for k in r if k.startswith(ABLATIONS)}))
    write_json("protocol_evidence", {"seeds": args.seeds, "variants": args.variants, "rows": rows,
                                     "commands": commands, "work": work}, args.out)


if __name__ == "__main__":
    main()
