"""The TFX Trainer's run_fn (c2al's own module, a thin caller of
c2al_tf.tfx_trainer.train_in_trainer), wired as the pipeline wires it: the
CohortMiner's Examples and cohorts.json, the Transform's graph (tf.Transform run on
Beam here, so these tests are slow); the export goes through tf.io.gfile (ram:// is
TensorFlow's in-memory filesystem, with the same API as gs://)."""
import os

import numpy as np
import pytest
import tensorflow as tf

from c2al_tf.data.examples import table_to_examples, write_tfrecord
from c2al_tf.data.readers import table_from_frame
from c2al_tf.labels import aux_labels
from c2al_tf.models.protocol import TrainConfig
from helpers import analyze_records, planted_spec, synthetic_table


def _write_miner_output(root, rows=3000):
    """What CohortMiner hands the Trainer: Examples with aux__ labels, and cohorts.json."""
    spec = planted_spec()
    table = synthetic_table(rows, seed=2)
    mined = table_from_frame(table.to_frame().astype(str), "click")
    for name, values in aux_labels(table.label, table.features, spec.cohorts()).items():
        mined.features[name] = values.astype(np.float64)  # c2al's own targets (a reader refuses them as data)
        mined.numeric.append(name)
    write_tfrecord(mined, f"{root}/examples/Split-train/data_tfrecord-00000-of-00001.gz")
    spec.save(f"{root}/examples/cohorts.json")
    return table


@pytest.fixture(scope="module")
def transform_dir(tmp_path_factory):
    """The Transform's output over the miner's examples (the same rows every test writes)."""
    root = tmp_path_factory.mktemp("transform")
    _write_miner_output(str(root))
    analyze_records(tf.io.gfile.glob(f"{root}/examples/Split-train/*"), "click", root)
    return str(root / "transform")


@pytest.mark.slow
def test_run_fn_reads_and_exports_on_a_remote_filesystem(transform_dir):
    from tfx.components.trainer.fn_args_utils import FnArgs

    from pipeline.trainer_module import run_fn

    root = "ram://c2al-trainer-test"
    try:
        table = _write_miner_output(root)
        fn_args = FnArgs(train_files=[f"{root}/examples/Split-train/*"], transform_graph_path=transform_dir,
                         serving_model_dir=f"{root}/model/serving",
                         custom_config={"label": "click", "epochs": 1, "batch_size": 512, "seed": 0,
                                        "aux_weights": [0.5], "select_aux_weight": False})
        run_fn(fn_args)
        loaded = tf.saved_model.load(f"{root}/model/serving")
        examples = table_to_examples(table.take(np.arange(8)), include_label=False)
        p = loaded.signatures["serving_default"](examples=tf.constant(examples))["probabilities"].numpy()
        assert p.shape == (8, 1) and np.all((p > 0) & (p < 1))
        heads = loaded.signatures["all_heads"](examples=tf.constant(examples))
        assert sorted(heads) == ["aux__user_value_head", "aux__user_value_tail", "probabilities"]
        assert tf.io.gfile.exists(f"{root}/model/serving/assets.extra/trainer.json")
    finally:
        from c2al_tf.io_utils import remove_remote_tree

        remove_remote_tree(root)


def _parse_value_and_click(serialized):
    parsed = tf.io.parse_example(serialized, {"user_value": tf.io.FixedLenFeature([], tf.float32, default_value=0.0),
                                              "click": tf.io.FixedLenFeature([], tf.int64)})
    return {"user_value": parsed["user_value"]}, {"primary": parsed["click"]}


@pytest.mark.slow
def test_run_fn_carves_validation_by_hash_and_chooses_lambda_on_it(tmp_path, transform_dir):
    """The hashed carve-out splits the train files into disjoint fit / validation rows
    (about validation_fraction of them); run_fn chooses lambda on them, 0 included."""
    import json

    from tfx.components.trainer.fn_args_utils import FnArgs

    from c2al_tf.tfx_trainer import trainer_dataset
    from pipeline.trainer_module import run_fn

    root = str(tmp_path)
    _write_miner_output(root)
    files = tf.io.gfile.glob(f"{root}/examples/Split-train/*")
    count = {part: sum(int(tf.shape(y["primary"])[0]) for _, y in trainer_dataset(
        files, _parse_value_and_click, 512, 0, validation_fraction=0.1, part=part))
        for part in ("all", "fit", "validation")}
    assert count["fit"] + count["validation"] == count["all"] == 3000
    assert abs(count["validation"] / 3000 - 0.1) < 0.03
    config = {"label": "click", "epochs": 1, "batch_size": 512, "seed": 0, "aux_weights": [0.3]}
    train = [f"{root}/examples/Split-train/*"]
    run_fn(FnArgs(train_files=train, serving_model_dir=f"{root}/base", transform_graph_path=transform_dir,
                  custom_config={**config, "baseline": True}))
    base = json.loads(open(f"{root}/base/assets.extra/c2al.json").read())
    # the C2AL trainer takes the baseline as its lambda = 0 candidate instead of training it again
    run_fn(FnArgs(train_files=train, serving_model_dir=f"{root}/serving", base_model=f"{root}/base",
                  transform_graph_path=transform_dir, custom_config=config))
    record = json.loads(open(f"{root}/serving/assets.extra/trainer.json").read())
    table_ = record["selection"]
    assert [r["aux_weight"] for r in table_] == [0.0, 0.3]
    assert table_[0]["val_logloss"] == base["validation_logloss"]
    # lambda 0.3 only on evidence: its paired interval against the baseline's export, scored on the
    # same validation rows, below zero
    assert {"diff", "low", "high", "significant"} <= set(table_[1])
    assert record["aux_weight"] == (0.3 if table_[1]["significant"] else 0.0)
    assert table_[1]["diff"] == pytest.approx(table_[1]["val_logloss"] - table_[0]["val_logloss"], abs=2e-4)
    assert record["training"]["validation_fraction"] == TrainConfig().validation_fraction
    meta = json.loads(open(f"{root}/serving/assets.extra/c2al.json").read())
    if record["aux_weight"] == 0:  # fell back: the export is the baseline's
        assert meta["heads"] == ["primary"] and meta["validation_logloss"] == base["validation_logloss"]
    else:
        assert meta["heads"] == ["primary", "aux__user_value_head", "aux__user_value_tail"]


def test_the_carve_out_is_the_same_rows_for_raw_and_mined_examples(tmp_path):
    """The BaselineTrainer may read ExampleGen's examples and the C2AL trainer the
    CohortMiner's (the same records with the auxiliary labels appended), and two
    pipeline runs serialize a row's features in different orders: every one of
    them carves the same validation rows, so lambda's candidates are compared on
    the same rows."""
    from c2al_tf.data.examples import table_to_record_batch
    from c2al_tf.labels import label_records
    from c2al_tf.tfx_trainer import trainer_dataset

    spec_doc = planted_spec()
    table = synthetic_table(2000, seed=3)
    raw = table_to_examples(table)
    mined = label_records(raw, table_to_record_batch(table), "click", spec_doc.cohorts())
    reordered = []
    for r in raw:
        e = tf.train.Example.FromString(r)
        again = tf.train.Example()
        for key in reversed(list(e.features.feature)):
            again.features.feature[key].CopyFrom(e.features.feature[key])
        reordered.append(again.SerializeToString())
    assert reordered != raw
    rows = {}
    for name, records in (("raw", raw), ("mined", mined), ("reordered", reordered)):
        path = str(tmp_path / f"{name}.gz")
        with tf.io.TFRecordWriter(path, options="GZIP") as w:
            for r in records:
                w.write(r)
        for part in ("fit", "validation"):
            values = np.concatenate([x["user_value"].numpy().reshape(-1) for x, _ in trainer_dataset(
                [path], _parse_value_and_click, 256, 0, validation_fraction=0.2, part=part)])
            rows[name, part] = np.sort(values)
    for part in ("fit", "validation"):
        np.testing.assert_array_equal(rows["raw", part], rows["mined", part])
        np.testing.assert_array_equal(rows["raw", part], rows["reordered", part])
    assert len(rows["raw", "fit"]) + len(rows["raw", "validation"]) == 2000
    assert abs(len(rows["raw", "validation"]) / 2000 - 0.2) < 0.04


def test_the_records_cache_orders_by_content_and_is_read_back(tmp_path):
    """trainer_dataset(cache=...) writes the part's records once, sorted by content, and
    reads them back from then on: the same rows written in two orders (two pipeline
    runs), or with the CohortMiner's auxiliary labels appended (the C2AL Trainer's
    copy), give the same shuffled batches for a seed; the cache no longer reads its
    source, and the rows are those of the uncached dataset."""
    from c2al_tf.data.examples import table_to_record_batch
    from c2al_tf.labels import label_records
    from c2al_tf.tfx_trainer import trainer_dataset

    table = synthetic_table(1500, seed=4)
    records = table_to_examples(table)
    mined = label_records(records, table_to_record_batch(table), "click", planted_spec().cohorts())
    paths = []
    for name, rows in (("forward", records), ("backward", mined[::-1])):
        path = str(tmp_path / f"{name}.gz")
        with tf.io.TFRecordWriter(path, options="GZIP") as w:
            for r in rows:
                w.write(r)
        paths.append(path)

    def values(path, cache):
        tf.keras.utils.set_random_seed(0)
        ds = trainer_dataset([path], _parse_value_and_click, 128, 0, 0.2, "fit", True, cache=cache)
        return [list(x["user_value"].numpy().reshape(-1)) for x, _ in ds]

    plain = values(paths[0], None)
    caches = [str(tmp_path / f"cache_{k}") for k in range(2)]
    first, second = values(paths[0], caches[0]), values(paths[1], caches[1])
    assert first == second  # the order the records were written in does not matter
    assert sorted(v for b in first for v in b) == sorted(v for b in plain for v in b)
    assert os.path.exists(caches[0]) and not [n for n in os.listdir(tmp_path) if ".part" in n]
    os.remove(paths[0])  # a written cache no longer reads its source
    assert values(paths[0], caches[0]) == first
