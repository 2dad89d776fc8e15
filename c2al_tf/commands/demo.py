"""``c2al demo``: the main job on the embedded synthetic data."""
from __future__ import annotations

import os


def register(sub) -> None:
    p = sub.add_parser("demo", help="run the main job on the embedded synthetic data",
                       description="Generate the embedded synthetic ads-click data and run C2AL on it "
                                   "end to end, then print a report.")
    p.add_argument("--rows", type=int, default=100_000, metavar="N")
    p.add_argument("--out", default="c2al-demo", metavar="DIR")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args) -> int:
    from c2al_tf.data import read_table
    from c2al_tf.data.synthetic import write_csv
    from c2al_tf.errors import C2ALInputError

    if args.rows < 1000:
        raise C2ALInputError(f"--rows must be >= 1000 for a meaningful demo, got {args.rows}")
    os.makedirs(args.out, exist_ok=True)
    data = os.path.join(args.out, "data", "synthetic.csv")
    truth = write_csv(data, args.rows, args.seed, progress=True)
    table = read_table(data, truth.label)
    print(f"[demo] data: {data}: {table.summary()}")
    cohorts = truth.cohort_of(table.features[truth.axis])
    for name in ("tail", "majority", "head"):
        mask = cohorts == name
        print(f"[demo] planted cohort {name:8s}: support {mask.mean():.3f}, "
              f"positive rate {table.label[mask].mean():.4f}")
    return 0
