"""Weight averaging: an exponential moving average of the weights over the training
steps, which the model takes for validation at the end of every epoch and keeps when
training ends; training itself goes on from the last step's weights.

With momentum ``m``, after step t (counted from the start of ``fit``)::

    a_t = m a_{t-1} + (1 - m) w_t,   a_0 = 0,   average = a_t / (1 - m^t)

(zero-debiased, as Adam's moments: the average of the steps so far, weighted towards
the last ~``1 / (1 - m)``; an epoch shorter than that is averaged whole). Early stopping
and the per-row validation losses that choose lambda then see the average of the last
steps instead of the last step alone, which is meant to make two trainings that differ
only in their auxiliary heads differ by less noise (measured, not proven:
``c2al_tf.models.config.EMA_MOMENTUM``). The
optimizer, its state and the sequence of training steps are those of plain training:
with ``momentum=0`` nothing changes.
"""
from __future__ import annotations

import c2al_tf  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
import tensorflow as tf

from c2al_tf.models.config import EMA_MOMENTUM


class AveragedWeights(tf.keras.callbacks.Callback):
    """A Keras callback for ``fit``: the model's trainable weights become their moving
    average (momentum ``momentum``, zero-debiased) at every epoch's validation and at the
    end of training, and go back to the last step's weights when the next epoch begins.

    Put it first in ``callbacks``: ``EarlyStopping(restore_best_weights=True)`` after it
    then keeps and restores the averaged weights of the best epoch."""

    def __init__(self, momentum: float = EMA_MOMENTUM):
        super().__init__()
        m = float(momentum)
        if not 0 <= m < 1:
            raise ValueError(f"AveragedWeights: momentum must be in [0, 1), got {momentum}")
        self.momentum = m
        self._supports_tf_logs = True  # per-batch hook without converting the logs to numpy
        self._average, self._raw, self._steps, self._update = None, None, 0, None
        # True when the train step itself calls update_in_step (c2al_tf.models.joint): the
        # per-batch hook then only counts the step
        self.in_step = False

    def on_train_begin(self, logs=None):
        if self.momentum == 0:
            return
        weights = self.model.trainable_variables
        self._average = [tf.Variable(tf.zeros_like(w), trainable=False) for w in weights]
        self._raw, self._steps = None, 0
        m = self.momentum

        @tf.function
        def update():
            for a, w in zip(self._average, weights):
                a.assign(m * a + (1.0 - m) * tf.cast(w, a.dtype))

        self._update = update

    def on_train_batch_end(self, batch, logs=None):
        if self._update is not None:
            if not self.in_step:
                self._update()
            self._steps += 1

    def update_in_step(self):
        """The average's update, for a train step that runs it in its own graph after
        the optimizer's step (set ``in_step``): the same ops as the per-batch hook,
        without a Python call per batch."""
        if self._update is not None:
            self._update()

    def _take_average(self):
        if self._update is None or self._raw is not None or self._steps == 0:
            return
        weights = self.model.trainable_variables
        self._raw = [w.numpy() for w in weights]
        scale = 1.0 / (1.0 - self.momentum ** self._steps)
        for w, a in zip(weights, self._average):
            w.assign(tf.cast(a * scale, w.dtype))

    def on_test_begin(self, logs=None):  # fit's validation, at the end of an epoch
        self._take_average()

    def on_epoch_begin(self, epoch, logs=None):  # training goes on from the last step's weights
        if self._raw is not None:
            for w, raw in zip(self.model.trainable_variables, self._raw):
                w.assign(raw)
            self._raw = None

    def on_train_end(self, logs=None):  # without validation: the last epoch's average is kept
        self._take_average()
