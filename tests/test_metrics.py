"""Metrics: NE by hand, AUC, calibration, per cohort, paired CIs."""
import math

import numpy as np
import pytest

from c2al_tf import metrics


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


def test_row_logloss_against_float64_reference():
    from c2al_tf.metrics import row_logloss

    y, p = np.array([1, 0, 1, 0]), np.array([0.9, 0.2, 1.0, 0.0])
    expected = -np.array([np.log(0.9), np.log(0.8), np.log(1 - 1e-7), np.log(1 - 1e-7)])
    np.testing.assert_allclose(row_logloss(y, p), expected, rtol=1e-9)


def test_complement_metrics_equals_scoring_the_rest_directly():
    rng = np.random.default_rng(3)
    y = (rng.random(5000) < 0.3).astype(float)
    p = np.clip(rng.beta(2, 5, 5000), 1e-4, 1 - 1e-4)
    a = rng.random(5000) < 0.1
    b = (~a) & (rng.random(5000) < 0.2)
    doc = metrics.evaluate_predictions(y, p, {"a": a, "b": b})
    rest = metrics.complement_metrics(doc["overall"], [doc["cohorts"]["a"], doc["cohorts"]["b"]])
    direct = metrics.binary_metrics(y[~(a | b)], p[~(a | b)])
    assert rest["count"] == direct["count"]
    for key in ("ne", "logloss", "positive_rate"):
        assert rest[key] == pytest.approx(direct[key], rel=1e-9), key
    with pytest.raises(ValueError, match="no rows are left"):
        metrics.complement_metrics(doc["overall"], [doc["overall"]])
