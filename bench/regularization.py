"""Embedding L2 (``ModelConfig.embedding_l2``): baseline NE with and without it, on
the validation rows it is chosen on and on the test split, per dataset and seed.

Without it a click model's id embeddings memorize their rare rows: validation
logloss is lowest after 1-2 epochs and rises after, early stopping ends training
there, and what needs more epochs (a cohort's own response, e.g. a flipped
interaction at the extremes of a user axis) is never learned. The L2 is on every
row of every categorical table on every step (a Gaussian prior per row), so a rare
id is pulled back between its rare occurrences.

    .venv/bin/python -m bench.regularization [--seeds 3] [--rows 200000] [--values 0,0.001,0.01]
                                             [--datasets rate_shift,extremes,int_ids,movielens,clothing]

Every model trains under the protocol (validation carved from the training rows,
early stopping on it, best epoch kept), default typing. ``val NE`` is what a value
is chosen on; ``test NE`` is scored once per run. ``vs 0`` is the paired NE_diff of
the test NE against ``embedding_l2 = 0`` with a 95% t interval over seeds. On the
scenarios the planted tail / head cohorts' test NE is reported too (NE < 1: better
than the cohort's own base rate). Writes bench/results/regularization.json.
"""
import argparse
import os
import tempfile


import c2al_tf  # noqa: E402,F401
import numpy as np  # noqa: E402

from bench.common import format_ci, print_table, write_json  # noqa: E402
from bench.feature_typing import clothing, movielens_csv, scenario_int_ids, scenario_world  # noqa: E402

DATASETS = ("rate_shift", "extremes", "int_ids", "movielens", "clothing")
COLUMNS = ["dataset", "embedding_l2", "val NE", "test NE", "vs 0", "tail NE", "head NE", "epochs"]


def makers(rows: int):
    return {"rate_shift": lambda p: scenario_world(rows, p, "rate_shift"),
            "extremes": lambda p: scenario_world(rows, p, "extremes"),
            "int_ids": lambda p: scenario_int_ids(rows, p),
            "movielens": movielens_csv, "clothing": clothing}


def run_dataset(name: str, info: dict, path: str, values, seeds: int, epochs: int):
    from c2al_tf.data import read_table
    from c2al_tf.experiment import ExperimentConfig, run_variant, split
    from c2al_tf.metrics import normalized_entropy, paired_comparison
    from c2al_tf.models import PRIMARY, FeatureSpec, predict
    from c2al_tf.models.protocol import TrainConfig, carve_validation

    protocol = TrainConfig(epochs=epochs)
    table = read_table(path, info["label"], info["positive"])
    train, test = split(table, 0.2, 12345)
    fit_rows, val_rows = carve_validation(train, protocol.validation_fraction, protocol.validation_seed)
    spec = FeatureSpec.from_table(train)
    results = {}
    for l2 in values:
        r = {"val_ne": [], "ne": [], "tail_ne": [], "head_ne": [], "epochs": []}
        for seed in range(seeds):
            trained = run_variant("baseline", seed, fit_rows, val_rows, spec, [], {},
                                  ExperimentConfig(train=protocol, embedding_l2=l2), 0.0)
            model = trained.model
            r["epochs"].append(trained.result.best_epoch)
            r["val_ne"].append(normalized_entropy(val_rows.label, predict(model, val_rows)[PRIMARY]))
            p = predict(model, test)[PRIMARY]
            r["ne"].append(normalized_entropy(test.label, p))
            if info.get("cohorts"):
                axis, tail_max, head_min = info["cohorts"]
                v = test.features[axis].to_numpy()
                r["tail_ne"].append(normalized_entropy(test.label[v < tail_max], p[v < tail_max]))
                r["head_ne"].append(normalized_entropy(test.label[v >= head_min], p[v >= head_min]))
            print(f"[{name}] l2 {l2:g} seed {seed}: val NE {r['val_ne'][-1]:.4f} test NE {r['ne'][-1]:.4f} "
                  f"epochs {r['epochs'][-1]}", flush=True)
        results[f"{l2:g}"] = r
    rows = []
    base = results[f"{values[0]:g}"]
    for l2 in values:
        r = results[f"{l2:g}"]
        cmp = paired_comparison(base["ne"], r["ne"]) if l2 != values[0] else None
        rows.append({"dataset": name, "embedding_l2": f"{l2:g}", "val NE": float(np.mean(r["val_ne"])),
                     "test NE": float(np.mean(r["ne"])),
                     "vs 0": "" if cmp is None else format_ci(cmp),
                     "tail NE": float(np.mean(r["tail_ne"])) if r["tail_ne"] else None,
                     "head NE": float(np.mean(r["head_ne"])) if r["head_ne"] else None,
                     "epochs": ",".join(map(str, r["epochs"]))})
        if cmp is not None:
            r["vs_first"] = cmp
    return rows, results


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--rows", type=int, default=200_000, help="rows of the generated scenarios")
    p.add_argument("--epochs", type=int, default=20, help="maximum epochs (early stopping on validation)")
    p.add_argument("--values", default="0,0.001,0.01", help="embedding_l2 values; the first is the reference")
    p.add_argument("--datasets", default=",".join(DATASETS), help=f"comma list of {', '.join(DATASETS)}")
    p.add_argument("--name", default="regularization", help="results file name (bench/results/NAME.json)")
    a = p.parse_args()
    chosen = [d.strip() for d in a.datasets.split(",") if d.strip()]
    if not chosen or any(d not in DATASETS for d in chosen):
        p.error(f"--datasets: choose from {', '.join(DATASETS)}")
    values = [float(v) for v in a.values.split(",") if v.strip()]
    out_rows, doc = [], {"seeds": a.seeds, "rows": a.rows, "epochs": a.epochs, "values": values, "datasets": {}}
    make = makers(a.rows)
    with tempfile.TemporaryDirectory() as tmp:
        for name in chosen:
            path = os.path.join(tmp, "data.csv")
            info = make[name](path)
            rows, results = run_dataset(name, info, info.get("path", path), values, a.seeds, a.epochs)
            out_rows += rows
            doc["datasets"][name] = results
            print_table(rows, COLUMNS)
    print()
    print_table(out_rows, COLUMNS)
    doc["table"] = out_rows
    write_json(a.name, doc)


if __name__ == "__main__":
    main()
