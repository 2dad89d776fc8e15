"""Label leakage: features that predict the label almost perfectly on their own.

A column that is the label in disguise (a copy, a "converted" flag, a post-click
field) gives a near-perfect model that will not exist at serving time. Each
feature is scored by the AUC of the feature alone, on at most ``sample`` rows:

* numeric: the values themselves (missing rows left out), ``max(AUC, 1 - AUC)``;
* categorical: each value's positive rate, for values with at least
  ``min_rows`` rows (rarer values are pooled into one group, so an id column
  whose values each appear once cannot look perfect).

A feature scoring at least ``threshold`` (default 0.99) is reported.
"""
from __future__ import annotations

from typing import List, Tuple

import numpy as np
import pandas as pd

THRESHOLD = 0.99


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    """``max(AUC, 1 - AUC)`` from the ranks of ``score`` (ties averaged: the
    Mann-Whitney statistic, equal to ``sklearn.metrics.roc_auc_score``); a rank
    sort, not sklearn's per-call checks, so thousands of columns stay cheap."""
    from scipy.stats import rankdata

    y = np.asarray(y)
    positives = int(y.sum()) if len(y) else 0
    negatives = len(y) - positives
    if positives == 0 or negatives == 0:
        return 0.5
    ranks = rankdata(score)
    value = float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))
    return max(value, 1.0 - value)


def leaking_features(table, threshold: float = THRESHOLD, sample: int = 200_000, min_rows: int = 20,
                     seed: int = 0) -> List[Tuple[str, float]]:
    """``[(feature, single-feature AUC)]`` for features at or above ``threshold``."""
    n = len(table)
    index = np.arange(n)
    if n > sample:
        index = np.sort(np.random.default_rng(seed).choice(n, sample, replace=False))
    y = table.label[index]
    out = []
    for name in table.features.columns:
        column = table.features[name].to_numpy()[index]
        if name in table.numeric:
            values = column.astype(np.float64)
            present = ~np.isnan(values)
            score, yy = values[present], y[present]
            if present.mean() < 0.5:
                continue
        else:
            codes, uniques = pd.factorize(pd.Series(column, dtype=object))
            counts = np.bincount(codes, minlength=len(uniques))
            codes = np.where(counts[codes] >= min_rows, codes, len(uniques))  # pool rare values
            positives = np.bincount(codes, weights=y, minlength=len(uniques) + 1)
            totals = np.bincount(codes, minlength=len(uniques) + 1)
            score, yy = (positives / np.maximum(totals, 1))[codes], y
        auc = _auc(yy, score)
        if auc >= threshold:
            out.append((name, auc))
    return out


def leakage_warnings(table, threshold: float = THRESHOLD) -> List[str]:
    """One warning line per leaking feature."""
    return [f"{table.source}: column '{name}' predicts label '{table.label_name}' almost perfectly on its own "
            f"(AUC {auc:.4f}); if it is known only after the outcome it leaks the label: leave it out with drop {name}"
            for name, auc in leaking_features(table, threshold)]
