"""Metrics: NE by hand, AUC, calibration, per cohort, paired CIs, diagnostics."""
import math

import numpy as np
import pytest

from c2al_tf import metrics
from c2al_tf.models import FeatureSpec, ModelConfig, build_model, set_seed
from c2al_tf.models.training import head_labels
from helpers import planted_spec, synthetic_table


def test_ne_matches_hand_computation():
    y = np.array([1, 0, 0, 1, 0])
    p = np.array([0.8, 0.1, 0.3, 0.6, 0.2])
    ll = -(math.log(0.8) + math.log(0.9) + math.log(0.7) + math.log(0.6) + math.log(0.8)) / 5
    h = -(0.4 * math.log(0.4) + 0.6 * math.log(0.6))
    assert metrics.logloss(y, p) == pytest.approx(ll, rel=1e-12)
    assert metrics.normalized_entropy(y, p) == pytest.approx(ll / h, rel=1e-12)
    assert metrics.normalized_entropy(y, np.full(5, 0.4)) == pytest.approx(1.0, rel=1e-12)
    assert metrics.calibration(y, p) == pytest.approx(2.0 / 2)
    assert metrics.auc(y, p) == pytest.approx(1.0)


def test_degenerate_cohorts_give_nan_not_errors():
    m = metrics.binary_metrics([0, 0, 0], [0.1, 0.2, 0.1])
    assert math.isnan(m["ne"]) and math.isnan(m["auc"]) and math.isnan(m["calibration"]) and m["count"] == 3


def test_evaluate_predictions_format():
    y = np.array([1, 0, 1, 0, 0, 1])
    p = np.array([0.7, 0.2, 0.6, 0.3, 0.1, 0.4])
    out = metrics.evaluate_predictions(y, p, {"a": np.array([1, 1, 1, 0, 0, 0], bool)})
    assert set(out) == {"overall", "cohorts"} and set(out["overall"]) == set(metrics.METRIC_KEYS)
    assert out["cohorts"]["a"]["count"] == 3
    assert out["cohorts"]["a"]["ne"] == pytest.approx(metrics.normalized_entropy(y[:3], p[:3]))


def test_paired_comparison_t_and_bootstrap():
    base = np.array([0.80, 0.81, 0.79, 0.80, 0.82])
    better = base * (1 - np.array([0.010, 0.012, 0.009, 0.011, 0.010]))
    r = metrics.paired_comparison(base, better)
    assert r["mean"] == pytest.approx(-0.0104, abs=1e-6) and r["ci_high"] < 0 and r["verdict"] == "better"
    assert r["ci_low"] < r["mean"] < r["ci_high"]
    worse = metrics.paired_comparison(base, base * 1.02, method="bootstrap")
    assert worse["verdict"] == "worse" and worse["ci_low"] > 0
    noisy = metrics.paired_comparison(base, base * (1 + np.array([0.01, -0.01, 0.02, -0.02, 0.0])))
    assert noisy["verdict"] == "no significant difference" and not noisy["excludes_zero"]
    with pytest.raises(ValueError):
        metrics.paired_comparison([1.0], [1.0, 2.0])


@pytest.fixture(scope="module")
def model_and_batch():
    table = synthetic_table(3000)
    set_seed(0)
    model = build_model(FeatureSpec.from_table(table), planted_spec(), ModelConfig(mlp_units=(16,)))
    sub = table.take(np.arange(512))
    return model, model.spec.table_to_inputs(sub), head_labels(model, sub)


def test_gradient_conflict_decomposition(model_and_batch):
    model, inputs, labels = model_and_batch
    g = metrics.gradient_conflict(model, inputs, labels)
    assert -1 <= g["cosine"] <= 1
    # parallel^2 + orthogonal^2 = |aux|^2
    assert g["parallel_norm"] ** 2 + g["orthogonal_norm"] ** 2 == pytest.approx(g["aux_norm"] ** 2, rel=1e-6)
    assert g["parallel_norm"] == pytest.approx(g["cosine"] * g["aux_norm"], rel=1e-6)
    assert set(g["per_head_cosine"]) == {"aux__user_value_head", "aux__user_value_tail"}


def test_attention_diagnostics(model_and_batch):
    model, inputs, _ = model_and_batch
    hist = metrics.attention_weight_histogram(model, bins=20)
    assert sum(hist["counts"]) == len(hist["weights"]) > 0 and 0 <= hist["near_zero_fraction"] <= 1
    dead = metrics.attention_dead_units(model, inputs)
    assert all(0 <= v <= 1 for v in dead.values()) and dead
    with pytest.raises(ValueError, match="no attention layer"):
        metrics.attention_weight_histogram(build_model(model.spec, None, ModelConfig(model="mlp")))
