"""The generator's planted structure, streaming and CLI."""
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from c2al_tf.data import generate, ground_truth, read_table, write_csv


@pytest.fixture(scope="module")
def frame():
    return generate(120_000, seed=3)


def test_shape_and_base_rate(frame):
    assert list(frame.columns)[-1] == "click"
    assert 0.02 <= frame.click.mean() <= 0.15
    # long-tailed ids: the top 1% of users hold far more than 1% of rows
    counts = frame.user_id.value_counts()
    assert counts.iloc[: max(1, len(counts) // 100)].sum() / len(frame) > 0.15


def test_cohort_supports_match_truth(frame):
    truth = ground_truth()
    cohort = truth.cohort_of(frame[truth.axis])
    assert abs((cohort == "tail").mean() - truth.tail_quantile) < 0.01
    assert abs((cohort == "head").mean() - (1 - truth.head_quantile)) < 0.01


def test_per_cohort_logistic_regression_shows_conflict(frame):
    truth = ground_truth()
    cohort = truth.cohort_of(frame[truth.axis])
    X = np.c_[frame.ad_quality, 2 * frame.discount - 1]
    coef = {c: LogisticRegression().fit(X[cohort == c], frame.click[cohort == c]).coef_[0]
            for c in ("tail", "majority", "head")}
    # ad quality: the tail's coefficient has the opposite sign of the majority's
    assert coef["tail"][0] < -0.5 and coef["majority"][0] > 0.4 and coef["head"][0] > coef["majority"][0]
    # discount: the head's coefficient has the opposite sign of the majority's
    assert coef["head"][1] < -0.3 and coef["majority"][1] > 0.1 and coef["tail"][1] > 0.8


def test_decoys_shift_marginal_rate_but_not_structure(frame):
    X = np.c_[frame.ad_quality, 2 * frame.discount - 1]
    rates = frame.groupby("region").click.mean()
    assert rates.max() - rates.min() > 0.005  # a mild marginal shift
    coefs = [LogisticRegression().fit(X[frame.region == r], frame.click[frame.region == r]).coef_[0][0]
             for r in ("r0", "r5")]
    assert all(c > 0 for c in coefs)  # same sign as the whole population


def test_deterministic_and_seeded():
    a, b, c = generate(5000, seed=1), generate(5000, seed=1), generate(5000, seed=2)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_write_csv_streams_and_reads_back(tmp_path):
    path = tmp_path / "s.csv"
    truth = write_csv(str(path), 250_001, seed=0)  # more than two chunks
    table = read_table(str(path), "click")
    assert len(table) == 250_001 and truth.axis in table.numeric and "user_id" in table.categorical
    assert not list(tmp_path.glob(".*tmp*"))


def test_generate_cli(tmp_path, run_cli):
    out = tmp_path / "g.csv"
    code, stdout, _ = run_cli("generate", "--rows", 2000, "--out", out, "--seed", 4, "--truth", tmp_path / "t.json")
    assert code == 0 and "2,000 rows" in stdout
    assert len(pd.read_csv(out)) == 2000
    code, _, err = run_cli("generate", "--rows", 0, "--out", out)
    assert code == 2 and "--rows" in err


# -- named scenarios -----------------------------------------------------------------------

def _contrast(frame, mask, a, b, inside, control):
    """Difference in differences of log-odds: (a vs b) among ``inside`` rows minus
    (a vs b) among ``control`` rows, within mask; main effects of a/b cancel."""
    from scipy.special import logit

    def rate(m):
        return logit(frame.click[mask & m].mean())

    return (rate(a & inside) - rate(b & inside)) - (rate(a & control) - rate(b & control))


@pytest.mark.parametrize("scenario", ["rate_shift", "interaction", "extremes", "decoys", "int_ids", "flips"])
def test_each_scenario_plants_what_its_truth_says(scenario):
    """Cohort shares match the planted quantiles, and each cohort's surface x category
    and device x category responses have the signs of its coefficients."""
    from c2al_tf.data.synthetic import scenario_names

    assert scenario in scenario_names()
    truth = ground_truth(scenario)
    frame = generate(200_000, 1, scenario)
    assert truth.axis in frame and frame.item_id.dtype.kind == "i" and frame.store.dtype.kind == "i"
    cohort = truth.cohort_of(frame[truth.axis])
    assert abs((cohort == "tail").mean() - truth.tail_quantile) < 0.005
    assert abs((cohort == "head").mean() - (1 - truth.head_quantile)) < 0.005
    low = frame.item_category < 10
    mid = (frame.item_category >= 10) & (frame.item_category < 20)
    rest = frame.item_category >= 20
    sc = (frame.surface == "feed"), (frame.surface == "video"), low, rest
    dc = (frame.device == "ios"), (frame.device == "android"), mid, rest
    for name in ("majority", "tail", "head"):
        c = truth.coefficients[name]
        mask = pd.Series(cohort == name, index=frame.index)
        if abs(c["s"]) >= 0.8:
            assert np.sign(_contrast(frame, mask, *sc)) == np.sign(c["s"]), (name, "s")
        if abs(c["t"]) >= 1.0:
            assert np.sign(_contrast(frame, mask, *dc)) == np.sign(c["t"]), (name, "t")


def test_oracle_probabilities_are_the_generators():
    """The oracle is the law the labels were drawn from (mean and logloss agree with
    the labels), beats a constant, and beats the axis-blind oracle on the planted tail
    only because the tail responds differently; on the null world the two coincide.
    ``planted`` (the original generator) too, its per-user and per-ad biases included."""
    from c2al_tf.data.synthetic import oracle_probabilities

    def logloss(y, p):
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

    frame = generate(60_000, 4, "extremes")
    y = frame.click.to_numpy(float)
    p = oracle_probabilities(frame, "extremes", 4)
    assert abs(p.mean() - y.mean()) < 0.01
    assert logloss(y, p) < logloss(y, np.full_like(y, y.mean()))
    tail = ground_truth("extremes").cohort_of(frame.spend) == "tail"
    blind = oracle_probabilities(frame, "extremes", 4, axis_blind=True)
    assert logloss(y[tail], p[tail]) < logloss(y[tail], blind[tail])
    np.testing.assert_allclose(blind[~tail & (ground_truth("extremes").cohort_of(frame.spend) == "majority")],
                               p[~tail & (ground_truth("extremes").cohort_of(frame.spend) == "majority")])
    null = generate(5_000, 4, "null")
    np.testing.assert_allclose(oracle_probabilities(null, "null", 4),
                               oracle_probabilities(null, "null", 4, axis_blind=True))
    planted = generate(60_000, 4)
    y, p = planted.click.to_numpy(float), oracle_probabilities(planted, "planted", 4)
    blind = oracle_probabilities(planted, "planted", 4, axis_blind=True)
    deciles = np.digitize(p, np.quantile(p, np.linspace(0.1, 0.9, 9)))
    for d in range(10):  # calibrated within each decile of the oracle's probability
        assert abs(y[deciles == d].mean() - p[deciles == d].mean()) < 0.015, d
    cohort = ground_truth().cohort_of(planted.user_value)
    for c in ("tail", "head"):
        assert logloss(y[cohort == c], p[cohort == c]) < logloss(y[cohort == c], blind[cohort == c]), c
    np.testing.assert_allclose(p[cohort == "majority"], blind[cohort == "majority"])


@pytest.mark.parametrize("scenario", ["flips", "rate_shift", "lone"])
def test_the_law_is_linear_in_its_design(scenario):
    """Every world's logit is exactly a linear function of law_design's columns (the
    correctly specified model bench/headroom.py fits): least squares on them reproduces
    it, so a logistic regression on these columns can reach the Bayes-optimal predictor."""
    from scipy.sparse.linalg import lsqr
    from scipy.special import logit

    from c2al_tf.data.scenarios import WORLDS, law_design
    from c2al_tf.data.synthetic import oracle_probabilities

    frame = generate(8_000, 2, scenario)
    target = logit(oracle_probabilities(frame, scenario, 2))
    design = law_design(WORLDS[scenario], frame)
    assert design.shape[0] == len(frame)
    fitted = design @ lsqr(design, target, atol=1e-12, btol=1e-12, iter_lim=20_000)[0]
    np.testing.assert_allclose(fitted, target, atol=1e-6)


def test_null_scenario_plants_nothing():
    truth = ground_truth("null")
    assert truth.axis is None and truth.tail_max is None
    frame = generate(100_000, 2, "null")
    top = frame.user_value >= frame.user_value.quantile(0.9)
    bottom = frame.user_value < frame.user_value.quantile(0.1)
    assert abs(frame.click[top].mean() - frame.click[bottom].mean()) < 0.02
    assert set(truth.cohort_of(frame.user_value)) == {"majority"}


def test_generate_cli_scenarios(tmp_path, run_cli):
    import json

    code, out, err = run_cli("generate", "--rows", 500, "--out", tmp_path / "d.csv", "--scenario", "extremes",
                             "--truth", tmp_path / "t.json")
    assert code == 0, err
    truth = json.loads((tmp_path / "t.json").read_text())
    assert truth["scenario"] == "extremes" and truth["axis"] == "spend" and truth["tail_quantile"] == 0.02
    assert "spend" in (tmp_path / "d.csv").read_text().splitlines()[0]
    code, out, err = run_cli("generate", "--rows", 500, "--out", tmp_path / "n.csv", "--scenario", "null")
    assert code == 0 and "nothing planted" in out
    code, _, err = run_cli("generate", "--rows", 10, "--out", tmp_path / "x.csv", "--scenario", "nope")
    assert code == 2 and "--scenario nope: unknown; scenarios are planted, rate_shift, interaction" in err
    assert not (tmp_path / "x.csv").exists()
