"""Batched TFRecord IO on Beam (c2al_tf.data.records) and record labeling."""
import glob

import apache_beam as beam
import numpy as np
import pytest

import c2al_tf  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
import tensorflow as tf

from c2al_tf.data.records import (BYTES, FLOAT, INT, ReadRecordBatches, WriteRecordBatches, frame_records,
                                  records_to_record_batch)
from c2al_tf.errors import C2ALInputError
from c2al_tf.labels import label_records


def _example(**features):
    feats = {}
    for name, values in features.items():
        if isinstance(values[0] if values else 0.0, bytes):
            feats[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
        elif all(isinstance(v, int) for v in values) and values:
            feats[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=values))
        else:
            feats[name] = tf.train.Feature(float_list=tf.train.FloatList(value=values))
    return tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString()


RECORDS = [_example(y=[1], v=[2.5], c=[b"a"]), _example(y=[0], c=[b"b", b"x"]),
           _example(y=[1], v=[0.5]), _example(y=[1], v=[3.0], c=[b"a"])]


def _write_with_tf(path, records, gzip):
    with tf.io.TFRecordWriter(path, tf.io.TFRecordOptions(compression_type="GZIP" if gzip else "")) as w:
        for r in records:
            w.write(r)


def test_frame_records_is_tfrecord_format(tmp_path):
    path = str(tmp_path / "x.tfrecord")
    _write_with_tf(path, RECORDS, gzip=False)
    assert open(path, "rb").read() == frame_records(RECORDS)
    assert frame_records([]) == b""


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_read_write_round_trip(tmp_path, suffix):
    records = [_example(i=[i], s=[b"r%d" % i]) for i in range(2_500)]
    src = tmp_path / "in"
    src.mkdir()
    _write_with_tf(str(src / f"a{suffix}"), records[:1_000], gzip=bool(suffix))
    _write_with_tf(str(src / f"b{suffix}"), records[1_000:], gzip=bool(suffix))
    with beam.Pipeline() as p:
        batches = p | ReadRecordBatches(str(src / "*"), batch_size=300)
        _ = batches | WriteRecordBatches(str(tmp_path / "out" / "data"), suffix)
    files = sorted(glob.glob(str(tmp_path / "out" / "data*")))
    assert files and all(f.endswith(suffix) for f in files)
    back = list(tf.data.TFRecordDataset(files, compression_type="GZIP" if suffix else "").as_numpy_iterator())
    assert sorted(back) == sorted(records)
    assert not glob.glob(str(tmp_path / "out" / ".temp*"))  # temporary files renamed / removed


def test_read_batches_are_bounded(tmp_path):
    _write_with_tf(str(tmp_path / "a.gz"), RECORDS * 10, gzip=True)
    from apache_beam.testing.util import assert_that, equal_to

    with beam.Pipeline() as p:
        sizes = p | ReadRecordBatches(str(tmp_path / "*.gz"), batch_size=7) | beam.Map(len)
        assert_that(sizes, equal_to([7, 7, 7, 7, 7, 5]))


def test_corrupt_file_names_the_file(tmp_path):
    path = str(tmp_path / "bad.gz")
    open(path, "wb").write(b"not a gzip TFRecord file" * 10)
    with pytest.raises(Exception, match="bad.gz: corrupt TFRecord data"):
        with beam.Pipeline() as p:
            _ = p | ReadRecordBatches(path) | beam.Map(len)


def test_records_to_record_batch_layout():
    batch = records_to_record_batch(RECORDS, {"y": INT, "v": FLOAT, "c": BYTES})
    assert batch.schema.names == ["c", "v", "y"]
    assert batch.column(2).to_pylist() == [[1], [0], [1], [1]]
    assert batch.column(1).to_pylist() == [[2.5], [], [0.5], [3.0]]  # absent -> empty list
    assert batch.column(0).to_pylist() == [[b"a"], [b"b", b"x"], [], [b"a"]]


def test_records_to_record_batch_type_mismatch_names_feature():
    with pytest.raises(C2ALInputError, match="feature 'v'"):
        records_to_record_batch(RECORDS, {"v": INT})
    with pytest.raises(C2ALInputError, match="feature 'z'"):
        records_to_record_batch(RECORDS, {"z": 0})


def test_label_records_appends_aux_features():
    cohorts = [{"name": "hi", "aux_label": "aux__hi", "predicate": {"feature": "v", "min": 2.0, "max": None}},
               {"name": "ca", "aux_label": "aux__ca", "predicate": {"feature": "c", "in": ["a"]}}]
    batch = records_to_record_batch(RECORDS, {"y": INT, "v": FLOAT, "c": BYTES})
    out = label_records(RECORDS, batch, "y", cohorts)
    assert [o[: len(r)] for o, r in zip(out, RECORDS)] == RECORDS  # original bytes kept
    parsed = [tf.train.Example.FromString(o).features.feature for o in out]
    assert [p["aux__hi"].int64_list.value[0] for p in parsed] == [1, 0, 0, 1]
    assert [p["aux__ca"].int64_list.value[0] for p in parsed] == [1, 0, 0, 1]
    assert [list(p["c2al_cohorts"].bytes_list.value) for p in parsed] == [[b"hi", b"ca"], [], [], [b"hi", b"ca"]]
    assert np.array_equal([p["v"].float_list.value[:1] for p in parsed][0], [2.5])
    with pytest.raises(C2ALInputError, match="label 'q'"):
        label_records(RECORDS, batch, "q", cohorts)
