"""What several subcommands share: how a command runs (:func:`guarded`) and their
common arguments."""
from __future__ import annotations

import argparse
import sys
from typing import Callable, Optional, Tuple

import c2al_tf
from c2al_tf.errors import C2ALInputError


def quiet_third_party() -> None:
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


# Library argument -> its flag, where the flag is not the argument's name with dashes.
FLAGS = {"max_rows": "--max-mining-rows", "candidates": "--validate", "weight": "--validate-weight",
         "aux_weights": "--aux-weight"}


def flag(argument: str) -> str:
    return FLAGS.get(argument, "--" + argument.replace("_", "-"))


def for_the_command_line(error: C2ALInputError) -> str:
    """The error's message with each library argument it names shown as its flag."""
    return with_flags(str(error), getattr(error, "arguments", ()))


def with_flags(text: str, arguments) -> str:
    """``text`` with each of the library ``arguments`` it names shown as its flag."""
    import re

    for argument in arguments:
        text = re.sub(rf"(?<![\w-]){re.escape(argument)}(?![\w-])", flag(argument), text)
    return text


def guarded(command: Callable[[], Optional[int]]) -> int:
    """Runs a command as ``c2al`` does: third-party chatter hidden, a C2ALInputError
    as one line and exit 2, Ctrl-C as ``c2al: interrupted`` and exit 130."""
    quiet_third_party()
    try:
        return int(command() or 0)
    except C2ALInputError as e:
        print(f"c2al: error: {for_the_command_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("c2al: interrupted", file=sys.stderr)
        return 130


def add_data_args(p: argparse.ArgumentParser, label_required: bool = True) -> None:
    p.add_argument("--data", required=True, metavar="PATH",
                   help="CSV file with header, directory of CSVs, TFRecord file(s) of tf.Example, "
                        "or a RecBole atomic directory (MovieLens)")
    p.add_argument("--label", required=label_required, metavar="COL", help="label column (0/1)")
    p.add_argument("--positive-label", metavar="VALUE",
                   help="which label value is positive when the label is not 0/1, e.g. 'yes' or '>=4'")
    p.add_argument("--categorical", default="", metavar="A,B",
                   help="columns to read as categorical even if they look numeric")
    p.add_argument("--numeric", default="", metavar="A,B", help="columns to read as numeric")
    p.add_argument("--drop", default="", metavar="A,B", help="columns to ignore")


def split_list(value: str):
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def read_data(args, warn_leakage: bool = True):
    """Reads ``--data`` as every command does; warns (stderr) about features that
    predict the label almost perfectly on their own."""
    from c2al_tf.data import read_table

    table = read_table(args.data, args.label, args.positive_label, numeric=split_list(args.numeric),
                       categorical=split_list(args.categorical), drop=split_list(args.drop))
    if warn_leakage:
        from c2al_tf.data.leakage import leakage_warnings

        for line in leakage_warnings(table):
            print(f"c2al: warning: {with_flags(line, ('drop',))}", file=sys.stderr)
    return table


def add_training_args(p: argparse.ArgumentParser, distribute: bool = True) -> None:
    """The training protocol's flags (defaults: :class:`c2al_tf.models.protocol.TrainConfig`);
    ``distribute``: also ``--strategy`` (commands that train one model at a time)."""
    from c2al_tf.models.protocol import TrainConfig

    d = TrainConfig()
    p.add_argument("--epochs", type=int, default=d.epochs, metavar="E",
                   help=f"maximum epochs with early stopping, exact epochs without (default {d.epochs})")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--validation-fraction", type=float, default=d.validation_fraction, metavar="F",
                   help=f"share of the training rows held out for early stopping and choosing lambda, in (0, 0.5] "
                        f"(default {d.validation_fraction})")
    p.add_argument("--early-stopping", action=argparse.BooleanOptionalAction, default=d.early_stopping,
                   help="stop when the primary head's validation logloss stops improving and keep the best epoch "
                        "(default on; --no-early-stopping trains exactly --epochs, for benchmarks)")
    p.add_argument("--patience", type=int, default=d.patience, metavar="N",
                   help=f"epochs without improvement before stopping (default {d.patience})")
    p.add_argument("--ema-momentum", type=float, default=d.ema_momentum, metavar="M",
                   help="validate, early-stop on and keep the moving average of the weights with this momentum "
                        f"(training steps are unchanged); 0 = the last step's weights (default {d.ema_momentum:g})")
    p.add_argument("--side-by-side", action=argparse.BooleanOptionalAction, default=d.side_by_side,
                   help="train the lambda candidates > 0 side by side in one pass over the data (the same results; "
                        "memory holds every candidate at once); --no-side-by-side trains them one at a time "
                        "(default on)")
    p.add_argument("--aux-weight", default=",".join(f"{w:g}" for w in d.aux_weights), metavar="W[,W...]",
                   help="lambda for the auxiliary heads: one value trains exactly that; a comma list is a grid "
                        "searched on validation, 0 (no auxiliary head = the baseline) always included "
                        f"(default {','.join(f'{w:g}' for w in d.aux_weights)})")
    if not distribute:
        return
    from c2al_tf.models.distribute import STRATEGIES

    p.add_argument("--strategy", default=d.strategy, choices=STRATEGIES,
                   help="tf.distribute strategy: auto = multi_worker when TF_CONFIG names several workers, "
                        "mirrored with several local GPUs, else default (one device); see README 'Scaling out'")
    p.add_argument("--vocab-budget", type=int, default=d.vocab_budget, metavar="N",
                   help="a categorical column with more distinct values than N is hashed into N buckets instead "
                        f"of a vocabulary table (default {d.vocab_budget:,})")


def add_model_args(p: argparse.ArgumentParser) -> None:
    """Model flags shared by ``c2al train`` and ``c2al experiment``; defaults are ModelConfig's."""
    from c2al_tf.models.config import ModelConfig

    d = ModelConfig()
    p.add_argument("--embedding-l2", type=float, default=d.embedding_l2, metavar="L",
                   help="L2 on every categorical embedding table, per step (keeps rare ids from memorizing "
                        f"their rows; 0 = none; default {d.embedding_l2:g})")


def model_config_args(args) -> dict:
    """ModelConfig keyword arguments from :func:`add_model_args`'s flags (checked here, before any work)."""
    from c2al_tf.errors import C2ALInputError
    from c2al_tf.models.config import ModelConfig

    try:  # ModelConfig's own check, reported under the flag's name
        ModelConfig(embedding_l2=args.embedding_l2)
    except ValueError:
        raise C2ALInputError(f"--embedding-l2 must be a finite number >= 0, got {args.embedding_l2}") from None
    return {"embedding_l2": float(args.embedding_l2)}


def train_config(args):
    """A :class:`~c2al_tf.models.protocol.TrainConfig` from :func:`add_training_args`'s flags."""
    from c2al_tf.models.protocol import TrainConfig

    weights, select = parse_aux_weights(args.aux_weight)
    extra = {"strategy": args.strategy, "vocab_budget": args.vocab_budget} if hasattr(args, "strategy") else {}
    return TrainConfig(epochs=args.epochs, batch_size=args.batch_size, early_stopping=args.early_stopping,
                       patience=args.patience, validation_fraction=args.validation_fraction,
                       aux_weights=weights, select_aux_weight=select, ema_momentum=args.ema_momentum,
                       side_by_side=args.side_by_side, **extra)


def add_mining_args(p: argparse.ArgumentParser, bins: bool = True) -> None:
    """Cohort-mining flags (defaults: :class:`c2al_tf.cohorts.config.MiningConfig`),
    the same for ``c2al mine`` and the pipeline's CohortMiner."""
    from c2al_tf.cohorts.config import DIVERGENCES, MODES, MiningConfig

    d = MiningConfig()
    p.add_argument("--axes", default="", metavar="a,b", help="candidate axes (default: every feature)")
    p.add_argument("--max-pairs", type=int, default=d.max_pairs, metavar="K")
    p.add_argument("--divergence", default=d.divergence, choices=DIVERGENCES)
    p.add_argument("--min-support", type=float, default=d.min_support, metavar="F",
                   help=f"minimum share of rows in each cohort (default {d.min_support})")
    p.add_argument("--min-positives", type=int, default=d.min_positives, metavar="N",
                   help=f"minimum positives in each cohort (default {d.min_positives})")
    p.add_argument("--cross-top", type=int, default=d.cross_top, metavar="N",
                   help="also mine the crosses of the N best single axes (one more statistics pass; "
                        f"default {d.cross_top} = none)")
    p.add_argument("--by", default=d.by, choices=MODES,
                   help="pairwise: the held-out log loss a cohort's own correction of a model of every "
                        "pairwise interaction saves (no model needed); stats: sliced label statistics (no model); "
                        "predictions: a baseline's prediction distributions; residuals: where a baseline is wrong, "
                        f"per cohort (default {d.by})")
    p.add_argument("--max-mining-rows", type=int, default=d.max_rows, metavar="N",
                   help=f"the modes other than stats mine a uniform sample of about N rows, chosen by row content (default {d.max_rows})")
    if bins:  # the pipeline's CohortMiner bins with StatisticsGen's quantiles
        p.add_argument("--bins", type=int, default=d.bins,
                       help=f"quantile bins for numeric features (default {d.bins})")


def add_selection_args(p: argparse.ArgumentParser) -> None:
    """Validated selection flags (defaults: :class:`c2al_tf.selection.SelectionConfig`)."""
    from c2al_tf.selection import SelectionConfig

    d = SelectionConfig()
    p.add_argument("--validate", type=int, default=d.candidates, metavar="K",
                   help="confirm the miner's top K pairs with short auxiliary-head trainings on rows held out from "
                        "the training data, against a baseline and a random-cohort control; keep only pairs whose "
                        "held-out logloss is below the baseline's by more than its paired 95%% interval and below "
                        f"the control's. 0 = off (default {d.candidates})")
    p.add_argument("--validate-weight", type=float, default=d.weight, metavar="W",
                   help=f"lambda of the confirming trainings (default {d.weight:g})")
    p.add_argument("--validate-significant", action="store_true",
                   help="confirm only pairs whose paired 95%% intervals against both references exclude zero")


def selection_config(args, **extra):
    from c2al_tf.selection import SelectionConfig

    return SelectionConfig(candidates=args.validate, weight=args.validate_weight,
                           require_significance=args.validate_significant, **extra)


def mining_config(args, **extra):
    """A :class:`~c2al_tf.cohorts.config.MiningConfig` from :func:`add_mining_args`'s flags."""
    from c2al_tf.cohorts.config import MiningConfig

    return MiningConfig(axes=tuple(split_list(args.axes)) or None, max_pairs=args.max_pairs,
                        divergence=args.divergence, min_support=args.min_support, min_positives=args.min_positives,
                        cross_top=args.cross_top, by=args.by, max_rows=args.max_mining_rows,
                        **({"bins": args.bins} if hasattr(args, "bins") else {}), **extra)


def parse_aux_weights(text: str) -> Tuple[Tuple[float, ...], bool]:
    """``"0.3"`` -> fixed lambda 0.3 (no selection); ``"0,0.1,0.3"`` -> chosen on
    validation among those (0 always included). Returns (values, select)."""
    from c2al_tf.errors import C2ALInputError
    from c2al_tf.models.protocol import _weights

    try:
        values = [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise C2ALInputError(f"--aux-weight takes a number or a comma list of numbers, got '{text}'") from None
    if not values:
        raise C2ALInputError("--aux-weight needs at least one value")
    _weights(values, "--aux-weight")  # the same check as TrainConfig's
    return tuple(values), len(values) > 1
