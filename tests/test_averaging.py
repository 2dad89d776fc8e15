"""c2al_tf.models.averaging.AveragedWeights: validation sees the zero-debiased moving
average of the weights, training goes on from the last step's (float64 reference on a
linear model)."""
import c2al_tf  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
import numpy as np
import pytest
import tensorflow as tf

from c2al_tf.models.averaging import AveragedWeights


def _fit(momentum, epochs=3, steps=5, early_stopping=False):
    """A one-unit linear model trained ``epochs`` x ``steps`` steps with validation;
    returns (weights after every step, weights seen by every validation, final weights)."""
    tf.keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(steps * 8, 3)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5], "float32") + 0.3)[:, None]
    model = tf.keras.Sequential([tf.keras.layers.Dense(1, input_shape=(3,))])
    model.compile(optimizer=tf.keras.optimizers.Adam(0.05), loss="mse")
    seen, validated = [], []

    class Record(tf.keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if seen:  # each step starts from the previous step's weights, never from an average
                for got, want in zip(self.model.get_weights(), seen[-1]):
                    np.testing.assert_array_equal(got, want)

        def on_train_batch_end(self, batch, logs=None):
            seen.append([w.copy() for w in self.model.get_weights()])

        def on_test_begin(self, logs=None):  # runs after AveragedWeights' (it comes first)
            validated.append([w.copy() for w in self.model.get_weights()])

    callbacks = [AveragedWeights(momentum), Record()]
    if early_stopping:
        callbacks.append(tf.keras.callbacks.EarlyStopping(patience=epochs, restore_best_weights=True))
    history = model.fit(x, y, batch_size=8, epochs=epochs, shuffle=False, validation_data=(x, y), verbose=0,
                        callbacks=callbacks)
    return seen, validated, model.get_weights(), history.history["val_loss"]


def _reference(seen, m, upto):
    a = [np.zeros_like(w, dtype=np.float64) for w in seen[0]]
    for t in range(upto):
        a = [m * ai + (1 - m) * wi.astype(np.float64) for ai, wi in zip(a, seen[t])]
    return [ai / (1 - m ** upto) for ai in a]


def test_each_validation_sees_the_debiased_moving_average():
    m, steps = 0.8, 5
    seen, validated, final, _ = _fit(m, steps=steps)
    assert len(validated) == 3 and len(seen) == 15
    for epoch in range(3):
        for got, want in zip(validated[epoch], _reference(seen, m, (epoch + 1) * steps)):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    for got, want in zip(final, validated[-1]):  # training ends on the last epoch's average
        np.testing.assert_array_equal(got, want)


def test_early_stopping_restores_the_best_averaged_epoch():
    seen, validated, final, losses = _fit(0.8, epochs=4, early_stopping=True)
    best = int(np.argmin(losses))
    for got, want in zip(final, validated[best]):
        np.testing.assert_array_equal(got, want)


def test_zero_momentum_is_plain_training():
    seen, validated, final, _ = _fit(0.0)
    for epoch, weights in enumerate(validated):
        for got, want in zip(weights, seen[(epoch + 1) * 5 - 1]):
            np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="momentum must be in"):
        AveragedWeights(1.0)
