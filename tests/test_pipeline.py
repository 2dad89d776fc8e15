"""The TFX pipeline: Kubeflow V2 compile, bad input, and (slow) a LocalDagRunner run
end to end with TFMA-vs-`c2al evaluate` agreement, serving checks and caching."""
import glob
import json
import os
import re
import subprocess
import textwrap

import numpy as np
import pytest

from helpers import PYTHON

COMPONENTS = {"CsvExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "CohortMiner", "Transform",
              "Trainer", "BaselineTrainer", "Evaluator", "Pusher"}
TYPE_NAME = re.compile(r"^[a-z][a-z0-9-_]{2,20}[.][A-Z][a-zA-Z0-9-_]{2,49}$")


def test_kubeflow_compile(tmp_path, run_cli):
    out = tmp_path / "pipeline.json"
    code, stdout, err = run_cli("pipeline", "compile", "--target", "kubeflow", "--out", out)
    assert code == 0, err
    spec = json.loads(out.read_text())
    tasks = spec["pipelineSpec"]["root"]["dag"]["tasks"] if "pipelineSpec" in spec else spec["root"]["dag"]["tasks"]
    assert COMPONENTS <= set(tasks)
    text = out.read_text()
    types = set(re.findall(r"title: ([^\\]+)\\n", text))
    assert "c2al.CohortSpec" in types
    for t in types:
        assert TYPE_NAME.match(t), t
    assert '"base_directory": "gs://YOUR_BUCKET/c2al/serving"' in json.loads(text)["pipelineSpec"]["root"]["dag"][
        "tasks"]["Pusher"]["inputs"]["parameters"]["push_destination"]["runtimeValue"]["constantValue"]["stringValue"]


def test_mining_by_residuals_trains_the_baseline_first(tmp_path, run_cli):
    """--by residuals: the BaselineTrainer reads ExampleGen's examples and its model feeds
    the CohortMiner; the C2AL Trainer reads the miner's examples and the baseline."""
    out = tmp_path / "pipeline.json"
    code, _, err = run_cli("pipeline", "compile", "--target", "kubeflow", "--out", out, "--by", "residuals")
    assert code == 0, err
    tasks = json.loads(out.read_text())["pipelineSpec"]["root"]["dag"]["tasks"]

    def producers(task):
        arts = tasks[task]["inputs"].get("artifacts", {})
        return {k: v["taskOutputArtifact"]["producerTask"] for k, v in arts.items()}

    assert producers("BaselineTrainer")["examples"] == "CsvExampleGen"
    assert producers("CohortMiner")["baseline_model"] == "BaselineTrainer"
    # one Transform, on ExampleGen's examples, serves both trainers
    assert producers("Transform")["examples"] == "CsvExampleGen"
    assert producers("BaselineTrainer")["transform_graph"] == producers("Trainer")["transform_graph"] == "Transform"
    assert producers("Trainer")["examples"] == "CohortMiner"
    assert producers("Trainer")["base_model"] == "BaselineTrainer"
    by = tasks["CohortMiner"]["inputs"]["parameters"]["by"]["runtimeValue"]["constantValue"]["stringValue"]
    assert by == "residuals"
    # by statistics (the default), the baseline reads the miner's examples and the miner needs no model
    code, _, err = run_cli("pipeline", "compile", "--target", "kubeflow", "--out", tmp_path / "s.json")
    tasks = json.loads((tmp_path / "s.json").read_text())["pipelineSpec"]["root"]["dag"]["tasks"]
    assert producers("BaselineTrainer")["examples"] == "CohortMiner" and "baseline_model" not in producers("CohortMiner")


def test_kubeflow_compile_with_worker_replicas(tmp_path, run_cli):
    """--workers N: both Trainers run as Vertex AI jobs with a chief pool and N-1
    workers of the image; each replica's run_fn trains under MultiWorkerMirroredStrategy."""
    out = tmp_path / "pipeline.json"
    code, stdout, err = run_cli("pipeline", "compile", "--target", "kubeflow", "--out", out, "--workers", 3,
                                "--vertex-project", "my-project", "--image", "gcr.io/my-project/c2al-tf:1")
    assert code == 0, err
    spec = json.loads(out.read_text())["pipelineSpec"]
    for name in ("Trainer", "BaselineTrainer"):
        executor = spec["deploymentSpec"]["executors"][f"{name}_executor"]["container"]["args"]
        assert "tfx.extensions.google_cloud_ai_platform.trainer.executor.GenericExecutor" in executor
        params = spec["root"]["dag"]["tasks"][name]["inputs"]["parameters"]
        config = json.loads(params["custom_config"]["runtimeValue"]["constantValue"]["stringValue"])
        pools = config["ai_platform_training_args"]["worker_pool_specs"]
        assert [p["replica_count"] for p in pools] == [1, 2]
        assert {p["container_spec"]["image_uri"] for p in pools} == {"gcr.io/my-project/c2al-tf:1"}
        assert config["ai_platform_training_args"]["project"] == "my-project"
        assert config["strategy"] == "auto" and config["ai_platform_enable_vertex"] is True
    code, _, err = run_cli("pipeline", "compile", "--target", "kubeflow", "--out", tmp_path / "p1.json",
                           "--embedding-l2", "0.004")
    assert code == 0, err
    tasks = json.loads((tmp_path / "p1.json").read_text())["pipelineSpec"]["root"]["dag"]["tasks"]
    for name in ("Trainer", "BaselineTrainer"):  # one model setting for both trainers
        params = tasks[name]["inputs"]["parameters"]
        assert json.loads(params["custom_config"]["runtimeValue"]["constantValue"]["stringValue"])[
            "embedding_l2"] == 0.004
    code, _, err = run_cli("pipeline", "compile", "--target", "kubeflow", "--out", tmp_path / "p4.json",
                           "--embedding-l2", "-1")
    assert code == 2 and "--embedding-l2 must be a finite number >= 0" in err and not (tmp_path / "p4.json").exists()
    code, _, err = run_cli("pipeline", "compile", "--target", "kubeflow", "--out", tmp_path / "p2.json",
                           "--workers", 2)
    assert code == 2 and "need --vertex-project" in err and not (tmp_path / "p2.json").exists()
    code, _, err = run_cli("pipeline", "compile", "--target", "kubeflow", "--out", tmp_path / "p3.json",
                           "--workers", 0)
    assert code == 2 and "--workers must be >= 1" in err


@pytest.mark.parametrize("text,pattern", [
    ("x,y\n1,2\n", "label column 'click' not found"),
    ("click,x\n5,2\n", "must be 0/1 for the pipeline but is '5' at line 2"),
    ("", "file is empty"),
    ("\ufeffclick,x\n1,2\n", "starts with a UTF-8 byte-order mark"),
])
def test_pipeline_bad_input(tmp_path, run_cli, text, pattern):
    data = tmp_path / "d.csv"
    data.write_text(text)
    code, _, err = run_cli("pipeline", "run", "--data", data, "--label", "click", "--root", tmp_path / "root")
    assert code == 2 and pattern in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "root").exists()


SERVE = textwrap.dedent("""
    import json, os, sys
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import tensorflow as tf
    examples = [bytes.fromhex(h) for h in json.load(open(sys.argv[2]))]
    out = tf.saved_model.load(sys.argv[1]).signatures["serving_default"](examples=tf.constant(examples))
    print(json.dumps({"keys": sorted(out), "p": out["probabilities"].numpy().reshape(-1).tolist()}))
""")


@pytest.mark.slow
def test_pipeline_end_to_end(tmp_path, run_cli):
    import tensorflow as tf

    from c2al_tf.export import load_metadata
    from pipeline.report import newest

    # both 10% extremes of user_value respond in their own way (three-way effects): what the
    # default miner finds at this size (the generator's planted world needs ~200k rows)
    from helpers import flipped_world as _world

    data = tmp_path / "data.csv"
    frame = _world(flip=True, n=20_000, seed=7)[2]
    frame["user_id"] = [f"u{k}" for k in np.random.default_rng(7).zipf(1.3, len(frame)) % 5000]  # an id vocabulary
    # a colon in a column name used to crash Transform ('quantiles_dwell:s' is not a valid root scope name)
    frame["dwell:s"] = np.round(np.random.default_rng(8).exponential(30, len(frame)), 1)
    frame.to_csv(data, index=False)
    root = tmp_path / "root"
    code, out, err = run_cli("pipeline", "run", "--data", data, "--label", "click", "--root", root, "--epochs", 1,
                             "--ne-tolerance", "0.5", "--aux-weight", "0.3,1")
    assert code == 0, err
    for name in COMPONENTS - {"CsvExampleGen"}:
        assert f"{name}: done" in out
    summary = json.loads((root / "summary.json").read_text())
    assert summary["cohorts"]["pairs"][0]["axis"] == ["user_value"]
    # the C2AL trainer chose lambda on validation rows, the baseline being its lambda = 0
    selection = summary["training"]["selection"]
    assert [r["aux_weight"] for r in selection] == [0.0, 0.3, 1.0]
    # lambda > 0 only on evidence, tested in increasing order: the lowest validation logloss
    # among the significant candidates, else 0; the search stops at the first without evidence
    trained = [r for r in selection if r.get("trained", True)]
    assert all("low" in r and "high" in r for r in trained if r["aux_weight"] > 0)
    assert all(r["significant"] for r in trained[1:-1])
    significant = [r for r in trained if r["aux_weight"] > 0 and r["significant"]]
    expected = min(significant, key=lambda r: r["val_logloss"])["aux_weight"] if significant else 0.0
    assert summary["training"]["aux_weight"] == expected
    assert "lambda chosen on the train split's validation rows" in out
    pushed = summary["pushed_model"]
    assert pushed and os.path.exists(os.path.join(pushed, "saved_model.pb"))
    cand = summary["metrics"]["candidate"]
    assert {"overall", "user_value_head", "user_value_tail"} <= set(cand)

    # c2al evaluate on the same model and eval examples gives the Evaluator's NE per cohort
    eval_split = os.path.join(newest(str(root), "CohortMiner", "output_examples"), "Split-eval")
    cohorts = os.path.join(newest(str(root), "CohortMiner", "cohorts"), "cohorts.json")
    code, _, err = run_cli("evaluate", "--model", pushed, "--data", eval_split, "--label", "click",
                           "--out", tmp_path / "m.json", "--cohorts", cohorts)
    assert code == 0, err
    ours = json.loads((tmp_path / "m.json").read_text())
    assert ours["overall"]["ne"] == pytest.approx(cand["overall"]["normalized_entropy"], abs=1e-4)
    for name in ("user_value_head", "user_value_tail"):
        assert ours["cohorts"][name]["ne"] == pytest.approx(cand[name]["normalized_entropy"], abs=1e-4)
        assert ours["cohorts"][name]["count"] == cand[name]["example_count"]

    # the pushed model, served by the SavedModel loader in another process and by saved_model_cli,
    # answers exactly what the Trainer's model predicts
    files = sorted(glob.glob(os.path.join(eval_split, "*.gz")))
    records = list(tf.data.TFRecordDataset(files, compression_type="GZIP").take(8).as_numpy_iterator())
    trainer_model = os.path.join(newest(str(root), "Trainer", "model"), "Format-Serving")
    expected = tf.saved_model.load(trainer_model).signatures["serving_default"](
        examples=tf.constant(records))["probabilities"].numpy().reshape(-1)
    (tmp_path / "ex.json").write_text(json.dumps([r.hex() for r in records]))
    (tmp_path / "serve.py").write_text(SERVE)
    run = subprocess.run([PYTHON, str(tmp_path / "serve.py"), pushed, str(tmp_path / "ex.json")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    served = json.loads(run.stdout.strip().splitlines()[-1])
    assert served["keys"] == ["probabilities"]
    np.testing.assert_allclose(served["p"], expected, rtol=1e-6)
    cli = os.path.join(os.path.dirname(PYTHON), "saved_model_cli")
    row = tf.train.Example.FromString(records[0]).features.feature
    example = {k: list(getattr(v, v.WhichOneof("kind")).value) for k, v in row.items()
               if v.WhichOneof("kind") and k != "c2al_cohorts"}
    example = {k: [x.decode() if isinstance(x, bytes) else x for x in v] for k, v in example.items()}
    run = subprocess.run([cli, "run", "--dir", pushed, "--tag_set", "serve", "--signature_def", "serving_default",
                          "--input_examples", f"examples=[{json.dumps(example)}]"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    value = float(re.findall(r"\[\[([0-9.e+-]+)\]\]", run.stdout)[0])
    assert value == pytest.approx(float(expected[0]), rel=1e-5)
    assert load_metadata(pushed)["heads"][0] == "primary"

    # Keras model import: the pushed model loads into Keras as the primary head only; as in
    # TFX's Keras examples it reads the Transform's outputs, and its predict on the rows the
    # transform graph made equals serving_default (which applies that graph) on the same rows
    import tensorflow_transform as tft

    from c2al_tf.data.transform import serving_parse_spec, to_model_inputs

    meta = load_metadata(pushed)
    assert "click" not in meta["raw_features"] and not any(k.startswith("aux__") for k in meta["raw_features"])
    keras_model = tf.keras.models.load_model(pushed)
    assert len(keras_model.outputs) == 1
    graph = tft.TFTransformOutput(newest(str(root), "Transform", "transform_graph"))
    raw = tf.io.parse_example(tf.constant(records), serving_parse_spec(graph, "click"))
    inputs = to_model_inputs(graph.transform_features_layer()(raw), meta["feature_spec"])
    got = keras_model.predict(inputs, verbose=0).reshape(-1)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    # the transform graph is inside the served SavedModel (its vocabularies are assets there)
    assert set(os.listdir(os.path.join(pushed, "assets"))) >= {"user_id", "surface"}

    # a rerun reuses cached components: no new statistics or cohorts are produced
    before = newest(str(root), "StatisticsGen", "statistics"), newest(str(root), "CohortMiner", "cohorts")
    code, out, err = run_cli("pipeline", "run", "--data", data, "--label", "click", "--root", root, "--epochs", 1,
                             "--ne-tolerance", "0.5", "--aux-weight", "0.3,1")
    assert code == 0, err
    assert (newest(str(root), "StatisticsGen", "statistics"), newest(str(root), "CohortMiner", "cohorts")) == before


def test_runner_drops_only_benign_tfx_warnings():
    import logging

    from pipeline.runner import _BenignTfxWarnings

    def record(message):
        return logging.LogRecord("absl", logging.WARNING, __file__, 1, message, None, None)

    keep = _BenignTfxWarnings().filter
    assert not keep(record("ArtifactQuery.property_predicate is not supported."))
    assert keep(record("Component CohortMiner failed"))


def test_positive_label_binarizes_a_copy_of_the_input(tmp_path):
    import pandas as pd

    from c2al_tf.commands.pipeline_cmd import binarized_copy, check_data
    from c2al_tf.errors import C2ALInputError

    data = tmp_path / "ratings.csv"
    data.write_text("user_id,rating,age\n1,5,20\n2,3,30\n3,4,40\n")
    out = binarized_copy(str(data), "rating", ">=4", str(tmp_path / "root" / "input"))
    frame = pd.read_csv(out)
    assert frame["rating"].tolist() == [1, 0, 1] and frame["user_id"].tolist() == [1, 2, 3]
    check_data(out, "rating")  # passes the pipeline's 0/1 check
    assert binarized_copy(str(data), "rating", ">=4", str(tmp_path / "root" / "input")) == out  # reused
    assert data.read_text().startswith("user_id,rating,age\n1,5,")  # the user's file is untouched
    with pytest.raises(C2ALInputError, match="needs CSV input"):
        (tmp_path / "x.tfrecord").write_bytes(b"\x00" * 20)
        binarized_copy(str(tmp_path / "x.tfrecord"), "rating", ">=4", str(tmp_path / "o"))
    with pytest.raises(C2ALInputError, match="no row of label column 'rating' matches"):
        binarized_copy(str(data), "rating", ">=9", str(tmp_path / "o2"))
