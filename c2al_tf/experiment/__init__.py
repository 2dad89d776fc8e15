"""The evidence harness: baseline vs C2AL vs ablations over seeds, paired statistics.

:mod:`~c2al_tf.experiment.variants` declares the variants, :mod:`~c2al_tf.experiment.harness`
runs them (``run_experiment``), :mod:`~c2al_tf.experiment.provenance` records where the
numbers come from; ``c2al_tf.report`` words and plots the result.
"""
from c2al_tf.experiment.harness import (ExperimentConfig, Run, VariantFit, baseline_predictions, build_variant_model,
                                        recipe_options, run_experiment, run_variant, split, split_indices)
from c2al_tf.experiment.provenance import data_hash, versions
from c2al_tf.experiment.variants import DEFAULT_VARIANTS, RECIPES, REGISTRY, VARIANTS, Variant, VariantInputs

__all__ = ["DEFAULT_VARIANTS", "ExperimentConfig", "RECIPES", "REGISTRY", "Run", "VARIANTS", "Variant", "VariantFit",
           "VariantInputs", "baseline_predictions", "build_variant_model", "data_hash", "recipe_options",
           "run_experiment", "run_variant", "split", "split_indices", "versions"]
