"""Model builder: encoders, heads, loss weights, determinism, OOV robustness."""
import numpy as np
import pytest
import tensorflow as tf

from c2al_tf.models import ENCODERS, PRIMARY, FeatureSpec, ModelConfig, build_model, predict, set_seed, train
from c2al_tf.layers import CategoricalEmbeddings
from c2al_tf.models.training import head_labels, head_priors
from helpers import planted_spec, synthetic_table


@pytest.fixture(scope="module")
def table():
    return synthetic_table(4000)


@pytest.fixture(scope="module")
def spec(table):
    return FeatureSpec.from_table(table)


@pytest.mark.parametrize("encoder", ENCODERS)
def test_every_encoder_builds_and_trains(table, spec, encoder):
    set_seed(0)
    model = build_model(spec, planted_spec(), ModelConfig(model=encoder, mlp_units=(16,)))
    assert model.head_names == [PRIMARY, "aux__user_value_head", "aux__user_value_tail"]
    assert sorted(model.training_model.output_names) == sorted(model.head_names)
    history = train(model, table, epochs=1, batch_size=512, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert (model.attention_layer is not None) == (encoder in ("attention_fm", "dhen"))
    if encoder in ("dcn", "dhen"):
        assert any("cross" in layer.name for layer in model.training_model.layers)


def test_loss_weights_default_and_override(spec):
    model = build_model(spec, planted_spec(), ModelConfig(aux_weight=0.3, aux_weights={"user_value_tail": 2.0}))
    assert model.loss_weights() == {PRIMARY: 1.0, "aux__user_value_head": 0.3, "aux__user_value_tail": 2.0}


def test_loss_is_weighted_sum_of_bce(table, spec):
    set_seed(1)
    model = build_model(spec, planted_spec(), ModelConfig(aux_weight=0.7, mlp_units=(8,)))
    assert getattr(model.training_model, "optimizer", None) is None  # build_model builds, it does not compile
    model.compile()
    sub = table.take(np.arange(256))
    inputs, labels = model.spec.table_to_inputs(sub), head_labels(model, sub)
    keras_loss = model.training_model.evaluate(inputs, labels, batch_size=256, verbose=0, return_dict=True)["loss"]
    out = model.training_model(inputs)
    bce = tf.keras.losses.BinaryCrossentropy()
    manual = sum(w * float(bce(labels[h], out[h])) for h, w in model.loss_weights().items())
    # + the embedding L2 (default ModelConfig.embedding_l2) over every categorical table, in float64
    tables = [layer.table.embeddings.numpy().astype(np.float64) for layer in model.training_model.layers
              if isinstance(layer, CategoricalEmbeddings)]
    assert tables and model.config.embedding_l2 > 0
    manual += model.config.embedding_l2 * sum(float(np.sum(t ** 2)) for t in tables)
    assert keras_loss == pytest.approx(manual, rel=1e-4)


def test_baseline_has_only_primary(spec):
    model = build_model(spec, None)
    assert model.head_names == [PRIMARY] and model.cohorts == []


def test_training_is_deterministic(table, spec):
    def run():
        set_seed(7)
        model = build_model(spec, planted_spec(), ModelConfig(mlp_units=(16,)),
                            priors=head_priors(list(planted_spec().cohorts()), table))
        train(model, table, epochs=1, batch_size=256, seed=7, verbose=0)
        return predict(model, table.take(np.arange(200)))[PRIMARY]
    np.testing.assert_array_equal(run(), run())


def test_priors_start_heads_at_base_rate(table, spec):
    priors = head_priors(list(planted_spec().cohorts()), table)
    model = build_model(spec, planted_spec(), priors=priors)
    bias = model.training_model.get_layer(f"{PRIMARY}_logit").bias.numpy()[0]
    assert 1 / (1 + np.exp(-bias)) == pytest.approx(table.label.mean(), rel=1e-5)


def test_unknown_categories_and_missing_values_map_to_oov(table, spec):
    model = build_model(spec, None)
    sub = table.take(np.arange(3))
    inputs = model.spec.table_to_inputs(sub)
    inputs["user_id"] = np.array([["never-seen"], [""], ["u0"]], dtype=object)
    inputs["user_value"] = np.array([[np.nan], [1.0], [2.0]], dtype=np.float32)
    p = model.serving_model(inputs).numpy()
    assert p.shape == (3, 1) and np.isfinite(p).all()


def test_bad_config():
    with pytest.raises(ValueError, match="unknown model 'xgboost'; choose one of"):
        ModelConfig(model="xgboost")
    with pytest.raises(ValueError, match="aux_weight"):
        ModelConfig(aux_weight=-1)
    with pytest.raises(ValueError, match="embedding_l2 must be a finite number >= 0"):
        ModelConfig(embedding_l2=-1e-4)


def test_encoder_registry_names_every_encoder_the_config_accepts():
    from c2al_tf.models import encoders
    from c2al_tf.models.config import ENCODERS

    assert tuple(encoders.REGISTRY) == ENCODERS
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        encoders.get("nope")


def test_columns_past_the_vocab_budget_are_hashed_and_the_model_serves(tmp_path):
    """A column with more distinct values than vocab_budget gets hash buckets, not a
    vocabulary; the model trains, exports and serves through the same path."""
    from c2al_tf.errors import C2ALInputError
    from c2al_tf.export import export_saved_model, load_metadata

    table = synthetic_table(3000)
    n_users = table.features["user_id"].nunique()
    spec = FeatureSpec.from_table(table, vocab_budget=500, min_count=1)
    by_name = {f.name: f for f in spec.categorical}
    assert n_users > 500 and by_name["user_id"].hash_buckets == 500 and by_name["user_id"].vocabulary == []
    assert by_name["surface"].hash_buckets == 0 and len(by_name["surface"].vocabulary) == 4
    assert FeatureSpec.from_dict(spec.to_dict()) == spec
    model = build_model(spec, planted_spec())
    train(model, table, epochs=1)
    export_saved_model(model, str(tmp_path / "m"))
    loaded = tf.saved_model.load(str(tmp_path / "m"))
    assert load_metadata(str(tmp_path / "m"))["feature_spec"].categorical[0].hash_buckets in (0, 500)
    examples = [tf.train.Example(features=tf.train.Features(feature={
        "user_id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"u999999999"]))})).SerializeToString()]
    p = loaded.signatures["serving_default"](examples=tf.constant(examples))["probabilities"].numpy()
    assert p.shape == (1, 1) and np.isfinite(p).all()
    with pytest.raises(C2ALInputError, match="vocab_budget must be >= 1"):
        FeatureSpec.from_table(table, vocab_budget=0)


# -- recipe options: per-head towers, lambda warm-up, gradient projection ------------------------------

def test_aux_towers_stay_out_of_the_serving_model(spec):
    set_seed(0)
    base = build_model(spec, None, ModelConfig(mlp_units=(8,)))
    set_seed(0)
    model = build_model(spec, planted_spec(), ModelConfig(mlp_units=(8,), aux_tower=(4,)))
    towers = [layer.name for layer in model.training_model.layers if "_tower_" in layer.name]
    assert towers == ["aux__user_value_head_tower_0", "aux__user_value_tail_tower_0"]
    assert model.training_model.get_layer("aux__user_value_head_logit").kernel.shape == (4, 1)
    assert sorted(v.name for v in model.serving_model.variables) == sorted(v.name for v in base.serving_model.variables)


def test_warmup_ramps_the_auxiliary_weights(table, spec):
    model = build_model(spec, planted_spec(), ModelConfig(mlp_units=(8,), aux_weight=0.5, aux_warmup_steps=10))
    model.compile()
    m = model.training_model
    np.testing.assert_allclose(m._head_scale(True).numpy(), [1.0, 0.1, 0.1])  # step 0: (0 + 1) / 10
    np.testing.assert_allclose(m._head_scale(False).numpy(), [1.0, 1.0, 1.0])  # evaluation: full weights
    m.optimizer.iterations.assign(25)
    np.testing.assert_allclose(m._head_scale(True).numpy(), [1.0, 1.0, 1.0])
    config = m.get_config()
    assert config["aux_warmup_steps"] == 10 and config["gradient_projection"] is False
    assert type(m).from_config(config).c2al_aux_warmup_steps == 10


def _grads(model, inputs, labels, heads):
    m = model.training_model
    with tf.GradientTape() as tape:
        out = m(inputs, training=True)
        bce = tf.keras.losses.BinaryCrossentropy()
        loss = sum(model.loss_weights()[h] * bce(labels[h], out[h]) for h in heads)
        if PRIMARY in heads and m.losses:
            loss += tf.add_n(m.losses)
    return [np.asarray(tf.convert_to_tensor(g), np.float64) if g is not None else np.zeros(v.shape)
            for g, v in zip(tape.gradient(loss, m.trainable_variables), m.trainable_variables)]


@pytest.mark.parametrize("conflict,l2", [(True, 0.0), (False, 1e-3)])
def test_gradient_projection_step_equals_float64_pcgrad(table, spec, conflict, l2):
    """One SGD(lr=1) step moves the weights by -(g_p + g_a - min(0, <g_a, g_p>) / |g_p|^2 g_p),
    with g_p (primary + L2) and g_a (weighted auxiliaries) projected in float64; auxiliary
    labels 1 - y make the gradients conflict (projection applies), labels y make them agree."""
    for seed in range(3, 23):  # the first initialisation (seeded) where the gradients conflict, or agree, as asked
        set_seed(seed)
        model = build_model(spec, planted_spec(), ModelConfig(mlp_units=(8,), aux_weight=2.0,
                                                              gradient_projection=True, embedding_l2=l2))
        m = model.training_model
        m.compile(optimizer=tf.keras.optimizers.SGD(1.0))
        sub = table.take(np.arange(256))
        inputs, labels = model.spec.table_to_inputs(sub), head_labels(model, sub)
        y = np.asarray(labels[PRIMARY], np.float32).reshape(-1, 1)
        labels = {h: (labels[h] if h == PRIMARY else (1.0 - y if conflict else y)) for h in labels}
        g_p = _grads(model, inputs, labels, [PRIMARY])
        g_a = _grads(model, inputs, labels, [h for h in model.head_names if h != PRIMARY])
        dot = sum(float(np.sum(a * p)) for a, p in zip(g_a, g_p))
        norm = sum(float(np.sum(p * p)) for p in g_p)
        if (dot < 0) == conflict:
            break
    assert (dot < 0) == conflict, dot
    expected = [p + a - min(dot, 0.0) / norm * p for p, a in zip(g_p, g_a)]
    before = [v.numpy().astype(np.float64) for v in m.trainable_variables]
    m.train_on_batch(inputs, labels)
    moved = [b - v.numpy() for b, v in zip(before, m.trainable_variables)]
    scale = max(float(np.max(np.abs(e))) for e in expected)
    for got, want in zip(moved, expected):
        np.testing.assert_allclose(got, want, atol=1e-4 * scale)


def test_mmoe_gives_every_head_its_own_gate_and_saves(table, spec, tmp_path):
    """mmoe_experts = K: a mixture of K experts on the shared representation with one
    gate per head; trains, and round-trips through .keras with the same predictions."""
    set_seed(0)
    model = build_model(spec, planted_spec(), ModelConfig(mlp_units=(8,), mmoe_experts=3, mmoe_units=4),
                        priors=head_priors(list(planted_spec().cohorts()), table))
    moe = model.training_model.get_layer("mmoe")
    assert (moe.num_experts, moe.units, moe.num_tasks) == (3, 4, 3)
    assert moe.gates.shape == (3, 8, 3)
    assert model.training_model.get_layer("primary_logit").kernel.shape == (4, 1)
    assert "mmoe" in [layer.name for layer in model.serving_model.layers]  # unlike the recipes, serving changes
    train(model, table, epochs=1, batch_size=512, verbose=0)
    path = str(tmp_path / "m.keras")
    model.training_model.save(path)
    loaded = tf.keras.models.load_model(path)
    x = model.spec.table_to_inputs(table.take(np.arange(64)))
    want = model.training_model.predict(x, verbose=0)
    got = loaded.predict(x, verbose=0)
    for head in model.head_names:
        np.testing.assert_allclose(got[head], want[head], rtol=1e-5, atol=1e-6)


def test_bad_recipe_options():
    with pytest.raises(ValueError, match="aux_tower units must be >= 1"):
        ModelConfig(aux_tower=(0,))
    with pytest.raises(ValueError, match="aux_warmup_steps must be >= 0"):
        ModelConfig(aux_warmup_steps=-1)
    with pytest.raises(ValueError, match="mmoe_experts must be >= 0"):
        ModelConfig(mmoe_experts=-1)


def test_reported_head_losses_are_means_over_examples_whatever_the_batches(table, spec):
    """Keras' per-epoch ``<head>_loss`` (what early stopping and lambda's choice read)
    is the head's logloss over every example: the same for any batch size and row
    order, and equal to a float64 reference, not a mean of batch means that gives
    a short last batch a full batch's weight."""
    from c2al_tf.models.training import make_dataset
    from c2al_tf.metrics import logloss

    set_seed(0)
    model = build_model(spec, planted_spec(), ModelConfig(mlp_units=(16,)))
    train(model, table, epochs=1, batch_size=512, verbose=0)
    rows = table.take(np.arange(1300))  # batches of 1024 + 276, of 500 x 2 + 300, ...
    p = predict(model, rows)
    labels = head_labels(model, rows)
    for batch_size in (1024, 500, 1300):
        for shuffle in (False, True):
            got = model.training_model.evaluate(make_dataset(model, rows, batch_size, shuffle=shuffle, seed=3),
                                                verbose=0, return_dict=True)
            for head in model.head_names:
                np.testing.assert_allclose(got[f"{head}_loss"], logloss(labels[head].reshape(-1), p[head]),
                                           rtol=2e-5, err_msg=f"{head}, batch {batch_size}, shuffle {shuffle}")
