"""CohortMiner inside a LocalDagRunner pipeline after CsvExampleGen + StatisticsGen:
the spec finds the planted axis and the written aux labels equal y * 1[cohort]."""
import glob
import json
import os

import numpy as np
import pytest

pytestmark = pytest.mark.slow


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
    gen = tfx.components.CsvExampleGen(input_base=str(data))
    stats = tfx.components.StatisticsGen(examples=gen.outputs["examples"])
    miner = CohortMiner(examples=gen.outputs["examples"], statistics=stats.outputs["statistics"], label="click",
                        max_pairs=3,
                        axes="user_value,ad_quality,region,bid", cross_top=2)
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
