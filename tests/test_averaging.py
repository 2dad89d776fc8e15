"""c2al_tf.models.averaging: Adam with weight averaging, and the average copied into
the model at every epoch's end (float64 reference on a linear model)."""
import c2al_tf  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
import numpy as np
import pytest
import tensorflow as tf

from c2al_tf.models.averaging import AveragedWeights, adam


def test_adam_averages_only_with_a_momentum():
    assert not adam(1e-3, 0.0).use_ema
    opt = adam(1e-2, 0.9)
    assert opt.use_ema and opt.ema_momentum == pytest.approx(0.9)
    assert float(opt.learning_rate) == pytest.approx(1e-2)
    for bad in (1.0, -0.5):
        with pytest.raises(ValueError, match="ema_momentum must be in"):
            adam(ema_momentum=bad)


def _fit(momentum, epochs=3, steps=5):
    """A one-unit linear model trained ``epochs`` x ``steps`` steps with validation;
    returns (weights after every step, weights seen by every validation, initial)."""
    tf.keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(steps * 8, 3)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5], "float32") + 0.3)[:, None]
    model = tf.keras.Sequential([tf.keras.layers.Dense(1, input_shape=(3,))])
    model.compile(optimizer=adam(0.05, momentum), loss="mse")
    initial = [w.copy() for w in model.get_weights()]
    steps_seen, validated = [], []

    class Record(tf.keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            steps_seen.append([w.copy() for w in self.model.get_weights()])

        def on_test_begin(self, logs=None):  # runs after AveragedWeights' (it comes first in the list)
            validated.append([w.copy() for w in self.model.get_weights()])

    model.fit(x, y, batch_size=8, epochs=epochs, shuffle=False, validation_data=(x, y), verbose=0,
              callbacks=[AveragedWeights(), Record()])
    return steps_seen, validated, initial


def test_each_validation_sees_the_moving_average_and_training_continues_from_it():
    m, steps = 0.8, 5
    seen, validated, initial = _fit(m, steps=steps)
    assert len(validated) == 3
    average = [w.astype(np.float64) for w in initial]
    for epoch in range(3):
        for step in range(steps):
            w = seen[epoch * steps + step]
            average = [m * a + (1 - m) * v.astype(np.float64) for a, v in zip(average, w)]
        for got, want in zip(validated[epoch], average):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        # the next epoch starts from the average: its first step moves away from it by one Adam step
        if epoch < 2:
            first = seen[(epoch + 1) * steps]
            assert max(float(np.max(np.abs(f - a))) for f, a in zip(first, average)) <= 0.05 + 1e-6


def test_without_averaging_validation_sees_the_last_step():
    seen, validated, _ = _fit(0.0)
    for epoch, weights in enumerate(validated):
        for got, want in zip(weights, seen[(epoch + 1) * 5 - 1]):
            np.testing.assert_array_equal(got, want)
