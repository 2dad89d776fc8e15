"""Residuals mode: the deviance equals scipy's binomial log-likelihood ratio, a cohort
whose response the baseline averages away is found with its planted tail, a main
effect the baseline models is not a cohort, and a calibrated baseline gives no pair."""
import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from scipy.special import expit

from c2al_tf.cohorts.miner import mine_table
from c2al_tf.cohorts.residuals import deviance
from c2al_tf.data.readers import table_from_frame


def test_deviance_equals_scipy_binomial_likelihood_ratio():
    rng = np.random.default_rng(0)
    n = rng.integers(20, 400, size=(3, 7)).astype(np.float64)
    y = np.floor(n * rng.uniform(0.05, 0.9, size=n.shape))
    e = n * rng.uniform(0.05, 0.9, size=n.shape)
    ref = 2 * (sps.binom.logpmf(y, n, y / n) - sps.binom.logpmf(y, n, e / n)).sum(-1)
    np.testing.assert_allclose(deviance(n, y, e, eps=0.0), ref, rtol=1e-9)
    assert np.all(deviance(n, y, y, eps=0.0) == 0)


@pytest.fixture(scope="module")
def world():
    """The bottom 10% of user_value flip their response to surface; country has a plain
    main effect; bid has none. ``neglecting`` is a baseline that knows everything but
    the flip, ``calibrated`` the true probability."""
    rng = np.random.default_rng(3)
    n = 60_000
    user_value = rng.lognormal(1.0, 1.0, n)
    surface = rng.choice(["feed", "story", "search", "video"], n)
    country = rng.choice(["us", "in", "br"], n)
    bid = rng.lognormal(0.0, 0.5, n)
    effect = pd.Series(surface).map({"feed": 1.0, "story": 0.3, "search": -0.3, "video": -1.0}).to_numpy()
    main = pd.Series(country).map({"us": 0.6, "in": -0.6, "br": 0.0}).to_numpy()
    tail = user_value < np.quantile(user_value, 0.10)
    calibrated = expit(-1.6 + np.where(tail, -effect, effect) + main)
    neglecting = expit(-1.6 + effect + main)
    frame = pd.DataFrame({"user_value": user_value, "surface": surface, "country": country, "bid": bid,
                          "click": (rng.uniform(size=n) < calibrated).astype(int)})
    return table_from_frame(frame, "click", source="world"), neglecting, calibrated, user_value


def test_the_cohort_a_baseline_neglects_is_found_with_its_tail(world):
    table, neglecting, _, user_value = world
    spec, results = mine_table(table, by="residuals", predictions=neglecting)
    assert spec.doc["method"] == "residuals"
    pair = spec.pairs[0]
    assert pair["axis"] == ["user_value"]
    bottom = [c["predicate"] for c in (pair["head"], pair["tail"]) if c["predicate"]["min"] is None][0]
    share = float(np.mean(user_value < bottom["max"]))
    assert abs(share - 0.10) <= 0.025, share
    kept = {r.axis[0] for r in results if r.significant}
    assert "country" not in kept and "bid" not in kept, kept


def test_a_calibrated_baseline_leaves_no_pair(world):
    table, _, calibrated, _ = world
    spec, results = mine_table(table, by="residuals", predictions=calibrated)
    assert spec.pairs == [], [(r.axis, r.z) for r in results]


def test_residuals_need_predictions(world):
    from c2al_tf.errors import C2ALInputError

    with pytest.raises(C2ALInputError, match="by='residuals' needs predictions"):
        mine_table(world[0], by="residuals")
