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

from typing import Callable, List, Sequence

import numpy as np
import pyarrow as pa

from c2al_tf.cohorts import divergence as divergences
from c2al_tf.cohorts.binning import Binning
from c2al_tf.cohorts.mining import AxisResult, Scored, rank_axes


def axis_codes(batches: Sequence[pa.RecordBatch], axis: Binning) -> np.ndarray:
    """Bin index per row (-1 where missing)."""
    out = []
    for batch in batches:
        names = batch.schema.names
        if axis.feature not in names:
            out.append(np.full(batch.num_rows, -1))
            continue
        codes = axis.codes(batch.column(names.index(axis.feature))).to_numpy(zero_copy_only=False)
        out.append(np.array([int(c[1:]) if c is not None else -1 for c in codes], dtype=np.int64))
    return np.concatenate(out) if out else np.zeros(0, int)


def row_cohorts(batches: Sequence[pa.RecordBatch], label: np.ndarray, payload: Callable[[np.ndarray, Binning], object]):
    """``cohorts_of(axis, candidates)`` for :func:`rank_axes` on in-memory rows: each
    candidate's rows (a mask), their count and positives, and ``payload(mask, axis)``."""
    codes_of: dict = {}  # per axis: its bin per row, computed once (tails are chosen over many calls)

    def cohorts_of(axis, candidates):
        if axis.column not in codes_of:
            codes_of[axis.column] = axis_codes(batches, axis)
        codes = codes_of[axis.column]
        out = []
        for cand in candidates:
            m = np.isin(codes, cand.bins)
            n = float(m.sum())
            out.append(Scored(cand, n, float(label[m].sum()), payload(m, axis)) if n > 0 else None)
        return out, len(label)

    return cohorts_of


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
