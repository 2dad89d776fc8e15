"""Export: serving_default answers serialized tf.Examples in a fresh process with one
output; the serving graph of a C2AL model equals the baseline's."""
import json
import os
import subprocess
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from c2al_tf.data.examples import table_to_examples
from c2al_tf.export import export_saved_model, load_metadata, serving_functions
from c2al_tf.models import PRIMARY, FeatureSpec, ModelConfig, build_model, predict, set_seed, train
from helpers import PYTHON, planted_spec, synthetic_table


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    table = synthetic_table(3000)
    spec = FeatureSpec.from_table(table)
    out = {}
    for name, cohorts in (("c2al", planted_spec()), ("base", None)):
        set_seed(0)
        model = build_model(spec, cohorts, ModelConfig(mlp_units=(16,)))
        train(model, table, epochs=1, batch_size=512, verbose=0)
        path = str(tmp_path_factory.mktemp(name) / "export")
        export_saved_model(model, path)
        out[name] = (model, path)
    return table, out


def serving_variables(model):
    fn = serving_functions(model)["serving_default"].get_concrete_function()
    return sorted((v.name, tuple(v.shape)) for v in fn.variables)


def serving_op_types(model):
    fn = serving_functions(model)["serving_default"].get_concrete_function()
    return sorted(op.type for op in fn.graph.get_operations())


def test_serving_graph_has_no_aux_variables_and_equals_baseline(trained):
    _, models = trained
    c2al, base = models["c2al"][0], models["base"][0]
    names = serving_variables(c2al)
    assert names and not any("aux__" in n for n, _ in names)
    assert names == serving_variables(base)
    assert serving_op_types(c2al) == serving_op_types(base)
    # the training graph does have the auxiliary heads
    assert any("aux__" in v.name for v in c2al.training_model.variables)


FRESH = textwrap.dedent("""
    import json, os, sys
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import tensorflow as tf
    loaded = tf.saved_model.load(sys.argv[1])
    examples = [bytes.fromhex(h) for h in json.load(open(sys.argv[2]))]
    serve = loaded.signatures["serving_default"]
    out = serve(examples=tf.constant(examples))
    heads = loaded.signatures["all_heads"](examples=tf.constant(examples))
    print(json.dumps({"keys": sorted(out), "shape": out["probabilities"].shape.as_list(),
                      "dtype": out["probabilities"].dtype.name,
                      "p": out["probabilities"].numpy().reshape(-1).tolist(),
                      "heads": sorted(heads),
                      "inputs": [s.name for s in serve.structured_input_signature[1].values()]}))
""")


def test_fresh_process_serves_examples_with_one_output(trained, tmp_path):
    table, models = trained
    model, path = models["c2al"]
    sub = table.take(np.arange(6))
    expected = predict(model, sub)[PRIMARY]
    examples = table_to_examples(sub, include_label=False)
    # an unseen category, a missing optional feature, and an empty example
    odd = sub.take(np.arange(2))
    odd.features = odd.features.copy()
    odd.features.loc[0, "user_id"] = "brand-new-user"
    odd.features.loc[1, "user_value"] = np.nan
    odd.features = odd.features.drop(columns=["device"])
    odd.categorical = [c for c in odd.categorical if c != "device"]
    examples += table_to_examples(odd, include_label=False) + [tf.train.Example().SerializeToString()]
    (tmp_path / "ex.json").write_text(json.dumps([e.hex() for e in examples]))
    script = tmp_path / "serve.py"
    script.write_text(FRESH)
    run = subprocess.run([PYTHON, str(script), path, str(tmp_path / "ex.json")], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["keys"] == ["probabilities"] and got["shape"] == [9, 1] and got["dtype"] == "float32"
    assert got["inputs"] == ["examples"]
    np.testing.assert_allclose(got["p"][:6], expected, rtol=1e-5, atol=1e-6)
    assert all(0 < p < 1 for p in got["p"])
    assert got["heads"] == ["aux__user_value_head", "aux__user_value_tail", "probabilities"]


def test_saved_model_cli_shows_signature(trained):
    path = trained[1]["c2al"][1]
    cli = os.path.join(os.path.dirname(PYTHON), "saved_model_cli")
    run = subprocess.run([cli, "show", "--dir", path, "--tag_set", "serve", "--signature_def", "serving_default"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "examples" in run.stdout and "probabilities" in run.stdout and "aux__" not in run.stdout


def test_metadata_and_atomic_replace(trained, tmp_path):
    model, path = trained[1]["c2al"]
    meta = load_metadata(path)
    assert meta["label"] == "click" and meta["heads"][0] == PRIMARY and len(meta["cohorts"]) == 2
    assert meta["feature_spec"].names == model.spec.names
    export_saved_model(model, path)  # replacing an export leaves no temporary directory behind
    assert not [p for p in os.listdir(os.path.dirname(path)) if p.startswith(".")]


def test_regress_signature_for_tf_serving_rest_equals_serving_default(trained, tmp_path):
    """TF Serving's REST :regress takes JSON feature dicts only for a signature of the
    regress method: input 'inputs' (serialized tf.Examples), output 'outputs'."""
    table, models = trained
    path = models["c2al"][1]
    cli = os.path.join(os.path.dirname(PYTHON), "saved_model_cli")
    run = subprocess.run([cli, "show", "--dir", path, "--tag_set", "serve", "--signature_def", "regress"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Method name is: tensorflow/serving/regress" in run.stdout
    assert "inputs['inputs']" in run.stdout and "outputs['outputs']" in run.stdout and "aux__" not in run.stdout
    run = subprocess.run([cli, "show", "--dir", path, "--tag_set", "serve", "--signature_def", "serving_default"],
                         capture_output=True, text=True, timeout=300)
    assert "Method name is: tensorflow/serving/predict" in run.stdout  # serving_default unchanged
    examples = table_to_examples(table.take(np.arange(20)), include_label=False)
    loaded = tf.saved_model.load(path)
    regress = loaded.signatures["regress"](inputs=tf.constant(examples))["outputs"].numpy()
    serve = loaded.signatures["serving_default"](examples=tf.constant(examples))["probabilities"].numpy()
    assert regress.shape == (20, 1)
    np.testing.assert_array_equal(regress, serve)


def test_export_refuses_a_directory_it_did_not_create(trained, tmp_path):
    from c2al_tf.errors import C2ALInputError

    model = trained[1]["c2al"][0]
    target = tmp_path / "d"
    target.mkdir()
    (target / "data.csv").write_text("keep")
    (target / "notes.txt").write_text("keep")
    with pytest.raises(C2ALInputError, match="holds files c2al did not write"):
        export_saved_model(model, str(target))
    assert sorted(os.listdir(target)) == ["data.csv", "notes.txt"]
    assert (target / "data.csv").read_text() == "keep"
    assert [p for p in os.listdir(tmp_path)] == ["d"]  # no temporary left behind


def test_export_to_remote_filesystem(trained):
    """Remote paths go through tf.io.gfile end to end (ram:// is TensorFlow's
    in-memory filesystem, with the same API as gs://)."""
    table, models = trained
    model = models["c2al"][0]
    path = "ram://c2al-export-test/model"
    try:
        export_saved_model(model, path)
        assert tf.io.gfile.exists(path + "/saved_model.pb")
        meta = load_metadata(path)
        assert meta["label"] == "click"
        export_saved_model(model, path)  # a previous c2al export is replaced
        loaded = tf.saved_model.load(path)
        examples = table_to_examples(table.take(np.arange(5)), include_label=False)
        got = loaded.signatures["serving_default"](examples=tf.constant(examples))["probabilities"].numpy()
        np.testing.assert_allclose(got.reshape(-1), predict(model, table.take(np.arange(5)))[PRIMARY],
                                   rtol=1e-5, atol=1e-6)
    finally:
        from c2al_tf.io_utils import remove_remote_tree

        remove_remote_tree("ram://c2al-export-test")


def test_export_loads_in_keras_as_the_primary_head_only(trained, tmp_path):
    """tf.keras.models.load_model gives a one-output Keras model whose predict on a
    dict of raw features equals serving_default on the same rows as tf.Examples."""
    from c2al_tf.export import keras_inputs

    table, models = trained
    path = models["c2al"][1]
    keras_model = tf.keras.models.load_model(path)
    assert len(keras_model.outputs) == 1
    assert not any("aux__" in w.name for w in keras_model.weights)
    sub = table.take(np.arange(32))
    frame = sub.features.copy()
    frame.loc[0, "user_value"] = np.nan  # a missing number
    frame.loc[1, "surface"] = "never-seen"  # an unseen category
    got = keras_model.predict(keras_inputs(keras_model, frame), verbose=0).reshape(-1)
    sub.features = frame
    examples = table_to_examples(sub, include_label=False)
    serve = tf.saved_model.load(path).signatures["serving_default"]
    want = serve(examples=tf.constant(examples))["probabilities"].numpy().reshape(-1)
    np.testing.assert_allclose(got, want, atol=1e-6)
    # fine-tuning works on the loaded model
    keras_model.compile(optimizer="adam", loss="binary_crossentropy")
    history = keras_model.fit(keras_inputs(keras_model, frame), sub.label.astype(np.float32), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_training_model_round_trips_as_keras_file(tmp_path):
    """The multi-head training model (heads, lambdas, optimizer state) saves as
    .keras and continues training to the same loss as the original."""
    from c2al_tf.export import save_training_model
    from c2al_tf.models.builder import MultiHeadModel
    from c2al_tf.models.training import make_dataset

    set_seed(0)
    table = synthetic_table(2000, seed=4)
    model = build_model(FeatureSpec.from_table(table), planted_spec(), ModelConfig(mlp_units=(8,)))
    batches = list(make_dataset(model, table, batch_size=256, shuffle=False).take(3))
    model.compile()
    model.training_model.train_on_batch(*batches[0])
    path = save_training_model(model, str(tmp_path / "train.keras"))
    loaded = tf.keras.models.load_model(path)
    assert isinstance(loaded, MultiHeadModel)
    assert list(loaded.c2al_heads) == model.head_names and list(loaded.c2al_head_weights) == [1.0, 0.5, 0.5]
    for batch in batches[1:]:
        a = model.training_model.train_on_batch(*batch, return_dict=True)
        b = loaded.train_on_batch(*batch, return_dict=True)
        assert abs(a["loss"] - b["loss"]) < 1e-6
        for h in model.head_names:
            assert abs(a[f"{h}_loss"] - b[f"{h}_loss"]) < 1e-6


def test_fine_tuned_keras_model_re_exports_for_serving(trained, tmp_path):
    from c2al_tf.export import export_keras_model, keras_inputs

    table, models = trained
    path = models["c2al"][1]
    keras_model = tf.keras.models.load_model(path)
    keras_model.compile(optimizer="adam", loss="binary_crossentropy")
    sub = table.take(np.arange(256))
    keras_model.fit(keras_inputs(keras_model, sub.features), sub.label.astype(np.float32), epochs=1, verbose=0)
    out = export_keras_model(keras_model, path, str(tmp_path / "serving" / "2"))
    loaded = tf.saved_model.load(out)
    assert sorted(loaded.signatures) == ["regress", "serving_default"]
    examples = table_to_examples(sub.take(np.arange(10)), include_label=False)
    got = loaded.signatures["serving_default"](examples=tf.constant(examples))["probabilities"].numpy().reshape(-1)
    want = keras_model.predict(keras_inputs(keras_model, sub.take(np.arange(10)).features), verbose=0).reshape(-1)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert load_metadata(out)["heads"] == ["primary"]


def test_a_pipeline_model_is_not_re_exported_without_its_transform_graph(trained, tmp_path):
    """A pipeline export (c2al.json names raw_features: its signatures apply a tf.Transform
    graph) cannot be re-exported from its Keras model alone: the error says where to fine-tune."""
    import json
    import shutil

    from c2al_tf.export import export_keras_model

    _, models = trained
    like = str(tmp_path / "pipeline_export")
    shutil.copytree(models["c2al"][1], like)
    meta_path = os.path.join(like, "assets.extra", "c2al.json")
    meta = json.loads(open(meta_path).read())
    meta["raw_features"] = {"user_value": "float32"}
    with open(meta_path, "w") as f:
        f.write(json.dumps(meta))
    with pytest.raises(ValueError, match="serves through a tf.Transform graph"):
        export_keras_model(models["c2al"][0].serving_model, like, str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()
