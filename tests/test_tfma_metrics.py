"""TFMA-native NE, cross-entropy and calibration (c2al_tf.tfma_metrics): float64 reference
values, TFMA's own Calibration, the direct path and TFMA's general path agreeing,
degenerate slices."""
import math

import numpy as np
import pytest

from c2al_tf import metrics

tfma_metrics = pytest.importorskip("c2al_tf.tfma_metrics")


def _inputs(y, p, w=None, model="candidate"):
    from tensorflow_model_analysis.metrics import metric_types

    for i in range(len(y)):
        yield metric_types.StandardMetricInputs(
            labels={model: np.array([y[i]])}, predictions={model: np.array([p[i]], np.float32)},
            example_weights=None if w is None else {model: np.array([w[i]], np.float32)})


def _evaluate(metric, y, p, w=None, example_weighted=False, model="candidate"):
    """Runs ``metric``'s computations as TFMA does: the combiner over the inputs in two
    accumulators (merged), then the derived result."""
    import tensorflow_model_analysis as tfma

    config = tfma.EvalConfig(model_specs=[tfma.ModelSpec(name=model, label_key="y")])
    computations = metric.computations(eval_config=config, model_names=[model], example_weighted=example_weighted)
    combiner_step, derived = computations
    combiner = combiner_step.combiner
    halves = [combiner.create_accumulator(), combiner.create_accumulator()]
    for i, element in enumerate(_inputs(y, p, w, model)):
        halves[i % 2] = combiner.add_input(halves[i % 2], element)
    sums = combiner.extract_output(combiner.merge_accumulators(halves))
    (value,) = derived.result(sums).values()
    return value


def _data(n=500, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.001, 0.999, n)
    y = (rng.uniform(size=n) < p).astype(np.int64)
    return y, p


def test_ne_and_cross_entropy_equal_the_float64_reference():
    y, p = _data()
    p32 = p.astype(np.float32).astype(np.float64)  # what a model's float32 output carries
    assert _evaluate(tfma_metrics.NormalizedEntropy(), y, p) == pytest.approx(
        metrics.normalized_entropy(y, p32), rel=1e-12)
    assert _evaluate(tfma_metrics.BinaryCrossentropy(), y, p) == pytest.approx(metrics.logloss(y, p32), rel=1e-12)


def test_calibration_equals_tfmas_own_and_the_float64_reference():
    import tensorflow_model_analysis as tfma

    y, p = _data(700, 3)
    p32 = p.astype(np.float32).astype(np.float64)
    ours = _evaluate(tfma_metrics.CalibrationFromSums(), y, p)
    theirs = _evaluate_all(tfma.metrics.Calibration(), y, p)
    assert ours == pytest.approx(p32.sum() / y.sum(), rel=1e-12)
    assert ours == pytest.approx(theirs, rel=1e-12)
    w = np.random.default_rng(4).integers(1, 4, len(y)).astype(np.float64)
    assert _evaluate(tfma_metrics.CalibrationFromSums(), y, p, w, example_weighted=True) == pytest.approx(
        _evaluate_all(tfma.metrics.Calibration(), y, p, w, example_weighted=True), rel=1e-9)
    # no positive in the slice: NaN, as TFMA's
    assert math.isnan(_evaluate(tfma_metrics.CalibrationFromSums(), np.zeros(5, np.int64), np.full(5, 0.2)))


def _evaluate_all(metric, y, p, w=None, example_weighted=False, model="candidate"):
    """Like :func:`_evaluate` for a metric with any number of combiner steps before its result."""
    import tensorflow_model_analysis as tfma

    config = tfma.EvalConfig(model_specs=[tfma.ModelSpec(name=model, label_key="y")])
    computations = metric.computations(eval_config=config, model_names=[model], example_weighted=example_weighted)
    values = {}
    for step in computations:
        if hasattr(step, "combiner") and step.combiner is not None:
            acc = step.combiner.create_accumulator()
            for element in _inputs(y, p, w, model):
                acc = step.combiner.add_input(acc, element)
            values.update(step.combiner.extract_output(acc))
        else:
            values.update(step.result(values))
    (value,) = [v for k, v in values.items() if k.name == metric.name]
    return value


def test_predictions_are_clipped_like_the_reference():
    y, p = np.array([1, 0, 1, 0]), np.array([0.0, 1.0, 0.5, 0.2])
    assert _evaluate(tfma_metrics.BinaryCrossentropy(), y, p) == pytest.approx(metrics.logloss(y, p), rel=1e-9)


def test_weighted_examples_take_tfmas_general_path_and_weigh_each_row():
    y, p = _data(300, 1)
    w = np.random.default_rng(2).integers(1, 4, len(y)).astype(np.float64)
    p32 = p.astype(np.float32).astype(np.float64)
    # integer weights = rows repeated: the weighted value is the unweighted one on the repeated rows
    reference = metrics.normalized_entropy(np.repeat(y, w.astype(int)), np.repeat(p32, w.astype(int)))
    assert _evaluate(tfma_metrics.NormalizedEntropy(), y, p, w, example_weighted=True) == pytest.approx(
        reference, rel=1e-9)
    # unweighted keys ignore the weights (the direct path)
    assert _evaluate(tfma_metrics.NormalizedEntropy(), y, p, w) == pytest.approx(
        metrics.normalized_entropy(y, p32), rel=1e-12)


def test_a_slice_with_one_label_value_has_nan_ne_and_a_finite_cross_entropy():
    y, p = np.zeros(10, np.int64), np.full(10, 0.1)
    assert math.isnan(_evaluate(tfma_metrics.NormalizedEntropy(), y, p))
    assert _evaluate(tfma_metrics.BinaryCrossentropy(), y, p) == pytest.approx(-math.log(0.9), rel=1e-6)


def test_importing_the_module_leaves_other_configs_alone():
    """TFMA resolves registered class names before a config's module: these classes are not
    registered, so Keras' BinaryCrossentropy and the Keras NE stay what their configs name."""
    import tensorflow_model_analysis as tfma
    import tf_keras
    from tensorflow_model_analysis.metrics import metric_specs, metric_types

    from c2al_tf import keras_metrics

    assert not {"NormalizedEntropy", "BinaryCrossentropy", "CalibrationFromSums"} & set(
        metric_types.registered_metrics())
    keras_ne = metric_specs.metric_instance(tfma.MetricConfig(class_name="NormalizedEntropy",
                                                              module="c2al_tf.keras_metrics"))
    keras_bce = metric_specs.metric_instance(tfma.MetricConfig(class_name="BinaryCrossentropy"))
    native = metric_specs.metric_instance(tfma.MetricConfig(class_name="NormalizedEntropy",
                                                            module="c2al_tf.tfma_metrics"))
    assert isinstance(keras_ne, keras_metrics.NormalizedEntropy)
    assert isinstance(keras_bce, tf_keras.metrics.BinaryCrossentropy)
    assert isinstance(native, tfma_metrics.NormalizedEntropy)
