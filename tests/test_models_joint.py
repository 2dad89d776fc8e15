"""Training the lambda candidates side by side (c2al_tf.models.joint): the same
results, and so the same choice, as training them one at a time."""
import numpy as np
import pytest
import tensorflow as tf

import c2al_tf
from c2al_tf.models.joint import can_fit_jointly, fit_jointly
from c2al_tf.models.protocol import TrainConfig, fit_datasets

COHORTS = [{"name": "a_high", "aux_label": "aux__a_high", "predicate": {"feature": "a", "min": 0.7, "max": None}},
           {"name": "a_low", "aux_label": "aux__a_low", "predicate": {"feature": "a", "min": None, "max": 0.2}}]


def _data(n=1000, seed=0):
    rng = np.random.default_rng(seed)
    x = {"a": rng.uniform(size=(n, 1)).astype("float32"), "b": rng.uniform(size=(n, 1)).astype("float32")}
    # the label flips its dependence on b inside the cohorts
    p = np.where(x["a"][:, 0] > 0.7, 0.6 - 0.5 * x["b"][:, 0], 0.15 + 0.3 * x["b"][:, 0])
    y = (rng.uniform(size=n) < p).astype("float32")
    rows = tf.data.Dataset.from_tensor_slices((x, y))
    fit_rows, val_rows = c2al_tf.split_validation(rows, 0.25)

    def train():
        return c2al_tf.with_cohort_labels(fit_rows.shuffle(n, seed=5).batch(128), COHORTS)

    return train, c2al_tf.with_cohort_labels(val_rows.batch(512), COHORTS)


def _build(lam):
    tf.keras.utils.set_random_seed(0)
    a, b = tf.keras.Input((1,), name="a"), tf.keras.Input((1,), name="b")
    h = tf.keras.layers.Dense(8, activation="relu", name="hidden")(tf.keras.layers.Concatenate()([a, b]))
    model = tf.keras.Model({"a": a, "b": b}, tf.keras.layers.Dense(1, activation="sigmoid")(h))
    cohort_model = c2al_tf.add_cohort_heads(model, COHORTS if lam > 0 else [], representation="hidden", aux_weight=lam)
    cohort_model.compile(optimizer=tf.keras.optimizers.Adam(0.05))  # fast: early stopping ends within a few epochs
    return cohort_model


@pytest.mark.parametrize("config", [
    TrainConfig(epochs=12, patience=1, aux_weights=(0.0, 0.3, 3.0, 10.0)),  # candidates stop at different epochs
    TrainConfig(epochs=3, aux_weights=(0.0, 0.3, 1.0), ema_momentum=0.0, early_stopping=False),
], ids=["early_stopping", "fixed_epochs"])
def test_side_by_side_training_equals_one_at_a_time(config):
    train, val = _data(n=400)
    lams = [lam for lam in config.candidates if lam > 0]
    alone = [fit_datasets(m, train(), val, config) for m in (_build(lam) for lam in lams)]
    models = [_build(lam) for lam in lams]
    together = fit_jointly(models, train(), val, config)
    if config.early_stopping:  # the case is meant to cover candidates that stop at different epochs
        assert len({r.epochs_run for r in alone}) > 1
    for a, t in zip(alone, together):
        assert (t.epochs_run, t.best_epoch) == (a.epochs_run, a.best_epoch)
        np.testing.assert_allclose(t.val_logloss, a.val_logloss, rtol=0, atol=1e-6)
        np.testing.assert_allclose(t.val_losses, a.val_losses, rtol=0, atol=1e-6)
        assert set(t.history) == set(a.history)
        for k in a.history:
            np.testing.assert_allclose(t.history[k], a.history[k], rtol=0, atol=1e-6)


def test_the_search_chooses_what_the_one_at_a_time_search_chooses():
    train, val = _data(seed=1)
    config = TrainConfig(epochs=4, patience=1, aux_weights=(0.0, 0.3, 1.0))
    one = c2al_tf.train_cohort_model(_build, train, val, config, jointly=False)
    side = c2al_tf.train_cohort_model(_build, train, val, config)
    assert side.aux_weight == one.aux_weight and side.epochs == one.epochs
    assert len(side.table) == len(one.table)
    for a, b in zip(side.table, one.table):
        assert set(a) == set(b)
        for k in a:
            if isinstance(a[k], float):
                np.testing.assert_allclose(a[k], b[k], rtol=0, atol=1e-6)
            else:
                assert a[k] == b[k], k
    assert side.summary() == one.summary()


def test_side_by_side_false_trains_one_at_a_time(monkeypatch):
    """``TrainConfig(side_by_side=False)`` (``--no-side-by-side``, the Trainer's
    ``custom_config``) never trains two candidates together; ``jointly`` overrides it."""
    import c2al_tf.models.joint as joint

    calls = []
    real = joint.fit_jointly
    monkeypatch.setattr(joint, "fit_jointly", lambda models, *a, **k: calls.append(len(models)) or real(models, *a, **k))
    train, val = _data(seed=1)
    config = TrainConfig(epochs=2, patience=1, aux_weights=(0.0, 0.3, 1.0), side_by_side=False)
    one = c2al_tf.train_cohort_model(_build, train, val, config)
    assert calls == []
    side = c2al_tf.train_cohort_model(_build, train, val, config, jointly=True)
    assert calls == [2] and side.aux_weight == one.aux_weight


def test_what_cannot_be_trained_side_by_side_is_refused():
    train, val = _data(n=800)
    assert not can_fit_jointly([_build(0.3)])  # one candidate: nothing to share
    plain = tf.keras.Sequential([tf.keras.layers.Dense(1)])
    assert not can_fit_jointly([_build(0.3), plain])
    legacy = _build(1.0)
    legacy.compile(optimizer=tf.keras.optimizers.legacy.Adam(0.05))
    assert not can_fit_jointly([_build(0.3), legacy])
    with pytest.raises(ValueError, match="fit_jointly needs at least two"):
        fit_jointly([_build(0.3)], train(), val, TrainConfig(epochs=1))
    with pytest.raises(ValueError, match="early stopping needs validation data"):
        fit_jointly([_build(0.3), _build(1.0)], train(), None, TrainConfig(epochs=1))
