"""content_buckets: a hash of a tf.Example's features, not of its bytes."""
import numpy as np
import pytest
import tensorflow as tf

from c2al_tf.data.content_hash import content_buckets
from c2al_tf.data.records import sample_records

TARGETS = "aux__.*|c2al_cohorts"


def _example(items):
    e = tf.train.Example()
    for key, value in items:
        if isinstance(value, bytes):
            e.features.feature[key].bytes_list.value.append(value)
        elif isinstance(value, float):
            e.features.feature[key].float_list.value.append(value)
        else:
            e.features.feature[key].int64_list.value.append(value)
    return e


def _wire_entry(key, feature):
    """A serialized Features message holding only ``key``: concatenating them writes
    a record whose entry order is ours, not protobuf's."""
    return tf.train.Features(feature={key: feature}).SerializeToString()


def _record(items, order):
    """A serialized Example whose feature entries appear in ``order`` (a permutation)."""
    e = _example(items)
    parts = [_wire_entry(k, e.features.feature[k]) for k, _ in (items[i] for i in order)]
    features = b"".join(parts)  # concatenated Features messages merge into one map
    return b"\x0a" + _varint(len(features)) + features


def _varint(n):
    out = b""
    while True:
        byte, n = n & 0x7F, n >> 7
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out


ROW = [("user_value", 2.5), ("surface", b"feed"), ("item_id", 17), ("click", 1)]


def test_the_same_features_in_any_serialized_order_hash_alike():
    records = [_record(ROW, order) for order in ([0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1])]
    assert len(set(records)) == 3  # three different byte strings ...
    for r in records:  # ... that protobuf reads as the same example
        assert tf.train.Example.FromString(r) == _example(ROW)
    buckets = content_buckets(records, 10_000).numpy()
    assert buckets.tolist() == [buckets[0]] * 3


def test_appended_auxiliary_targets_are_ignored_only_when_asked():
    raw = _example(ROW).SerializeToString()
    mined = raw + _example([("aux__user_value_tail", 1), ("c2al_cohorts", b"user_value_tail")]).SerializeToString()
    plain = content_buckets([raw, mined], 10_000).numpy()
    ignoring = content_buckets([raw, mined], 10_000, TARGETS).numpy()
    assert plain[0] != plain[1]
    assert ignoring[0] == ignoring[1] == plain[0]


def test_a_different_value_or_name_changes_the_bucket():
    base = [("a", 1), ("b", b"x")]
    records = [_example(items).SerializeToString()
               for items in (base, [("a", 2), ("b", b"x")], [("c", 1), ("b", b"x")], [("a", 1)])]
    assert len(set(content_buckets(records, 2 ** 40).numpy().tolist())) == 4


def test_buckets_are_uniform_and_batch_independent():
    rng = np.random.default_rng(0)
    records = [_example([("u", float(rng.normal())), ("i", int(rng.integers(1000)))]).SerializeToString()
               for _ in range(20_000)]
    buckets = content_buckets(records, 10_000).numpy()
    assert buckets.min() >= 0 and buckets.max() < 10_000
    assert abs((buckets < 1_000).mean() - 0.1) < 0.01
    singly = np.concatenate([content_buckets(records[i:i + 7], 10_000).numpy() for i in range(0, 700, 7)])
    np.testing.assert_array_equal(singly, buckets[:700])
    assert content_buckets([], 10).numpy().shape == (0,)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="buckets"):
        content_buckets([b""], 0)
    with pytest.raises(ValueError, match=r"shape \[n\]"):
        content_buckets([[b""]], 10)


def test_the_miner_sample_does_not_depend_on_serialized_order():
    rng = np.random.default_rng(1)
    rows = [[("u", float(rng.normal())), ("s", b"feed"), ("i", int(rng.integers(50)))] for _ in range(2_000)]
    forward = [_record(r, [0, 1, 2]) for r in rows]
    backward = [_record(r, [2, 1, 0]) for r in rows]
    kept_f = {tf.train.Example.FromString(r).SerializeToString(deterministic=True) for r in sample_records(forward, 0.3)}
    kept_b = {tf.train.Example.FromString(r).SerializeToString(deterministic=True) for r in sample_records(backward, 0.3)}
    assert kept_f == kept_b
    assert 0.25 < len(kept_f) / 2_000 < 0.35
    assert sample_records(forward, 1.0) == forward


def test_split_validation_holds_out_the_same_rows_in_any_order():
    import tensorflow as tf

    from c2al_tf.data.content_hash import split_validation

    rng = np.random.default_rng(0)
    rows = {"a": rng.normal(size=2000).astype(np.float32), "b": rng.integers(0, 9, 2000)}
    label = rng.integers(0, 2, 2000)

    def held_out(order):
        ds = tf.data.Dataset.from_tensor_slices(({k: v[order] for k, v in rows.items()}, label[order]))
        fit, val = split_validation(ds, 0.25)
        fit_a = {float(f["a"]) for f, _ in fit}
        val_a = {float(f["a"]) for f, _ in val}
        assert not fit_a & val_a and len(fit_a) + len(val_a) == 2000
        return val_a

    first = held_out(np.arange(2000))
    assert 0.2 < len(first) / 2000 < 0.3
    assert held_out(rng.permutation(2000)) == first


def test_write_in_content_order_is_the_same_file_in_any_input_order(tmp_path):
    import os

    from c2al_tf.data.content_hash import ENTRY_BITS, write_in_content_order

    rng = np.random.default_rng(1)
    records = [_example([("user_value", float(v)), ("surface", b"feed"), ("item_id", int(i))]).SerializeToString()
               for v, i in zip(rng.normal(size=500), rng.integers(0, 50, 500))]
    outputs = []
    for name, order in (("a", np.arange(500)), ("b", rng.permutation(500))):
        path = str(tmp_path / f"{name}.tfrecord")
        n = write_in_content_order(tf.data.Dataset.from_tensor_slices([records[i] for i in order]), path, buckets=8)
        assert n == 500
        outputs.append(list(tf.data.TFRecordDataset(path).as_numpy_iterator()))
    assert outputs[0] == outputs[1]
    assert sorted(outputs[0]) == sorted(records)
    keys = content_buckets(outputs[0], 2 ** ENTRY_BITS).numpy()
    assert (np.diff(keys) >= 0).all()  # sorted by the content key across all buckets
    assert sorted(os.listdir(tmp_path)) == ["a.tfrecord", "b.tfrecord"]  # no part file left behind
