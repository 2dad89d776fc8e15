"""The training protocol shared by ``c2al train``, ``c2al experiment`` and the TFX Trainer.

1. A validation split is carved from the *training* rows (fixed seed); the test
   split is never looked at while training or choosing.
2. Every model trains with early stopping on the primary head's validation
   logloss (``val_primary_loss``) and keeps the weights of its best epoch;
   ``epochs`` is then a maximum. ``early_stopping=False`` trains exactly
   ``epochs`` epochs (the fixed-budget mode for benchmarks).
3. lambda (one weight for every auxiliary head) is chosen on that validation
   split from ``aux_weights``; lambda = 0 -- the same encoder with no auxiliary
   head, i.e. the baseline -- is always a candidate and the default. **A lambda
   > 0 replaces it only on evidence** (:func:`compare_to_baseline`): its per-row
   validation logloss minus the baseline's, paired over the same validation rows,
   must be below zero by a one-sided test at level :data:`SIGNIFICANCE`. The
   candidates are tested in increasing order and the search stops at the first
   that fails (a fixed-sequence procedure: the family-wise error over all
   candidates stays at :data:`SIGNIFICANCE`, with no Bonferroni split, and a larger
   lambda is trained only when a smaller one helped). Among the candidates that
   pass, the lowest validation logloss wins. A difference inside the noise is no
   choice, so C2AL then returns the baseline and says why.
4. Optionally (:func:`select_per_head`, the experiment's ``per_head`` variant) each
   auxiliary head then gets its own lambda by one pass of coordinate search on the
   same validation logloss, the all-zero vector (the baseline) still a candidate.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from c2al_tf.errors import C2ALInputError
from c2al_tf.models.config import EMA_MOMENTUM
from c2al_tf.models.features import VOCAB_BUDGET

DEFAULT_AUX_WEIGHTS = (0.0, 0.1, 0.3, 1.0)
LOSS_EPSILON = 1e-7  # probabilities are clipped to [eps, 1 - eps] in the per-row logloss (Keras' epsilon)
VALIDATION_SEED = 20240


def _weights(values, name: str = "aux_weights") -> Tuple[float, ...]:
    out = sorted({float(v) for v in values} | {0.0})
    if any(not np.isfinite(v) or v < 0 for v in out):
        raise C2ALInputError(f"{name} values must be finite and >= 0, got {list(values)}")
    return tuple(out)


@dataclasses.dataclass
class TrainConfig:
    """How every model is fit; one object for the CLI, the experiment and the TFX Trainer.

    ``epochs``: maximum epochs with early stopping, exact epochs without.
    ``batch_size``: the global batch (split across replicas under a strategy).
    ``strategy``: ``auto`` | ``default`` | ``mirrored`` | ``multi_worker``
    (:mod:`c2al_tf.models.distribute`).
    ``vocab_budget``: a categorical column with more distinct values is hashed
    into that many buckets (:meth:`~c2al_tf.models.features.FeatureSpec.from_table`).
    ``aux_weights``: the lambda candidates (0 is always added). A single non-zero
    value with ``select_aux_weight=False`` trains exactly that lambda.
    ``ema_momentum``: validation, early stopping and the weights kept use an
    exponential moving average of the weights over the training steps
    (:class:`c2al_tf.models.averaging.AveragedWeights`); 0 = the last step's weights.
    ``side_by_side``: the lambda candidates > 0 train side by side, in one pass over
    the data (:func:`c2al_tf.models.joint.fit_jointly`; the same results, memory holds
    every candidate at once); False trains them one at a time.
    """

    epochs: int = 20
    batch_size: int = 1024
    early_stopping: bool = True
    patience: int = 3  # 2 stopped a baseline before its validation minimum (bench/convergence.py, README)
    validation_fraction: float = 0.25
    validation_seed: int = VALIDATION_SEED
    aux_weights: Sequence[float] = DEFAULT_AUX_WEIGHTS
    select_aux_weight: bool = True
    strategy: str = "auto"  # tf.distribute strategy: see c2al_tf.models.distribute
    vocab_budget: int = VOCAB_BUDGET  # more distinct values than this: hashed (FeatureSpec.from_table)
    ema_momentum: float = EMA_MOMENTUM  # weight averaging (c2al_tf.models.config.EMA_MOMENTUM); 0 = off
    side_by_side: bool = True  # the lambda candidates > 0 in one pass (c2al_tf.models.joint)

    def __post_init__(self):
        from c2al_tf.models.distribute import STRATEGIES

        if self.strategy not in STRATEGIES:
            raise C2ALInputError(f"strategy {self.strategy}: unknown; choose one of {', '.join(STRATEGIES)}",
                                 arguments=("strategy",))
        if int(self.epochs) < 1:
            raise C2ALInputError(f"epochs must be >= 1, got {self.epochs}", arguments=("epochs",))
        if int(self.batch_size) < 1:
            raise C2ALInputError(f"batch_size must be >= 1, got {self.batch_size}", arguments=("batch_size",))
        if int(self.vocab_budget) < 1:
            raise C2ALInputError(f"vocab_budget must be >= 1, got {self.vocab_budget}", arguments=("vocab_budget",))
        if int(self.patience) < 1:
            raise C2ALInputError(f"patience must be >= 1, got {self.patience}", arguments=("patience",))
        if not 0 <= float(self.ema_momentum) < 1:
            raise C2ALInputError(f"ema_momentum must be in [0, 1), got {self.ema_momentum}",
                                 arguments=("ema_momentum",))
        if not 0 < float(self.validation_fraction) <= 0.5:
            raise C2ALInputError(f"validation_fraction must be in (0, 0.5], got {self.validation_fraction}",
                                 arguments=("validation_fraction",))
        weights = [float(w) for w in self.aux_weights]
        if not weights:
            raise C2ALInputError("aux_weights needs at least one value", arguments=("aux_weights",))
        self.aux_weights = _weights(weights) if self.select_aux_weight else tuple(weights)
        if not self.select_aux_weight and len(self.aux_weights) != 1:
            raise C2ALInputError(f"without selection aux_weights takes one value, got {list(self.aux_weights)}",
                                 arguments=("aux_weights",))

    @property
    def candidates(self) -> Tuple[float, ...]:
        return tuple(self.aux_weights)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["aux_weights"] = list(self.aux_weights)
        return d


def carve_validation(table, fraction: float, seed: int = VALIDATION_SEED):
    """(fit, validation): a random ``fraction`` of ``table``'s rows (fixed ``seed``).
    Refuses a validation split without positives or without negatives: early
    stopping and lambda selection would compare constants."""
    if not 0 < float(fraction) <= 0.5:
        raise C2ALInputError(f"validation_fraction must be in (0, 0.5], got {fraction}",
                             arguments=("validation_fraction",))
    n = len(table)
    n_val = int(round(n * float(fraction)))
    if n_val < 1 or n - n_val < 1:
        raise C2ALInputError(f"{table.source}: {n} rows are too few for a validation split of {fraction}")
    order = np.random.default_rng(seed).permutation(n)
    val = table.take(np.sort(order[:n_val]))
    fit = table.take(np.sort(order[n_val:]))
    positives = int(val.label.sum())
    if positives == 0 or positives == n_val:
        what = "no positive" if positives == 0 else "no negative"
        raise C2ALInputError(f"{table.source}: the validation split ({n_val} rows, validation_fraction "
                             f"{fraction}) has {what} label '{table.label_name}'; use a larger "
                             f"validation_fraction or more data", arguments=("validation_fraction",))
    return fit, val


@dataclasses.dataclass
class FitResult:
    """What one training run did: epochs run, the epoch kept and its validation
    logloss; ``val_losses``: the kept model's primary-head logloss per validation
    row, in the validation data's order (the evidence of :func:`compare_to_baseline`)."""

    epochs_run: int
    best_epoch: int
    val_logloss: Optional[float]
    history: Dict[str, List[float]]
    val_losses: Optional[np.ndarray] = None


def row_logloss(y, p) -> np.ndarray:
    """Binary cross-entropy per row, float64, probabilities clipped to [eps, 1 - eps]."""
    y = np.asarray(y, np.float64).reshape(-1)
    p = np.clip(np.asarray(p, np.float64).reshape(-1), LOSS_EPSILON, 1 - LOSS_EPSILON)
    return -(y * np.log(p) + (1 - y) * np.log1p(-p))


def validation_row_losses(model, val) -> Optional[np.ndarray]:
    """The primary head's logloss per row of ``val`` ((features, {head: label}[, weights])
    batches in a fixed order), scored with the serving model; float32 to keep memory small."""
    if val is None:
        return None
    from c2al_tf.models.config import PRIMARY

    out = []
    for batch in val:
        p = model.serving_model(batch[0], training=False)
        out.append(row_logloss(batch[1][PRIMARY].numpy(), p.numpy()).astype(np.float32))
    return np.concatenate(out) if out else None


def fit_callbacks(config: TrainConfig, val) -> list:
    """The Keras callbacks of one fit under the protocol: the weights' moving average
    at ``config.ema_momentum`` first (early stopping then keeps averaged epochs), then,
    with ``config.early_stopping``, early stopping on ``val``'s primary logloss with the
    best weights restored."""
    import c2al_tf  # noqa: F401
    import tensorflow as tf

    from c2al_tf.models.averaging import AveragedWeights

    callbacks = [AveragedWeights(float(config.ema_momentum))]
    if config.early_stopping:
        if val is None:
            raise ValueError("early stopping needs validation data")
        callbacks.append(tf.keras.callbacks.EarlyStopping(monitor="val_primary_loss", mode="min",
                                                          patience=int(config.patience),
                                                          restore_best_weights=True))
    return callbacks


def fit_result(model, history: Dict[str, List[float]], epochs_run: int, val, config: TrainConfig) -> FitResult:
    """The :class:`FitResult` of a fit that ran ``epochs_run`` epochs with
    :func:`fit_callbacks` (``history``: its per-epoch logs), the kept weights' per-row
    validation losses scored on ``val``."""
    losses = history.get("val_primary_loss")
    rows = validation_row_losses(model, val)  # the kept weights' per-row evidence for lambda's choice
    if losses and config.early_stopping:
        best = int(np.argmin(losses)) + 1  # EarlyStopping restored this epoch's weights at the end
        return FitResult(epochs_run, best, losses[best - 1], history, rows)
    return FitResult(epochs_run, epochs_run, losses[-1] if losses else None, history, rows)


def fit_datasets(model, ds, val, config: TrainConfig, verbose: int = 0) -> FitResult:
    """Trains ``model`` on the batches of ``ds`` with early stopping on ``val``
    (primary head logloss, best weights restored); any tf.data source, in memory
    or streamed from files. Validation, early stopping and the weights returned use the
    moving average of the weights at ``config.ema_momentum``
    (:class:`c2al_tf.models.averaging.AveragedWeights`; 0 = the last step's), whatever
    optimizer the model was compiled with."""
    model.ensure_compiled()
    callbacks = fit_callbacks(config, val)
    history = model.training_model.fit(ds, epochs=int(config.epochs), validation_data=val, callbacks=callbacks,
                                       verbose=verbose)
    hist = {k: [float(v) for v in vs] for k, vs in history.history.items()}
    return fit_result(model, hist, len(history.epoch), val, config)


def replay_early_stopping(val_losses: Sequence[float], patience: int) -> Tuple[int, int]:
    """What :func:`fit_datasets`'s early stopping does on a recorded validation curve:
    ``(kept, stopped)``, 1-based epochs of the weights kept (the best so far) and of the
    last epoch run (after ``patience`` epochs without a strict new minimum; Keras'
    ``EarlyStopping`` with ``min_delta`` 0). Training is deterministic per seed, so a
    curve recorded over a fixed budget tells what every patience would have kept
    (``bench/convergence.py``)."""
    if int(patience) < 1:
        raise ValueError(f"patience must be >= 1, got {patience}")
    if len(val_losses) == 0:
        raise ValueError("replay_early_stopping needs at least one epoch")
    best, wait = 0, 0
    for i in range(1, len(val_losses)):
        if val_losses[i] < val_losses[best]:
            best, wait = i, 0
        else:
            wait += 1
            if wait >= int(patience):
                return best + 1, i + 1
    return best + 1, len(val_losses)


def fit(model, fit_table, val_table, config: TrainConfig, seed: int = 0,
        sample_weights: Optional[Mapping[str, np.ndarray]] = None,
        aux_override: Optional[Mapping[str, np.ndarray]] = None, verbose: int = 0) -> FitResult:
    """:func:`fit_datasets` on in-memory tables (shuffled with ``seed``)."""
    from c2al_tf.models.training import make_dataset

    ds = make_dataset(model, fit_table, config.batch_size, True, seed, sample_weights, aux_override)
    val = make_dataset(model, val_table, config.batch_size, False) if val_table is not None else None
    return fit_datasets(model, ds, val, config, verbose)
