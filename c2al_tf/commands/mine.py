"""``c2al mine``: find contrasting cohort pairs and write cohorts.json."""
from __future__ import annotations

from c2al_tf.commands.common import (add_data_args, add_mining_args, add_selection_args, mining_config, read_data,
                                     selection_config)


def register(sub) -> None:
    p = sub.add_parser("mine", help="mine contrasting cohorts and write cohorts.json",
                       description="Rank candidate axes by how much a pair of cohorts' own correction saves "
                                   "on held-out rows over a model of every pairwise interaction (--by pairwise, "
                                   "the default, no model needed), or by how differently the cohorts' positive "
                                   "rates respond to the other features in sliced, label-weighted TFDV "
                                   "statistics (--by stats), or by a baseline model's prediction distributions "
                                   "(--by predictions) or where that model is wrong (--by residuals), and "
                                   "write the top pairs.")
    add_data_args(p)
    p.add_argument("--out", required=True, metavar="cohorts.json")
    add_mining_args(p)
    add_selection_args(p)
    p.add_argument("--baseline-model", metavar="DIR", help="baseline SavedModel for --by predictions|residuals")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise simulation")
    p.add_argument("--beam-arg", action="append", default=[], metavar="X",
                   help="pipeline option for Beam (repeatable), e.g. --beam-arg=--runner=DirectRunner")
    p.set_defaults(func=run)


def run(args) -> int:
    from c2al_tf.cohorts.core import format_table
    from c2al_tf.errors import C2ALInputError
    from c2al_tf.selection import format_rows, mine_and_validate

    config = mining_config(args, seed=args.seed)  # bad flags fail before any work
    selection = selection_config(args, seed=args.seed)
    if config.needs_model and not args.baseline_model:
        raise C2ALInputError(f"--by {args.by} needs --baseline-model DIR (e.g. a c2al train export without --cohorts)")
    from c2al_tf.io_utils import check_output_file

    check_output_file(args.out, "--out")  # before any work
    table = read_data(args)
    print(f"[mine] {table.source}: {table.summary()}")
    predictions = None
    if config.needs_model:  # the model is loaded here; the cohorts package takes plain predictions
        from c2al_tf.predictor import SavedModelPredictor

        predictions = SavedModelPredictor(args.baseline_model).predict(table)["probabilities"]
    spec, results, validation = mine_and_validate(table, config, selection, predictions, args.beam_arg)
    print(format_table(results))
    if validation:
        print(format_rows(validation))
    spec.save(args.out)
    if spec.pairs:
        print(f"wrote {args.out}: {len(spec.pairs)} pair(s), top axis '{spec.pairs[0]['axis'][0]}'")
    else:
        why = "confirmed on held-out rows" if selection.candidates else "above the noise threshold"
        print(f"wrote {args.out}: no pair {why} (C2AL would add no auxiliary head)")
    return 0
