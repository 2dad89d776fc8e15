"""``c2al experiment``: baseline vs C2AL vs ablations over seeds, with CIs and plots."""
from __future__ import annotations

import os
import shlex
import sys
import time

from c2al_tf.commands.common import (add_data_args, add_mining_args, add_model_args, add_selection_args,
                                     add_training_args, mining_config, model_config_args, read_data,
                                     selection_config, split_list, train_config)


def register(sub) -> None:
    from c2al_tf.experiment import DEFAULT_VARIANTS, RECIPES, VARIANTS
    from c2al_tf.models.builder import ENCODERS

    p = sub.add_parser("experiment", help="baseline vs C2AL and ablations over seeds: report.md, metrics.json, plots",
                       description="Mine cohorts once (or take --cohorts), then train every variant with N seeds on "
                                   "the same split and report NE_diff vs the baseline with 95% CIs.")
    add_data_args(p)
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--seeds", type=int, default=5, metavar="N")
    p.add_argument("--model", default="attention_fm", choices=ENCODERS)
    p.add_argument("--cohorts", metavar="cohorts.json", help="use these cohorts instead of mining")
    add_training_args(p, distribute=False)
    add_model_args(p)
    add_mining_args(p)  # without --cohorts; --by residuals|predictions first trains a baseline on the training rows
    add_selection_args(p)  # without --cohorts: confirm the top pairs on rows held out from the training split
    p.add_argument("--variants", default=",".join(DEFAULT_VARIANTS), metavar="a,b",
                   help=f"subset of {', '.join(VARIANTS)} (default: all but the recipe ablations "
                        f"{', '.join(RECIPES)} and per_head)")
    p.add_argument("--test-fraction", type=float, default=0.2)
    p.add_argument("--model-fn", metavar="MODULE:FUNCTION",
                   help="your model instead of --model: a function taking c2al's FeatureSpec and returning a "
                        "functional Keras model on spec.keras_inputs() that ends in the click probability")
    p.add_argument("--representation", metavar="LAYER",
                   help="with --model-fn: the layer whose output the auxiliary heads read (default: the input of "
                        "the logit layer)")
    p.set_defaults(func=run)


def run(args) -> int:
    from c2al_tf.cohorts.core import format_table
    from c2al_tf.selection import format_rows, mine_and_validate
    from c2al_tf.io_utils import atomic_directory, write_json
    from c2al_tf.commands.train import load_cohorts
    from c2al_tf.errors import C2ALInputError
    from c2al_tf.experiment import VARIANTS, ExperimentConfig, data_hash, run_experiment, split, versions
    from c2al_tf.report import write_markdown, write_plots

    if args.seeds < 2:
        raise C2ALInputError(f"--seeds must be >= 2 for confidence intervals, got {args.seeds}")
    variants = split_list(args.variants)
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or "baseline" not in variants:
        raise C2ALInputError(f"--variants must include baseline and only name {', '.join(VARIANTS)} "
                             f"(got '{args.variants}')")
    training = train_config(args)  # bad protocol, model and mining flags fail before any work
    model_kwargs = model_config_args(args)
    mining = mining_config(args)
    selection = selection_config(args)
    if not 0 < args.test_fraction < 1:
        raise C2ALInputError(f"--test-fraction must be in (0, 1), got {args.test_fraction}")
    from c2al_tf.io_utils import check_output_dir

    check_output_dir(args.out, "--out")  # before any work
    cohorts = load_cohorts(args.cohorts, args.label)
    table = read_data(args)
    table.check_trainable("compare models")
    print(f"[experiment] {table.source}: {table.summary()}")
    if args.model_fn:
        from c2al_tf.models.builder import load_model_fn

        load_model_fn(args.model_fn)  # refused before any work
    elif args.representation:
        raise C2ALInputError("--representation names a layer of --model-fn's model; pass --model-fn too")
    config = ExperimentConfig(seeds=args.seeds, model=args.model, train=training,
                              test_fraction=args.test_fraction, variants=variants, model_fn=args.model_fn,
                              representation=args.representation, **model_kwargs)
    validation = []
    if cohorts is None:
        train, _ = split(table, config.test_fraction, config.split_seed)
        predictions = None
        if mining.needs_model:
            from c2al_tf.experiment import baseline_predictions

            print(f"[experiment] --by {mining.by}: training a baseline on the training rows to mine with")
            predictions = baseline_predictions(train, config)
        t0 = time.time()
        # once, on the training rows only (validation carves its held-out rows from them)
        cohorts, results, validation = mine_and_validate(train, mining, selection, predictions, experiment=config)
        print(format_table(results))
        if validation:
            print(format_rows(validation))
        how = f"by {mining.by}" + (f", top {selection.candidates} validated" if selection.candidates else "")
        print(f"[experiment] mined {len(cohorts.pairs)} pair(s) on the training rows {how} in {time.time() - t0:.0f} s")
    out = os.path.abspath(args.out)
    if cohorts is not None:
        from c2al_tf.commands.train import check_cohorts_select

        check_cohorts_select(cohorts, table)
    with atomic_directory(out, "--out") as tmp:
        doc = run_experiment(table, cohorts, config)
        if validation:  # how the cohorts were confirmed (held-out rows of the training split)
            doc["cohort_validation"] = validation
        meta = {"command": " ".join(shlex.quote(a) for a in ["c2al"] + list(getattr(args, "argv", sys.argv[1:]))),
                "data": args.data, "data_hash": data_hash(args.data), "label": args.label, "versions": versions()}
        diagnostics = doc.pop("diagnostics")
        for v in diagnostics.values():
            if "attention" in v:
                v["attention_near_zero_fraction"] = float((abs(v["attention"]) < 1e-3).mean())
        write_plots({**doc, "diagnostics": diagnostics}, tmp)
        write_markdown({**doc, "diagnostics": diagnostics}, os.path.join(tmp, "report.md"), meta)
        doc["diagnostics"] = {k: {kk: vv for kk, vv in v.items() if kk != "attention"} for k, v in diagnostics.items()}
        write_json(os.path.join(tmp, "metrics.json"), {**doc, "meta": meta})
        cohorts.save(os.path.join(tmp, "cohorts.json"))
    with open(os.path.join(out, "report.md")) as f:
        print(f.read())
    print(f"[experiment] wrote {out}/report.md, metrics.json, ne_diff.png, attention_density.png, calibration.png")
    return 0
