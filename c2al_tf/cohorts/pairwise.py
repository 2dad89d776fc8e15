"""``pairwise`` mode: rank cohorts by the structure a model of every *pairwise*
feature interaction cannot explain inside them, with no trained network needed.

A global interaction (surface x category for everybody) or an axis' own rate
shift and slopes are pairwise effects: any factorization-machine-like ranker
(attention FM included) can learn them from a single objective, and label
statistics (``stats``) cannot tell them from a cohort's. What a single objective
averages away is a cohort that changes *how two other features interact*: the
bottom users flip surface x category, the top users respond to device x
category instead. That is a three-way effect, and it is what this mode scores.

1. **The pairwise reference** ``q``: a logistic regression on one-hot features
   ``[bin(f)] + [bin(f) x bin(g)] + [u(f) * bin(g)]`` for every feature f and
   pair f < g (``bin`` = the conditioning bins of the other modes: equal-mass
   quantile bins of a numeric feature, frequent values of a categorical one,
   missing a bin of its own; an integer feature with at most 64 values, a code
   such as a category id or the hour, is binned by value, so a cell boundary never
   falls inside a category; ``u`` = a numeric feature's rank score, so a slope
   that changes with g is pairwise too). L2-penalized (``C``), fitted by
   scikit-learn's lbfgs and **cross-fitted** (each row predicted by the fold that
   did not see it), so the residuals are out of sample and the null below holds.
   At most ``max_fit_rows`` rows fit each fold; every row is predicted.
2. **The score**: the residuals mode's binomial deviance
   (:mod:`c2al_tf.cohorts.residuals`) of ``q`` inside cohort C, over the cells
   of every *pair* of other features (F1 x F2; never the axis itself), averaged
   over pairs; the null (a calibrated ``q``) gives the bias correction and the
   noise threshold of the shared ranking routine. A cohort that only shifts the
   rate, or only changes one feature's response, leaves these cells fitted.

What it cannot see: a cohort that differs only by a rate shift or a single
feature's response (use ``stats``, or ``residuals`` against your baseline), and
interactions of order four or more.
"""
from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np
import pyarrow as pa
from scipy import sparse

from c2al_tf.cohorts.binning import Binning
from c2al_tf.cohorts.mining import AxisResult
from c2al_tf.cohorts.residuals import conditioning_codes, mine_residuals

C_PENALTY = 0.1        # sklearn's C (inverse L2 strength, sum-of-loss units)
MAX_FIT_ROWS = 200_000  # rows that fit each fold (a random subset beyond that)
FOLDS = 2
MAX_CODE_LEVELS = 64    # an integer feature with at most this many values is binned by value (a code)


def numeric_values(batches: Sequence[pa.RecordBatch], feature: str) -> np.ndarray:
    """One float per row (the list's first value; NaN where missing)."""
    out = []
    for batch in batches:
        names = batch.schema.names
        if feature not in names:
            out.append(np.full(batch.num_rows, np.nan))
            continue
        col = batch.column(names.index(feature))
        first = pa.compute.list_element(col, 0) if pa.types.is_list(col.type) else col
        out.append(np.asarray(first.to_numpy(zero_copy_only=False), np.float64))
    return np.concatenate(out) if out else np.zeros(0)


def rank_score(x: np.ndarray) -> np.ndarray:
    """A numeric feature's mid-rank mapped to [-1, 1] (0 where missing): robust to scale and outliers."""
    out = np.zeros(len(x))
    ok = np.isfinite(x)
    if ok.sum() > 1:
        from scipy.stats import rankdata

        out[ok] = 2.0 * (rankdata(x[ok]) - 0.5) / ok.sum() - 1.0
    return out


def design(codes: Dict[str, np.ndarray], scores: Dict[str, np.ndarray], rows: np.ndarray) -> sparse.csr_matrix:
    """The pairwise reference's one-hot design for ``rows`` (module docstring)."""
    names = sorted(codes)
    sizes = {f: int(codes[f].max()) + 1 for f in names}
    cols, vals, offset = [], [], 0
    n = len(rows)
    for f in names:
        cols.append(codes[f][rows] + offset)
        vals.append(np.ones(n))
        offset += sizes[f]
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            cols.append(codes[a][rows] * sizes[b] + codes[b][rows] + offset)
            vals.append(np.ones(n))
            offset += sizes[a] * sizes[b]
    for a in sorted(scores):
        for b in names:
            if b == a:
                continue
            cols.append(codes[b][rows] + offset)
            vals.append(scores[a][rows])
            offset += sizes[b]
    c = np.stack(cols, 1)
    r = np.repeat(np.arange(n), c.shape[1])
    return sparse.csr_matrix((np.stack(vals, 1).ravel(), (r, c.ravel())), shape=(n, offset))


def crossfit_predictions(label: np.ndarray, codes: Dict[str, np.ndarray], scores: Dict[str, np.ndarray],
                         seed: int = 0, folds: int = FOLDS, max_fit_rows: int = MAX_FIT_ROWS,
                         c_penalty: float = C_PENALTY) -> np.ndarray:
    """Out-of-fold probabilities of the pairwise reference, one per row."""
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(label, np.float64).reshape(-1)
    rng = np.random.default_rng(seed)
    fold = rng.integers(0, folds, len(y))
    q = np.empty(len(y))
    for k in range(folds):
        fit_rows = np.flatnonzero(fold != k)
        if len(fit_rows) > max_fit_rows:
            fit_rows = np.sort(rng.choice(fit_rows, max_fit_rows, replace=False))
        if np.unique(y[fit_rows]).size < 2:
            q[fold == k] = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
            continue
        model = LogisticRegression(C=c_penalty, max_iter=300)
        model.fit(design(codes, scores, fit_rows), y[fit_rows])
        rows = np.flatnonzero(fold == k)
        for start in range(0, len(rows), 100_000):
            part = rows[start:start + 100_000]
            q[part] = model.predict_proba(design(codes, scores, part))[:, 1]
    return q


def mine_pairwise(batches: Sequence[pa.RecordBatch], label: np.ndarray, axes: Sequence[Binning],
                  binnings: Sequence[Binning], min_support: float = 0.02, min_positives: int = 30,
                  seed: int = 0) -> List[AxisResult]:
    """Pairwise mode through the shared ranking routine (module docstring)."""
    singles = [b for b in binnings if b.kind != "cross"]
    codes = conditioning_codes(batches, singles)
    scores = {}
    for b in singles:
        if b.kind == "numeric":
            x = numeric_values(batches, b.feature)
            scores[b.feature] = rank_score(x)
            levels = integer_levels(x)
            if levels is not None:  # a code (category, hour): its own values, not quantile bins across them
                codes[b.feature] = levels
    q = crossfit_predictions(label, codes, scores, seed=seed)
    return mine_residuals(batches, label, q, axes, singles, min_support=min_support, min_positives=min_positives,
                          seed=seed, recalibrate=False, pairs=True, codes=codes)


def integer_levels(x: np.ndarray, max_levels: int = MAX_CODE_LEVELS):
    """Per row, the index of its value when a numeric feature holds at most
    ``max_levels`` distinct integers (missing = one more level); else None."""
    ok = np.isfinite(x)
    values = np.unique(x[ok])
    if not 1 < len(values) <= max_levels or np.any(values != np.round(values)):
        return None
    out = np.full(len(x), len(values), np.int64)
    out[ok] = np.searchsorted(values, x[ok])
    return out
