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
