"""Pairwise mode: a cohort that flips how two other features interact is found with
its planted tails; a global interaction and main effects give no pair; the reference
is cross-fitted (out of fold); the stagewise fit reaches the saturated MLE and leaves
noise alone."""
import numpy as np
from scipy.special import expit, logit

from c2al_tf.cohorts.miner import mine_table
from c2al_tf.cohorts.pairwise import apply_steps, blocks, cohort_gain, crossfit_predictions, fit_stagewise
from c2al_tf.data.readers import table_from_frame
from helpers import flipped_world as _world


def test_a_flipped_interaction_is_found_with_its_tails():
    table, user_value, _ = _world(flip=True)
    spec, results = mine_table(table, by="pairwise")
    assert spec.doc["method"] == "pairwise"
    pair = spec.pairs[0]
    assert pair["axis"] == ["user_value"], [(r.axis, r.z) for r in results]
    bottom = [c["predicate"] for c in (pair["head"], pair["tail"]) if c["predicate"]["min"] is None][0]
    top = [c["predicate"] for c in (pair["head"], pair["tail"]) if c["predicate"]["max"] is None][0]
    assert abs(float(np.mean(user_value < bottom["max"])) - 0.10) <= 0.025, bottom
    assert abs(float(np.mean(user_value >= top["min"])) - 0.10) <= 0.025, top
    # the three-way effect also shows on the two features it involves, never above the axis that holds it
    kept = [r.axis[0] for r in results if r.significant]
    assert kept[0] == "user_value" and set(kept) <= {"user_value", "surface", "category", "country"}, kept


def test_the_same_rows_in_another_order_mine_the_same_ranking():
    """Beam hands the miner the same rows in a different order each run: with the same
    bins, the random folds and halves are dealt by row content, so the ranking
    (divergences, z, cohorts) is the same, up to float summation order. (TFDV's
    quantile sketch, which sets the bins, is approximate and may itself move a cut
    point slightly with the order.)"""
    from c2al_tf.cohorts.miner import binnings_and_axes, table_to_record_batches
    from c2al_tf.cohorts.pairwise import mine_pairwise
    from c2al_tf.cohorts.statistics import global_statistics, run_statistics

    _, _, frame = _world(flip=True, n=30_000, seed=6)
    table = table_from_frame(frame, "click", source="world")
    stats = run_statistics(table_to_record_batches(table), lambda p: global_statistics(p, 100))
    binnings, axes = binnings_and_axes(stats, "click", None, 0.02, categorical=table.categorical)
    runs = []
    for order in (np.arange(len(frame)), np.random.default_rng(1).permutation(len(frame)), np.arange(len(frame))[::-1]):
        t = table_from_frame(frame.iloc[order].reset_index(drop=True), "click", source="world")
        results = mine_pairwise(table_to_record_batches(t), t.label, axes, binnings)
        runs.append([(r.axis, round(r.z, 6), round(r.divergence, 9), r.significant) for r in results])
    assert runs[1] == runs[0] and runs[2] == runs[0]
    assert any(r[3] for r in runs[0])  # a ranking with kept axes, not all zeros


def test_a_global_interaction_and_main_effects_give_no_pair():
    table, _, _ = _world(flip=False)
    spec, results = mine_table(table, by="pairwise")
    assert spec.pairs == [], [(r.axis, r.z) for r in results]


def test_reference_is_out_of_fold():
    rng = np.random.default_rng(7)  # not the folds' seed: the labels must not be the fold assignment
    y = rng.integers(0, 2, 4000).astype(float)
    codes = {"noise": rng.integers(0, 5, 4000), "id": np.arange(4000) % 1000}  # 1000 ids of 4 rows
    q = expit(crossfit_predictions(y, codes, seed=0))
    # an in-sample fit would memorize the ids; out of fold the labels are unpredictable
    assert abs(np.mean(q[y == 1]) - np.mean(q[y == 0])) < 0.02 and q.min() > 0 and q.max() < 1


def test_stagewise_fit_reaches_the_cell_log_odds_and_leaves_noise_alone():
    """One strong block: repeated Newton steps converge to the saturated model's
    maximum-likelihood logits, logit(cell mean) (float64 reference); a block of pure
    noise is never added (no step passes the Bonferroni test)."""
    rng = np.random.default_rng(1)
    n = 60_000
    codes = {"a": rng.integers(0, 3, n), "noise": rng.integers(0, 8, n)}
    truth = np.array([-2.0, 0.0, 1.5])[codes["a"]]
    y = (rng.uniform(size=n) < expit(truth)).astype(float)
    cells = blocks(codes)
    rows = np.arange(n)
    start = np.full(n, logit(y.mean()))
    steps = fit_stagewise(cells, rows, y, start, rounds=50)
    assert {name for name, _ in steps} <= {"a", "(intercept)"}, [s[0] for s in steps]
    fitted = apply_steps(steps, cells, rows, start)
    for k in range(3):
        m = codes["a"] == k
        np.testing.assert_allclose(fitted[m][0], logit(y[m].mean()), atol=0.01)
    # a cohort's correction over pure noise adds nothing: gain exactly 0
    mean, se, scored = cohort_gain(np.arange(20_000), y, fitted, cells, np.random.default_rng(0))
    assert scored == 20_000 and mean == 0.0 and se == 0.0


def test_numeric_values_reads_missing_rows_of_tfx_batches_as_nan():
    """TFX's tf.Example batches hold ``large_list`` columns; a row without the feature
    is an empty list (a CSV cell left empty). The miner read such a column as ragged
    arrays and failed; it reads NaN there."""
    import pyarrow as pa

    from c2al_tf.cohorts.pairwise import numeric_values

    for kind in (pa.large_list, pa.list_):
        batch = pa.RecordBatch.from_arrays([pa.array([[1.5], [], None, [4.0, 9.0]], type=kind(pa.float32()))],
                                           ["x"])
        got = numeric_values([batch, batch.slice(0, 1)], "x")
        np.testing.assert_array_equal(got, [1.5, np.nan, np.nan, 4.0, 1.5])
    assert np.isnan(numeric_values([batch], "absent")).all()
