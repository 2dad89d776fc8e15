"""CohortMiner inside a LocalDagRunner pipeline after CsvExampleGen + StatisticsGen:
the spec finds the planted axis and the written aux labels equal y * 1[cohort];
the executor rejects bad inputs with a message naming them and writes nothing."""
import glob
import os
import re

import numpy as np
import pytest


@pytest.mark.slow
def test_cohort_miner_in_local_pipeline(tmp_path):
    import tensorflow as tf
    from tfx import v1 as tfx
    from tfx.orchestration import metadata

    from c2al_tf.cohorts import CohortSpec
    from c2al_tf.cohorts.spec import predicate_mask
    from c2al_tf.data import write_csv
    from components.cohort_miner import CohortMiner

    data = tmp_path / "data"
    data.mkdir()
    truth = write_csv(str(data / "train.csv"), 30_000, seed=11)
    # a categorical value with no positive at all (a common real-data shape that once
    # crashed TFDV's weighted quantiles in the mining pass)
    import pandas as pd

    frame = pd.read_csv(data / "train.csv")
    frame["shop"] = np.where((frame["click"] == 0) & (np.arange(len(frame)) % 25 == 0), "z", "a")
    frame.to_csv(data / "train.csv", index=False)
    gen = tfx.components.CsvExampleGen(input_base=str(data))
    stats = tfx.components.StatisticsGen(examples=gen.outputs["examples"])
    miner = CohortMiner(examples=gen.outputs["examples"], statistics=stats.outputs["statistics"], label="click",
                        max_pairs=3,
                        axes="user_value,ad_quality,region,bid", cross_top=2, by="stats")
    root = tmp_path / "root"
    pipeline = tfx.dsl.Pipeline(
        pipeline_name="miner_test", pipeline_root=str(root), components=[gen, stats, miner],
        metadata_connection_config=metadata.sqlite_metadata_connection_config(str(root / "mlmd.sqlite")),
        beam_pipeline_args=["--direct_num_workers=1"])
    tfx.orchestration.LocalDagRunner().run(pipeline)

    spec_path = glob.glob(str(root / "CohortMiner" / "cohorts" / "*" / "cohorts.json"))
    assert len(spec_path) == 1
    spec = CohortSpec.load(spec_path[0])
    assert os.path.exists(os.path.join(os.path.dirname(spec_path[0]), "single_axis_statistics.pb"))
    assert spec.pairs[0]["axis"] == [truth.axis]
    assert spec.pairs[0]["head"]["predicate"]["min"] == pytest.approx(truth.head_min, rel=0.15)

    out_dirs = glob.glob(str(root / "CohortMiner" / "output_examples" / "*"))
    assert len(out_dirs) == 1
    for split in ("train", "eval"):
        files = glob.glob(os.path.join(out_dirs[0], f"Split-{split}", "*.gz"))
        assert files
        rows = {"click": [], "user_value": [], "ad_quality": []}
        aux = {c["aux_label"]: [] for c in spec.cohorts()}
        for record in tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator():
            ex = tf.train.Example.FromString(record).features.feature
            rows["click"].append(ex["click"].int64_list.value[0])
            v = ex["user_value"].float_list.value
            rows["user_value"].append(v[0] if v else np.nan)
            q = ex["ad_quality"].float_list.value
            rows["ad_quality"].append(q[0] if q else np.nan)
            for name in aux:
                aux[name].append(ex[name].int64_list.value[0])
        y = np.array(rows["click"])
        for c in spec.cohorts():
            columns = {k: np.array(v) for k, v in rows.items() if k != "click"}
            expected = y * predicate_mask(c["predicate"], columns)
            np.testing.assert_array_equal(np.array(aux[c["aux_label"]]), expected)
        assert sum(aux[spec.pairs[0]["tail"]["aux_label"]]) > 0


def _artifacts(tmp_path, frame, payload=None, anomalies=None):
    """Real TFX artifacts for the executor: Examples (one TFRecord per split),
    ExampleStatistics from TFDV, optional ExampleAnomalies."""
    import tensorflow_data_validation as tfdv
    from tfx.components.util import examples_utils
    from tfx.types import artifact_utils, standard_artifacts

    from c2al_tf.data.examples import write_tfrecord
    from c2al_tf.data.readers import table_from_frame
    from components.cohort_miner.component import CohortSpecArtifact

    def make(cls, name, splits=True):
        a = cls()
        a.uri = str(tmp_path / name)
        os.makedirs(a.uri, exist_ok=True)
        if splits:
            a.split_names = artifact_utils.encode_split_names(["train", "eval"])
        return a

    examples, stats = make(standard_artifacts.Examples, "examples"), make(standard_artifacts.ExampleStatistics, "stats")
    if payload is not None:
        examples_utils.set_payload_format(examples, payload)
    table = table_from_frame(frame, "click", source="test")
    for split in ("train", "eval"):
        os.makedirs(os.path.join(examples.uri, f"Split-{split}"))
        write_tfrecord(table, os.path.join(examples.uri, f"Split-{split}", "data_tfrecord-00000-of-00001.gz"))
        os.makedirs(os.path.join(stats.uri, f"Split-{split}"))
        proto = tfdv.generate_statistics_from_dataframe(frame)
        with open(os.path.join(stats.uri, f"Split-{split}", "FeatureStats.pb"), "wb") as f:
            f.write(proto.SerializeToString())
    inputs = {"examples": [examples], "statistics": [stats]}
    if anomalies is not None:
        art = make(standard_artifacts.ExampleAnomalies, "anomalies")
        os.makedirs(os.path.join(art.uri, "Split-train"))
        with open(os.path.join(art.uri, "Split-train", "SchemaDiff.pb"), "wb") as f:
            f.write(anomalies.SerializeToString())
        inputs["anomalies"] = [art]
    out = {"cohorts": [make(CohortSpecArtifact, "cohorts", splits=False)], "output_examples": [make(standard_artifacts.Examples,
                                                                                       "out")]}
    return inputs, out


def _frame(rows=400):
    import pandas as pd

    rng = np.random.default_rng(0)
    return pd.DataFrame({"v": rng.normal(size=rows), "c": rng.choice(["a", "b", "c"], rows),
                         "click": rng.integers(0, 2, rows)})


@pytest.mark.parametrize("case, props, match", [
    ("payload", {"label": "click"}, "(FORMAT_TF_EXAMPLE); got FORMAT_TF_SEQUENCE_EXAMPLE"),
    ("anomalies", {"label": "click"}, "split 'train': feature 'v': Out-of-range values"),
    ("split", {"label": "click", "mining_split": "test"}, "mining_split 'test' is not a split"),
    ("label", {"label": "clicked"}, "label 'clicked'"),
])
def test_executor_rejects_bad_inputs(tmp_path, case, props, match):
    from tensorflow_metadata.proto.v0 import anomalies_pb2
    from tfx.proto import example_gen_pb2

    from c2al_tf.errors import C2ALInputError
    from components.cohort_miner.executor import Executor

    payload = example_gen_pb2.FORMAT_TF_SEQUENCE_EXAMPLE if case == "payload" else None
    anomalies = None
    if case == "anomalies":
        anomalies = anomalies_pb2.Anomalies()
        anomalies.anomaly_info["v"].short_description = "Out-of-range values"
    inputs, outputs = _artifacts(tmp_path, _frame(), payload, anomalies)
    with pytest.raises(C2ALInputError, match=re.escape(match)):
        Executor().Do(inputs, outputs, props)
    assert not os.path.exists(os.path.join(outputs["cohorts"][0].uri, "cohorts.json"))


def test_executor_mines_pairwise_without_a_baseline_model(tmp_path):
    """by='pairwise' needs no model: the executor mines the mining split in memory and
    finds the flipped-interaction tail that `c2al mine --by pairwise` finds."""
    from c2al_tf.cohorts import CohortSpec
    from components.cohort_miner.executor import Executor
    from helpers import flipped_world as _world

    table, user_value, frame = _world(flip=True, n=40_000)
    inputs, outputs = _artifacts(tmp_path, frame)
    Executor().Do(inputs, outputs, {"label": "click", "by": "pairwise"})
    spec = CohortSpec.load(os.path.join(outputs["cohorts"][0].uri, "cohorts.json"))
    assert spec.doc["method"] == "pairwise" and spec.pairs[0]["axis"] == ["user_value"]
    bottom = [c["predicate"] for c in (spec.pairs[0]["head"], spec.pairs[0]["tail"])
              if c["predicate"]["min"] is None][0]
    assert abs(float(np.mean(user_value < bottom["max"])) - 0.10) <= 0.025


def _anomalies_artifact(uri, problems, blessed=None):
    import tensorflow as tf
    from tensorflow_metadata.proto.v0 import anomalies_pb2
    from tfx.types import artifact_utils, standard_artifacts

    art = standard_artifacts.ExampleAnomalies()
    art.uri = uri
    art.split_names = artifact_utils.encode_split_names(["train", "eval"])
    anomalies = anomalies_pb2.Anomalies()
    for name, text in problems.items():
        anomalies.anomaly_info[name].short_description = text
    tf.io.gfile.makedirs(f"{uri}/Split-train")
    with tf.io.gfile.GFile(f"{uri}/Split-train/SchemaDiff.pb", "wb") as f:
        f.write(anomalies.SerializeToString())
    if blessed is not None:
        art.set_json_value_custom_property("blessed", blessed)
    return art


def test_anomaly_gate_reads_blessed_and_works_on_remote_artifacts():
    """The gate follows ExampleValidator's 'blessed' property and reads the details
    through tf.io.gfile, so a gs:// artifact is checked too (ram:// here)."""

    from c2al_tf.errors import C2ALInputError
    from components.cohort_miner.executor import check_anomalies

    root = "ram://c2al-anomalies-test"
    try:
        bad = _anomalies_artifact(f"{root}/bad", {"v": "Out-of-range values"}, {"train": 0, "eval": 1})
        with pytest.raises(C2ALInputError, match=r"split 'train': feature 'v': Out-of-range values"):
            check_anomalies([bad])
        # no 'blessed' property (an older ExampleValidator): SchemaDiff.pb decides
        old = _anomalies_artifact(f"{root}/old", {"v": "Out-of-range values"})
        with pytest.raises(C2ALInputError, match="feature 'v'"):
            check_anomalies([old])
        check_anomalies([_anomalies_artifact(f"{root}/good", {}, {"train": 1, "eval": 1})])
        # blessed says no, but no details could be read: still refused
        unblessed = _anomalies_artifact(f"{root}/unblessed", {}, {"train": 0, "eval": 1})
        with pytest.raises(C2ALInputError, match="did not bless"):
            check_anomalies([unblessed])
    finally:
        from c2al_tf.io_utils import remove_remote_tree

        remove_remote_tree(root)
