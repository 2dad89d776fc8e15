"""The runnable examples in examples/, on small settings (slow: they train models)."""
import os
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_keras_tfrs_ranking_adds_c2al_to_a_tfrs_dcn_model(movielens_dir):
    out = subprocess.run([sys.executable, os.path.join(REPO, "examples", "keras_tfrs_ranking.py"), "--data",
                          movielens_dir, "--seeds", "2", "--epochs", "1"], capture_output=True, text=True,
                         timeout=900, cwd=REPO)
    assert out.returncode == 0, out.stderr[-3000:]
    assert re.search(r"^cohorts: \w+", out.stdout, re.M)
    assert len(re.findall(r"^seed \d: test NE baseline 0\.\d+  C2AL 0\.\d+", out.stdout, re.M)) == 2
    assert re.search(r"NE_diff C2AL vs baseline: [+-]\d+\.\d+% \[", out.stdout)


@pytest.mark.slow
def test_tfx_own_pipeline_adds_the_miner_the_trainer_helper_and_the_eval_config(tmp_path):
    """A user's pipeline (their preprocessing_fn and model) with CohortMiner, the Trainer
    helper and the EvalConfig helper runs on LocalDagRunner; the pushed model serves raw
    tf.Examples with the primary head only."""
    import json

    import tensorflow as tf

    from c2al_tf.data.synthetic import write_csv

    data = tmp_path / "data"
    write_csv(str(data / "clicks.csv"), 60_000, 2, scenario="flips")  # the miner finds tenure_days
    out = subprocess.run([sys.executable, os.path.join(REPO, "examples", "tfx_own_pipeline", "own_pipeline.py"),
                          "--data", str(data), "--root", str(tmp_path / "run"), "--epochs", "2"],
                         capture_output=True, text=True, timeout=1500, cwd=REPO)
    assert out.returncode == 0, out.stderr[-3000:]
    trained = sorted((tmp_path / "run" / "pipeline" / "Trainer" / "model").glob("*/Format-Serving"))[-1]
    meta = json.loads((trained / "assets.extra" / "c2al.json").read_text())
    assert meta["cohorts"] and meta["cohorts"][0]["aux_label"].startswith("aux__tenure_days")
    assert [r["aux_weight"] for r in meta["selection"]][:2] == [0.0, 0.1]
    loaded = tf.saved_model.load(str(trained))
    assert set(loaded.signatures) == {"serving_default", "regress"}
    example = tf.train.Example(features=tf.train.Features(feature={
        "tenure_days": tf.train.Feature(float_list=tf.train.FloatList(value=[12.0])),
        "surface": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"feed"]))})).SerializeToString()
    p = loaded.signatures["serving_default"](examples=tf.constant([example]))["probabilities"].numpy()
    assert p.shape == (1, 1) and 0 < p[0, 0] < 1
