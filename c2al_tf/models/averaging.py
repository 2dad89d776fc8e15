"""Weight averaging: Adam with an exponential moving average of the weights (Keras'
``use_ema``), and the callback that copies the average into the model at the end of
every epoch, before validation.

With momentum ``m`` the average after step t is ``a_t = m a_{t-1} + (1 - m) w_t``
(``a_0`` the initial weights); at each epoch's end the model's weights become ``a``
and training continues from them. Early stopping and the per-row validation losses
that choose lambda then see the average of the epoch's last ~``1 / (1 - m)`` steps
rather than its last step, which makes two runs that differ only in their auxiliary
heads differ by less noise (``c2al_tf.models.config.EMA_MOMENTUM``).
"""
from __future__ import annotations

import c2al_tf  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
import tensorflow as tf

from c2al_tf.models.config import EMA_MOMENTUM


def adam(learning_rate: float = 1e-3, ema_momentum: float = EMA_MOMENTUM) -> tf.keras.optimizers.Optimizer:
    """``tf.keras.optimizers.Adam(learning_rate)``, averaging its weights with
    ``ema_momentum`` when it is above 0 (0 = plain Adam)."""
    m = float(ema_momentum)
    if not 0 <= m < 1:
        raise ValueError(f"ema_momentum must be in [0, 1), got {ema_momentum}")
    if m == 0:
        return tf.keras.optimizers.Adam(learning_rate)
    return tf.keras.optimizers.Adam(learning_rate, use_ema=True, ema_momentum=m)


class AveragedWeights(tf.keras.callbacks.Callback):
    """At the end of every epoch, before its validation, the model takes its
    optimizer's moving average of the weights (nothing happens for an optimizer
    without ``use_ema``). Keras copies the average only once, when ``fit`` ends;
    this callback does it every epoch, so early stopping keeps an averaged epoch."""

    def _copy(self):
        optimizer = getattr(self.model, "optimizer", None)
        if getattr(optimizer, "use_ema", False) and getattr(optimizer, "_model_variables_moving_average", None):
            optimizer.finalize_variable_values(self.model.trainable_variables)

    def on_test_begin(self, logs=None):  # fit's validation, at the end of an epoch
        self._copy()

    def on_epoch_end(self, epoch, logs=None):  # an epoch without validation (a no-op after on_test_begin)
        self._copy()
