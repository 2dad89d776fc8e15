"""The Evaluator's configuration: TFMA slices, metrics and the non-regression gate
that decides whether the Pusher pushes the C2AL model.

The gate: C2AL's overall NE on the eval split may not exceed the baseline's by more than
``ne_tolerance`` (relative; default :data:`NE_TOLERANCE`, "not worse"), TFMA's native
``GenericChangeThreshold`` on the point estimate. Why this rule and its measured
false-refusal rate: ``docs/protocol.md``.
"""
from __future__ import annotations

from c2al_tf.names import MEMBERSHIP_FEATURE

NE_TOLERANCE = 0.0  # relative change of overall NE allowed: 0 = "not worse"


def eval_config(label: str, ne_tolerance: float = NE_TOLERANCE, prediction_key: str = "probabilities",
                signature_name: str = "serving_default"):
    """The ``tfma.EvalConfig`` for an Evaluator that compares a C2AL model (``candidate``)
    with its baseline (``baseline``, the Evaluator's ``baseline_model``): slices overall
    and one per mined cohort (the CohortMiner's ``c2al_cohorts`` feature); metrics
    example count, binary cross-entropy, AUC, calibration and NE (normalized entropy);
    the gate on the overall NE. For your own pipeline::

        evaluator = tfx.components.Evaluator(
            examples=miner.outputs["examples"], model=trainer.outputs["model"],
            baseline_model=baseline_trainer.outputs["model"], eval_config=eval_config("click"))

    ``prediction_key`` and ``signature_name`` name your serving signature's output and
    signature (both models are called through it, on raw tf.Examples)."""
    import tensorflow_model_analysis as tfma

    # The non-regression check applies to the overall slice only: a cohort may move
    # either way (the report shows it), the pushed model must not be worse overall.
    ne = tfma.MetricConfig(
        class_name="NormalizedEntropy", module="c2al_tf.tfma_metrics",
        per_slice_thresholds=[tfma.PerSliceMetricThreshold(
            slicing_specs=[tfma.SlicingSpec()],
            threshold=tfma.MetricThreshold(change_threshold=tfma.GenericChangeThreshold(
                direction=tfma.MetricDirection.LOWER_IS_BETTER, relative={"value": ne_tolerance})))])
    return tfma.EvalConfig(
        model_specs=[
            # model_type tf_generic: TFMA loads the SavedModel and calls serving_default (the
            # served graph), instead of probing it as a Keras model (the export is one, for users)
            tfma.ModelSpec(name="candidate", signature_name=signature_name, label_key=label,
                           prediction_key=prediction_key, model_type=tfma.TF_GENERIC),
            tfma.ModelSpec(name="baseline", signature_name=signature_name, label_key=label,
                           prediction_key=prediction_key, is_baseline=True, model_type=tfma.TF_GENERIC)],
        slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=[MEMBERSHIP_FEATURE])],
        metrics_specs=[tfma.MetricsSpec(metrics=[
            tfma.MetricConfig(class_name="ExampleCount"),
            tfma.MetricConfig(class_name="BinaryCrossentropy", module="c2al_tf.tfma_metrics"),
            tfma.MetricConfig(class_name="AUC"),
            tfma.MetricConfig(class_name="CalibrationFromSums", module="c2al_tf.tfma_metrics"),
            ne])])
