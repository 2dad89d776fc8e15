"""Normalized entropy as a native TFMA metric, for the Evaluator.

``NE = BCE / H(p_bar)``, with ``BCE`` the mean binary cross-entropy of the model's
probabilities (TFMA's native ``BinaryCrossEntropy``) and ``H(p_bar) = -(p_bar ln p_bar
+ (1 - p_bar) ln(1 - p_bar))`` the entropy of the slice's mean label (TFMA's native
``MeanLabel``): the log loss relative to always predicting the slice's base rate; lower
is better, 1 is no better than the base rate. Both parts are TFMA's own combiners, so
the metric runs in TFMA's native path (no Keras metric wrapped per batch); NE is
derived from them (``DerivedMetricComputation``), per slice and per model, and TFMA's
change thresholds apply to it as to any metric.

Use it in an ``EvalConfig`` as ``tfma.MetricConfig(class_name="NormalizedEntropy",
module="pipeline.tfma_metrics")`` (:func:`pipeline.evaluation.eval_config` does). The
same quantity as :class:`c2al_tf.keras_metrics.NormalizedEntropy` and
:func:`c2al_tf.metrics.normalized_entropy`.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Optional

import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import metric_types, metric_util

NORMALIZED_ENTROPY_NAME = "normalized_entropy"
_BCE = "_normalized_entropy_bce"
_MEAN_LABEL = "_normalized_entropy_mean_label"


def _entropy(p: float) -> float:
    if not 0.0 < p < 1.0:
        return float("nan")
    return -(p * math.log(p) + (1.0 - p) * math.log1p(-p))


class NormalizedEntropy(metric_types.Metric):
    """Normalized entropy: binary cross-entropy over the entropy of the mean label."""

    def __init__(self, name: str = NORMALIZED_ENTROPY_NAME):
        super().__init__(metric_util.merge_per_key_computations(_normalized_entropy), name=name)


metric_types.register_metric(NormalizedEntropy)


def _normalized_entropy(name: str = NORMALIZED_ENTROPY_NAME, eval_config=None, model_name: str = "",
                        output_name: str = "", sub_key=None, aggregation_type=None,
                        class_weights: Optional[Dict[int, float]] = None,
                        example_weighted: bool = False) -> metric_types.MetricComputations:
    key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name, sub_key=sub_key,
                                 example_weighted=example_weighted)
    common = dict(eval_config=eval_config, model_names=[model_name], output_names=[output_name],
                  sub_keys=[sub_key], aggregation_type=aggregation_type, class_weights=class_weights,
                  example_weighted=example_weighted)
    computations = list(tfma.metrics.BinaryCrossEntropy(name=_BCE).computations(**common))
    computations += list(tfma.metrics.MeanLabel(name=_MEAN_LABEL).computations(**common))
    bce_key = key._replace(name=_BCE)
    label_key = key._replace(name=_MEAN_LABEL)

    def result(metrics: Dict[metric_types.MetricKey, Any]) -> Dict[metric_types.MetricKey, Any]:
        h = _entropy(float(metrics[label_key]))
        return {key: float(metrics[bce_key]) / h if h == h and h > 0 else float("nan")}

    computations.append(metric_types.DerivedMetricComputation(keys=[key], result=result))
    return computations
