"""How often the Evaluator's non-regression gate refuses a candidate that is as good as
the baseline, by rule.

Trains ``--seeds`` baselines (the same model and data, different seeds: equal in
expectation) on the train split of a generator world under the training protocol, scores
each on the eval split, and applies each gate rule to every ordered pair (candidate,
baseline) of distinct seeds:

- ``point, tolerance t``: refuse when the relative NE change exceeds ``t`` (the pipeline's
  ``--ne-tolerance``, TFMA's ``GenericChangeThreshold``; default ``t = 0``);
- ``paired interval``: refuse when the 95% interval of the per-row logloss difference lies
  above zero (worse on evidence).

The identical pair (C2AL returns the baseline's own export when lambda 0 wins) has a
change of exactly 0, which no rule refuses. Prints a table and writes JSON.

    python -m bench.gate --scenario interaction --rows 120000 --seeds 6
"""
import argparse
import itertools
import os
import tempfile


import c2al_tf  # noqa: E402,F401  (TF_USE_LEGACY_KERAS before TensorFlow)
import numpy as np  # noqa: E402

from bench.common import print_table, write_json  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", default="interaction")
    ap.add_argument("--rows", type=int, default=120_000)
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--tolerances", default="0,0.001,0.002,0.005")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)

    from c2al_tf.data import read_table
    from c2al_tf.data.synthetic import write_csv
    from c2al_tf.experiment import split
    from c2al_tf.metrics import normalized_entropy, row_logloss
    from c2al_tf.models import FeatureSpec, ModelConfig, build_model, set_seed
    from c2al_tf.models.protocol import TrainConfig, carve_validation, fit
    from c2al_tf.models.search import compare_to_baseline
    from c2al_tf.models import predict

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "data.csv")
        write_csv(path, args.rows, 0, scenario=args.scenario)
        table = read_table(path, "click")
    train, test = split(table, 1 / 3, 12345)  # the pipeline's train:eval when measured, 2:1 (4:1 since)
    config = TrainConfig()
    fit_table, val_table = carve_validation(train, config.validation_fraction, config.validation_seed)
    spec = FeatureSpec.from_table(fit_table)
    losses, ne = [], []
    for seed in range(args.seeds):
        set_seed(seed)
        model = build_model(spec, [], ModelConfig())
        fit(model, fit_table, val_table, config, seed)
        p = predict(model, test)["primary"].reshape(-1)
        losses.append(row_logloss(test.label, p))
        ne.append(normalized_entropy(test.label, p))
        print(f"seed {seed}: eval NE {ne[-1]:.5f}", flush=True)
    tolerances = [float(t) for t in args.tolerances.split(",")]
    pairs = list(itertools.permutations(range(args.seeds), 2))
    changes = np.array([(ne[c] - ne[b]) / ne[b] for c, b in pairs])
    rows = [{"rule": f"point, tolerance {t:g}", "refused": int((changes > t).sum()), "pairs": len(pairs),
             "rate": float((changes > t).mean())} for t in tolerances]
    worse = [compare_to_baseline(losses[c], losses[b])["low"] > 0 for c, b in pairs]
    rows.append({"rule": "paired interval", "refused": int(sum(worse)), "pairs": len(pairs),
                 "rate": float(np.mean(worse))})
    print(f"\nrelative NE change between equal models: sd {changes.std(ddof=1):.5f}, "
          f"max {np.abs(changes).max():.5f} ({len(pairs)} ordered pairs of {args.seeds} seeds)")
    print_table(rows, ["rule", "refused", "pairs", "rate"])
    write_json("gate", {"args": vars(args), "eval_ne": ne, "changes": changes.tolist(), "rules": rows},
               args.out)


if __name__ == "__main__":
    main()
