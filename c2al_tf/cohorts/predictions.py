"""``predictions`` mode (the paper's recipe): contrast cohorts by the distribution
of a baseline model's predictions instead of label statistics.

Predictions ``p`` (from the baseline SavedModel's ``serving_default``) are cut at
their global quantiles into ``bins`` bins; each candidate cohort's histogram over
those bins is its distribution, and ``div(hist_A, hist_B)`` ranks pairs (the same
candidates and ranking routine as the statistics mode). The null (both
cohorts drawing from the pooled histogram with their own sizes, multinomial)
gives the same bias correction and noise threshold as the statistics mode.
"""
from __future__ import annotations

from typing import List, Sequence

import numpy as np
import pyarrow as pa

from c2al_tf.cohorts import divergence as divergences
from c2al_tf.cohorts.binning import Binning
from c2al_tf.cohorts.core import AxisResult, rank_axes, row_cohorts


def mine_predictions(batches: Sequence[pa.RecordBatch], label: np.ndarray, predictions: np.ndarray,
                     axes: Sequence[Binning], divergence: str = "js", bins: int = 20, min_support: float = 0.02,
                     min_positives: int = 30, alpha: float = 0.05, draws: int = 100, seed: int = 0
                     ) -> List[AxisResult]:
    """Predictions mode through the shared ranking routine (:func:`rank_axes`): a
    cohort's payload is its histogram of baseline predictions."""
    div = divergences.get(divergence)
    rng = np.random.default_rng(seed)
    p = np.asarray(predictions, np.float64).reshape(-1)
    y = np.asarray(label).reshape(-1)
    edges = np.unique(np.quantile(p, np.linspace(0, 1, bins + 1)[1:-1]))
    pbin = np.searchsorted(edges, p, side="right")
    nb = len(edges) + 1

    cohorts_of = row_cohorts(batches, y, lambda m, axis: np.bincount(pbin[m], minlength=nb).astype(float))

    def score(ha, hb):
        raw = float(div(ha + 1e-9, hb + 1e-9))
        pooled = (ha + hb) / (ha + hb).sum()
        sa = rng.multinomial(int(ha.sum()), pooled, size=draws) + 1e-9
        sb = rng.multinomial(int(hb.sum()), pooled, size=draws) + 1e-9
        null = div(sa, sb)
        return raw, float(null.mean()), float(null.std(ddof=1))

    return rank_axes(axes, cohorts_of, score, min_support, min_positives, alpha)
