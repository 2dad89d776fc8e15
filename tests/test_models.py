"""Model builder: encoders, heads, loss weights, determinism, OOV robustness."""
import numpy as np
import pytest
import tensorflow as tf

from c2al_tf.models import ENCODERS, PRIMARY, FeatureSpec, ModelConfig, build_model, predict, set_seed, train
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


def test_encoder_registry_names_every_encoder_the_config_accepts():
    from c2al_tf.models import encoders
    from c2al_tf.models.config import ENCODERS

    assert tuple(encoders.REGISTRY) == ENCODERS
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        encoders.get("nope")
