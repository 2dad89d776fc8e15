"""The streaming CSV ExampleGen writes what TFX's CsvExampleGen writes (the same
tf.Examples in the same splits, the same artifact properties) from CSVs with
every shape TFX handles: int, float and string columns, a column of ints and
floats, empty cells, quoted commas and quotes, a cell spanning lines, a blank
line, two files; and refuses what TFX refuses."""
import glob
import json
import os

import pytest


def _write_csvs(folder):
    folder.mkdir()
    header = "id,price,count,name,note,never,late\n"  # never: no value in any row; late: a string from row 1200
    rows = [f'{i},{i * 0.5 if i % 3 else i},{"" if i % 7 == 0 else i % 11},n{i % 13},"a, ""b"" {i}",,'
            f'{"x" if i == 1200 else i}\n' for i in range(1500)]
    rows[10] = '10,1.5,3,multi,"first line\nsecond line, still the cell",,10\n'
    rows[20] = "\n"  # a blank line is skipped
    (folder / "a.csv").write_text(header + "".join(rows[:800]))
    (folder / "b.csv").write_text(header + "".join(rows[800:]))


def _run(executor_cls, data, out):
    from tfx.components.example_gen import utils
    from tfx.proto import example_gen_pb2
    from tfx.types import standard_artifacts, standard_component_specs as specs
    from tfx.utils import proto_utils

    examples = standard_artifacts.Examples()
    examples.uri = str(out)
    output_config = example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=[
        example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=4),
        example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=1)]))
    exec_properties = {
        specs.INPUT_BASE_KEY: str(data),
        specs.INPUT_CONFIG_KEY: proto_utils.proto_to_json(utils.make_default_input_config("*.csv")),
        specs.OUTPUT_CONFIG_KEY: proto_utils.proto_to_json(output_config),
        specs.OUTPUT_DATA_FORMAT_KEY: example_gen_pb2.FORMAT_TF_EXAMPLE,
    }
    executor_cls().Do({}, {specs.EXAMPLES_KEY: [examples]}, exec_properties)
    return examples


def _records(split_dir):
    import tensorflow as tf

    files = sorted(glob.glob(os.path.join(split_dir, "*.gz")))
    assert files, split_dir
    # a proto map's wire order is not fixed: compare the deterministic serialization (TFX splits by it)
    return sorted(tf.train.Example.FromString(r.numpy()).SerializeToString(deterministic=True)
                  for r in tf.data.TFRecordDataset(files, compression_type="GZIP"))


def test_same_examples_and_splits_as_tfx(tmp_path):
    from tfx.components.example_gen.csv_example_gen import executor as tfx_csv

    import tensorflow as tf
    from components.example_gen import executor

    _write_csvs(tmp_path / "data")
    theirs = _run(tfx_csv.Executor, tmp_path / "data", tmp_path / "tfx")
    ours = _run(executor.Executor, tmp_path / "data", tmp_path / "ours")
    assert ours.split_names == theirs.split_names == json.dumps(["train", "eval"])
    assert ours.get_string_custom_property("payload_format") == theirs.get_string_custom_property("payload_format")
    total = 0
    for split in ("train", "eval"):
        mine, tfx_records = _records(tmp_path / "ours" / f"Split-{split}"), _records(tmp_path / "tfx" / f"Split-{split}")
        assert mine == tfx_records, split
        total += len(mine)
    assert total == 1499  # 1,500 rows, one of them blank
    parsed = [tf.train.Example.FromString(r) for r in _records(tmp_path / "ours" / "Split-train")
              + _records(tmp_path / "ours" / "Split-eval")]
    multi = [e for e in parsed if e.features.feature["name"].bytes_list.value == [b"multi"]]
    assert multi[0].features.feature["note"].bytes_list.value == [b"first line\nsecond line, still the cell"]
    assert all(e.features.feature["price"].HasField("float_list") for e in parsed)  # ints and floats: float
    assert all(not e.features.feature["never"].HasField("kind") for e in parsed)
    assert all(e.features.feature["late"].HasField("bytes_list") for e in parsed)
    empty = [e for e in parsed if e.features.feature["id"].int64_list.value[0] % 7 == 0]
    assert empty and all(not e.features.feature["count"].int64_list.value for e in empty)


def test_refuses_what_tfx_refuses(tmp_path):
    from components.example_gen import executor

    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_text("x,y\n1,2\n")
    (data / "b.csv").write_text("x,z\n1,2\n")
    with pytest.raises(RuntimeError, match="different header"):
        _run(executor.Executor, data, tmp_path / "out")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RuntimeError, match="does not match any files"):
        _run(executor.Executor, empty, tmp_path / "out2")
    (data / "b.csv").write_text('x,y\n1,"unbalanced\n')
    with pytest.raises(Exception, match="unbalanced quotes"):
        _run(executor.Executor, data, tmp_path / "out3")


def test_the_component_is_tfx_csv_example_gen_with_the_streaming_executor():
    from tfx import v1 as tfx

    from components.example_gen import StreamingCsvExampleGen, executor

    gen = StreamingCsvExampleGen(input_base="/data")
    assert isinstance(gen, tfx.components.CsvExampleGen)
    assert gen.spec.exec_properties == tfx.components.CsvExampleGen(input_base="/data").spec.exec_properties
    assert gen.executor_spec.executor_class is executor.Executor


def test_ranges_of_a_few_hundred_bytes_give_the_same_records(tmp_path):
    """The second pass reads byte ranges cut at record starts: cut every ~500 bytes (about
    a hundred ranges, the cell spanning lines inside one of them), the records are TFX's."""
    import apache_beam as beam
    from apache_beam.testing.util import assert_that, equal_to
    from tfx.components.example_gen.csv_example_gen import executor as tfx_csv

    from c2al_tf.data.csv_examples import csv_to_examples

    _write_csvs(tmp_path / "data")
    _run(tfx_csv.Executor, tmp_path / "data", tmp_path / "tfx")
    expected = _records(tmp_path / "tfx" / "Split-train") + _records(tmp_path / "tfx" / "Split-eval")
    for chunk in (500, 7_000, 10**9):
        with beam.Pipeline() as p:
            got = p | csv_to_examples(str(tmp_path / "data" / "*.csv"), chunk_bytes=chunk)
            assert_that(got | beam.Map(_deterministic), equal_to(expected))
    # the cuts are there: ~500-byte ranges of a.csv, every record read once
    from c2al_tf.data.csv_examples import _ranges, _ReadRecords

    path = str(tmp_path / "data" / "a.csv")
    first = list(_ReadRecords(500).process((path, 0, None)))
    cuts = [o.value[1] for o in first if isinstance(o, beam.pvalue.TaggedOutput)]
    assert len(cuts) > 50
    ranges = _ranges((path, [-1, *cuts]))
    assert sum(len(list(_ReadRecords().process(r))) for r in ranges) == len(first) - len(cuts) == 800
    with pytest.raises(ValueError, match="chunk_bytes"):
        with beam.Pipeline() as p:
            _ = p | csv_to_examples(str(tmp_path / "data" / "*.csv"), chunk_bytes=0)


def _deterministic(record):
    import tensorflow as tf

    return tf.train.Example.FromString(record).SerializeToString(deterministic=True)

