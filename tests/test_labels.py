"""Auxiliary labels: numpy and tf.data agree and follow y * 1[x in C]."""
import numpy as np
import pytest
import pandas as pd
import tensorflow as tf

from c2al_tf.labels import aux_labels, tf_aux_labels

COHORTS = [
    {"name": "hi", "aux_label": "aux__hi", "predicate": {"feature": "v", "min": 2.0, "max": None}},
    {"name": "mid", "aux_label": "aux__mid", "predicate": {"feature": "v", "min": 1.0, "max": 2.0}},
    {"name": "cat", "aux_label": "aux__cat", "predicate": {"feature": "c", "in": ["a", "7"]}},
    {"name": "cross", "aux_label": "aux__cross",
     "predicate": {"all": [{"feature": "v", "min": None, "max": 2.0}, {"feature": "c", "in": ["a"]}]}},
    {"name": "numcat", "aux_label": "aux__numcat", "predicate": {"feature": "v", "in": ["2"]}},
]
FRAME = pd.DataFrame({"v": [0.5, 1.0, 2.0, np.nan, 1.5, 3.0], "c": ["a", "b", "7", "a", "", "a"]})
Y = np.array([1, 1, 1, 1, 0, 1])


def test_numpy_labels():
    out = aux_labels(Y, FRAME, COHORTS)
    assert out["aux__hi"].tolist() == [0, 0, 1, 0, 0, 1]      # min inclusive
    assert out["aux__mid"].tolist() == [0, 1, 0, 0, 0, 0]     # max exclusive, NaN in no cohort
    assert out["aux__cat"].tolist() == [1, 0, 1, 1, 0, 1]
    assert out["aux__cross"].tolist() == [1, 0, 0, 0, 0, 0]
    assert out["aux__numcat"].tolist() == [0, 0, 1, 0, 0, 0]
    # a positive outside every cohort keeps 0 on every auxiliary head
    assert all(out[k][1] == 0 for k in ("aux__hi", "aux__cat", "aux__cross"))


def test_tf_labels_equal_numpy():
    features = {"v": tf.constant(FRAME.v.to_numpy(np.float32).reshape(-1, 1)),
                "c": tf.constant(FRAME.c.to_numpy().astype(str).reshape(-1, 1))}
    ds = tf.data.Dataset.from_tensor_slices((features, Y.reshape(-1, 1).astype(np.float32))).batch(4)
    ds = ds.map(lambda f, y: tf_aux_labels(y, f, COHORTS))
    got = {k: np.concatenate([b[k].numpy().reshape(-1) for b in ds]) for k in aux_labels(Y, FRAME, COHORTS)}
    for k, v in aux_labels(Y, FRAME, COHORTS).items():
        np.testing.assert_array_equal(got[k], v, err_msg=k)


def test_appended_features_pattern_matches_what_aux_suffixes_writes():
    """The names AuxSuffixes appends (and only those) match APPENDED_FEATURES, the
    pattern the Trainer's validation hash leaves out."""
    import re

    import tensorflow as tf

    from c2al_tf.cohorts.spec import AUX_PREFIX
    from c2al_tf.labels import APPENDED_FEATURES, MEMBERSHIP_FEATURE, AuxSuffixes

    cohorts = [{"name": "user_value_tail", "aux_label": AUX_PREFIX + "user_value_tail"}]
    names = set(tf.train.Example.FromString(AuxSuffixes(cohorts).get(1, 1)).features.feature)
    assert names == {AUX_PREFIX + "user_value_tail", MEMBERSHIP_FEATURE}
    assert all(re.fullmatch(APPENDED_FEATURES, n) for n in names)
    assert not any(re.fullmatch(APPENDED_FEATURES, n) for n in ("click", "user_value", "auxiliary", "c2al_cohorts_x"))


def test_with_cohort_labels_and_with_miner_labels_give_the_heads_targets():
    import tensorflow as tf

    from c2al_tf.errors import C2ALInputError
    from c2al_tf.labels import with_cohort_labels, with_miner_labels

    cohorts = [{"name": "hi", "aux_label": "aux__hi", "predicate": {"feature": "x", "min": 0.5, "max": None}}]
    x = np.array([0.1, 0.7, 0.9, 0.2], np.float32)
    y = np.array([1, 1, 0, 0], np.int64)
    ds = with_cohort_labels(tf.data.Dataset.from_tensor_slices(({"x": x}, y)).batch(4), cohorts)
    features, labels = next(iter(ds))
    assert labels["primary"].numpy().tolist() == [1, 1, 0, 0] and labels["aux__hi"].numpy().tolist() == [0, 1, 0, 0]
    weighted = with_cohort_labels(tf.data.Dataset.from_tensor_slices(({"x": x}, y, np.ones(4))).batch(4), cohorts)
    assert set(next(iter(weighted))[2]) == {"primary", "aux__hi"}
    # the CohortMiner's examples: targets leave the features
    parsed = tf.data.Dataset.from_tensor_slices({"x": x, "click": y, "aux__hi": y * (x >= 0.5),
                                                  "c2al_cohorts": np.array([b"", b"hi", b"hi", b""])}).batch(4)
    features, labels = next(iter(with_miner_labels(parsed, "click")))
    assert set(features) == {"x"} and labels["aux__hi"].numpy().tolist() == [0, 1, 0, 0]
    with pytest.raises(C2ALInputError, match="no feature aux__lo in the examples"):
        with_miner_labels(parsed, "click", [{"name": "lo", "aux_label": "aux__lo", "predicate": {"feature": "x",
                                                                                                  "max": 0.5}}])
    with pytest.raises(C2ALInputError, match="holding the label 'label'"):
        with_miner_labels(parsed, "label")
