"""The public protocol call on a user's own model (c2al_tf.models.search.train_cohort_model)."""
import numpy as np
import tensorflow as tf

import c2al_tf
from c2al_tf.models.protocol import TrainConfig


def test_train_cohort_model_runs_the_protocol_on_a_users_model():
    rng = np.random.default_rng(0)
    n = 3000
    x = {"a": rng.uniform(size=(n, 1)).astype("float32"), "b": rng.uniform(size=(n, 1)).astype("float32")}
    y = (rng.uniform(size=n) < 0.2 + 0.5 * (x["a"][:, 0] > 0.8)).astype("float32")
    cohorts = [{"name": "a_high", "aux_label": "aux__a_high", "predicate": {"feature": "a", "min": 0.8, "max": None}}]
    rows = tf.data.Dataset.from_tensor_slices((x, y))
    fit_rows, val_rows = c2al_tf.split_validation(rows, 0.25)
    train = c2al_tf.with_cohort_labels(fit_rows.shuffle(n, seed=1).batch(256), cohorts)
    val = c2al_tf.with_cohort_labels(val_rows.batch(1024), cohorts)

    def build(lam):
        tf.keras.utils.set_random_seed(0)
        a, b = tf.keras.Input((1,), name="a"), tf.keras.Input((1,), name="b")
        h = tf.keras.layers.Dense(8, activation="relu", name="hidden")(tf.keras.layers.Concatenate()([a, b]))
        model = tf.keras.Model({"a": a, "b": b}, tf.keras.layers.Dense(1, activation="sigmoid")(h))
        return c2al_tf.add_cohort_heads(model, cohorts if lam > 0 else [], representation="hidden", aux_weight=lam)

    result = c2al_tf.train_cohort_model(build, train, val, TrainConfig(epochs=3, aux_weights=(0.0, 0.1, 1.0)))
    assert result.table[0]["aux_weight"] == 0.0 and result.table[1]["aux_weight"] == 0.1
    assert {"diff", "low", "high", "significant"} <= set(result.table[1])
    assert result.aux_weight in (0.0, 0.1, 1.0) and 1 <= result.epochs <= 3
    # the chosen model is the candidate its table row says, and lambda 0 is a plain model
    heads = [h for h in result.model.head_names if h != "primary"]
    assert bool(heads) == (result.aux_weight > 0)
    if result.table[1]["significant"] is False:
        assert result.table[2]["trained"] is False and result.aux_weight == 0.0
    assert "lambda 0 " in result.summary()


def test_a_dataset_factory_gives_every_candidate_the_same_rows_in_the_same_order():
    """With ``train_data`` a function, each candidate trains on a dataset of its own, so a
    seeded shuffle starts over: two candidates with the same weights train identically
    (a shared dataset would continue its shuffle, and the pair would differ by order)."""
    rng = np.random.default_rng(1)
    n = 2000
    x = {"a": rng.uniform(size=(n, 1)).astype("float32")}
    y = (rng.uniform(size=n) < 0.3).astype("float32")
    rows = tf.data.Dataset.from_tensor_slices((x, y))
    fit_rows, val_rows = c2al_tf.split_validation(rows, 0.25)
    val = c2al_tf.with_cohort_labels(val_rows.batch(512), [])
    made = []

    def train_data():
        made.append(1)
        return c2al_tf.with_cohort_labels(fit_rows.shuffle(n, seed=3).batch(128), [])

    def build(lam):  # no cohort: both candidates are the same model
        tf.keras.utils.set_random_seed(0)
        a = tf.keras.Input((1,), name="a")
        model = tf.keras.Model({"a": a}, tf.keras.layers.Dense(1, activation="sigmoid")(
            tf.keras.layers.Dense(4, activation="relu", name="hidden")(a)))
        return c2al_tf.add_cohort_heads(model, [], representation="hidden", aux_weight=lam)

    config = TrainConfig(epochs=2, aux_weights=(0.0,), early_stopping=False)
    first = c2al_tf.train_cohort_model(build, train_data, val, config)
    second = c2al_tf.train_cohort_model(build, train_data, val, config)
    assert len(made) == 2
    assert first.val_logloss == second.val_logloss
