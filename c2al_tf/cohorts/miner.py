"""Mining end to end on in-memory data: global TFDV statistics choose the axes and
their bins (:func:`binnings_and_axes`), then the mode (``MiningConfig.by``) scores
the cohort pairs -> CohortSpec:

- ``pairwise`` (default): the held-out log loss a cohort's own correction of a model
  of every pairwise interaction saves (:mod:`c2al_tf.cohorts.pairwise`, no model);
- ``stats``: sliced, label-weighted TFDV statistics (:func:`mine_from_statistics`);
- ``predictions`` / ``residuals``: a baseline model's predictions.

The TFX CohortMiner runs the same functions on the TFRecords it reads.
"""
from __future__ import annotations

import dataclasses
from typing import List, Optional, Sequence, Tuple

import numpy as np
import pyarrow as pa

from c2al_tf.cohorts.binning import QUANTILE_BUCKETS, binnings_from_statistics
from c2al_tf.cohorts.config import MiningConfig
from c2al_tf.cohorts.mining import counts_from_statistics, mine_axes, rank_key, spec_from_results


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


def mine_table(table, config: Optional[MiningConfig] = None, beam_args: Optional[List[str]] = None,
               predictions=None, **overrides) -> Tuple[object, list]:
    """Mines a FeatureTable: global TFDV statistics choose axes and bins; then the mode
    ranks the pairs: ``by="pairwise"`` (default) a held-out pairwise reference, ``"stats"``
    the sliced, label-weighted TFDV pass, ``"predictions"`` / ``"residuals"`` a
    baseline model's probabilities (``predictions``: one per row, loaded by the caller,
    e.g. with ``c2al_tf.predictor``). Beam runs the TFDV passes (DirectRunner unless
    ``beam_args`` say otherwise). With
    ``cross_top >= 2`` (stats mode), the crosses of the best significant single
    axes get one more sliced pass and are ranked with them. ``config``
    (:class:`MiningConfig`) with ``overrides`` of its fields by keyword."""
    config = dataclasses.replace(config or MiningConfig(), **overrides)
    axes, max_pairs, divergence = (list(config.axes) if config.axes else None), config.max_pairs, config.divergence
    min_support, min_positives, num_quantiles = config.min_support, config.min_positives, config.bins
    seed, by, cross_top = config.seed, config.by, config.cross_top
    from c2al_tf.cohorts import divergence as divergences
    from c2al_tf.cohorts.statistics import cohort_statistics, global_statistics, run_statistics

    divergences.get(divergence)  # validate early
    table.check_trainable("mine cohorts")
    if predictions is not None and len(predictions) != len(table):
        raise ValueError(f"mine_table: {len(predictions)} predictions for {len(table)} rows")
    # Rows in an order set by their content: the same rows in any order give the same
    # sample and the same TFDV sketch (its quantiles, hence the bins, depend on order).
    keep = table.content_order(seed)
    if by != "stats":  # in memory: a uniform sample of at most MiningConfig.max_rows rows
        keep = keep[:config.max_rows]
    table = table.take(keep)
    predictions = None if predictions is None else np.asarray(predictions).reshape(-1)[keep]
    batches = table_to_record_batches(table)
    global_stats = run_statistics(batches, lambda p: global_statistics(p, QUANTILE_BUCKETS), beam_args)
    binnings, chosen = binnings_and_axes(global_stats, table.label_name, axes, min_support,
                                         categorical=table.categorical, bins=num_quantiles)
    from c2al_tf.errors import C2ALInputError

    if not chosen:
        raise C2ALInputError(f"{table.source}: no feature can be an axis (need numeric features with quantiles "
                             f"or categorical values with support >= {min_support})")
    if by == "pairwise":
        from c2al_tf.cohorts.pairwise import mine_pairwise

        results = mine_pairwise(batches, table.label, chosen, binnings, min_support=min_support,
                                min_positives=min_positives, seed=seed)
        return spec_from_results(results, table.label_name, divergence, max_pairs, method=by), results
    if by in ("predictions", "residuals"):
        if predictions is None:
            raise C2ALInputError(f"--by {by} needs --baseline-model DIR (an exported baseline SavedModel)")
        if by == "predictions":
            from c2al_tf.cohorts.predictions import mine_predictions

            results = mine_predictions(batches, table.label, predictions, chosen, divergence,
                                       min_support=min_support, min_positives=min_positives, seed=seed)
        else:
            from c2al_tf.cohorts.residuals import mine_residuals

            results = mine_residuals(batches, table.label, predictions, chosen, binnings, min_support=min_support,
                                     min_positives=min_positives, seed=seed)
        return spec_from_results(results, table.label_name, divergence, max_pairs, method=by), results
    sliced = run_statistics(batches, lambda p: cohort_statistics(p, binnings, chosen, table.label_name), beam_args)
    options = dict(divergence=divergence, max_pairs=max_pairs, min_support=min_support, min_positives=min_positives,
                   total=float(len(table)), seed=seed)
    spec, results = mine_from_statistics(sliced, binnings, chosen, table.label_name, **options)
    crosses = cross_axes(results, chosen, binnings, cross_top) if cross_top >= 2 else []
    if crosses:
        sliced = run_statistics(batches, lambda p: cohort_statistics(p, binnings + crosses, crosses,
                                                                     table.label_name), beam_args)
        spec, results = mine_from_statistics(sliced, binnings, crosses, table.label_name, previous=results,
                                             **options)
    return spec, results
