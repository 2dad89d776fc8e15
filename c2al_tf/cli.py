"""The ``c2al`` command. Each subcommand lives in ``c2al_tf/commands/``."""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

import c2al_tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before anything imports TensorFlow)
from c2al_tf.commands.common import guarded, quiet_third_party


def build_parser() -> argparse.ArgumentParser:
    from c2al_tf.commands import demo, evaluate, experiment, generate, inspect, mine, pipeline_cmd, train

    parser = argparse.ArgumentParser(
        prog="c2al", description="Cohort-Contrastive Auxiliary Learning (C2AL) for ranking models.")
    parser.add_argument("--version", action="version", version=f"c2al-tf {c2al_tf.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in (generate, inspect, mine, train, evaluate, experiment, pipeline_cmd, demo):
        module.register(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    quiet_third_party()  # before the parsers, whose defaults import TensorFlow
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv  # the command line, for reports
    return guarded(lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
