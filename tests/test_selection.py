"""Validated cohort selection (c2al_tf/selection.py)."""
import json

import numpy as np
import pytest
from scipy import stats

from c2al_tf.errors import C2ALInputError
from c2al_tf.selection import SelectionConfig, format_rows, paired_interval


def test_paired_interval_against_scipy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.40, 0.3, 5000), rng.normal(0.41, 0.3, 5000)
    mean, lo, hi = paired_interval(a, b)
    d = a - b
    ref = stats.norm.interval(0.95, loc=d.mean(), scale=stats.sem(d))
    np.testing.assert_allclose([mean, lo, hi], [d.mean(), *ref], rtol=1e-9)


def test_selection_config_refuses_bad_values():
    with pytest.raises(C2ALInputError, match="candidates must be >= 0"):
        SelectionConfig(candidates=-1)
    with pytest.raises(C2ALInputError, match="weight must be > 0"):
        SelectionConfig(candidates=2, weight=0.0)
    assert SelectionConfig().candidates == 0  # off by default: mining costs one statistics pass


def test_format_rows_marks_confirmed_pairs():
    rows = [{"model": "baseline (no head)", "logloss": 0.4, "epochs": 2},
            {"model": "pair on spend", "logloss": 0.39, "epochs": 3, "vs_baseline": (-0.01, -0.02, -0.001),
             "vs_control": (-0.01, -0.02, -0.002), "significant": True, "confirmed": True}]
    text = format_rows(rows)
    assert "pair on spend" in text and text.splitlines()[-1].endswith("yes") and "significant" in text


@pytest.mark.slow
def test_null_world_confirms_no_pair(tmp_path, run_cli):
    """On the null scenario the statistics mode ranks pairs (a global interaction
    looks like a contrast; the default mode keeps none), but no pair's heads lower held-out logloss against both
    the baseline and the random control, so the written spec has no pair."""
    data = tmp_path / "null.csv"
    code, _, err = run_cli("generate", "--rows", 30000, "--scenario", "null", "--seed", 3, "--out", data)
    assert code == 0, err
    out = tmp_path / "cohorts.json"
    code, stdout, err = run_cli("mine", "--data", data, "--label", "click", "--out", out, "--validate", 2,
                                "--by", "stats")
    assert code == 0, err
    assert "baseline (no head)" in stdout and "control (random cohorts)" in stdout
    assert "no pair confirmed on held-out rows" in stdout
    assert json.loads(out.read_text())["pairs"] == []


def test_mine_validate_bad_value_is_one_line(tmp_path, run_cli):
    data = tmp_path / "d.csv"
    run_cli("generate", "--rows", 500, "--out", data)
    code, _, err = run_cli("mine", "--data", data, "--label", "click", "--out", tmp_path / "c.json",
                           "--validate", "-2")
    assert code == 2 and "--validate must be >= 0" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "c.json").exists()
