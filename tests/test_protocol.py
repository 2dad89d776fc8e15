"""The training protocol: validation carve-out, early stopping that keeps the best
epoch, lambda chosen on validation with 0 always a candidate, bad input."""
import numpy as np
import pytest

from c2al_tf.errors import C2ALInputError
from c2al_tf.models import FeatureSpec, ModelConfig, build_model, set_seed
from c2al_tf.commands.common import parse_aux_weights
from c2al_tf.models.protocol import FitResult, TrainConfig, carve_validation, fit, replay_early_stopping
from c2al_tf.models.search import (compare_to_baseline, fit_protocol, format_selection, per_head_grid, select,
                                   select_per_head)
from c2al_tf.models.training import make_dataset
from helpers import planted_spec, synthetic_table


def test_carve_validation_is_a_fixed_disjoint_share_of_the_rows():
    table = synthetic_table(2000, seed=1)
    fit_a, val_a = carve_validation(table, 0.1, seed=3)
    fit_b, val_b = carve_validation(table, 0.1, seed=3)
    assert len(val_a) == 200 and len(fit_a) == 1800
    np.testing.assert_array_equal(val_a.label, val_b.label)
    np.testing.assert_array_equal(val_a.features["user_value"], val_b.features["user_value"])
    together = np.sort(np.concatenate([fit_a.features["user_value"], val_a.features["user_value"]]))
    np.testing.assert_array_equal(together, np.sort(table.features["user_value"]))
    _, val_c = carve_validation(table, 0.1, seed=4)
    assert not np.array_equal(val_a.features["user_value"], val_c.features["user_value"])


@pytest.mark.parametrize("fraction", [0, -0.1, 0.51, 1.0])
def test_carve_validation_refuses_fractions_outside_the_range(fraction):
    with pytest.raises(C2ALInputError, match=r"validation_fraction must be in \(0, 0.5\]"):
        carve_validation(synthetic_table(100), fraction)


def test_train_config_always_tries_lambda_zero_and_checks_its_fields():
    assert TrainConfig(aux_weights=(0.3, 1.0)).candidates == (0.0, 0.3, 1.0)
    assert TrainConfig(aux_weights=(0.3,), select_aux_weight=False).candidates == (0.3,)
    assert parse_aux_weights("0.5") == ((0.5,), False)
    assert parse_aux_weights("1,0.1") == ((1.0, 0.1), True)
    for kwargs, msg in [({"epochs": 0}, "epochs must be >= 1"), ({"patience": 0}, "patience"),
                        ({"validation_fraction": 0.0}, "validation_fraction"),
                        ({"ema_momentum": -0.1}, r"ema_momentum must be in \[0, 1\)"),
                        ({"aux_weights": (0.1, -2.0)}, "finite and >= 0"),
                        ({"aux_weights": (0.1, 0.3), "select_aux_weight": False}, "takes one value")]:
        with pytest.raises(C2ALInputError, match=msg):
            TrainConfig(**kwargs)


def _rows(mean_shift, n=5000, seed=0, noise=0.03):
    """Per-row validation losses: a shared baseline draw plus a candidate's paired shift and noise."""
    rng = np.random.default_rng(seed)
    base = rng.exponential(0.45, n)
    return base, {shift: base + shift + rng.normal(0, noise, n) for shift in mean_shift}


def test_select_needs_evidence_to_leave_lambda_0():
    """A lambda > 0 replaces lambda 0 only when its paired one-sided bound over the
    validation rows is below zero; lambdas are tested in increasing order, the first
    without evidence ends the search (the larger ones are not trained), and among the
    passing ones the lowest validation logloss wins. A gain inside the noise (the old
    demo's 0.00003) keeps lambda 0."""
    base, rows = _rows((-0.00003, -0.004, -0.006, +0.002))
    built = []

    def build(lam):
        built.append(lam)
        return f"model-{lam}"

    def trainer(lams):
        def train(lam, model):
            r = base if lam == 0 else rows[lams[lam]]
            return FitResult(3, 2, float(r.mean()), {}, r)
        return train

    # 0.1 and 0.3 help, 1 helps most, 3 hurts: 1 wins; 3 is tested (1 passed) and fails
    lams = {0.1: -0.004, 0.3: -0.004, 1.0: -0.006, 3.0: +0.002}
    model, lam, result, table = select(build, trainer(lams), (0.0, 0.1, 0.3, 1.0, 3.0))
    assert (model, lam) == ("model-1.0", 1.0) and built == [0.0, 0.1, 0.3, 1.0, 3.0]
    by = {r["aux_weight"]: r for r in table}
    assert by[0.1]["significant"] and by[1.0]["significant"] and not by[3.0]["significant"] and by[3.0]["low"] > 0
    # 0.1 inside the noise: the search stops there, 0.3 and 1 are not trained, lambda 0 stays
    built.clear()
    lams = {0.1: -0.00003, 0.3: -0.004, 1.0: -0.006}
    model, lam, _, table = select(build, trainer(lams), (0.0, 0.1, 0.3, 1.0))
    assert (model, lam) == ("model-0.0", 0.0) and built == [0.0, 0.1]
    assert [(r["aux_weight"], r.get("trained", True)) for r in table] == [(0.0, True), (0.1, True), (0.3, False),
                                                                          (1.0, False)]
    lines = format_selection(table, lam)
    assert "lambda 0.3, 1 not tested" in lines[-2] and "returns the baseline" in lines[-1]
    # 0.1 passes, 0.3 fails: 0.1 wins and 1 is not trained
    built.clear()
    model, lam, _, _ = select(build, trainer({0.1: -0.004, 0.3: +0.002, 1.0: -0.006}), (0.0, 0.1, 0.3, 1.0))
    assert (model, lam) == ("model-0.1", 0.1) and built == [0.0, 0.1, 0.3]
    # a candidate already trained (the baseline for lambda 0) is reused, not rebuilt
    built.clear()
    model, lam, _, _ = select(build, trainer({0.3: -0.004}), (0.0, 0.3),
                              trained={0.0: ("base", FitResult(1, 1, 0.2, {}, base))})
    assert (model, lam) == ("model-0.3", 0.3) and 0.0 not in built
    # without per-row evidence nothing beats lambda 0
    model, lam, _, _ = select(build, lambda lam, m: FitResult(1, 1, 0.3 - lam, {}), (0.0, 0.3))
    assert lam == 0.0


def test_select_applies_the_same_rule_to_candidates_trained_side_by_side():
    """With ``train_many`` every candidate > 0 is trained at once, but the rule looks
    at them as the one-at-a-time search does: one after a candidate without evidence
    is not looked at, however good, and the table says it was not tested."""
    base, rows = _rows((-0.00003, -0.004, -0.006))
    lams = {0.1: -0.00003, 0.3: -0.004, 1.0: -0.006}
    one_at_a_time = []

    def train(lam, model):
        one_at_a_time.append(lam)
        r = base if lam == 0 else rows[lams[lam]]
        return FitResult(3, 2, float(r.mean()), {}, r)

    together = []

    def train_many(many, models):
        together.append((list(many), list(models)))
        return [train(lam, m) for lam, m in zip(many, models)]

    alone = select(lambda lam: f"model-{lam}", train, (0.0, 0.1, 0.3, 1.0))
    one_at_a_time.clear()
    side = select(lambda lam: f"model-{lam}", train, (0.0, 0.1, 0.3, 1.0), train_many=train_many)
    assert together == [([0.1, 0.3, 1.0], ["model-0.1", "model-0.3", "model-1.0"])]
    assert side[:2] == alone[:2] == ("model-0.0", 0.0) and side[3] == alone[3]
    # a train_many that declines (None) leaves the candidates to be trained one at a time
    # and builds each of them once (the models built for train_many are trained)
    one_at_a_time.clear()
    built = []

    def build(lam):
        built.append(lam)
        return f"model-{lam}"

    declined = select(build, train, (0.0, 0.1, 0.3, 1.0), train_many=lambda many, models: None)
    assert declined[3] == alone[3] and one_at_a_time == [0.0, 0.1]
    assert sorted(built) == [0.0, 0.1, 0.3, 1.0] and len(set(built)) == len(built)


def test_compare_to_baseline_matches_a_float64_reference():
    from scipy.stats import norm

    base, rows = _rows((-0.002,), n=3001, seed=4)
    got = compare_to_baseline(rows[-0.002], base)
    d = np.asarray(rows[-0.002], np.float64) - base
    half = norm.ppf(0.95) * d.std(ddof=1) / np.sqrt(len(d))
    assert got["diff"] == pytest.approx(d.mean(), abs=1e-12)
    assert (got["low"], got["high"]) == pytest.approx((d.mean() - half, d.mean() + half), abs=1e-12)
    assert got["significant"] == (d.mean() + half < 0)
    with pytest.raises(ValueError, match="same rows"):
        compare_to_baseline(base[:10], base[:11])


def test_the_rule_leaves_lambda_0_for_equal_models_about_as_often_as_its_level():
    """Three candidates with no true difference from lambda 0, searched in sequence:
    some lambda > 0 is chosen in about alpha = 5% of draws (the family-wise error), not
    more (binomial 99.9% bound over 400 draws)."""
    wins = 0
    draws = 400
    for seed in range(draws):
        base, rows = _rows((0.0, 1e-12, 2e-12), n=2000, seed=seed)
        lams = {0.1: 0.0, 0.3: 1e-12, 1.0: 2e-12}
        _, lam, _, _ = select(lambda lam: lam, lambda lam, m: FitResult(
            1, 1, 0.0, {}, base if lam == 0 else rows[lams[lam]]), (0.0, 0.1, 0.3, 1.0))
        wins += lam > 0
    assert 2 <= wins <= 36  # expected 20; P(X > 36 | p = 0.05) < 0.001


def test_fit_protocol_without_heads_reuses_the_trained_baseline():
    """No cohort mined: the C2AL trainer returns the baseline it was given instead of
    training the same model again; without one it trains lambda 0."""
    built = []

    def build(lam):
        built.append(lam)
        return f"model-{lam}"

    def train(lam, model):
        return FitResult(2, 2, 0.3, {})

    base = ("base", FitResult(4, 6, 0.25, {}))
    model, lam, result, table = fit_protocol(build, train, TrainConfig(), with_heads=False, trained={0.0: base})
    assert (model, lam, result.val_logloss, table, built) == ("base", 0.0, 0.25, None, [])
    model, lam, _, _ = fit_protocol(build, train, TrainConfig(), with_heads=False)
    assert (model, lam, built) == ("model-0.0", 0.0, [0.0])


def test_per_head_grid_is_off_keep_or_one_step_more():
    assert per_head_grid((0.0, 0.1, 0.3, 1.0), 0.3) == (0.0, 0.3, 1.0)
    assert per_head_grid((0.0, 0.1, 0.3, 1.0), 1.0) == (0.0, 1.0)
    assert per_head_grid((0.0, 0.1), 0.1) == (0.0, 0.1)


def test_select_per_head_moves_one_head_at_a_time_and_keeps_the_baseline_as_a_candidate():
    # validation logloss of each per-head vector: switching the first head off helps, then the
    # second head gains from more weight; (0, 0) is the baseline
    losses = {(0.3, 0.3): 0.300, (0.0, 0.3): 0.295, (1.0, 0.3): 0.310, (0.0, 0.0): 0.299, (0.0, 1.0): 0.290}
    built = []

    def build(w):
        built.append(w)
        return f"model-{w}"

    def train(w, model):
        return FitResult(4, 3, losses[w], {})

    known = {(0.0, 0.0): ("base", FitResult(2, 2, 0.299, {})), (0.3, 0.3): (None, 0.300)}
    model, weights, result, table = select_per_head(build, train, 2, (0.0, 0.1, 0.3, 1.0), 0.3, known)
    assert (model, weights, result.val_logloss) == ("model-(0.0, 1.0)", (0.0, 1.0), 0.290)
    # known vectors are not trained again; the search tried head 1 at 0 and 1, then head 2 at 1
    assert built == [(0.0, 0.3), (1.0, 0.3), (0.0, 1.0)]
    assert {tuple(r["aux_weights"]) for r in table} == set(losses)
    # the baseline wins when nothing beats it on validation; a winner known without its model is rebuilt
    losses.update({(0.0, 0.3): 0.31, (0.0, 1.0): 0.31, (0.3, 0.0): 0.33, (0.3, 1.0): 0.32})
    built.clear()
    model, weights, _, _ = select_per_head(build, train, 2, (0.0, 0.1, 0.3, 1.0), 0.3, known)
    assert (model, weights) == ("base", (0.0, 0.0))
    known = {(0.3, 0.3): (None, 0.100)}
    model, weights, result, _ = select_per_head(build, lambda w, m: FitResult(1, 1, losses.get(w, 0.5), {}), 2,
                                                (0.0, 0.3, 1.0), 0.3, known)
    assert weights == (0.3, 0.3) and model == "model-(0.3, 0.3)" and built[-1] == (0.3, 0.3)
    with pytest.raises(ValueError, match="at least one auxiliary head"):
        select_per_head(build, train, 0, (0.0, 0.3), 0.3)


def test_early_stopping_restores_the_best_epoch():
    """The model fit returns is the one of its best validation epoch: evaluating it
    on the validation rows gives the logged best loss, not the last epoch's."""
    table = synthetic_table(3000, seed=2)
    fit_table, val_table = carve_validation(table, 0.2, seed=0)
    set_seed(0)
    # a large learning rate on small data overfits within a few epochs
    model = build_model(FeatureSpec.from_table(fit_table), planted_spec(),
                        ModelConfig(mlp_units=(64,), learning_rate=0.02, aux_weight=0.3))
    config = TrainConfig(epochs=8, patience=2, batch_size=256, aux_weights=(0.3,), select_aux_weight=False)
    result = fit(model, fit_table, val_table, config, seed=0)
    losses = result.history["val_primary_loss"]
    assert result.epochs_run == len(losses) and result.best_epoch == int(np.argmin(losses)) + 1
    assert result.val_logloss == pytest.approx(min(losses))
    val = make_dataset(model, val_table, 256, shuffle=False)
    now = model.training_model.evaluate(val, verbose=0, return_dict=True)["primary_loss"]
    assert now == pytest.approx(min(losses), rel=1e-5)
    if result.best_epoch < result.epochs_run:  # it stopped after the best epoch: weights went back
        assert now < losses[-1]


def _keras_early_stopping(losses, patience):
    """(kept, stopped) epochs of Keras' own EarlyStopping driven with ``losses``."""
    import tensorflow as tf

    model = tf.keras.Sequential([tf.keras.layers.Dense(1, input_shape=(1,))])
    cb = tf.keras.callbacks.EarlyStopping(monitor="val_primary_loss", mode="min", patience=patience)
    cb.set_model(model)
    cb.on_train_begin()
    epoch = 0
    for epoch, loss in enumerate(losses):
        cb.on_epoch_end(epoch, {"val_primary_loss": float(loss)})
        if model.stop_training:
            break
    return cb.best_epoch + 1, epoch + 1


@pytest.mark.parametrize("patience", [1, 2, 3, 4])
def test_replay_early_stopping_agrees_with_keras(patience):
    """bench/convergence.py replays early stopping on recorded curves: the rule must be
    Keras' own (strict improvement, ties do not reset the wait)."""
    rng = np.random.default_rng(patience)
    curves = [[0.5, 0.4, 0.41, 0.39, 0.42, 0.43, 0.38, 0.45, 0.46, 0.47],  # a late minimum
              [0.4, 0.4, 0.4, 0.39, 0.4],                                  # ties are not improvements
              [0.3], [0.5, 0.4, 0.3, 0.2]]                                 # one epoch; still improving
    curves += [list(0.4 + 0.01 * rng.standard_normal(12)) for _ in range(20)]
    for losses in curves:
        assert replay_early_stopping(losses, patience) == _keras_early_stopping(losses, patience), losses
    with pytest.raises(ValueError, match="patience"):
        replay_early_stopping([0.4], 0)
    with pytest.raises(ValueError, match="at least one epoch"):
        replay_early_stopping([], 2)


def test_fixed_budget_trains_exactly_the_epochs():
    table = synthetic_table(1500, seed=3)
    fit_table, val_table = carve_validation(table, 0.2)
    set_seed(0)
    model = build_model(FeatureSpec.from_table(fit_table), None, ModelConfig(mlp_units=(8,)))
    result = fit(model, fit_table, val_table, TrainConfig(epochs=3, early_stopping=False, batch_size=512))
    assert result.epochs_run == 3 and result.best_epoch == 3


def test_fit_records_each_validation_row_loss_for_the_choice():
    from helpers import synthetic_table

    from c2al_tf.models import FeatureSpec, build_model

    table = synthetic_table(rows=3000, seed=2)
    fit_table, val_table = carve_validation(table, 0.2)
    model = build_model(FeatureSpec.from_table(fit_table))
    result = fit(model, fit_table, val_table, TrainConfig(epochs=1, early_stopping=False, batch_size=512))
    assert result.val_losses.shape == (len(val_table),)
    # the mean over rows is the validation logloss Keras reports (a mean over examples)
    assert float(np.mean(result.val_losses, dtype=np.float64)) == pytest.approx(result.val_logloss, abs=2e-4)
