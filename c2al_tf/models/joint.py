"""Training several lambda candidates in one pass over the data.

The candidates of the lambda search (:mod:`c2al_tf.models.search`) are the same
encoder with different auxiliary weights, trained on the same rows in the same order
from the same initial weights. :func:`fit_jointly` trains them side by side: every
batch is read and parsed once and each candidate takes its own optimizer step on it,
so the input pipeline, the per-step overhead of ``fit`` and the validation rows'
parsing are paid once for all candidates instead of once per candidate.

Each candidate's training is the one :func:`c2al_tf.models.protocol.fit_datasets`
gives it alone: its own optimizer, its own weight averaging
(:class:`~c2al_tf.models.averaging.AveragedWeights`) and its own Keras
``EarlyStopping`` (patience, best weights restored), driven with its own logs. A
candidate that early stopping ends is restored to its best epoch and takes no further
step while the others go on; training ends when every candidate has stopped or the
epoch budget is spent. The results, and so the search's choice, are those of training
the candidates one after the other (``tests/test_models_joint.py`` checks it to 1e-6).

Every candidate must be a :class:`~c2al_tf.models.heads.CohortModel` whose training
model computes its own loss in ``train_step`` / ``test_step`` (c2al's
``MultiHeadModel``), built without a ``tf.distribute`` strategy: under one the
search trains its candidates one at a time.
"""
from __future__ import annotations

from typing import Any, Dict, List, Sequence

import numpy as np

import c2al_tf  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
import tensorflow as tf

from c2al_tf.models.protocol import FitResult, TrainConfig, fit_callbacks, fit_result


def can_fit_jointly(models: Sequence[Any]) -> bool:
    """Whether :func:`fit_jointly` can train ``models`` side by side: at least two, each
    a CohortModel whose training model has its own ``train_step`` (c2al's
    ``MultiHeadModel``), none built under a ``tf.distribute`` strategy nor compiled with
    a legacy Keras optimizer (``tf.keras.optimizers.legacy``)."""
    from c2al_tf.models.multihead import MultiHeadModel

    if len(models) < 2:
        return False
    default = tf.distribute.get_strategy()
    for m in models:
        training = getattr(m, "training_model", None)
        if not isinstance(training, MultiHeadModel) or training.distribute_strategy is not default:
            return False
        optimizer = getattr(training, "optimizer", None)  # a legacy optimizer cannot create its slots up front
        if optimizer is not None and not callable(getattr(optimizer, "build", None)):
            return False
    return True


def _prefix(i: int) -> str:
    return f"c{i}_"


class _Candidates(tf.keras.Model):
    """The candidates' training models side by side: a step runs each active
    candidate's own ``train_step`` (or ``test_step``) on the same batch, then the
    update of its weights' moving average; a stopped one is skipped (``active[i]``
    False) and reports its trackers unchanged. Logs are the candidates' own, prefixed
    ``c<i>_``. Not saved: it only drives ``fit``."""

    def __init__(self, members: Sequence[tf.keras.Model], averages: Sequence[Any]):
        super().__init__(name="c2al_candidates")
        self.members = list(members)
        self.active = [tf.Variable(True, trainable=False, name=f"active_{i}") for i in range(len(self.members))]
        self.__dict__["_averages"] = list(averages)  # each member's AveragedWeights (untracked)

    @property
    def metrics(self):
        return [t for m in getattr(self, "members", []) for t in m.metrics]

    def get_metrics_result(self):
        return {_prefix(i) + k: v for i, m in enumerate(self.members) for k, v in m.get_metrics_result().items()}

    def _each(self, step, data):
        out = {}
        for i, m in enumerate(self.members):
            result = tf.cond(self.active[i], lambda i=i, m=m: step(i, m, data), m.get_metrics_result)
            out.update({_prefix(i) + k: v for k, v in result.items()})
        return out

    def _train(self, i, member, data):
        result = member.train_step(data)
        # the weights' moving average after the step (ordered after it: same variables)
        self._averages[i].update_in_step()
        return result

    @tf.autograph.experimental.do_not_convert
    def train_step(self, data):
        return self._each(self._train, data)

    @tf.autograph.experimental.do_not_convert
    def test_step(self, data):
        return self._each(lambda i, m, d: m.test_step(d), data)


class _PerCandidate(tf.keras.callbacks.Callback):
    """Drives each candidate's own callbacks (weight averaging, early stopping) with
    its own logs, as ``fit`` would drive them for that candidate alone; ends a
    candidate when its early stopping asks to (its ``on_train_end``: best weights
    restored) and the whole fit when every candidate has ended."""

    def __init__(self, joint: _Candidates, callbacks: Sequence[Sequence[tf.keras.callbacks.Callback]]):
        super().__init__()
        self._supports_tf_logs = True  # batch hooks without converting the logs to numpy
        self._joint = joint
        self._callbacks = [list(c) for c in callbacks]
        self.epochs_run = [0] * len(callbacks)
        self.history: List[Dict[str, List[float]]] = [dict() for _ in callbacks]
        self._ended = [False] * len(callbacks)

    def _active(self):
        return [i for i, ended in enumerate(self._ended) if not ended]

    def _own(self, i: int, logs):
        p = _prefix(i)
        own = {}
        for k, v in (logs or {}).items():
            if k.startswith(p):
                own[k[len(p):]] = float(np.asarray(v))
            elif k.startswith("val_" + p):
                own["val_" + k[len("val_" + p):]] = float(np.asarray(v))
        return own

    def _call(self, i: int, hook: str, *args):
        for c in self._callbacks[i]:
            getattr(c, hook)(*args)

    def _end(self, i: int, logs=None):
        self._call(i, "on_train_end", self._own(i, logs))
        self._ended[i] = True
        self._joint.active[i].assign(False)

    def on_train_begin(self, logs=None):
        for i, member in enumerate(self._joint.members):
            member.stop_training = False
            for c in self._callbacks[i]:
                c.set_model(member)
                c.set_params(self.params)
            self._call(i, "on_train_begin", {})

    def on_epoch_begin(self, epoch, logs=None):
        for i in self._active():
            self._call(i, "on_epoch_begin", epoch, {})

    def on_train_batch_end(self, batch, logs=None):
        for i in self._active():
            self._call(i, "on_train_batch_end", batch, None)

    def on_test_begin(self, logs=None):
        for i in self._active():
            self._call(i, "on_test_begin", {})

    def on_test_end(self, logs=None):
        for i in self._active():
            self._call(i, "on_test_end", self._own(i, logs))

    def on_epoch_end(self, epoch, logs=None):
        for i in self._active():
            own = self._own(i, logs)
            self.epochs_run[i] = epoch + 1
            for k, v in own.items():
                self.history[i].setdefault(k, []).append(float(v))
            self._call(i, "on_epoch_end", epoch, own)
            if self._joint.members[i].stop_training:
                self._end(i, logs)
        if not self._active():
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        for i in self._active():
            self._end(i, logs)


def fit_jointly(models: Sequence[Any], ds, val, config: TrainConfig, verbose: int = 0) -> List[FitResult]:
    """Trains ``models`` (lambda candidates, see the module docstring) side by side on
    the batches of ``ds``, each with early stopping on ``val`` (primary logloss, best
    weights restored) and weight averaging at ``config.ema_momentum``, exactly as
    :func:`~c2al_tf.models.protocol.fit_datasets` trains each alone. Returns one
    :class:`~c2al_tf.models.protocol.FitResult` per model, in order."""
    if not can_fit_jointly(models):
        raise ValueError("fit_jointly needs at least two CohortModels with c2al training models, built without "
                         "a tf.distribute strategy nor compiled with a legacy Keras optimizer; train them one at "
                         "a time with fit_datasets")
    members = []
    for m in models:
        m.ensure_compiled()
        training = m.training_model
        training.optimizer.build(training.trainable_variables)  # slots exist before the step's branches
        members.append(training)
    per_candidate = [fit_callbacks(config, val) for _ in members]  # each: [AveragedWeights, EarlyStopping]
    for callbacks in per_candidate:
        callbacks[0].in_step = True  # the average is updated inside the joint step, not per batch from Python
    joint = _Candidates(members, [c[0] for c in per_candidate])
    joint.compile()
    driver = _PerCandidate(joint, per_candidate)
    joint.fit(ds, epochs=int(config.epochs), validation_data=val, callbacks=[driver], verbose=verbose)
    return [fit_result(m, driver.history[i], driver.epochs_run[i], val, config) for i, m in enumerate(models)]


def fit_tables_jointly(models: Sequence[Any], fit_table, val_table, config: TrainConfig, seed: int = 0,
                       sample_weights=None, aux_override=None, verbose: int = 0):
    """:func:`fit_jointly` on in-memory tables, the batches made as
    :func:`c2al_tf.models.protocol.fit` makes them for each model alone (the candidates
    share their heads, so one dataset serves all); None when the models cannot be
    trained side by side (the caller then trains them one at a time)."""
    if not can_fit_jointly(models):
        return None
    from c2al_tf.models.training import make_dataset

    ds = make_dataset(models[0], fit_table, config.batch_size, True, seed, sample_weights, aux_override)
    val = make_dataset(models[0], val_table, config.batch_size, False) if val_table is not None else None
    return fit_jointly(models, ds, val, config, verbose)
