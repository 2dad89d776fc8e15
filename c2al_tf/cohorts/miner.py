"""Mining end to end on in-memory data: global TFDV statistics choose the axes and
their bins (:func:`binnings_and_axes`), then the mode (``MiningConfig.by``) scores
the cohort pairs -> CohortSpec:

- ``pairwise`` (default): the held-out log loss a cohort's own correction of a model
  of every pairwise interaction saves (:mod:`c2al_tf.cohorts.pairwise`, no model);
- ``stats``: sliced, label-weighted TFDV statistics (:func:`mine_from_statistics`);
- ``predictions`` / ``residuals``: a baseline model's predictions.

One entry, :func:`mine`, serves ``c2al mine``/``c2al experiment`` (through
:func:`mine_table`) and the TFX CohortMiner, which reads the TFRecords.
"""
from __future__ import annotations

import dataclasses
from typing import List, Optional, Sequence, Tuple

import numpy as np
import pyarrow as pa

from c2al_tf.cohorts.binning import QUANTILE_BUCKETS, binnings_from_statistics
from c2al_tf.cohorts.config import MiningConfig
from c2al_tf.cohorts.core import rank_key, spec_from_results
from c2al_tf.cohorts.sliced import counts_from_statistics, mine_axes


def table_to_record_batches(table, batch_size: int = 20_000) -> List[pa.RecordBatch]:
    """FeatureTable -> Arrow RecordBatches with list columns (categorical as bytes,
    numeric as float64 so bins match the table's values exactly, the 0/1 label as
    int64), as TFXIO would produce."""
    from c2al_tf.data.examples import table_to_record_batch

    dtypes = {c: "float64" for c in table.numeric}
    dtypes.update({c: "string" for c in table.categorical})
    return [table_to_record_batch(table, dtypes, start=start, stop=min(start + batch_size, len(table)))
            for start in range(0, len(table), batch_size)]


def binnings_and_axes(global_stats, label: str, axes: Optional[Sequence[str]] = None, min_support: float = 0.02,
                      categorical: Sequence[str] = (), exclude: Sequence[str] = (), bins: int = 10):
    """All binnings (conditioning features) and the candidate axes among them.

    Without ``axes``, every binned feature is a candidate axis except identifiers
    (names the typing rule reads as ids: ``user_id``, ``movieId``, ``Clothing ID``,
    ``zip``...; :func:`c2al_tf.data.column_types.looks_like_id_name`): a cohort of
    a few item or user ids is not a user axis whose signal a global objective
    neglects, and an id column's frequent values pass any support test on a
    catalogue with a few popular items. They stay conditioning features, and
    ``--axes`` still names them explicitly."""
    from c2al_tf.data.column_types import looks_like_id_name

    binnings = binnings_from_statistics(global_stats, label, min_support=min_support, categorical=categorical,
                                        exclude=exclude, only=axes, bins=bins)
    if axes:
        chosen = [b for b in binnings if b.feature in set(axes)]
    else:
        chosen = [b for b in binnings if not looks_like_id_name(b.feature)]
    return binnings, chosen


def mine_from_statistics(sliced_stats, binnings, axes, label: str, divergence: str = "js", max_pairs: int = 1,
                         min_support: float = 0.02, min_positives: int = 30, total: Optional[float] = None,
                         seed: int = 0, previous: Sequence = ()):
    """(CohortSpec, ranked AxisResults) from the sliced statistics; ``previous``
    results (e.g. single axes, when these statistics hold crosses) are ranked with them."""
    counts = counts_from_statistics(sliced_stats, binnings + [a for a in axes if a not in binnings], axes)
    results = mine_axes(counts, axes, divergence, min_support=min_support, min_positives=min_positives,
                        total=total, seed=seed)
    results = sorted(list(previous) + results, key=rank_key)
    return spec_from_results(results, label, divergence, max_pairs), results


def cross_axes(results, axes, binnings, cross_top: int = 2):
    """Crosses of every pair among the ``cross_top`` best significant single axes."""
    from c2al_tf.cohorts.binning import BIN_PREFIX, cross_binning

    by_feature = {a.feature: a for a in axes}
    top = [by_feature[r.axis[0]] for r in results if r.significant and len(r.axis) == 1
           and r.axis[0] in by_feature][:cross_top]
    out = []
    for i, a in enumerate(top):
        for b in top[i + 1:]:
            out.append(cross_binning(a, b, f"{BIN_PREFIX}{len(binnings) + len(out):03d}"))
    return out


def mine(batches, label: str, binnings, axes, config: Optional[MiningConfig] = None, predictions=None,
         statistics=None, beam_args: Optional[List[str]] = None) -> Tuple[object, list]:
    """The one mining entry: (CohortSpec, ranked AxisResults) for the mode ``config.by``.

    ``batches`` are Arrow RecordBatches of the mining rows (already sampled: at most
    ``config.max_rows`` for the in-memory modes), ``label`` the 0/1 label feature,
    ``binnings``/``axes`` from :func:`binnings_and_axes`. ``predictions``: a baseline's
    probability per row, required by ``by="predictions"``/``"residuals"``.
    ``statistics(columns, axes)`` returns the sliced statistics of the ``stats`` mode;
    by default TFDV runs on ``batches`` with Beam (``beam_args``). The CohortMiner
    component passes its own, which streams the whole mining split, and may then pass
    ``batches=None``. ``c2al mine``, ``c2al experiment`` (through :func:`mine_table`)
    and the component's executor all call this function."""
    from c2al_tf.data.arrow import batch_labels
    from c2al_tf.errors import C2ALInputError

    config = config or MiningConfig()
    by, divergence, max_pairs = config.by, config.divergence, config.max_pairs
    common = dict(min_support=config.min_support, min_positives=config.min_positives, seed=config.seed)
    if by == "stats":
        if statistics is None:
            from c2al_tf.cohorts.statistics import cohort_statistics, run_statistics

            def statistics(columns, ranked):
                return run_statistics(batches, lambda p: cohort_statistics(p, columns, ranked, label), beam_args)
        total = None if batches is None else float(sum(b.num_rows for b in batches))
        options = dict(divergence=divergence, max_pairs=max_pairs, total=total, **common)
        spec, results = mine_from_statistics(statistics(binnings, axes), binnings, axes, label, **options)
        crosses = cross_axes(results, axes, binnings, config.cross_top) if config.cross_top >= 2 else []
        if crosses:
            spec, results = mine_from_statistics(statistics(binnings + crosses, crosses), binnings, crosses, label,
                                                 previous=results, **options)
        return spec, results
    if not batches:
        raise C2ALInputError("mine: the mining rows hold no examples")
    labels = np.concatenate([batch_labels(b, label) for b in batches])
    if by == "pairwise":
        from c2al_tf.cohorts.pairwise import mine_pairwise

        results = mine_pairwise(batches, labels, axes, binnings, **common)
    else:
        if predictions is None:
            raise C2ALInputError(f"mine: by='{by}' needs predictions (a baseline model's probability per row)")
        predictions = np.asarray(predictions, dtype=np.float64).reshape(-1)
        if len(predictions) != len(labels):
            raise C2ALInputError(f"mine: {len(predictions)} predictions for {len(labels)} rows")
        if by == "predictions":
            from c2al_tf.cohorts.predictions import mine_predictions

            results = mine_predictions(batches, labels, predictions, axes, divergence, **common)
        else:
            from c2al_tf.cohorts.residuals import mine_residuals

            results = mine_residuals(batches, labels, predictions, axes, binnings, **common)
    return spec_from_results(results, label, divergence, max_pairs, method=by), results


def mine_table(table, config: Optional[MiningConfig] = None, beam_args: Optional[List[str]] = None,
               predictions=None, **overrides) -> Tuple[object, list]:
    """:func:`mine` on an in-memory FeatureTable: global TFDV statistics of its rows
    choose the axes and bins; the in-memory modes see a sample of about
    ``config.max_rows`` rows (:meth:`FeatureTable.sample`, the rule the component uses
    too: the same rows in any order give the same sample and the same TFDV sketch). ``predictions``: one per row of
    ``table`` (e.g. from ``c2al_tf.predictor``). ``config`` (:class:`MiningConfig`)
    with ``overrides`` of its fields by keyword."""
    config = dataclasses.replace(config or MiningConfig(), **overrides)
    from c2al_tf.cohorts import divergence as divergences
    from c2al_tf.cohorts.statistics import global_statistics, run_statistics
    from c2al_tf.errors import C2ALInputError

    divergences.get(config.divergence)  # validate early
    table.check_trainable("mine cohorts")
    if predictions is not None and len(predictions) != len(table):
        raise C2ALInputError(f"mine_table: {len(predictions)} predictions for {len(table)} rows")
    if config.needs_model and predictions is None:
        raise C2ALInputError(f"mine_table: by='{config.by}' needs predictions (a baseline model's probability "
                             f"per row)")
    keep = table.content_order(config.seed) if config.by == "stats" else table.sample(config.max_rows, config.seed)
    table = table.take(keep)
    predictions = None if predictions is None else np.asarray(predictions).reshape(-1)[keep]
    batches = table_to_record_batches(table)
    global_stats = run_statistics(batches, lambda p: global_statistics(p, QUANTILE_BUCKETS), beam_args)
    binnings, chosen = binnings_and_axes(global_stats, table.label_name, list(config.axes) if config.axes else None,
                                         config.min_support, categorical=table.categorical, bins=config.bins)
    if not chosen:
        raise C2ALInputError(f"{table.source}: no feature can be an axis (need numeric features with quantiles "
                             f"or categorical values with support >= {config.min_support})")
    return mine(batches, table.label_name, binnings, chosen, config, predictions=predictions, beam_args=beam_args)
