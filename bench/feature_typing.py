"""Feature typing: baseline test NE under the old default (every all-number column
plain numeric), the new default rule (``c2al_tf.data.column_types``: ids categorical,
other integers numeric buckets + categorical view, numeric quantile buckets) and
the typing a careful user would declare (ids ``--categorical``), on the same
train/test split and seeds.

Datasets: (a) the generator with its ids integer-coded (``user_id``, and ``ad``,
``ad_category``, ``region`` whose names do not say "id") and the ``int_ids`` scenario
(``item_id``, ``item_category``, ``store``), (b) MovieLens 100K read
as a plain CSV (ids as integers), (c) the clothing-reviews set (integer-coded
``clothing_id``).

    .venv/bin/python -m bench.feature_typing [--seeds 3] [--rows 100000] [--epochs 20] [--datasets a,b]

Each model trains under the training protocol (validation carved from the training
rows, early stopping on it, best epoch kept; ``--epochs`` is the maximum), so no
typing wins by converging faster.

Prints a table and writes bench/results/feature_typing.json. Also reports the baseline
NE of the planted extreme cohorts (the generator's bottom / top 10% of
user_value, the ``extremes`` scenario's bottom 2% / top 3% of spend) under each
typing, and the default rule with numeric buckets alone (no scaled value).
"""
import argparse
import os
import tempfile


import c2al_tf  # noqa: E402,F401
import numpy as np  # noqa: E402

from bench.common import print_table, write_json  # noqa: E402


def synthetic_int_ids(rows: int, path: str) -> dict:
    from c2al_tf.data import generate, ground_truth

    frame = generate(rows, 7)
    frame["user_id"] = frame["user_id"].str[1:]
    frame["ad"] = frame.pop("ad_id").str[1:]
    frame["ad_category"] = frame["ad_category"].str[4:].astype(int).astype(str)
    frame["region"] = frame["region"].str[1:]
    frame.to_csv(path, index=False)
    truth = ground_truth()
    return {"label": "click", "positive": None, "declared": ["user_id", "ad", "ad_category", "region"],
            "cohorts": ("user_value", truth.tail_max, truth.head_min)}


def scenario_int_ids(rows: int, path: str) -> dict:
    """The ``int_ids`` world: strong per-item effects on integer-coded item_id, item_category
    and store (a code whose name does not say "id")."""
    from c2al_tf.data.synthetic import generate

    generate(rows, 7, "int_ids").to_csv(path, index=False)
    return {"label": "click", "positive": None, "declared": ["item_id", "item_category", "store"], "cohorts": None}


def scenario_world(rows: int, path: str, scenario: str) -> dict:
    """A world with planted numeric extremes (``extremes``: bottom 2% / top 3% of
    ``spend``; ``rate_shift``: bottom / top 5% of ``user_value``); their tail/head NE is
    reported beside the oracles'."""
    from c2al_tf.data.synthetic import generate, ground_truth

    frame = generate(rows, 7, scenario)
    frame.to_csv(path, index=False)
    truth = ground_truth(scenario)
    return {"label": "click", "positive": None, "declared": ["item_id", "item_category", "store"],
            "cohorts": (truth.axis, truth.tail_max, truth.head_min), "oracle": (frame, scenario, 7)}


def oracle_rows(name: str, info: dict, seeds: int):
    """Reference rows on the test split: the generator's own probabilities (Bayes) and
    the best predictor that ignores the planted axis (what a global model pays there)."""
    from c2al_tf.data.synthetic import ground_truth, oracle_probabilities
    from c2al_tf.experiment import split_indices
    from c2al_tf.metrics import normalized_entropy

    frame, scenario, seed = info["oracle"]
    te = frame.iloc[split_indices(len(frame), 0.2, 12345)[1]]
    axis, tail_max, head_min = info["cohorts"]
    y, v = te[ground_truth(scenario).label].to_numpy(), te[axis].to_numpy()
    out = []
    for typing_name, blind in (("oracle (the generator's law)", False), ("oracle ignoring the axis", True)):
        p = oracle_probabilities(te, scenario, seed, axis_blind=blind)
        out.append({"dataset": name, "typing": typing_name, "test NE": normalized_entropy(y, p), "sd": 0.0,
                    "vs declared": "", "tail NE": normalized_entropy(y[v < tail_max], p[v < tail_max]),
                    "head NE": normalized_entropy(y[v >= head_min], p[v >= head_min]), "epochs": ""})
    return out



def movielens_csv(path: str) -> dict:
    from c2al_tf.data.readers import movielens_frame

    from bench.common import movielens_dir

    movielens_frame(movielens_dir()).to_csv(path, index=False)
    return {"label": "rating", "positive": ">=4", "declared": ["user_id", "item_id"], "cohorts": None}


def clothing(_path: str) -> dict:
    from bench.common import shared_data_dir

    shared = shared_data_dir()
    return {"label": "recommended", "positive": None, "declared": ["clothing_id"], "cohorts": None,
            "path": os.path.join(shared, "clothing-reviews", "clothing_reviews.csv")}


def typings(table_reader, info):
    """name -> (read kwargs, ModelConfig kwargs)."""
    probe = table_reader()
    # the old default typed every all-number column numeric, id-named integers included
    every_number = probe.numeric + [c for c in probe.categorical if probe.reasons.get(c, "").startswith("integer")]
    return {
        "old default (plain numeric)": ({"numeric": every_number}, {"numeric_buckets": False}),
        "new default rule": ({}, {}),
        "declared ids": ({"categorical": info["declared"]}, {}),
        "default rule, buckets only": ({}, {"numeric_scaled": False}),
    }


DATASETS = ("generator", "int_ids", "extremes", "rate_shift", "movielens", "clothing")


def run(seeds: int, rows: int, epochs: int, only=DATASETS, out_name: str = "feature_typing", kinds=None):
    from c2al_tf.data import read_table
    from c2al_tf.experiment import split
    from c2al_tf.metrics import normalized_entropy
    from c2al_tf.models import PRIMARY, FeatureSpec, ModelConfig, build_model, predict, set_seed
    from c2al_tf.models.protocol import TrainConfig, carve_validation, fit
    from c2al_tf.models import head_priors

    protocol = TrainConfig(epochs=epochs)

    out_rows, doc = [], {"seeds": seeds, "rows": rows, "epochs": epochs, "datasets": {}}
    with tempfile.TemporaryDirectory() as tmp:
        makers = {"generator": ("generator, integer ids", lambda p: synthetic_int_ids(rows, p)),
                  "int_ids": ("scenario int_ids", lambda p: scenario_int_ids(rows, p)),
                  "extremes": ("scenario extremes", lambda p: scenario_world(rows, p, "extremes")),
                  "rate_shift": ("scenario rate_shift", lambda p: scenario_world(rows, p, "rate_shift")),
                  "movielens": ("MovieLens 100K as CSV", movielens_csv), "clothing": ("clothing reviews", clothing)}
        for name, make in (makers[k] for k in only):
            path = os.path.join(tmp, "data.csv")
            info = make(path)
            path = info.get("path", path)

            def reader(**kw):
                return read_table(path, info["label"], info["positive"], **kw)

            results = {}
            for typing_name, (read_kw, model_kw) in typings(reader, info).items():
                if kinds and typing_name not in kinds and typing_name != "declared ids":
                    continue
                table = reader(**read_kw)
                tr, te = split(table, 0.2, 12345)
                fit_rows, val_rows = carve_validation(tr, protocol.validation_fraction, protocol.validation_seed)
                spec = FeatureSpec.from_table(tr)
                nes, tails, heads, epochs_kept = [], [], [], []
                for seed in range(seeds):
                    set_seed(seed)
                    model = build_model(spec, None, ModelConfig(**model_kw), priors=head_priors([], tr))
                    epochs_kept.append(fit(model, fit_rows, val_rows, protocol, seed).best_epoch)
                    p = predict(model, te)[PRIMARY]
                    nes.append(normalized_entropy(te.label, p))
                    if info["cohorts"]:
                        axis, tail_max, head_min = info["cohorts"]
                        v = te.features[axis].to_numpy()
                        tails.append(normalized_entropy(te.label[v < tail_max], p[v < tail_max]))
                        heads.append(normalized_entropy(te.label[v >= head_min], p[v >= head_min]))
                results[typing_name] = {"ne": nes, "tail_ne": tails, "head_ne": heads, "epochs": epochs_kept,
                                        "kinds": {c: table.kind(c) for c in table.features.columns}}
            declared = float(np.mean(results["declared ids"]["ne"]))
            for typing_name, r in results.items():
                ne = float(np.mean(r["ne"]))
                out_rows.append({"dataset": name, "typing": typing_name, "test NE": ne,
                                 "sd": float(np.std(r["ne"], ddof=1)) if seeds > 1 else 0.0,
                                 "vs declared": f"{100 * (ne - declared) / declared:+.2f}%",
                                 "tail NE": float(np.mean(r["tail_ne"])) if r["tail_ne"] else None,
                                 "head NE": float(np.mean(r["head_ne"])) if r["head_ne"] else None,
                                 "epochs": ",".join(map(str, r["epochs"]))})
            if info.get("oracle"):
                out_rows.extend(oracle_rows(name, info, seeds))
            doc["datasets"][name] = results
            print_table([r for r in out_rows if r["dataset"] == name],
                        ["dataset", "typing", "test NE", "sd", "vs declared", "tail NE", "head NE", "epochs"])
    print()
    print_table(out_rows, ["dataset", "typing", "test NE", "sd", "vs declared", "tail NE", "head NE", "epochs"])
    doc["table"] = out_rows
    write_json(out_name, doc)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--epochs", type=int, default=20, help="maximum epochs (early stopping on validation)")
    p.add_argument("--datasets", default=",".join(DATASETS), help=f"comma list of {', '.join(DATASETS)}")
    p.add_argument("--name", default="feature_typing", help="results file name (bench/results/NAME.json)")
    p.add_argument("--typings", default="", help="comma list of typing rows to run (default: all; 'declared ids', "
                                                  "the reference, always runs), e.g. 'new default rule'")
    a = p.parse_args()
    chosen = [d.strip() for d in a.datasets.split(",") if d.strip()]
    if not chosen or any(d not in DATASETS for d in chosen):
        p.error(f"--datasets: choose from {', '.join(DATASETS)}")
    run(a.seeds, a.rows, a.epochs, chosen, a.name, [t.strip() for t in a.typings.split(",") if t.strip()])
