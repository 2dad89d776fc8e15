"""The typing rule: integer-coded ids are categorical, other integers get a numeric
and a categorical view, real numbers get quantile buckets; overrides win; the
serving parser and the in-memory path give the model the same inputs."""
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from c2al_tf.data.column_types import looks_like_id_name
from c2al_tf.data.readers import read_table, table_from_frame
from c2al_tf.models.features import CATEGORICAL_VIEW, FeatureSpec


@pytest.mark.parametrize("name,is_id", [
    ("user_id", True), ("movieId", True), ("userID", True), ("Clothing ID", True), ("zip1", True),
    ("postal_code", True), ("item-id", True), ("id", True),
    ("item_category", False), ("paid", False), ("android", False), ("hour", False), ("I1", False), ("age", False)])
def test_id_names(name, is_id):
    assert looks_like_id_name(name) is is_id


def _frame(rows=3000, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "user_id": rng.integers(0, 500, rows).astype(str),           # id by name
        "item": rng.integers(0, 300, rows).astype(str),               # integer code, no id in its name
        "I1": rng.geometric(0.05, rows).astype(str),                  # a Criteo-like count
        "flag": rng.integers(0, 2, rows).astype(str),
        "store": np.char.zfill(rng.integers(0, 999, rows).astype(str), 5),  # leading zeros
        "value": np.round(rng.lognormal(size=rows), 3).astype(str),
        "surface": rng.choice(["feed", "story"], rows),
        "click": rng.integers(0, 2, rows).astype(str)})


def test_default_rule_and_reasons():
    t = table_from_frame(_frame(), "click")
    kinds = {c: t.kind(c) for c in t.features.columns}
    assert kinds == {"user_id": "categorical", "item": "integer", "I1": "integer", "flag": "numeric",
                     "store": "categorical", "value": "numeric", "surface": "categorical"}
    assert "id" in t.reasons["user_id"] and "leading zeros" in t.reasons["store"]
    # integers written as floats ("3.0", "0.0") are integers, not codes with leading zeros
    floats = table_from_frame(pd.DataFrame({"hour": ["0.0", "3.0", "23.0", "0.0"], "click": ["0", "1", "0", "1"]}),
                              "click")
    assert floats.kind("hour") == "integer"
    # a count keeps its numeric view (and also gets a categorical view of its frequent values)
    assert "I1" in t.numeric and t.features["I1"].dtype == np.float64


def test_overrides_win():
    t = table_from_frame(_frame(), "click", numeric=["item", "user_id"], categorical=["I1"])
    assert t.kind("item") == "numeric" and t.kind("user_id") == "numeric" and t.kind("I1") == "categorical"
    assert t.reasons["item"] == "forced (numeric)"


def test_feature_spec_views_and_buckets():
    t = table_from_frame(_frame(), "click")
    spec = FeatureSpec.from_table(t)
    cats = {f.name: f for f in spec.categorical}
    assert "item" + CATEGORICAL_VIEW in cats and cats["item" + CATEGORICAL_VIEW].source == "item"
    assert "I1" + CATEGORICAL_VIEW in cats and "user_id" in cats
    assert spec.columns.count("item") == 1
    value = {f.name: f for f in spec.numeric}["value"]
    v = t.features["value"].to_numpy()
    assert value.boundaries[0] == pytest.approx(np.quantile(v, 0.01)) and value.boundaries[-1] == pytest.approx(
        np.quantile(v, 0.99))
    assert value.boundaries == sorted(set(value.boundaries))
    assert FeatureSpec.from_dict(spec.to_dict()) == spec


def test_serving_parser_equals_in_memory_inputs():
    """tf.Example parsing (serving, TFRecord training) and table_to_inputs (library
    training) give every input, views included, the same values."""
    from c2al_tf.data.examples import table_to_examples

    frame = _frame(200)
    frame.loc[3, "item"] = ""  # missing
    t = table_from_frame(frame, "click")
    spec = FeatureSpec.from_table(t)
    parsed = spec.parse_examples(tf.constant(table_to_examples(t, spec.column_dtypes(), include_label=False)))
    memory = spec.table_to_inputs(t)
    assert sorted(parsed) == sorted(memory) == sorted(spec.names)
    for name in spec.names:
        got, want = parsed[name].numpy(), memory[name]
        if got.dtype == object:
            assert [g.decode() for g in got.reshape(-1)] == list(want.reshape(-1)), name
        else:
            np.testing.assert_allclose(got, want.astype(np.float32), equal_nan=True, err_msg=name)
    assert "item" + CATEGORICAL_VIEW not in memory and np.isnan(memory["item"][3, 0])  # one input per column


def test_tfrecord_int64_features_follow_the_rule(tmp_path):
    from c2al_tf.data.examples import write_tfrecord

    t = table_from_frame(_frame(), "click")
    path = write_tfrecord(t, str(tmp_path / "d.tfrecord.gz"))
    back = read_table(path, "click")
    assert {c: back.kind(c) for c in ("user_id", "item", "I1", "value", "surface")} == {
        "user_id": "categorical", "item": "integer", "I1": "integer", "value": "numeric", "surface": "categorical"}


def test_the_pipeline_transform_reads_is_categorical_from_the_schema(tmp_path):
    from c2al_tf.models.protocol import TrainConfig
    from pipeline.pipeline import transform_config

    (tmp_path / "schema.pbtxt").write_text(
        'feature { name: "item" type: INT int_domain { is_categorical: true } }\n'
        'feature { name: "I1" type: INT int_domain { min: 0 } }\n'
        'feature { name: "surface" type: BYTES }\n')
    assert transform_config("click", ["I1"], str(tmp_path / "schema.pbtxt"), TrainConfig()).categorical == ("I1", "item")
    assert transform_config("click", None, None, TrainConfig()).categorical == ()


def test_inspect_prints_type_and_reason(tmp_path, run_cli):
    _frame().to_csv(tmp_path / "d.csv", index=False)
    code, out, err = run_cli("inspect", "--data", tmp_path / "d.csv", "--label", "click")
    assert code == 0, err
    line = [x for x in out.splitlines() if x.startswith("user_id")][0]
    assert "categorical" in line and "integer-coded id" in line
    assert "integer" in [x for x in out.splitlines() if x.startswith("item ")][0]
