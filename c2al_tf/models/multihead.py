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

    Two optional changes to the training step (test steps are unchanged):

    - ``aux_warmup_steps = T > 0``: the auxiliary lambdas are scaled by
      ``min(1, (t + 1) / T)`` at optimizer step ``t``, so the heads start with no
      weight and reach theirs after T steps.
    - ``gradient_projection``: with ``g_p`` the gradient of the primary loss (plus
      regularization) and ``g_a`` that of the weighted auxiliary losses, both over all
      trainable variables flattened, the step applies ``g_p + g_a'`` where
      ``g_a' = g_a - min(0, <g_a, g_p>) / ||g_p||^2 * g_p``: the component of the
      auxiliary gradient that opposes the primary one (G_parallel < 0) is dropped,
      the orthogonal part G_perp is kept (PCGrad toward the primary task; two
      backward passes per step).
    """

    def __init__(self, *args, heads: Optional[Sequence[str]] = None,
                 head_weights: Optional[Sequence[float]] = None, aux_warmup_steps: int = 0,
                 gradient_projection: bool = False, logits=None, **kwargs):
        super().__init__(*args, **kwargs)
        # {head: logit tensor} when a head's logit is not the output of a layer named
        # "<head>_logit" (a user's model; see c2al_tf.models.heads); not saved
        self.__dict__["_c2al_logit_tensors"] = dict(logits) if logits is not None else None
        if int(aux_warmup_steps) < 0:
            raise ValueError(f"MultiHeadModel: aux_warmup_steps must be >= 0, got {aux_warmup_steps}")
        self.c2al_aux_warmup_steps = int(aux_warmup_steps)
        self.c2al_gradient_projection = bool(gradient_projection)
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
        stores it outside Keras's attribute tracking), so no layer is saved twice.
        A model built with ``logits`` uses those tensors instead."""
        given = self.__dict__.get("_c2al_logit_tensors")
        outputs = {h: given[h] for h in self.c2al_heads} if given else \
            {h: self.get_layer(f"{h}_logit").output for h in self.c2al_heads}
        return tf.keras.Model(self.inputs, outputs, name=f"{self.name}_logits")

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
        config.update({"heads": list(self.c2al_heads), "head_weights": list(self.c2al_head_weights),
                       "aux_warmup_steps": self.c2al_aux_warmup_steps,
                       "gradient_projection": self.c2al_gradient_projection})
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from tf_keras.src.engine import functional

        config = dict(config)
        heads, weights = config.pop("heads", None), config.pop("head_weights", None)
        warmup, projection = config.pop("aux_warmup_steps", 0), config.pop("gradient_projection", False)
        inputs, outputs, _ = functional.reconstruct_from_config(config, custom_objects)
        return cls(inputs=inputs, outputs=outputs, name=config.get("name"), heads=heads, head_weights=weights,
                   aux_warmup_steps=warmup, gradient_projection=projection)

    @property
    def metrics(self):
        trackers = [getattr(self, "loss_tracker", None), getattr(self, "head_loss_tracker", None)]
        return [t for t in trackers if t is not None]

    def _head_scale(self, training: bool):
        """Per-head multiplier of lambda: 1 for the primary; the warm-up ramp for the
        auxiliary heads while training."""
        n = len(self._c2al_heads)
        if not training or not self.c2al_aux_warmup_steps or n == 1:
            return tf.ones([n], tf.float32)
        step = tf.cast(self.optimizer.iterations, tf.float32) + 1.0
        ramp = tf.minimum(1.0, step / float(self.c2al_aux_warmup_steps))
        return tf.concat([[1.0], tf.fill([n - 1], ramp)], axis=0)

    def _loss(self, data, training: bool, parts: bool = False):
        """(loss, per-head mean BCE, rows in the batch); with ``parts``, (primary +
        regularization, weighted auxiliary sum, per-head, rows) instead."""
        x, y, w = tf.keras.utils.unpack_x_y_sample_weight(data)
        logits = self._c2al_logits(x, training=training)
        z = tf.concat([tf.cast(logits[h], tf.float32) for h in self._c2al_heads], axis=1)
        labels = tf.concat([tf.reshape(tf.cast(y[h], tf.float32), [-1, 1]) for h in self._c2al_heads], axis=1)
        bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=z)
        if w is not None:
            bce = bce * tf.concat([tf.reshape(tf.cast(w[h], tf.float32), [-1, 1]) for h in self._c2al_heads], 1)
        rows = tf.cast(tf.shape(bce)[0], tf.float32)
        per_head = tf.reduce_sum(bce, axis=0) / rows
        weighted = per_head * self._c2al_weights * self._head_scale(training)
        primary = weighted[0] + (tf.add_n(self.losses) if self.losses else 0.0)
        aux = tf.reduce_sum(weighted[1:])
        if parts:
            return primary, aux, per_head, rows
        return primary + aux, per_head, rows

    def _report(self, loss, per_head, rows):
        """Batch means weighted by the batch's rows: an epoch's (or validation's)
        ``<head>_loss`` is the mean over its examples, whatever the batches are (an
        unweighted mean of batch means gives a short last batch a full batch's weight,
        and changes with the order of the rows)."""
        self.loss_tracker.update_state(loss, sample_weight=rows)
        self.head_loss_tracker.update_state(per_head, sample_weight=rows)
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

    # The steps branch only on Python values fixed at build time (heads, options), so
    # AutoGraph need not convert them, nor the model and layers they call: converting
    # them dominated tracing the train function of a model with hundreds of inputs.
    @tf.autograph.experimental.do_not_convert
    def train_step(self, data):
        # Under a tf.distribute strategy each replica holds 1/R of the global
        # batch and the replicas' gradients are summed: scale so that the sum is
        # the gradient of the global batch's mean loss (as Keras's compiled
        # losses do). R = 1 without a strategy.
        replicas = tf.distribute.get_replica_context().num_replicas_in_sync
        if self.c2al_gradient_projection and len(self._c2al_heads) > 1:
            return self._projected_step(data, replicas)
        with tf.GradientTape() as tape:
            loss, per_head, rows = self._loss(data, training=True)
            scaled = loss / tf.cast(replicas, loss.dtype) if replicas > 1 else loss
        self.optimizer.minimize(scaled, self.trainable_variables, tape=tape)
        return self._report(loss, per_head, rows)

    def _projected_step(self, data, replicas: int):
        """One step with the auxiliary gradient's conflicting part removed (see the
        class docstring). Under a strategy the projection uses each replica's own
        gradients (the per-replica form of PCGrad)."""
        variables = self.trainable_variables
        with tf.GradientTape(persistent=True) as tape:
            primary, aux, per_head, rows = self._loss(data, training=True, parts=True)
            scale = 1.0 / float(replicas)
            primary_s, aux_s = primary * scale, aux * scale
        g_p = tape.gradient(primary_s, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        g_a = tape.gradient(aux_s, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        del tape
        g_p = [tf.convert_to_tensor(g) for g in g_p]
        g_a = [tf.convert_to_tensor(g) for g in g_a]
        dot = tf.add_n([tf.reduce_sum(a * p) for a, p in zip(g_a, g_p)])
        norm = tf.add_n([tf.reduce_sum(p * p) for p in g_p])
        coef = tf.minimum(dot, 0.0) / tf.maximum(norm, 1e-12)
        grads = [p + a - coef * p for p, a in zip(g_p, g_a)]
        self.optimizer.apply_gradients(zip(grads, variables))
        return self._report(primary + aux, per_head, rows)

    @tf.autograph.experimental.do_not_convert
    def test_step(self, data):
        loss, per_head, rows = self._loss(data, training=False)
        return self._report(loss, per_head, rows)
