"""C2AL on a user's own Keras model (c2al_tf.models.heads), for the three kinds of model:
a functional model with a named representation layer, an encoder plus a primary head,
and a tfrs.models.Model whose compute_loss adds CohortHeads' loss."""
import numpy as np
import pytest
import tensorflow as tf

from c2al_tf.errors import C2ALInputError
from c2al_tf.models.heads import (CohortHeads, add_cohort_heads, add_cohort_heads_to_encoder, cohort_labels)

COHORTS = [{"name": "a_high", "aux_label": "aux__a_high", "predicate": {"feature": "a", "min": 0.5, "max": None}},
           {"name": "b_low", "aux_label": "aux__b_low", "predicate": {"feature": "b", "min": None, "max": 0.2}}]


def _data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    x = {"a": rng.uniform(size=(n, 1)).astype("float32"), "b": rng.uniform(size=(n, 1)).astype("float32")}
    y = (rng.uniform(size=n) < 0.3).astype("float32")
    labels = {"primary": y, "aux__a_high": y * (x["a"][:, 0] >= 0.5), "aux__b_low": y * (x["b"][:, 0] < 0.2)}
    return x, y, labels


def _functional(seed=1):
    tf.keras.utils.set_random_seed(seed)
    a, b = tf.keras.Input((1,), name="a"), tf.keras.Input((1,), name="b")
    h = tf.keras.layers.Dense(8, activation="relu", name="hidden")(tf.keras.layers.Concatenate()([a, b]))
    return tf.keras.Model({"a": a, "b": b}, tf.keras.layers.Dense(1, activation="sigmoid", name="click")(h),
                          name="user")


def _encoder_and_head(seed=1):
    tf.keras.utils.set_random_seed(seed)
    a, b = tf.keras.Input((1,), name="a"), tf.keras.Input((1,), name="b")
    h = tf.keras.layers.Dense(8, activation="relu", name="tower")(tf.keras.layers.Concatenate()([a, b]))
    encoder = tf.keras.Model({"a": a, "b": b}, h, name="encoder")
    return encoder, tf.keras.Sequential([tf.keras.layers.Dense(4, activation="relu"),
                                         tf.keras.layers.Dense(1, activation="sigmoid")], name="head")


def _graph_of(model):
    """(variable shapes, op types) of the model's call on a batch of inputs."""
    spec = {k: tf.TensorSpec([None, 1], tf.float32, name=k) for k in ("a", "b")}
    graph = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec).graph
    ops = sorted(op.type for op in graph.get_operations())
    return sorted(tuple(v.shape) for v in model.variables), ops


@pytest.mark.parametrize("kind", ["functional", "encoder"])
def test_serving_model_is_the_users_model_and_the_fused_loss_matches_keras(kind, tmp_path):
    x, _, labels = _data()
    if kind == "functional":
        cm = add_cohort_heads(_functional(), COHORTS, representation="hidden", aux_weight={"a_high": 0.3,
                                                                                          "b_low": 1.0})
        plain = _functional()
    else:
        cm = add_cohort_heads_to_encoder(*_encoder_and_head(), COHORTS, aux_weight={"a_high": 0.3, "b_low": 1.0})
        encoder, head = _encoder_and_head()
        plain = tf.keras.Model(encoder.inputs, head(encoder.outputs[0]), name="ranking")
    # serving: exactly the variables and ops of the same model built without heads
    assert _graph_of(cm.serving_model) == _graph_of(plain)
    assert len(cm.training_model.trainable_variables) == len(plain.trainable_variables) + 2 * len(COHORTS)
    # the fused loss equals Keras' compile(loss per head, loss_weights)
    cm.compile(tf.keras.optimizers.SGD(0.0))
    reference = tf.keras.Model(cm.training_model.inputs, dict(cm.training_model.output))
    reference.compile(loss={n: "binary_crossentropy" for n in cm.head_names},
                      loss_weights={"primary": 1.0, "aux__a_high": 0.3, "aux__b_low": 1.0})
    fused = cm.training_model.evaluate(x, labels, verbose=0, return_dict=True)["loss"]
    keras = reference.evaluate(x, labels, verbose=0, return_dict=True)["loss"]
    assert fused == pytest.approx(keras, abs=1e-6)
    # training moves the shared weights; the exported serving model predicts like Keras
    cm.compile(tf.keras.optimizers.Adam(0.01))
    before = [v.numpy().copy() for v in cm.serving_model.trainable_variables]
    cm.training_model.fit(x, labels, epochs=2, batch_size=64, verbose=0)
    assert any(not np.allclose(b, v.numpy()) for b, v in zip(before, cm.serving_model.trainable_variables))
    cm.serving_model.save(str(tmp_path / "export"))
    served = tf.saved_model.load(str(tmp_path / "export")).signatures["serving_default"]
    got = list(served(**{k: tf.constant(v) for k, v in x.items()}).values())[0].numpy()
    np.testing.assert_allclose(got, cm.serving_model.predict(x, verbose=0), atol=1e-6)


def test_heads_start_at_the_cohorts_prior_and_the_primary_logit_is_found_for_every_output_kind():
    cm = add_cohort_heads(_functional(), COHORTS, representation="hidden", priors={"aux__a_high": 0.2})
    bias = cm.training_model.get_layer("aux__a_high_logit").bias.numpy()
    assert bias == pytest.approx([np.log(0.2 / 0.8)])
    assert cm.training_model.get_layer("aux__b_low_logit").bias.numpy() == pytest.approx([0.0])
    # a linear output is the logit itself; an Activation("sigmoid") output's input is
    for tail in ("linear", "activation"):
        a, b = tf.keras.Input((1,), name="a"), tf.keras.Input((1,), name="b")
        h = tf.keras.layers.Dense(4, name="hidden")(tf.keras.layers.Concatenate()([a, b]))
        z = tf.keras.layers.Dense(1, name="z")(h)
        out = z if tail == "linear" else tf.keras.layers.Activation("sigmoid")(z)
        cm = add_cohort_heads(tf.keras.Model({"a": a, "b": b}, out), COHORTS, representation="hidden")
        x, y, labels = _data(50)
        cm.compile()
        p = cm.training_model.predict(x, verbose=0)["primary"]
        assert ((p > 0) & (p < 1)).all()
        loss = cm.training_model.evaluate(x, labels, verbose=0, return_dict=True)["primary_loss"]
        expected = tf.keras.losses.binary_crossentropy(y, p[:, 0]).numpy()
        assert loss == pytest.approx(float(expected), abs=1e-5)


def _ranking_class():
    import tensorflow_recommenders as tfrs

    class Ranking(tfrs.models.Model):
        """A ranking model written as the TFRS tutorials write one: tower -> head, a
        Ranking task; with cohort heads on the tower's output."""

        def __init__(self, cohorts=None, aux_weight=0.5):
            super().__init__()
            tf.keras.utils.set_random_seed(3)
            self.tower = tf.keras.Sequential([tf.keras.layers.Dense(8, activation="relu")])
            self.head = tf.keras.layers.Dense(1, activation="sigmoid")
            self.task = tfrs.tasks.Ranking(loss=tf.keras.losses.BinaryCrossentropy())
            self.cohort_heads = CohortHeads(cohorts, aux_weight) if cohorts else None

        def call(self, features):
            return self.head(self.tower(tf.concat([features["a"], features["b"]], axis=1)))

        def compute_loss(self, features, training=False):
            h = self.tower(tf.concat([features["a"], features["b"]], axis=1))
            loss = self.task(labels=features["click"], predictions=self.head(h))
            if self.cohort_heads is not None:
                loss += self.cohort_heads.loss(self.cohort_heads.labels(features, features["click"]), self.cohort_heads(h))
            return loss

    return Ranking


def test_tfrs_model_adds_the_cohort_loss_in_compute_loss():
    Model = _ranking_class()
    x, y, labels = _data(300)
    features = {**x, "click": y[:, None]}
    with_heads, plain = Model(COHORTS, aux_weight={"a_high": 0.5, "b_low": 2.0}), Model()
    with_heads(x), plain(x)
    with_heads.cohort_heads(tf.zeros([1, 8]))
    # the loss: the task's BCE plus sum_C lambda_C * BCE(y * 1[x in C], sigmoid(z_C)), float64 reference
    h = with_heads.tower(tf.concat([x["a"], x["b"]], axis=1))
    total = float(with_heads.compute_loss(features))
    p = with_heads.head(h).numpy()[:, 0].astype(np.float64)
    ref = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    for name, weight in (("aux__a_high", 0.5), ("aux__b_low", 2.0)):
        z = with_heads.cohort_heads(h)[name].numpy()[:, 0].astype(np.float64)
        q = 1 / (1 + np.exp(-z))
        ref += weight * -np.mean(labels[name] * np.log(q) + (1 - labels[name]) * np.log(1 - q))
    assert total == pytest.approx(ref, abs=1e-5)
    # serving is the model's own call: the same variables and ops as the model without heads
    spec = {k: tf.TensorSpec([None, 1], tf.float32) for k in ("a", "b")}

    def graph(model):
        g = tf.function(lambda f: model(f)).get_concrete_function(spec).graph
        return sorted(op.type for op in g.get_operations()), sorted(
            tuple(v.shape) for v in model.tower.variables + model.head.variables)

    assert graph(with_heads) == graph(plain)
    with_heads.compile(optimizer=tf.keras.optimizers.Adam(0.01))
    with_heads.fit(tf.data.Dataset.from_tensor_slices(features).batch(64), epochs=1, verbose=0)


def test_cohort_labels_follow_the_predicates_and_refuse_a_feature_the_batch_lacks():
    x, y, labels = _data(100)
    got = cohort_labels(x, y, COHORTS)
    for name in ("aux__a_high", "aux__b_low"):
        np.testing.assert_array_equal(got[name].numpy().reshape(-1), labels[name])
    with pytest.raises(C2ALInputError, match="cohort 'a_high' is defined on feature 'a', which the features do not"):
        cohort_labels({"b": x["b"]}, y, COHORTS)


def _refused(match, fn, *args, **kwargs):
    with pytest.raises(C2ALInputError, match=match) as e:
        fn(*args, **kwargs)
    assert "\n" not in str(e.value)


def test_bad_input_is_refused_in_one_line():
    _refused("representation='nope': model 'user' has no such layer", add_cohort_heads, _functional(), COHORTS,
             representation="nope")
    a = tf.keras.Input((1,), name="a")
    relu = tf.keras.Model(a, tf.keras.layers.Dense(1, activation="relu", name="out")(a), name="relu_out")
    _refused("cannot find the logit of model 'relu_out': its output layer 'out'", add_cohort_heads, relu,
             COHORTS[:1], representation="out")
    other = [{"name": "c_x", "aux_label": "aux__c_x", "predicate": {"feature": "c", "in": ["x"]}}]
    _refused("cohort 'c_x' is defined on feature 'c', which the inputs of model 'user' do not have",
             add_cohort_heads, _functional(), other, representation="hidden")
    _refused("aux_weight names nobody, which no cohort is", add_cohort_heads, _functional(), COHORTS,
             representation="hidden", aux_weight={"nobody": 1.0})
    _refused(r"CohortHeads takes a representation \[batch, d\]", CohortHeads(COHORTS), tf.zeros([2, 3, 4]))


def test_the_representation_defaults_to_the_input_of_the_logit_layer():
    cm = add_cohort_heads(_functional(), COHORTS)
    dense = cm.training_model.get_layer("aux__a_high_logit")
    assert dense.input is cm.serving_model.get_layer("hidden").output
