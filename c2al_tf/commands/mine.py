"""``c2al mine``: find contrasting cohort pairs and write cohorts.json."""
from __future__ import annotations

from c2al_tf.commands.common import add_data_args, read_data, split_list


def register(sub) -> None:
    p = sub.add_parser("mine", help="mine contrasting cohorts from TFDV statistics and write cohorts.json",
                       description="Rank candidate axes by how differently their most contrasting pair of "
                                   "cohorts' positive rates respond to the other features (from sliced, "
                                   "label-weighted TFDV statistics), or by a baseline model's prediction "
                                   "distributions (--by predictions), and write the top pairs.")
    add_data_args(p)
    p.add_argument("--out", required=True, metavar="cohorts.json")
    p.add_argument("--axes", default="", metavar="a,b", help="candidate axes (default: every feature)")
    p.add_argument("--max-pairs", type=int, default=1, metavar="K")
    p.add_argument("--divergence", default="js", choices=["js", "kl", "wasserstein", "cosine"])
    p.add_argument("--min-support", type=float, default=0.02, metavar="F",
                   help="minimum share of rows in each cohort (default 0.02)")
    p.add_argument("--min-positives", type=int, default=30, metavar="N",
                   help="minimum positives in each cohort (default 30)")
    p.add_argument("--cross-top", type=int, default=2, metavar="N",
                   help="also mine the crosses of the N best single axes (one more TFDV pass; 0 = none)")
    p.add_argument("--bins", type=int, default=10, help="quantile bins for numeric features (default 10)")
    p.add_argument("--by", default="stats", choices=["stats", "predictions"])
    p.add_argument("--baseline-model", metavar="DIR", help="baseline SavedModel for --by predictions")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise simulation")
    p.add_argument("--beam-arg", action="append", default=[], metavar="X",
                   help="pipeline option for Beam (repeatable), e.g. --beam-arg=--runner=DirectRunner")
    p.set_defaults(func=run)


def run(args) -> int:
    from c2al_tf.cohorts.miner import mine_table
    from c2al_tf.cohorts.mining import format_table
    from c2al_tf.errors import C2ALInputError

    if not 0 < args.min_support < 0.5:
        raise C2ALInputError(f"--min-support must be in (0, 0.5), got {args.min_support}")
    if args.max_pairs < 1:
        raise C2ALInputError(f"--max-pairs must be >= 1, got {args.max_pairs}")
    if args.bins < 2:
        raise C2ALInputError(f"--bins must be >= 2, got {args.bins}")
    if args.by == "predictions" and not args.baseline_model:
        raise C2ALInputError("--by predictions needs --baseline-model DIR")
    from c2al_tf.io_utils import check_output_file

    check_output_file(args.out, "--out")  # before any work
    table = read_data(args)
    print(f"[mine] {table.source}: {table.summary()}")
    spec, results = mine_table(table, axes=split_list(args.axes) or None, max_pairs=args.max_pairs,
                               divergence=args.divergence, min_support=args.min_support,
                               min_positives=args.min_positives, num_quantiles=args.bins,
                               beam_args=args.beam_arg, seed=args.seed, by=args.by,
                               baseline_model=args.baseline_model, cross_top=args.cross_top)
    print(format_table(results))
    spec.save(args.out)
    if spec.pairs:
        print(f"wrote {args.out}: {len(spec.pairs)} pair(s), top axis '{spec.pairs[0]['axis'][0]}'")
    else:
        print(f"wrote {args.out}: no pair above the noise threshold (C2AL would add no auxiliary head)")
    return 0
