"""TFMA metrics computed natively (no Keras metric wrapped): normalized entropy,
binary cross-entropy and calibration from one pass of float64 sums per slice and model.

For an Evaluator's ``EvalConfig``::

    tfma.MetricConfig(class_name="NormalizedEntropy", module="c2al_tf.tfma_metrics")
    tfma.MetricConfig(class_name="BinaryCrossentropy", module="c2al_tf.tfma_metrics")
    tfma.MetricConfig(class_name="CalibrationFromSums", module="c2al_tf.tfma_metrics")

All three read the same accumulator (TFMA runs a shared computation once), so asking
for all of them costs one pass. Over the examples of a slice, with weights ``w_i`` (1 unless the
metric is example-weighted), labels ``y_i`` in {0, 1} and probabilities ``p_i``
clipped to ``[1e-7, 1 - 1e-7]``::

    logloss = -1/W sum_i w_i [y_i log p_i + (1 - y_i) log(1 - p_i)],   W = sum_i w_i
    NE      = logloss / H(q),   q = sum_i w_i y_i / W,   H(q) = -(q log q + (1 - q) log(1 - q))
    calibration = sum_i w_i p_i / sum_i w_i y_i   (p_i not clipped; NaN when sum_i w_i y_i is 0)

NE is NaN when every label of the slice is the same (H(q) = 0). The values equal
:func:`c2al_tf.metrics.normalized_entropy` and :func:`c2al_tf.metrics.logloss` to
float64 rounding, the Keras metric :class:`c2al_tf.keras_metrics.NormalizedEntropy`
these replace in the Evaluator to ~1e-7, and calibration equals TFMA's own
``Calibration`` (which reads every example through TFMA's general per-example
conversion a second time) to float64 rounding.

This module imports TensorFlow Model Analysis; the package never imports it itself
(TFMA loads it by the ``module`` of a ``MetricConfig``). The classes are deliberately not
registered as TFMA metrics: TFMA looks registered names up before modules, so a
registered ``BinaryCrossentropy`` would replace Keras' in every config of the process.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Iterable, Optional

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types, metric_util

from c2al_tf.metrics import EPS as _EPS
from c2al_tf.metrics import entropy

NORMALIZED_ENTROPY_NAME = "normalized_entropy"
BINARY_CROSSENTROPY_NAME = "binary_crossentropy"
CALIBRATION_NAME = "calibration"  # TFMA's own Calibration's name: reports read either
_SUMS_NAME = "_c2al_log_loss_sums"


class _Sums:
    """Per slice and model: sum of w * logloss, of w, of w * y and of w * p."""

    __slots__ = ("loss", "weight", "positive", "prediction")

    def __init__(self):
        self.loss = 0.0
        self.weight = 0.0
        self.positive = 0.0
        self.prediction = 0.0


class _SumsCombiner(beam.CombineFn):
    """Accumulates :class:`_Sums` from TFMA's per-example metric inputs."""

    def __init__(self, key: metric_types.MetricKey, eval_config, aggregation_type, class_weights,
                 example_weighted: bool):
        self._key = key
        self._eval_config = eval_config
        self._aggregation_type = aggregation_type
        self._class_weights = class_weights
        self._example_weighted = example_weighted

    def create_accumulator(self) -> _Sums:
        return _Sums()

    def _one_value(self, element: metric_types.StandardMetricInputs):
        """``(label, prediction)`` of an unweighted example with one numeric label and one
        probability for this key's model (and output), read directly; ``None`` for anything
        else (weights, sub keys, class weights, vocabularies, multi-class), which goes
        through TFMA's general :func:`metric_util.to_label_prediction_example_weight`.
        TFMA's general path costs more than the arithmetic here by far, per example."""
        if self._example_weighted or self._key.sub_key is not None or self._class_weights:
            return None
        label, prediction = element.label, element.prediction
        for key in (self._key.model_name, self._key.output_name):
            if key:
                if not (isinstance(label, dict) and isinstance(prediction, dict)
                        and key in label and key in prediction):
                    return None
                label, prediction = label[key], prediction[key]
        if not (isinstance(label, np.ndarray) and isinstance(prediction, np.ndarray)
                and label.size == 1 and prediction.size == 1
                and label.dtype.kind in "biuf" and prediction.dtype.kind == "f"):
            return None
        return float(label.flat[0]), float(prediction.flat[0])

    def add_input(self, accumulator: _Sums, element: metric_types.StandardMetricInputs) -> _Sums:
        one = self._one_value(element)
        values = [(*one, 1.0)] if one is not None else metric_util.to_label_prediction_example_weight(
            element, eval_config=self._eval_config, model_name=self._key.model_name,
            output_name=self._key.output_name, sub_key=self._key.sub_key,
            aggregation_type=self._aggregation_type, class_weights=self._class_weights,
            example_weighted=self._example_weighted)
        for label, prediction, weight in values:
            w, y, raw = float(weight), float(label), float(prediction)
            p = min(max(raw, _EPS), 1.0 - _EPS)
            accumulator.loss -= w * (y * math.log(p) + (1.0 - y) * math.log(1.0 - p))
            accumulator.weight += w
            accumulator.positive += w * y
            accumulator.prediction += w * raw
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[_Sums]) -> _Sums:
        accumulators = iter(accumulators)
        result = next(accumulators)
        for a in accumulators:
            result.loss += a.loss
            result.weight += a.weight
            result.positive += a.positive
            result.prediction += a.prediction
        return result

    def extract_output(self, accumulator: _Sums) -> Dict[metric_types.MetricKey, _Sums]:
        return {self._key: accumulator}


def _log_loss(s: _Sums) -> float:
    return s.loss / s.weight if s.weight > 0 else float("nan")


def _normalized_entropy(s: _Sums) -> float:
    h = entropy(s.positive / s.weight) if s.weight > 0 else 0.0
    return _log_loss(s) / h if h > 0 else float("nan")


def _calibration(s: _Sums) -> float:
    return float("nan") if np.isclose(s.positive, 0.0) else s.prediction / s.positive


def _computations(value_of, name: str, eval_config=None, model_name: str = "", output_name: str = "",
                  sub_key: Optional[metric_types.SubKey] = None, aggregation_type=None, class_weights=None,
                  example_weighted: bool = False) -> metric_types.MetricComputations:
    """The shared sums (one computation per model, output and weighting, deduplicated by
    TFMA across the metrics that ask for it) and the metric derived from them."""
    common = dict(model_name=model_name, output_name=output_name, sub_key=sub_key,
                  example_weighted=example_weighted)
    sums_key = metric_types.MetricKey(name=_SUMS_NAME, **common)
    key = metric_types.MetricKey(name=name, **common)

    def result(metrics: Dict[metric_types.MetricKey, Any]) -> Dict[metric_types.MetricKey, Any]:
        return {key: value_of(metrics[sums_key])}

    return [
        metric_types.MetricComputation(
            keys=[sums_key], preprocessors=None,
            combiner=_SumsCombiner(sums_key, eval_config, aggregation_type, class_weights, example_weighted)),
        metric_types.DerivedMetricComputation(keys=[key], result=result),
    ]


# TFMA passes a computations function only the arguments its signature names: spelled out
def _ne_computations(name: str = NORMALIZED_ENTROPY_NAME, eval_config=None, model_name: str = "",
                     output_name: str = "", sub_key=None, aggregation_type=None, class_weights=None,
                     example_weighted: bool = False) -> metric_types.MetricComputations:
    return _computations(_normalized_entropy, name, eval_config, model_name, output_name, sub_key,
                         aggregation_type, class_weights, example_weighted)


def _bce_computations(name: str = BINARY_CROSSENTROPY_NAME, eval_config=None, model_name: str = "",
                      output_name: str = "", sub_key=None, aggregation_type=None, class_weights=None,
                      example_weighted: bool = False) -> metric_types.MetricComputations:
    return _computations(_log_loss, name, eval_config, model_name, output_name, sub_key,
                         aggregation_type, class_weights, example_weighted)


def _calibration_computations(name: str = CALIBRATION_NAME, eval_config=None, model_name: str = "",
                              output_name: str = "", sub_key=None, aggregation_type=None, class_weights=None,
                              example_weighted: bool = False) -> metric_types.MetricComputations:
    return _computations(_calibration, name, eval_config, model_name, output_name, sub_key,
                         aggregation_type, class_weights, example_weighted)


class NormalizedEntropy(metric_types.Metric):
    """Normalized entropy (He et al., 2014), NE = logloss / H(base rate), per slice and
    model (equation in the module docstring). Lower is better; 1 is a constant predictor
    at the slice's base rate."""

    def __init__(self, name: str = NORMALIZED_ENTROPY_NAME):
        super().__init__(metric_util.merge_per_key_computations(_ne_computations), name=name)


class BinaryCrossentropy(metric_types.Metric):
    """Mean binary cross-entropy (log loss) per slice and model, from the same sums as
    :class:`NormalizedEntropy` (equation in the module docstring)."""

    def __init__(self, name: str = BINARY_CROSSENTROPY_NAME):
        super().__init__(metric_util.merge_per_key_computations(_bce_computations), name=name)



class CalibrationFromSums(metric_types.Metric):
    """Calibration, sum of predictions over sum of labels (1 is calibrated), per slice and
    model, named ``calibration`` like TFMA's ``Calibration``: the same value from the same
    sums as :class:`NormalizedEntropy`, so it adds no pass over the examples (equation in
    the module docstring). Its class name differs from TFMA's because TFMA resolves a
    registered class name before a config's module."""

    def __init__(self, name: str = CALIBRATION_NAME):
        super().__init__(metric_util.merge_per_key_computations(_calibration_computations), name=name)
