"""Is the protocol's comparison taken at convergence? Whole validation curves per seed
and lambda, and what early stopping with each patience would have kept.

    .venv/bin/python -m bench.convergence --dataset rate_shift [--seeds 5] [--epochs 10]
        [--aux-weight 0,0.1,0.3,1] [--patience 1,2,3,4] [--out bench/results/convergence_rate_shift.json]
    .venv/bin/python -m bench.convergence --curves bench/results/convergence_rate_shift.json --patience 5

Per seed and lambda candidate the model (baseline for lambda 0, C2AL's heads on the
dataset's cohorts otherwise) trains a fixed ``--epochs`` budget; after every epoch
the primary head's validation logloss and the test NE (overall and per cohort) are
recorded. Training is deterministic per seed, so early stopping with patience p is
*replayed* exactly on these curves: the run stops after p epochs without a new
validation minimum and keeps its best epoch; lambda is then chosen on validation
among the candidates (ties to the smaller), as :mod:`c2al_tf.models.protocol` does.

The table shows, per patience, the epochs each seed kept (baseline / C2AL), how many
runs kept an epoch other than their whole curve's validation minimum ("short"), and
C2AL's NE_diff vs the baseline overall, head and tail (95% paired t CI over seeds);
"min_at_budget" counts curves still improving at their last epoch (raise ``--epochs``).
If a patience is "short" anywhere, its NE_diff compares models early stopping left
before their validation minimum, and the row with no short run is the converged
comparison. The test split is only read to report, never to choose.

Datasets are those of ``bench/protocol_evidence.py`` (a generator scenario with its
planted cohorts given, ``movielens``, ``clothing``: the real sets' cohorts are mined on
the training rows by the default miner), or ``--data``/``--label``/``--cohorts``.
"""
import argparse
import json
import os
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

import c2al_tf  # noqa: E402,F401  (TF_USE_LEGACY_KERAS before TensorFlow)
import numpy as np  # noqa: E402

from bench.common import format_ci, print_table, write_json  # noqa: E402


COLUMNS = ["patience", "short_runs", "min_at_budget", "c2al_overall", "c2al_head", "c2al_tail",
           "epochs_base_c2al_lambda"]


def load(args):
    """(table, cohort spec, description) of the dataset to replay."""
    from c2al_tf.commands.common import add_data_args, read_data
    from c2al_tf.commands.train import load_cohorts

    if args.dataset:
        from protocol_evidence import prepare

        path, extra = prepare(args.dataset, tempfile.mkdtemp(prefix="c2al-convergence-"), args.scenario_rows)
    else:
        path, extra = args.data, ["--label", args.label] + (["--cohorts", args.cohorts] if args.cohorts else [])
    p = argparse.ArgumentParser()
    add_data_args(p)
    p.add_argument("--cohorts")
    data_args = p.parse_args(["--data", path] + extra)
    return read_data(data_args, warn_leakage=False), load_cohorts(data_args.cohorts, data_args.label), path


def curves(table, cohort_spec, seeds, weights, epochs):
    """Per (seed, lambda): one row per epoch with validation logloss and test NE."""
    import tensorflow as tf

    from c2al_tf.cohorts.config import MiningConfig
    from c2al_tf.experiment import REGISTRY, ExperimentConfig, build_variant_model, split
    from c2al_tf.metrics import evaluate_predictions
    from c2al_tf.models import FeatureSpec, predict, set_seed
    from c2al_tf.models.protocol import carve_validation
    from c2al_tf.models import make_dataset
    from c2al_tf.selection import SelectionConfig, mine_and_validate

    config = ExperimentConfig()
    train, test = split(table, config.test_fraction, config.split_seed)
    fit_table, val_table = carve_validation(train, config.train.validation_fraction, config.train.validation_seed)
    if cohort_spec is None:  # as c2al experiment: mined once, on the training rows
        cohort_spec, _, _ = mine_and_validate(train, MiningConfig(), SelectionConfig(), None, experiment=config)
    cohorts = list(cohort_spec.cohorts())
    if not cohorts:
        raise SystemExit("no cohort: nothing to compare (C2AL is the baseline)")
    masks_fit, masks_test = cohort_spec.masks(fit_table.features), cohort_spec.masks(test.features)
    spec = FeatureSpec.from_table(fit_table)
    out = {}

    class Record(tf.keras.callbacks.Callback):
        def __init__(self, model, rows):
            super().__init__()
            self.m, self.rows = model, rows

        def on_epoch_end(self, epoch, logs=None):
            met = evaluate_predictions(test.label, predict(self.m, test)["primary"], masks_test)
            self.rows.append({"epoch": epoch + 1, "val": float(logs["val_primary_loss"]),
                              "ne": float(met["overall"]["ne"]),
                              **{k: float(v["ne"]) for k, v in met["cohorts"].items()}})

    from tqdm import tqdm

    for seed, lam in tqdm([(s, w) for s in range(seeds) for w in weights], desc="curves", unit="run"):
        inputs = REGISTRY["c2al" if lam > 0 else "baseline"].setup(seed, fit_table, cohorts, masks_fit, lam)
        heads, aux = inputs.heads, inputs.aux_labels
        set_seed(seed)
        model = build_variant_model(spec, config, fit_table, heads, aux, lam, config.model)
        model.ensure_compiled()
        rows = []
        model.training_model.fit(make_dataset(model, fit_table, config.train.batch_size, True, seed, None, aux),
                                 epochs=epochs, validation_data=make_dataset(model, val_table,
                                                                             config.train.batch_size, False),
                                 callbacks=[Record(model, rows)], verbose=0)
        out[(seed, lam)] = rows
    return out, [c["name"] for c in cohorts]


def stop(rows, patience):
    """The row early stopping with ``patience`` keeps and whether that is the whole
    curve's validation minimum."""
    from c2al_tf.models.protocol import replay_early_stopping

    val = [r["val"] for r in rows]
    kept, _ = replay_early_stopping(val, patience)
    return rows[kept - 1], kept - 1 == int(np.argmin(val))


def ci(base, c2al):
    """C2AL's NE_diff vs the baseline, paired by seed (the experiment's own statistic)."""
    from c2al_tf.metrics import paired_comparison

    return format_ci(paired_comparison(base, c2al))


def replay(runs, cohorts, seeds, weights, patience):
    """The protocol on the recorded curves with one patience."""
    head, tail = (cohorts + [None, None])[:2]
    kept, short, nes = [], 0, {k: ([], []) for k in ("ne", head, tail) if k}
    budget = sum(min(range(len(r)), key=lambda i: r[i]["val"]) == len(r) - 1 for r in runs.values())
    for s in range(seeds):
        stops = {w: stop(runs[(s, w)], patience) for w in weights}
        short += sum(not ok for _, ok in stops.values())
        base = stops[0.0][0]
        lam = min(weights, key=lambda w: (stops[w][0]["val"], w))
        c2al = stops[lam][0]
        kept.append(f"{base['epoch']}/{c2al['epoch']}@{lam:g}")
        for k, (b, c) in nes.items():
            b.append(base[k])
            c.append(c2al[k])
    return {"patience": patience, "epochs_base_c2al_lambda": " ".join(kept), "short_runs": short, "min_at_budget": budget,
            "c2al_overall": ci(*nes["ne"]), "c2al_head": ci(*nes[head]) if head else "",
            "c2al_tail": ci(*nes[tail]) if tail else ""}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", help="a protocol_evidence dataset (rate_shift, interaction, movielens, clothing, ...)")
    p.add_argument("--data")
    p.add_argument("--label")
    p.add_argument("--cohorts")
    p.add_argument("--scenario-rows", type=int, default=200_000)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=10, help="the fixed budget each curve is recorded over")
    p.add_argument("--aux-weight", default="0,0.1,0.3,1")
    p.add_argument("--patience", default="1,2,3,4")
    p.add_argument("--curves", metavar="JSON", help="replay the curves of an earlier run's JSON (no training)")
    p.add_argument("--out")
    args = p.parse_args(argv)
    patiences = [int(v) for v in args.patience.split(",")]
    t0 = time.time()
    if args.curves:
        with open(args.curves) as f:
            doc = json.load(f)
        runs = {(int(k.split("/")[0]), float(k.split("/")[1])): v for k, v in doc["curves"].items()}
        rows = [replay(runs, doc["cohorts"], doc["seeds"], doc["aux_weights"], q) for q in patiences]
        print_table(rows, COLUMNS)
        return
    if bool(args.dataset) == bool(args.data) or (args.data and not args.label):
        p.error("give --dataset NAME, or --data PATH --label COL [--cohorts cohorts.json], or --curves JSON")
    weights = sorted({float(w) for w in args.aux_weight.split(",")} | {0.0})
    table, cohort_spec, path = load(args)
    runs, cohorts = curves(table, cohort_spec, args.seeds, weights, args.epochs)
    rows = [replay(runs, cohorts, args.seeds, weights, q) for q in patiences]
    print(f"\n{args.dataset or path}: {args.seeds} seeds, lambda in {weights}, curves of {args.epochs} epochs, "
          f"cohorts {cohorts}; epochs kept 'baseline/C2AL@lambda' per seed")
    print_table(rows, COLUMNS)
    name = args.dataset or os.path.basename(os.path.normpath(path))
    write_json(f"convergence_{name}", {
        "dataset": name, "seeds": args.seeds, "epochs": args.epochs, "aux_weights": weights, "cohorts": cohorts,
        "rows": rows, "curves": {f"{s}/{w:g}": r for (s, w), r in runs.items()}, "minutes": (time.time() - t0) / 60},
        args.out)


if __name__ == "__main__":
    main()
