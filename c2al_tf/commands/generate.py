"""``c2al generate``: the synthetic ads-click data with planted cohorts."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("generate", help="write synthetic ads-click data with planted cohorts",
                       description="Write synthetic ads-click data (label 'click') whose user_value "
                                   "extremes follow conflicting click structure. Streams: any --rows "
                                   "in bounded memory.")
    p.add_argument("--rows", type=int, required=True, metavar="N")
    p.add_argument("--out", required=True, metavar="FILE.csv")
    p.add_argument("--seed", type=int, default=0, metavar="S")
    p.add_argument("--scenario", default="planted", metavar="NAME",
                   help="which world: planted (default), rate_shift, interaction, extremes, decoys, int_ids, flips, wide_flips, "
                        "null "
                        "(see c2al_tf/data/scenarios.py for each mechanism and its ground truth)")
    p.add_argument("--truth", metavar="FILE.json", help="also write the planted ground truth as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    import dataclasses

    from c2al_tf.data.synthetic import write_csv
    from c2al_tf.errors import C2ALInputError

    if args.rows < 1:
        raise C2ALInputError(f"--rows must be >= 1, got {args.rows}")
    from c2al_tf.io_utils import check_output_file, write_json

    from c2al_tf.data.synthetic import ground_truth, is_generated_csv

    ground_truth(args.scenario)  # an unknown scenario fails before any work, listing the valid ones
    check_output_file(args.out, "--out", ours=is_generated_csv)
    if args.truth:
        check_output_file(args.truth, "--truth")
    truth = write_csv(args.out, args.rows, args.seed, progress=True, scenario=args.scenario)
    if args.truth:
        write_json(args.truth, dataclasses.asdict(truth))
    if truth.axis is None:
        print(f"wrote {args.rows:,} rows to {args.out} (label 'click', scenario '{args.scenario}': nothing planted)")
    else:
        print(f"wrote {args.rows:,} rows to {args.out} (label 'click', scenario '{args.scenario}', planted axis "
              f"'{truth.axis}': {truth.cuts()})")
    return 0
