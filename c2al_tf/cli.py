"""The ``c2al`` command. Each subcommand lives in ``c2al_tf/commands/``."""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

import c2al_tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before anything imports TensorFlow)
from c2al_tf.errors import C2ALInputError


def build_parser() -> argparse.ArgumentParser:
    from c2al_tf import commands

    parser = argparse.ArgumentParser(
        prog="c2al", description="Cohort-Contrastive Auxiliary Learning (C2AL) for ranking models.")
    parser.add_argument("--version", action="version", version=f"c2al-tf {c2al_tf.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in commands.ALL:
        module.register(sub)
    return parser


def _quiet_third_party() -> None:
    """Hides messages users cannot act on, here and (through the environment) in
    Beam's worker processes: the Google client libraries' FutureWarnings, the CUDA
    plugin registration lines TensorFlow logs on a CPU-only machine
    (``TF_CPP_MIN_LOG_LEVEL=3``; TensorFlow's real errors still raise), and the
    setup chatter Beam forwards from its local workers. A ``PYTHONWARNINGS`` or
    ``TF_CPP_MIN_LOG_LEVEL`` you set is kept."""
    import logging
    import os
    import warnings

    if "PYTHONWARNINGS" not in os.environ:
        os.environ["PYTHONWARNINGS"] = "ignore::FutureWarning"
        warnings.simplefilter("ignore", FutureWarning)
    if c2al_tf.USER_TF_LOG_LEVEL is None:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    logging.getLogger("apache_beam.runners.portability.local_job_service").setLevel(logging.ERROR)


def main(argv: Optional[List[str]] = None) -> int:
    _quiet_third_party()
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv  # the command line, for reports
    try:
        return int(args.func(args) or 0)
    except C2ALInputError as e:
        print(f"c2al: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("c2al: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
