"""The Evaluator's configuration (pipeline/evaluation.py) run by TFMA itself: the gate, and
its native NE and cross-entropy against the earlier wrapped Keras metrics."""
import pytest


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    """Two exports of different quality (``a``: trained; ``b``: one slow epoch) and an eval file."""
    from c2al_tf.cli import main
    from c2al_tf.data import read_table
    from c2al_tf.data.examples import write_tfrecord
    from c2al_tf.data.synthetic import write_csv

    tmp = tmp_path_factory.mktemp("evaluation")
    write_csv(str(tmp / "d.csv"), 6000, 3, scenario="interaction")
    models = {}
    for name, extra in (("a", ()), ("b", ("--epochs", "1", "--no-early-stopping", "--learning-rate", "0.0001"))):
        assert main([str(a) for a in ("train", "--data", tmp / "d.csv", "--label", "click", "--export",
                                      tmp / name, *extra)]) == 0
        models[name] = str(tmp / name)
    write_tfrecord(read_table(str(tmp / "d.csv"), "click"), str(tmp / "eval.tfrecord.gz"))
    return tmp, models


def _analyze(tmp, models, config, candidate, baseline, out):
    import tensorflow_model_analysis as tfma

    shared = [tfma.default_eval_shared_model(eval_saved_model_path=models[candidate], eval_config=config,
                                             model_name="candidate"),
              tfma.default_eval_shared_model(eval_saved_model_path=models[baseline], eval_config=config,
                                             model_name="baseline")]
    tfma.run_model_analysis(eval_shared_model=shared, eval_config=config,
                            data_location=str(tmp / "eval.tfrecord.gz"), output_path=str(tmp / out))
    return str(tmp / out)


@pytest.mark.slow
def test_the_gate_blesses_the_baseline_itself_and_refuses_the_worse_of_two(two_models):
    """The Evaluator's rule (pipeline.evaluation.eval_config: overall NE not worse than the baseline's,
    tolerance 0) on TFMA itself: the baseline's own export as the candidate (what the C2AL
    trainer returns when lambda 0 wins) is blessed; of two different models, exactly the
    one with the higher NE is refused."""
    import tensorflow_model_analysis as tfma

    from pipeline.evaluation import eval_config

    tmp, models = two_models
    config = eval_config("click")

    def gate(candidate, baseline, out):
        return tfma.load_validation_result(_analyze(tmp, models, config, candidate, baseline, out)).validation_ok

    assert gate("a", "a", "same")
    assert gate("a", "b", "ab") != gate("b", "a", "ba")


@pytest.mark.slow
def test_native_ne_and_cross_entropy_equal_the_earlier_keras_metrics(two_models):
    """Every metric of every model and slice, and the gate, are those of the earlier
    configuration (NE from c2al_tf.keras_metrics, Keras' BinaryCrossentropy, TFMA's own
    Calibration) to 1e-6."""
    import tensorflow_model_analysis as tfma

    from pipeline.evaluation import eval_config

    tmp, models = two_models
    native = eval_config("click")
    keras = eval_config("click")
    for m in keras.metrics_specs[0].metrics:
        if m.class_name == "NormalizedEntropy":
            m.module = "c2al_tf.keras_metrics"
        elif m.class_name == "BinaryCrossentropy":
            m.module = ""
        elif m.class_name == "CalibrationFromSums":
            m.class_name, m.module = "Calibration", ""

    def values(out):
        table = {}
        for record in tfma.load_metrics(out):
            for kv in record.metric_keys_and_values:
                value = kv.value.double_value.value if kv.value.HasField("double_value") else None
                if value is not None:
                    table[(str(record.slice_key), kv.key.name, kv.key.model_name, kv.key.is_diff)] = value
        return table

    ours = values(_analyze(tmp, models, native, "a", "b", "native"))
    theirs = values(_analyze(tmp, models, keras, "a", "b", "keras"))
    assert set(ours) == set(theirs)
    assert {name for _, name, _, _ in ours} >= {"normalized_entropy", "binary_crossentropy", "auc", "calibration"}
    for key, value in theirs.items():
        assert ours[key] == pytest.approx(value, abs=1e-6), key
    assert (tfma.load_validation_result(str(tmp / "native")).validation_ok
            == tfma.load_validation_result(str(tmp / "keras")).validation_ok)
