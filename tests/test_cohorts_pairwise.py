"""Pairwise mode: a cohort that flips how two other features interact is found with
its planted tail; a global interaction, main effects and an axis that only shifts the
rate give no pair; the reference is cross-fitted (out of fold)."""
import numpy as np
import pandas as pd
from scipy.special import expit

from c2al_tf.cohorts.miner import mine_table
from c2al_tf.cohorts.pairwise import crossfit_predictions, rank_score
from c2al_tf.data.readers import table_from_frame


def _world(flip: bool, n: int = 60_000, seed: int = 4):
    """surface x category for everybody (+-1), a country main effect, bid without effect;
    with ``flip`` the bottom 10% of user_value reverse surface x category (a three-way
    effect), otherwise user_value only shifts the rate (a main effect)."""
    rng = np.random.default_rng(seed)
    user_value = rng.lognormal(1.0, 1.0, n)
    surface = rng.choice(["feed", "story", "video"], n, p=[0.5, 0.2, 0.3])
    category = rng.choice(["c0", "c1", "c2", "c3"], n)
    country = rng.choice(["us", "in", "br"], n)
    bid = rng.lognormal(0.0, 0.5, n)
    sc = np.where(category == "c0", 1.0, 0.0) * np.where(surface == "feed", 1.0, np.where(surface == "video", -1.0, 0))
    tail = user_value < np.quantile(user_value, 0.10)
    main = pd.Series(country).map({"us": 0.5, "in": -0.5, "br": 0.0}).to_numpy()
    logit = -1.6 + main + (np.where(tail, -1.5, 1.0) * sc if flip else sc + 0.4 * np.log(user_value))
    frame = pd.DataFrame({"user_value": user_value, "surface": surface, "category": category, "country": country,
                          "bid": bid, "click": (rng.uniform(size=n) < expit(logit)).astype(int)})
    return table_from_frame(frame, "click", source="world"), user_value, frame


def test_a_flipped_interaction_is_found_with_its_tail():
    table, user_value, _ = _world(flip=True)
    spec, results = mine_table(table, by="pairwise")
    assert spec.doc["method"] == "pairwise"
    pair = spec.pairs[0]
    assert pair["axis"] == ["user_value"], [(r.axis, r.z) for r in results]
    bottom = [c["predicate"] for c in (pair["head"], pair["tail"]) if c["predicate"]["min"] is None][0]
    share = float(np.mean(user_value < bottom["max"]))
    assert abs(share - 0.10) <= 0.025, share
    # a three-way effect also shows on its two other features, ranked below the axis that holds it
    kept = [r.axis[0] for r in results if r.significant]
    assert kept[0] == "user_value" and set(kept) <= {"user_value", "surface", "category"}, kept


def test_a_global_interaction_and_main_effects_give_no_pair():
    table, _, _ = _world(flip=False)
    spec, results = mine_table(table, by="pairwise")
    assert spec.pairs == [], [(r.axis, r.z) for r in results]


def test_reference_is_out_of_fold_and_rank_score_is_robust():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 4000).astype(float)
    codes = {"noise": rng.integers(0, 5, 4000), "id": np.arange(4000) % 1000}  # 1000 ids of 4 rows
    q = crossfit_predictions(y, codes, {}, seed=0)
    # an in-sample fit would memorize the ids; out of fold the labels are unpredictable
    auc_like = np.mean(q[y == 1]) - np.mean(q[y == 0])
    assert abs(auc_like) < 0.02 and q.min() > 0 and q.max() < 1
    x = np.array([1.0, 1e9, np.nan, -5.0, 2.0])
    r = rank_score(x)
    assert r[2] == 0 and np.all(np.abs(r) <= 1) and r[1] == r.max() and r[3] == r.min()
