"""Readers: CSV file / directory, TFRecord, Criteo TSV, MovieLens, and bad input."""
import gzip
import os

import numpy as np
import pandas as pd
import pytest

from c2al_tf.data import read_criteo, read_movielens, read_table
from c2al_tf.data.readers import detect_format, table_from_frame
from c2al_tf.errors import C2ALInputError


def write(path, text):
    path.write_text(text)
    return str(path)


CSV = "click,age,country,score\n1,23,us,0.5\n0,41,fr,\n0,35,,1.5\n1,29,us,2\n"


def test_csv_types_and_missing(tmp_path):
    t = read_table(write(tmp_path / "a.csv", CSV), "click")
    assert t.numeric == ["age", "score"] and t.categorical == ["country"]
    assert t.label.tolist() == [1, 0, 0, 1] and t.label.dtype == np.int64
    assert np.isnan(t.features["score"][1]) and t.features["country"][2] == ""
    assert t.features["age"].dtype == np.float64


def test_csv_dir_concatenates_and_checks_header(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    write(d / "part1.csv", CSV)
    write(d / "part2.csv", "click,age,country,score\n0,50,de,3\n")
    t = read_table(str(d), "click")
    assert len(t) == 5 and t.features["country"].tolist()[-1] == "de"
    write(d / "part3.csv", "click,age,nation,score\n0,50,de,3\n")
    with pytest.raises(C2ALInputError, match=r"part3\.csv: header"):
        read_table(str(d), "click")


def test_forced_categorical_and_positive_label(tmp_path):
    path = write(tmp_path / "a.csv", "y,area\nyes,02139\nno,K7L1A\nyes,94043\nno,10001\n")
    with pytest.raises(C2ALInputError, match=r"column 'area' cannot parse 'K7L1A' as a number at line 3; .*list 'area' in categorical"):
        read_table(path, "y", positive_label="yes")
    t = read_table(path, "y", positive_label="yes", categorical=["area"])
    assert t.label.tolist() == [1, 0, 1, 0] and t.features["area"][0] == "02139"
    # a column named like a code is read as categorical without the flag
    t = read_table(write(tmp_path / "z.csv", "y,zip\nyes,02139\nno,K7L1A\n"), "y", positive_label="yes")
    assert t.kind("zip") == "categorical" and t.features["zip"][0] == "02139"


def test_positive_label_comparison(tmp_path):
    path = write(tmp_path / "r.csv", "rating,x\n5,1\n3,2\n4,3\n1,4\n")
    assert read_table(path, "rating", positive_label=">=4").label.tolist() == [1, 0, 1, 0]
    assert read_table(path, "rating", positive_label="5").label.tolist() == [1, 0, 0, 0]
    with pytest.raises(C2ALInputError, match="no row of label column 'rating' matches"):
        read_table(path, "rating", positive_label="7")


def _write_tfrecord(path, rows, gzip_it=False):
    import tensorflow as tf

    opts = tf.io.TFRecordOptions(compression_type="GZIP" if gzip_it else "")
    with tf.io.TFRecordWriter(str(path), opts) as w:
        for row in rows:
            feats = {}
            for k, v in row.items():
                if isinstance(v, bytes):
                    feats[k] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))
                elif isinstance(v, int):
                    feats[k] = tf.train.Feature(int64_list=tf.train.Int64List(value=[v]))
                elif isinstance(v, list):
                    feats[k] = tf.train.Feature(bytes_list=tf.train.BytesList(value=v))
                else:
                    feats[k] = tf.train.Feature(float_list=tf.train.FloatList(value=[v]))
            w.write(tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString())
    return str(path)


@pytest.mark.parametrize("gz", [False, True])
def test_tfrecord(tmp_path, gz):
    rows = [{"click": 1, "age": 3, "w": 0.5, "c": b"x", "tags": [b"a", b"b"]},
            {"click": 0, "age": 4, "c": b"y", "tags": [b"a"]}]
    path = _write_tfrecord(tmp_path / ("data.tfrecord" + (".gz" if gz else "")), rows, gzip_it=gz)
    assert detect_format(path) == "tfrecord"
    t = read_table(path, "click")
    assert t.label.tolist() == [1, 0]
    assert set(t.numeric) == {"age", "w"} and t.categorical == ["c"]
    assert np.isnan(t.features["w"][1]) and t.features["age"].tolist() == [3.0, 4.0]
    assert "tags" not in t.features  # multi-valued: skipped with a warning


def test_tfrecord_directory_like_tfx_examplegen(tmp_path):
    split = tmp_path / "Split-train"
    split.mkdir()
    _write_tfrecord(split / "data_tfrecord-00000-of-00001.gz", [{"click": 1, "x": 1.0}, {"click": 0, "x": 2.0}],
                    gzip_it=True)
    t = read_table(str(tmp_path), "click")
    assert len(t) == 2


def test_tfrecord_bad_label(tmp_path):
    path = _write_tfrecord(tmp_path / "d.tfrecord", [{"click": 1, "x": 1.0}, {"click": 3, "x": 2.0}])
    with pytest.raises(C2ALInputError, match=r"d\.tfrecord record 2"):
        read_table(path, "click")


def test_criteo(tmp_path):
    ints = ["1", "", "5"] + ["0"] * 10
    cats = ["68fd1e64", ""] + ["abcd0000"] * 24
    line = "\t".join(["1"] + ints + cats)
    line0 = "\t".join(["0"] + ["2"] * 13 + ["05db9164"] * 26)
    path = write(tmp_path / "day_0.txt", line + "\n" + line0 + "\n")
    t = read_criteo(path)
    assert len(t.numeric) == 13 and len(t.categorical) == 26
    assert t.label.tolist() == [1, 0] and np.isnan(t.features["I2"][0]) and t.features["C2"][0] == ""
    bad = write(tmp_path / "bad.txt", line + "\n" + "\t".join(["0"] * 10) + "\n")
    with pytest.raises(C2ALInputError, match=r"bad\.txt: line 2 has 10 fields, expected 40"):
        read_criteo(bad)


def test_movielens(movielens_dir):
    t = read_movielens(movielens_dir)
    assert len(t) == 100_000
    assert {"user_id", "item_id", "gender", "occupation", "zip_code", "genre"} <= set(t.categorical)
    assert {"age", "release_year", "timestamp"} <= set(t.numeric)
    assert 0.5 < t.positive_rate < 0.6  # rating >= 4 in ML-100K: 55.4%
    # the generic entry point reads the same directory
    assert read_table(movielens_dir, "rating", positive_label=">=4").label.sum() == t.label.sum()


# ---------------------------------------------------------------- bad input

BAD = [
    ("empty.csv", "", "click", r"empty\.csv: file is empty"),
    ("header_only.csv", "click,x\n", "click", r"header_only\.csv: has a header but no data rows"),
    ("nolabel.csv", "y,x\n1,2\n", "click", r"nolabel\.csv: label column 'click' not found"),
    ("labels.csv", "click,x\n1,2\n2,3\n", "click",
     r"labels\.csv: label column 'click' must be 0/1 but is '2' at line 3; pass (--positive-label|positive_label)"),
    ("emptylabel.csv", "click,x\n1,2\n,3\n", "click", r"emptylabel\.csv: label column 'click' is empty at line 3"),
    ("numbers.csv", "click,x\n1,2\n0,3.5\n1,4e\n0,7\n", "click",
     r"numbers\.csv: column 'x' cannot parse '4e' as a number at line 4"),
    ("ragged.csv", "click,x,y\n1,2,3\n0,3\n", "click", r"ragged\.csv: line 3 has 2 fields, expected 3"),
    ("long.csv", "click,x\n1,2\n0,3,9\n", "click", r"long\.csv: line 3 has 3 fields, expected 2"),
    ("dupe.csv", "click,x,x\n1,2,3\n", "click", r"dupe\.csv: header repeats column 'x'"),
]


@pytest.mark.parametrize("name,text,label,pattern", BAD, ids=[b[0] for b in BAD])
def test_bad_input_raises_one_line(tmp_path, name, text, label, pattern):
    path = write(tmp_path / name, text)
    with pytest.raises(C2ALInputError, match=pattern) as err:
        read_table(path, label)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("name,text,label,pattern", BAD, ids=[b[0] for b in BAD])
def test_bad_input_cli_exit_code(tmp_path, run_cli, name, text, label, pattern):
    path = write(tmp_path / name, text)
    code, out, err = run_cli("inspect", "--data", path, "--label", label)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("c2al: error: ") and name in lines[0]


def test_missing_path(run_cli, tmp_path):
    code, _, err = run_cli("inspect", "--data", tmp_path / "nope.csv", "--label", "y")
    assert code == 2 and "nope.csv: no such file or directory" in err


def test_binary_garbage_tfrecord(tmp_path):
    path = tmp_path / "junk.tfrecord"
    path.write_bytes(os.urandom(200))
    with pytest.raises(C2ALInputError, match=r"junk\.tfrecord"):
        read_table(str(path), "click")


def test_gzip_csv_not_mistaken_for_tfrecord(tmp_path):
    path = tmp_path / "a.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write(CSV)
    assert detect_format(str(path)) == "csv"
    assert len(read_table(str(path), "click")) == 4


# --------------------------------------------------------------------------- real-data quirks

def test_utf8_bom_is_not_part_of_the_first_column(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfuser_id,click,age\nu1,1,23\nu2,0,41\nu1,0,35\n")
    t = read_table(str(path), "click")
    assert t.features.columns.tolist() == ["user_id", "age"]
    bom_label = tmp_path / "bom_label.csv"
    bom_label.write_bytes(b"\xef\xbb\xbf" + CSV.encode())  # the label is the first column
    assert read_table(str(bom_label), "click").label.tolist() == [1, 0, 0, 1]


def test_gz_named_plain_csv_and_truncated_gzip(tmp_path):
    plain = write(tmp_path / "plain.csv.gz", CSV)
    with pytest.raises(C2ALInputError, match=r"plain\.csv\.gz: named \.gz but not gzip-compressed"):
        read_table(plain, "click")
    body = gzip.compress((CSV * 2000).encode())
    truncated = tmp_path / "cut.csv.gz"
    truncated.write_bytes(body[: len(body) // 2])
    with pytest.raises(C2ALInputError, match=r"cut\.csv\.gz: truncated or corrupt gzip data") as e:
        read_table(str(truncated), "click")
    assert "\n" not in str(e.value) and "TFRecord" not in str(e.value)


def test_latin1_file_names_the_column_and_the_encoding(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("click,age,city\n1,23,Paris\n0,41,K\u00f6ln\n".encode("latin-1"))
    with pytest.raises(C2ALInputError, match=r"latin\.csv: column 'city' is not valid UTF-8.*latin-1.*iconv"):
        read_table(str(path), "click")


def test_positive_label_exact_value_wins_over_comparison(tmp_path):
    path = write(tmp_path / "adult.csv", "age,income\n39,<=50K\n50,>50K\n38,<=50K\n53,>50K\n28,<=50K\n")
    assert read_table(path, "income", ">50K").label.tolist() == [0, 1, 0, 1, 0]
    assert read_table(path, "income", "<=50K").label.tolist() == [1, 0, 1, 0, 1]
    assert read_table(path, "income", "=>50K").label.tolist() == [0, 1, 0, 1, 0]
    numeric = write(tmp_path / "ratings.csv", "age,rating\n1,5\n2,3\n3,4\n")
    assert read_table(numeric, "rating", ">=4").label.tolist() == [1, 0, 1]  # comparisons still work


def test_leakage_warning(tmp_path, run_cli):
    from c2al_tf.data import generate
    from c2al_tf.data.leakage import leaking_features
    from c2al_tf.data.readers import table_from_frame

    frame = generate(3000, 0)
    frame["outcome"] = frame["click"].map({0: "no", 1: "yes"})
    frame["click_copy"] = frame["click"] * 2.5
    table = table_from_frame(frame, "click")
    assert sorted(name for name, _ in leaking_features(table)) == ["click_copy", "outcome"]
    # ids whose values each appear once, and honest features, are not flagged
    assert not leaking_features(table_from_frame(generate(3000, 0), "click"))
    path = tmp_path / "leak.csv"
    frame.to_csv(path, index=False)
    code, out, err = run_cli("inspect", "--data", path, "--label", "click")
    assert code == 0
    assert "c2al: warning:" in err and "column 'outcome' predicts label 'click'" in err and "--drop outcome" in err


def test_content_order_depends_on_content_not_position():
    """The same rows in another row or column order come out in the same sequence
    (the miner's sample and TFDV's sketch read them so); the seed changes it."""
    import pandas as pd

    from c2al_tf.data.readers import table_from_frame

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=3000), "b": rng.choice(["x", "y", "z"], 3000).astype(object),
                          "click": rng.integers(0, 2, 3000)})
    table = table_from_frame(frame, "click", source="t")
    order = rng.permutation(3000)
    moved = table_from_frame(frame.iloc[order][["click", "b", "a"]].reset_index(drop=True), "click", source="t")
    first, second = table.content_order(seed=1), moved.content_order(seed=1)
    assert sorted(first) == list(range(3000))
    assert list(order[second]) == list(first)
    assert list(table.content_order(seed=2)) != list(first)


def test_table_sample_is_the_shared_rate_rule_in_content_order():
    """FeatureTable.sample keeps the rows whose hash is below max_rows / rows of the
    range (c2al_tf.data.sampling, the CohortMiner's rule), in content order, the same
    rows whatever the row order; all rows when there are few."""
    from c2al_tf.data.sampling import keep, sample_rate

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=20_000), "click": rng.integers(0, 2, 20_000)})
    table = table_from_frame(frame, "click", source="t")
    kept = table.sample(5_000, seed=1)
    assert 4_600 < len(kept) < 5_400
    order = table.content_order(seed=1)
    assert list(kept) == [i for i in order if i in set(kept)]
    moved = table_from_frame(frame.iloc[::-1].reset_index(drop=True), "click", source="t")
    assert sorted(20_000 - 1 - moved.sample(5_000, seed=1)) == sorted(kept)
    assert list(table.sample(20_000, seed=1)) == list(order)
    assert sample_rate(5_000, 20_000) == 0.25 and sample_rate(10, 5) == 1.0
    assert list(keep([0, 2 ** 31, 2 ** 32 - 1], 0.5)) == [True, False, False]


def test_not_utf8_names_the_encoding_and_prints_one_line(tmp_path, run_cli):
    (tmp_path / "w.csv").write_bytes(b"a,b,click\n1,caf\xe9 \x93q\x94,1\n2,x,0\n")
    code, _, err = run_cli("train", "--data", tmp_path / "w.csv", "--label", "click", "--export", tmp_path / "m")
    assert code == 2 and "Windows-1252" in err and "iconv -f cp1252" in err and len(err.strip().splitlines()) == 1, err
    # binary data named .csv: one line, no "Exception ignored ... UnicodeDecodeError" before it
    (tmp_path / "b.csv").write_bytes(bytes(range(1, 256)) * 20 + b"\n" + bytes(range(200, 256)) * 30)
    code, _, err = run_cli("train", "--data", tmp_path / "b.csv", "--label", "click", "--export", tmp_path / "m")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Exception ignored" not in err, err


def test_sequence_examples_are_refused(tmp_path):
    import tensorflow as tf

    with tf.io.TFRecordWriter(str(tmp_path / "s.tfrecord")) as w:
        for i in range(4):
            s = tf.train.SequenceExample()
            s.context.feature["click"].int64_list.value.append(i % 2)
            s.context.feature["a"].float_list.value.append(i)
            s.feature_lists.feature_list["clicks"].feature.add().int64_list.value.append(1)
            w.write(s.SerializeToString())
    with pytest.raises(C2ALInputError, match=r"s.tfrecord: records are tf.SequenceExamples \(feature lists clicks\)"):
        read_table(str(tmp_path / "s.tfrecord"), "click")


def test_check_trainable(tmp_path):
    frame = pd.DataFrame({"a": [1.5, 2.5, 3.5, 4.5], "e": ["", "", "", ""], "click": [0, 1, 0, 1]})
    table = table_from_frame(frame, "click", source="d.csv")
    with pytest.raises(C2ALInputError, match=r"d.csv: column 'e' is missing in every row.*with drop e"):
        table.check_trainable()
    one_class = table_from_frame(frame.drop(columns="e").assign(click=0), "click", source="d.csv")
    with pytest.raises(C2ALInputError, match=r"label 'click' is 0 in all 4 rows; to mine cohorts"):
        one_class.check_trainable("mine cohorts")
    table_from_frame(frame.drop(columns="e"), "click").check_trainable()


def test_mine_refuses_an_all_empty_column(tmp_path, run_cli):
    from c2al_tf.data import write_csv

    write_csv(str(tmp_path / "base.csv"), 600, seed=0)
    pd.read_csv(tmp_path / "base.csv").assign(empty="").to_csv(tmp_path / "d.csv", index=False)
    code, _, err = run_cli("mine", "--data", tmp_path / "d.csv", "--label", "click", "--out", tmp_path / "c.json")
    assert code == 2 and "column 'empty' is missing in every row" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "c.json").exists()


def test_leakage_auc_equals_sklearn_with_ties():
    from sklearn.metrics import roc_auc_score

    from c2al_tf.data.leakage import _auc

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 500)
    score = np.round(rng.normal(size=500) + y * 0.4, 1)  # many ties
    ref = roc_auc_score(y, score)
    assert _auc(y, score) == pytest.approx(max(ref, 1 - ref), abs=1e-12)
    assert _auc(np.zeros(5), np.arange(5)) == 0.5


def test_one_row_gets_a_message_about_the_label_not_the_statistics(tmp_path, run_cli):
    (tmp_path / "row1.csv").write_text("a,b,click\n1,x,0\n")
    for command in (["experiment", "--out", tmp_path / "e"], ["train", "--export", tmp_path / "m"],
                    ["mine", "--out", tmp_path / "c.json"]):
        code, _, err = run_cli(command[0], "--data", tmp_path / "row1.csv", "--label", "click", *command[1:])
        assert code == 2 and "label 'click' is 0 in all 1 rows" in err and len(err.strip().splitlines()) == 1, err
