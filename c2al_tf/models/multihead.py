"""The multi-head training model: a functional Keras model whose train/test step
computes the C2AL loss over all heads in one fused op."""
from __future__ import annotations

import functools
from typing import List, Optional, Sequence

import c2al_tf  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
import tensorflow as tf


@tf.keras.utils.register_keras_serializable(package="c2al")
class MultiHeadModel(tf.keras.Model):
    """Functional multi-head model whose train/test step computes the C2AL loss in
    one fused op over all heads:

        L = sum_h lambda_h * (1/B) sum_i w_ih * BCE(y_ih, sigmoid(z_ih))  (+ regularization)

    with logits ``z`` ([B, H], from the heads' logit layers), labels ``y`` and
    optional per-head sample weights ``w`` (default 1), i.e. Keras's
    ``sum_over_batch_size`` reduction per head. Under a ``tf.distribute``
    strategy with R replicas, B is the global batch: each replica's loss is
    divided by R before its gradients are summed across replicas. It matches
    ``compile(loss=BCE per output, loss_weights=lambda)`` but costs one loss op
    instead of one per head, so auxiliary heads add almost nothing to a step.

    ``heads`` (output names, primary first) and ``head_weights`` (lambda per head)
    are part of the config, so the model saves and loads as ``.keras`` (with its
    optimizer) and continues training where it stopped. Each head ``h`` must have
    a logit layer named ``<h>_logit`` (see :func:`build_model`).
    """

    def __init__(self, *args, heads: Optional[Sequence[str]] = None,
                 head_weights: Optional[Sequence[float]] = None, **kwargs):
        super().__init__(*args, **kwargs)
        heads = list(heads) if heads is not None else list(self.output_names)
        weights = [float(w) for w in head_weights] if head_weights is not None else [1.0] * len(heads)
        if len(weights) != len(heads):
            raise ValueError(f"MultiHeadModel: {len(heads)} heads but {len(weights)} head_weights")
        self.c2al_heads = heads
        self.c2al_head_weights = weights
        self.loss_tracker = tf.keras.metrics.Mean(name="loss")
        self.head_loss_tracker = tf.keras.metrics.MeanTensor(name="head_losses", shape=(len(heads),))

    @functools.cached_property
    def _c2al_logits(self) -> tf.keras.Model:
        """inputs -> {head: logit}: a view of this model's own layers (each head's
        ``<h>_logit``), derived on first use and never saved (cached_property
        stores it outside Keras's attribute tracking), so no layer is saved twice."""
        return tf.keras.Model(self.inputs, {h: self.get_layer(f"{h}_logit").output for h in self.c2al_heads},
                              name=f"{self.name}_logits")

    @property
    def _c2al_heads(self) -> List[str]:
        return list(self.c2al_heads)

    @property
    def _c2al_weights(self):
        return tf.constant(list(self.c2al_head_weights), tf.float32)

    def get_config(self):
        import copy

        from tf_keras.src.engine import functional

        # the functional config (layers and connections) plus the heads; the base
        # class returns only the constructor's extra arguments for a custom __init__
        config = copy.deepcopy(functional.get_network_config(self, config={"name": self.name,
                                                                           "trainable": self.trainable}))
        config.update({"heads": list(self.c2al_heads), "head_weights": list(self.c2al_head_weights)})
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from tf_keras.src.engine import functional

        config = dict(config)
        heads, weights = config.pop("heads", None), config.pop("head_weights", None)
        inputs, outputs, _ = functional.reconstruct_from_config(config, custom_objects)
        return cls(inputs=inputs, outputs=outputs, name=config.get("name"), heads=heads, head_weights=weights)

    @property
    def metrics(self):
        trackers = [getattr(self, "loss_tracker", None), getattr(self, "head_loss_tracker", None)]
        return [t for t in trackers if t is not None]

    def _loss(self, data, training: bool):
        x, y, w = tf.keras.utils.unpack_x_y_sample_weight(data)
        logits = self._c2al_logits(x, training=training)
        z = tf.concat([tf.cast(logits[h], tf.float32) for h in self._c2al_heads], axis=1)
        labels = tf.concat([tf.reshape(tf.cast(y[h], tf.float32), [-1, 1]) for h in self._c2al_heads], axis=1)
        bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=z)
        if w is not None:
            bce = bce * tf.concat([tf.reshape(tf.cast(w[h], tf.float32), [-1, 1]) for h in self._c2al_heads], 1)
        per_head = tf.reduce_sum(bce, axis=0) / tf.cast(tf.shape(bce)[0], tf.float32)
        loss = tf.reduce_sum(per_head * self._c2al_weights)
        if self.losses:
            loss += tf.add_n(self.losses)
        return loss, per_head

    def _report(self, loss, per_head):
        self.loss_tracker.update_state(loss)
        self.head_loss_tracker.update_state(per_head)
        return self.get_metrics_result()

    def get_metrics_result(self):
        """``{"loss", "<head>_loss"...}`` from the trackers. Keras reports these at
        the end of an epoch (its logs must have exactly these keys); under a
        strategy they are read across replicas, so they are means, not sums of
        the replicas' values."""
        result = {"loss": self.loss_tracker.result()}
        values = self.head_loss_tracker.result()
        for i, h in enumerate(self._c2al_heads):
            result[f"{h}_loss"] = values[i]
        return result

    def train_step(self, data):
        with tf.GradientTape() as tape:
            loss, per_head = self._loss(data, training=True)
            # Under a tf.distribute strategy each replica holds 1/R of the global
            # batch and the replicas' gradients are summed: scale so that the sum is
            # the gradient of the global batch's mean loss (as Keras's compiled
            # losses do). R = 1 without a strategy.
            replicas = tf.distribute.get_replica_context().num_replicas_in_sync
            scaled = loss / tf.cast(replicas, loss.dtype) if replicas > 1 else loss
        self.optimizer.minimize(scaled, self.trainable_variables, tape=tape)
        return self._report(loss, per_head)

    def test_step(self, data):
        loss, per_head = self._loss(data, training=False)
        return self._report(loss, per_head)
