"""CohortMiner TFX component: declaration (spec, artifact type, executor binding).

Inputs:  examples (Examples), statistics (ExampleStatistics, e.g. from
         StatisticsGen), baseline_model (Model, optional; for by='predictions' or 'residuals'),
         anomalies (ExampleAnomalies from ExampleValidator, optional: any anomaly
         stops the run with a message naming the split and features).
Outputs: cohorts (c2al.CohortSpec: cohorts.json + the sliced statistics) and
         output_examples (Examples: every split of the input with the int64
         features aux__<cohort> = label * 1[example in cohort] and the bytes
         feature c2al_cohorts (names of the cohorts the example is in) added,
         plus a copy of cohorts.json at the artifact root for the Trainer).
"""
from __future__ import annotations

from typing import Optional

from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from c2al_tf.cohorts.config import MODES, MiningConfig
from components.cohort_miner import executor


class CohortSpecArtifact(types.Artifact):
    """``cohorts.json`` (format c2al.cohorts/1) and ``cohort_statistics.pb``."""

    TYPE_NAME = "c2al.CohortSpec"


class CohortMinerSpec(types.ComponentSpec):
    PARAMETERS = {
        "label": ExecutionParameter(type=str),
        "axes": ExecutionParameter(type=str, optional=True),
        "categorical": ExecutionParameter(type=str, optional=True),
        "max_pairs": ExecutionParameter(type=int, optional=True),
        "divergence": ExecutionParameter(type=str, optional=True),
        "min_support": ExecutionParameter(type=float, optional=True),
        "min_positives": ExecutionParameter(type=int, optional=True),
        "by": ExecutionParameter(type=str, optional=True),
        "mining_split": ExecutionParameter(type=str, optional=True),
        "seed": ExecutionParameter(type=int, optional=True),
        "cross_top": ExecutionParameter(type=int, optional=True),
        "max_rows": ExecutionParameter(type=int, optional=True),
    }
    INPUTS = {
        "examples": ChannelParameter(type=standard_artifacts.Examples),
        "statistics": ChannelParameter(type=standard_artifacts.ExampleStatistics),
        "baseline_model": ChannelParameter(type=standard_artifacts.Model, optional=True),
        "anomalies": ChannelParameter(type=standard_artifacts.ExampleAnomalies, optional=True),
    }
    OUTPUTS = {
        "cohorts": ChannelParameter(type=CohortSpecArtifact),
        "output_examples": ChannelParameter(type=standard_artifacts.Examples),
    }


class CohortMiner(base_beam_component.BaseBeamComponent):
    """Mines contrasting cohort pairs (c2al_tf.cohorts; StatisticsGen's statistics
    choose the axes and their cuts, the mode scores the pairs, ``pairwise`` by default)
    and writes Examples carrying the auxiliary labels; every data stage runs on Beam.

    Parameters and defaults are :class:`c2al_tf.cohorts.config.MiningConfig`'s, the
    same as ``c2al mine``'s. With ``cross_top >= 2`` the crosses of the best
    ``cross_top`` single axes are mined too, at the cost of one more statistics
    pass over the mining split (default 0: one pass, each split read once)."""

    SPEC_CLASS = CohortMinerSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(self, examples: types.BaseChannel, statistics: types.BaseChannel, label: str,
                 baseline_model: Optional[types.BaseChannel] = None,
                 anomalies: Optional[types.BaseChannel] = None, axes: Optional[str] = None,
                 categorical: Optional[str] = None, max_pairs: int = MiningConfig.max_pairs,
                 divergence: str = MiningConfig.divergence, min_support: float = MiningConfig.min_support,
                 min_positives: int = MiningConfig.min_positives, by: str = MiningConfig.by,
                 mining_split: str = "train", seed: int = MiningConfig.seed, cross_top: int = MiningConfig.cross_top,
                 max_rows: int = MiningConfig.max_rows):
        if by not in MODES:
            raise ValueError(f"CohortMiner: by must be one of {', '.join(MODES)}, got '{by}'")
        # the same validation as `c2al mine` (one MiningConfig), at pipeline construction
        config = MiningConfig(axes=tuple(a for a in (axes or "").split(",") if a.strip()) or None,
                              max_pairs=max_pairs, divergence=divergence, min_support=min_support,
                              min_positives=min_positives, by=by, seed=seed, cross_top=cross_top, max_rows=max_rows)
        if config.needs_model and baseline_model is None:
            raise ValueError(f"CohortMiner: by='{by}' needs baseline_model")
        spec = CohortMinerSpec(
            examples=examples, statistics=statistics, baseline_model=baseline_model, anomalies=anomalies, label=label, axes=axes,
            categorical=categorical, max_pairs=max_pairs, divergence=divergence, min_support=min_support,
            min_positives=min_positives, by=by, mining_split=mining_split, seed=seed, cross_top=cross_top,
            max_rows=max_rows, cohorts=types.Channel(type=CohortSpecArtifact),
            output_examples=types.Channel(type=standard_artifacts.Examples))
        super().__init__(spec=spec)
