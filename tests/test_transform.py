"""c2al_tf.data.transform: the pipeline's tf.Transform preprocessing, run on Beam
(DirectRunner) over in-memory rows: typing, full-pass vocabularies, quantile
buckets at the tails, the model spec, and bad input."""
import numpy as np
import pytest

import c2al_tf  # noqa: F401
from c2al_tf.data.transform import TransformConfig, model_spec, plan
from c2al_tf.errors import C2ALInputError

N = 4000


def _rows(empty=False):
    """A time-ordered log: category 'late' does not occur in the first half of the
    rows and is the most frequent value of the second half."""
    rng = np.random.default_rng(3)
    rows = []
    for i in range(N):
        late = i >= N // 2 and rng.random() < 0.6
        rows.append({
            "click": [int(rng.random() < 0.2)],
            "aux__x_head": [0],
            "user_value": [float(rng.lognormal())] if i % 7 else [],  # 1/7 missing
            "item_id": [int(rng.integers(0, 40))],
            "hour": [int(rng.integers(0, 24))],
            "surface": [b"late" if late else rng.choice([b"feed", b"search", b"video"])],
            **({"empty": []} if empty else {}),
        })
    return rows


def _analyze(rows, config, tmp_path):
    """Runs the preprocessing on Beam; returns (transformed rows, TFTransformOutput)."""
    import tensorflow as tf

    from helpers import analyze_rows

    spec = {**({"ts": tf.io.VarLenFeature(tf.int64)} if "ts" in rows[0] else {}),
            "click": tf.io.VarLenFeature(tf.int64), "aux__x_head": tf.io.VarLenFeature(tf.int64),
            "user_value": tf.io.VarLenFeature(tf.float32), "item_id": tf.io.VarLenFeature(tf.int64),
            "hour": tf.io.VarLenFeature(tf.int64), "surface": tf.io.VarLenFeature(tf.string),
            **({"empty": tf.io.VarLenFeature(tf.string)} if "empty" in rows[0] else {})}
    return analyze_rows(rows, spec, config, tmp_path, transform=True)


@pytest.fixture(scope="module")
def transformed(tmp_path_factory):
    rows = _rows()
    out, output = _analyze(rows, TransformConfig("click"), tmp_path_factory.mktemp("tft"))
    return rows, out, output


def test_plan_types_columns_like_the_typing_rule():
    dtypes = {"click": "int64", "aux__a_head": "int64", "c2al_cohorts": "string", "user_id": "int64",
              "movieId": "int64", "hour": "int64", "price": "float32", "genre": "string", "store": "int64"}
    kinds = plan(dtypes, TransformConfig("click", categorical=("store",)))
    assert kinds == {"user_id": "categorical", "movieId": "categorical", "hour": "integer", "price": "numeric",
                     "genre": "categorical", "store": "categorical"}
    assert plan(dtypes, TransformConfig("click", numeric=("user_id",)))["user_id"] == "numeric"


@pytest.mark.parametrize("config,pattern", [
    (TransformConfig("click", categorical=("click",)), "feature 'click' is a training target"),
    (TransformConfig("click", categorical=("aux__a_head",)), "feature 'aux__a_head' is a training target"),
    (TransformConfig("click", categorical=("hour",), numeric=("hour",)), "both categorical and numeric: hour"),
])
def test_plan_refuses_targets_as_inputs_and_contradictions(config, pattern):
    with pytest.raises(C2ALInputError, match=pattern):
        plan({"click": "int64", "hour": "int64"}, config)


def test_category_frequent_only_late_in_the_log_gets_its_own_row(transformed):
    """A vocabulary from the first rows (the old Trainer's vocab_rows sample) would send
    'late' to the OOV row; the full-pass vocabulary ranks it first."""
    rows, out, output = transformed
    vocab = output.vocabulary_by_name("surface")
    assert vocab[0] == b"late"
    late = [o["surface"][0] for r, o in zip(rows, out) if r["surface"] == [b"late"]]
    assert set(late) == {1}  # index 1 = most frequent value; 0 is OOV / missing
    assert b"late" not in {r["surface"][0] for r in rows[: N // 2]}


def test_numeric_buckets_give_the_tails_their_own_buckets(transformed):
    rows, out, _ = transformed
    from c2al_tf.models.features import BUCKET_LEVELS

    k = len(BUCKET_LEVELS)
    v = np.array([r["user_value"][0] if r["user_value"] else np.nan for r in rows])
    r = np.array([o["user_value"][0] for o in out])
    assert np.array_equal(np.isnan(v), np.isnan(r))  # missing stays missing
    present = ~np.isnan(v)
    v, r = v[present], r[present]
    assert np.all(np.diff(r[np.argsort(v)]) >= 0)  # monotone in the raw value
    bucket = np.floor(r).astype(int)
    # bucket 0 is the bottom 1%, bucket K the top 1% (quantile sketch error 0.1%)
    assert np.mean(bucket == 0) == pytest.approx(0.01, abs=0.004)
    assert np.mean(bucket == k) == pytest.approx(0.01, abs=0.004)
    assert np.mean(bucket <= 2) == pytest.approx(0.05, abs=0.006)


def test_numeric_columns_also_give_their_z_score(transformed):
    """``x__z`` = (x - mean) / std over the split's present values (float64 reference),
    NaN where x is missing: the magnitude the bounded bucket position loses."""
    rows, out, _ = transformed
    for name in ("user_value", "hour"):
        v = np.array([r[name][0] if r[name] else np.nan for r in rows], np.float64)
        z = np.array([o[name + "__z"][0] for o in out], np.float64)
        assert np.array_equal(np.isnan(v), np.isnan(z))
        present = v[~np.isnan(v)]
        expected = (present - present.mean()) / present.std()
        np.testing.assert_allclose(z[~np.isnan(v)], expected, rtol=0, atol=1e-4)


def test_model_spec_and_vocabularies_match_the_library_path(transformed):
    """The same vocabulary (values and frequency order) and typing as FeatureSpec.from_table
    on the same rows: the pipeline and `c2al train` see the same features."""
    import pandas as pd

    from c2al_tf.data.table import FeatureTable
    from c2al_tf.models.features import FeatureSpec

    rows, out, output = transformed
    spec = model_spec(output, "click")
    assert [f.name for f in spec.numeric] == ["hour", "hour__z", "user_value", "user_value__z"]
    assert {f.name: len(f.boundaries) for f in spec.numeric} == {"hour": 23, "hour__z": 0, "user_value": 23,
                                                                 "user_value__z": 0}
    assert {f.name: f.indices for f in spec.categorical} == {
        "hour__cat": 24, "item_id": 40, "surface": 4}
    frame = pd.DataFrame({"surface": [r["surface"][0].decode() for r in rows],
                          "item_id": [str(r["item_id"][0]) for r in rows]})
    table = FeatureTable(frame, np.array([r["click"][0] for r in rows]), "click", [], ["surface", "item_id"], "t")
    library = {f.name: f.vocabulary for f in FeatureSpec.from_table(table, buckets=False).categorical}
    for name in ("surface", "item_id"):
        assert [v.decode() for v in output.vocabulary_by_name(name)] == library[name]
    assert all(o["item_id"][0] == library["item_id"].index(str(r["item_id"][0])) + 1 for r, o in zip(rows, out))


def test_all_missing_column_is_refused_with_one_line(tmp_path):
    rows = _rows(empty=True)[:300]
    _, output = _analyze(rows, TransformConfig("click"), tmp_path)
    with pytest.raises(C2ALInputError, match="column 'empty' has an empty vocabulary") as e:
        model_spec(output, "click")
    assert "\n" not in str(e.value)


def test_integer_column_with_no_repeated_value_keeps_only_its_numeric_view(tmp_path):
    """A timestamp-like integer (every value unique) has an empty categorical view: the
    model reads its numeric view and the run does not fail."""
    rows = [{**r, "ts": [1_600_000_000 + i]} for i, r in enumerate(_rows()[:300])]
    _, output = _analyze(rows, TransformConfig("click"), tmp_path)
    spec = model_spec(output, "click")
    assert "ts" in [f.name for f in spec.numeric]
    assert "ts__cat" not in [f.name for f in spec.categorical]


def test_op_name_makes_any_column_a_valid_scope_and_keeps_valid_names():
    """A colon in a column name crashed the pipeline's Transform ('quantiles_dis:count'
    is not a valid root scope name); `c2al pipeline run` on such a CSV now passes."""
    import re

    from c2al_tf.data.transform import op_name

    assert op_name("user_value") == "user_value" and op_name("a.b-c") == "a.b-c"
    names = ["dis:count", "dis_count", "Clothing ID", "/x", "é"]
    out = [op_name(n) for n in names]
    assert len(set(out)) == len(out)  # never two columns on one name
    assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", o) for o in out)
