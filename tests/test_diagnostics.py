"""Model diagnostics: gradient conflict decomposition, attention weight density."""
import numpy as np
import pytest

from c2al_tf.models import FeatureSpec, ModelConfig, build_model, diagnostics, set_seed
from c2al_tf.models.training import head_labels
from helpers import planted_spec, synthetic_table


@pytest.fixture(scope="module")
def model_and_batch():
    table = synthetic_table(3000)
    set_seed(0)
    model = build_model(FeatureSpec.from_table(table), planted_spec(), ModelConfig(mlp_units=(16,)))
    sub = table.take(np.arange(512))
    return model, model.spec.table_to_inputs(sub), head_labels(model, sub)


def test_gradient_conflict_decomposition(model_and_batch):
    model, inputs, labels = model_and_batch
    g = diagnostics.gradient_conflict(model, inputs, labels)
    assert -1 <= g["cosine"] <= 1
    # parallel^2 + orthogonal^2 = |aux|^2
    assert g["parallel_norm"] ** 2 + g["orthogonal_norm"] ** 2 == pytest.approx(g["aux_norm"] ** 2, rel=1e-6)
    assert g["parallel_norm"] == pytest.approx(g["cosine"] * g["aux_norm"], rel=1e-6)
    assert set(g["per_head_cosine"]) == {"aux__user_value_head", "aux__user_value_tail"}


def test_attention_diagnostics(model_and_batch):
    model, inputs, _ = model_and_batch
    hist = diagnostics.attention_weight_histogram(model, bins=20)
    assert sum(hist["counts"]) == len(hist["weights"]) > 0 and 0 <= hist["near_zero_fraction"] <= 1
    dead = diagnostics.attention_dead_units(model, inputs)
    assert all(0 <= v <= 1 for v in dead.values()) and dead
    with pytest.raises(ValueError, match="no attention layer"):
        diagnostics.attention_weight_histogram(build_model(model.spec, None, ModelConfig(model="mlp")))
