"""``c2al demo``: the main job on the embedded synthetic data: generate, run the
full TFX pipeline (baseline and C2AL), print the report."""
from __future__ import annotations

import os

DEMO_SCENARIO = "flips"
DEMO_ROWS = 150_000


def register(sub) -> None:
    p = sub.add_parser("demo", help="run the whole C2AL TFX pipeline on the embedded synthetic data",
                       description="Generate synthetic ads clicks with planted cohorts, run ExampleGen -> ... -> "
                                   "CohortMiner -> Trainer (C2AL + baseline) -> Evaluator -> Pusher locally, and "
                                   "print the cohorts, NE per cohort for both models and how to serve the result.")
    p.add_argument("--rows", type=int, default=DEMO_ROWS, metavar="N",
                   help=f"rows to generate, at least 5000 so the cohorts have positives (default {DEMO_ROWS})")
    p.add_argument("--out", default="c2al-demo", metavar="DIR")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scenario", default=DEMO_SCENARIO, metavar="NAME",
                   help=f"generator world (c2al generate --scenario; default {DEMO_SCENARIO}: the 10%% newest "
                        "users flip how surface and category interact, the 10%% oldest reverse device x category, "
                        "both strongly)")
    p.add_argument("--verbose", action="store_true",
                   help="also show Keras' epoch lines and TensorFlow/TFX warnings (default: stage lines and results)")
    from c2al_tf.commands.common import add_mining_args, add_model_args, add_training_args

    # the pipeline's own protocol, model and mining flags, with its defaults (e.g. --aux-weight 0.3,1)
    add_training_args(p)
    add_model_args(p)
    add_mining_args(p, bins=False)
    from c2al_tf.commands.pipeline_cmd import add_split_arg

    add_split_arg(p)
    p.add_argument("--beam-arg", action="append", default=[], metavar="X",
                   help="Beam pipeline option for every data stage (repeatable), e.g. "
                        "--beam-arg=--direct_num_workers=1")
    p.set_defaults(func=run)


def run(args) -> int:
    from c2al_tf.commands.pipeline_cmd import run_pipeline
    from c2al_tf.data.synthetic import write_csv
    from c2al_tf.errors import C2ALInputError

    if args.rows < 5000:
        raise C2ALInputError(f"--rows must be >= 5000 for the demo (cohorts need positives), got {args.rows}")
    from c2al_tf.io_utils import check_writable_dir

    check_writable_dir(args.out, "--out")
    out = os.path.abspath(args.out)
    from c2al_tf.data.synthetic import ground_truth

    ground_truth(args.scenario)  # refuses an unknown scenario (naming the valid ones) before any work
    options = pipeline_options(args, os.path.join(out, "data", f"{args.scenario}.csv"), out)  # bad flags fail here
    if not os.path.exists(options.data) or _rows_of(options.data) != args.rows:
        truth = write_csv(options.data, args.rows, args.seed, progress=True, scenario=args.scenario)
        print(f"[demo] wrote {args.rows:,} rows to {options.data}; planted axis '{truth.axis}' "
              f"({truth.cuts(3)})")
    return run_pipeline(options)


def pipeline_options(args, data: str, out: str):
    """The demo's pipeline run: the generated file, label ``click``, root ``out/run``,
    and the demo's flags (the pipeline's own, mapped by the same function)."""
    from c2al_tf.commands.pipeline_cmd import options

    return options(args, data=data, label="click", root=os.path.join(out, "run"))


def _rows_of(path: str) -> int:
    with open(path, "rb") as f:
        return sum(1 for _ in f) - 1
