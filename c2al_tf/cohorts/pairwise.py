"""``pairwise`` mode: rank cohorts by the structure that a model of every
*pairwise* feature interaction leaves inside them, with no trained network needed.

A global interaction (surface x category for everybody), a feature's main effect
or an axis' own slope are pairwise effects: any factorization-machine-like ranker
(attention FM included) learns them from a single objective, and label statistics
(``stats``) cannot tell them from a cohort's. What a single objective averages
away is a cohort that responds in its own way: that flips how two other features
interact (the bottom users reverse surface x category), responds to a feature the
others ignore, or sits at a rate the bins around it do not resolve.

An axis whose values are at most 64 distinct integers (a code such as a category id, or
the hour) is contrasted by its values, as a categorical axis is: a range of codes
(``item_category < 9``) is a cohort only by the accident of how the codes were numbered.

Everything is fitted by one procedure, **forward-stagewise block boosting**
(:func:`fit_stagewise`). The blocks are the intercept, each feature's bins and
each pair of features' cells (``bin`` = the conditioning bins of the other modes:
equal-mass quantile bins of a numeric feature, frequent values of a categorical
one, missing a bin of its own; an integer feature with at most 64 values, a code
or the hour, by value). Each round, with residuals ``r = y - p`` and weights
``w = p (1 - p)`` per cell c of block k::

    S_c = sum r,   W_c = sum w,   I_c = W_c + 1                 (+1: a N(0, 1) prior per cell)
    T_k = sum_c S_c^2 / I_c,   df_k = sum_c W_c / I_c         (score test; df = E[T] without structure)
    k*  = the block with the smallest p-value P(chi^2_df > T)
    eta += (1 - (df - 2) / T)_+ * W_c / I_c * [logit(y_c) - logit(p_c)]

with ``logit(y_c) - logit(p_c)`` the cell's observed against expected log-odds (counts
plus 0.5): the exact shift where ``p`` is constant in the cell, bounded where a Newton
step ``S / W`` would overshoot (a cell predicted at 1% that clicks at 50%), shrunk by
the prior and by James-Stein. The prior also keeps a cell whose predictions are near
0 or 1 (``W`` vanishes) from dominating the test.

It stops when the best block is not significant at ``alpha`` over the blocks tested
(Bonferroni), so structure is added block by block where the data demand it, and
noise is neither fitted nor tuned for (no penalty to choose).

1. **The reference** ``q``: the stagewise model of every single and pairwise block
   over all rows, **cross-fitted** (each row predicted by the fold that did not see
   it; at most ``max_fit_rows`` rows fit each fold).
2. **The score of a cohort C: held-out gain.** On half of C's rows, a *correction*
   of ``logit q`` by the same procedure over every block but the axis'; scored on the
   other half, and swapped::

       gain_i = logloss(y_i, q_i) - logloss(y_i, sigmoid(logit q_i + correction_i))
       g(C)   = share(C) * mean_i gain_i,   se(C) = share(C) * sd(gain) / sqrt(rows scored)

   ``g(C)`` is the log loss per row *of the whole data* that a model of C's own
   structure saves on rows it did not see: the signal an auxiliary head for C can
   give the shared tower, in the units of NE's numerator. Where C has no structure
   of its own, no block passes and ``g`` is 0 (or, when noise passes, slightly
   negative), so the test needs no simulated null. A pair's score is ``g(A) + g(B)``
   with ``se = sqrt(se(A)^2 + se(B)^2)``; the shared ranking routine
   (:func:`c2al_tf.cohorts.core.rank_axes`) keeps it when ``z = g / se`` passes the
   Bonferroni-corrected threshold over all pairs tested **and at least one cohort's
   own lower bound** ``g - 2 se`` **is above zero**, and ranks kept pairs by
   ``g - 2 se``. A cohort that responds in its own way is kept even when the other end
   of its axis does not (a premium tier, the newest users): it stands with its best
   contrasting counterpart. A numeric axis' tails are each
   chosen by ``g - 2 se`` (cutting where a regime ends saves the most).

What counts: three-way structure (a cohort that changes how two other features
interact), a private response to one feature, and a rate shift finer than the
reference's bins (a 5% extreme inside the bottom decile). What does not: global
interactions and main effects, which the reference models, and effects carried
only by features that are not binned finely (rare ids are pooled).

Cost: per fold of the reference, a few dozen rounds of one bincount per block;
per candidate cohort, a few rounds on at most :data:`MAX_GAIN_ROWS` rows per half.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pyarrow as pa
from scipy import stats as sps
from scipy.special import expit, logit

from c2al_tf.cohorts.binning import Binning
from c2al_tf.data.arrow import first_values
from c2al_tf.cohorts.core import (
    LCB_SDS,
    AxisResult,
    conditioning_codes,
    rank_axes,
    row_cohorts,
)
from c2al_tf.metrics import row_logloss

ALPHA = 0.05             # a block is added when significant at ALPHA over the blocks tested (Bonferroni)
REFERENCE_ROUNDS = 200   # at most this many steps fit the reference
COHORT_ROUNDS = 8        # at most this many steps fit a cohort's correction
MAX_FIT_ROWS = 200_000   # rows that fit each fold of the reference (a random subset beyond that)
FOLDS = 2
MAX_GAIN_ROWS = 50_000   # rows that fit (and rows that score) each half of a cohort's correction
MAX_CODE_LEVELS = 64     # an integer feature with at most this many values is binned by value (a code)
PRIOR_INFORMATION = 1.0  # Fisher information added to every cell (a N(0, 1) prior on its logit step)

Blocks = Dict[str, Tuple[np.ndarray, int]]
Steps = List[Tuple[str, np.ndarray]]


def numeric_values(batches: Sequence[pa.RecordBatch], feature: str) -> np.ndarray:
    """One float per row (the list's first value; NaN where missing: an empty list, a
    null, or a column the batch lacks). Lists may be ``list`` or ``large_list`` (TFX's
    tf.Example batches)."""
    out = []
    for batch in batches:
        names = batch.schema.names
        if feature not in names:
            out.append(np.full(batch.num_rows, np.nan))
            continue
        values, _ = first_values(batch.column(names.index(feature)))
        out.append(np.asarray(values, np.float64))
    return np.concatenate(out) if out else np.zeros(0)


def blocks(codes: Dict[str, np.ndarray], exclude: str = "") -> Blocks:
    """The blocks (module docstring): the intercept, each feature's bins and each pair
    of features' cells, never the feature ``exclude``; name -> (cell per row, cells)."""
    names = sorted(f for f in codes if f != exclude)
    sizes = {f: int(codes[f].max()) + 1 for f in names}
    n = len(next(iter(codes.values()))) if codes else 0
    out: Blocks = {"(intercept)": (np.zeros(n, np.int64), 1)}
    out.update({f: (codes[f], sizes[f]) for f in names})
    for i, f in enumerate(names):
        for g in names[i + 1:]:
            out[f"{f} x {g}"] = (codes[f] * sizes[g] + codes[g], sizes[f] * sizes[g])
    return out


def fit_stagewise(cells: Blocks, rows: np.ndarray, label: np.ndarray, eta: np.ndarray, rounds: int,
                  alpha: float = ALPHA) -> Steps:
    """Forward-stagewise block boosting of the logits ``eta[rows]`` (module docstring):
    the (block, step per cell) list, at most ``rounds`` long."""
    y, e = label[rows], np.array(eta[rows], np.float64)
    local = {name: cell[rows] for name, (cell, _) in cells.items()}
    counts = {name: (np.bincount(local[name], minlength=size).astype(np.float64),
                     np.bincount(local[name], weights=y, minlength=size)) for name, (_, size) in cells.items()}
    log_alpha = np.log(alpha / max(len(cells), 1))
    steps: Steps = []
    for _ in range(rounds):
        p = expit(e)
        w = p * (1.0 - p)
        best = None
        for name, (_, size) in cells.items():
            n_c, y_c = counts[name]
            e_c = np.bincount(local[name], weights=p, minlength=size)
            w_c = np.bincount(local[name], weights=w, minlength=size)
            i_c = w_c + PRIOR_INFORMATION
            df = float(np.sum(w_c / i_c))  # effective cells: E[T] under no structure
            if df < 0.5:
                continue
            t = float(np.sum((y_c - e_c) ** 2 / i_c))
            log_p = float(sps.chi2.logsf(t, df))
            if best is None or log_p < best[0]:
                best = (log_p, name, n_c, y_c, e_c, w_c, t, df)
        if best is None or best[0] > log_alpha:
            break
        _, name, n_c, y_c, e_c, w_c, t, df = best
        shift = (np.log((y_c + 0.5) / (n_c - y_c + 0.5)) - np.log((e_c + 0.5) / (n_c - e_c + 0.5)))
        delta = max(0.0, 1.0 - max(df - 2.0, 0.0) / t) * shift * w_c / (w_c + PRIOR_INFORMATION)
        steps.append((name, delta))
        e += delta[local[name]]
    return steps


def apply_steps(steps: Steps, cells: Blocks, rows: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """``eta[rows]`` plus every step's value at each row's cell."""
    out = np.array(eta[rows], np.float64)
    for name, delta in steps:
        out += delta[cells[name][0][rows]]
    return out


def canonical_order(codes: Dict[str, np.ndarray], label: np.ndarray, raw: Sequence[np.ndarray] = ()) -> np.ndarray:
    """Row indices sorted by a hash of each row's content (its conditioning codes, label
    and ``raw`` values; pandas' fixed-key row hash). The miner's random draws (cross-fit
    folds, a cohort's halves) are dealt in this order instead of the rows' positions,
    so the same rows in any order (Beam writes them in a different order each run) get
    the same draws and mine the same cohorts. Rows that tie are identical in all of
    these, hence interchangeable."""
    from c2al_tf.data.table import content_order

    columns = {f"code{i}": codes[name] for i, name in enumerate(sorted(codes))}
    columns["label"] = label
    columns.update({f"raw{i}": x for i, x in enumerate(raw)})
    return content_order(columns)


def crossfit_predictions(label: np.ndarray, codes: Dict[str, np.ndarray], seed: int = 0, folds: int = FOLDS,
                         max_fit_rows: int = MAX_FIT_ROWS, rounds: int = REFERENCE_ROUNDS,
                         order: Optional[np.ndarray] = None) -> np.ndarray:
    """Out-of-fold logits of the pairwise reference (the stagewise model over every
    block, starting from the fold's base rate), one per row. The random folds are
    dealt to the rows in ``order`` (default: their positions; :func:`canonical_order`
    makes them independent of the rows' order)."""
    y = np.asarray(label, np.float64).reshape(-1)
    cells = blocks(codes)
    rng = np.random.default_rng(seed)
    order = np.arange(len(y)) if order is None else np.asarray(order)
    fold = np.empty(len(y), np.int64)
    fold[order] = rng.integers(0, folds, len(y))
    out = np.empty(len(y))
    for k in range(folds):
        fit_rows = order[fold[order] != k]
        if len(fit_rows) > max_fit_rows:
            fit_rows = rng.choice(fit_rows, max_fit_rows, replace=False)
        fit_rows = np.sort(fit_rows)
        rate = float(np.clip(y[fit_rows].mean() if len(fit_rows) else y.mean(), 1e-6, 1 - 1e-6))
        start = np.full(len(y), logit(rate))
        steps = fit_stagewise(cells, fit_rows, y, start, rounds) if len(fit_rows) else []
        rows = np.flatnonzero(fold == k)
        out[rows] = apply_steps(steps, cells, rows, start)
    return out


def cohort_gain(rows: np.ndarray, label: np.ndarray, logit_q: np.ndarray, cells: Blocks, rng,
                max_rows: int = MAX_GAIN_ROWS, rounds: int = COHORT_ROUNDS) -> Tuple[float, float, int]:
    """(mean held-out gain per row, its standard error, rows scored) of a cohort
    (``rows``): the log loss per row that a stagewise correction of ``logit_q``
    *fitted on half of the cohort's rows* saves on the other half (module docstring).
    Two folds, each fitted on at most ``max_rows`` rows and scored on at most
    ``max_rows`` rows of the other. ``cells``: :func:`blocks` without the cohort's axis."""
    rows = rng.permutation(rows)
    halves = [rows[: len(rows) // 2], rows[len(rows) // 2:]]
    gains = []
    for k in range(2):
        fit, held = halves[k][:max_rows], halves[1 - k][:max_rows]
        if len(fit) == 0 or len(held) == 0:
            continue
        corrected = apply_steps(fit_stagewise(cells, fit, label, logit_q, rounds), cells, held, logit_q)
        gains.append(row_logloss(label[held], expit(logit_q[held])) - row_logloss(label[held], expit(corrected)))
    if not gains:
        return float("nan"), float("nan"), 0
    g = np.concatenate(gains)
    return float(g.mean()), float(g.std(ddof=1) / np.sqrt(len(g))) if len(g) > 1 else 0.0, len(g)


def mine_pairwise(batches: Sequence[pa.RecordBatch], label: np.ndarray, axes: Sequence[Binning],
                  binnings: Sequence[Binning], min_support: float = 0.02, min_positives: int = 30,
                  seed: int = 0, alpha: float = 0.05) -> List[AxisResult]:
    """Pairwise mode through the shared ranking routine (module docstring): a cohort's
    payload is its rows; its score, the held-out log loss that a correction of the
    cross-fitted pairwise reference, fitted on those rows, saves (a share of all rows)."""

    singles = [b for b in binnings if b.kind != "cross"]
    codes = conditioning_codes(batches, singles)
    y = np.asarray(label, np.float64).reshape(-1)
    by_value = {}
    raw = []  # numeric features' values: part of a row's content (cohorts are ranges of them)
    for b in singles:
        if b.kind == "numeric":
            x = numeric_values(batches, b.feature)
            raw.append(x)
            levels = integer_levels(x)
            if levels is not None:  # a code (category, hour): its own values, not quantile bins across them
                codes[b.feature] = levels
                by_value[b.feature] = value_binning(b, x, min_support)
    axes = [by_value.get(a.feature) or a for a in axes]
    order = canonical_order(codes, y, raw)
    rank = np.empty(len(y), np.int64)
    rank[order] = np.arange(len(y))
    logit_q = crossfit_predictions(y, codes, seed=seed, order=order)
    n_total = float(len(y))
    cache: Dict[tuple, Tuple[float, float, float]] = {}
    cells_without: Dict[str, Blocks] = {}  # per axis: every block but the axis' own

    def one(payload):
        feature, rows = payload
        key = (feature, hash(rows.tobytes()))
        if key not in cache:
            rng = np.random.default_rng([seed, len(rows)])
            if feature not in cells_without:
                cells_without[feature] = blocks(codes, feature)
            canonical = rows[np.argsort(rank[rows], kind="stable")]  # halves drawn independently of row order
            mean, se, scored = cohort_gain(canonical, y, logit_q, cells_without[feature], rng)
            share = len(rows) / n_total
            cache[key] = (mean * share, 0.0, se * share) if scored else (float("nan"), 0.0, float("nan"))
        return cache[key]

    def pair(a, b):
        """g(A) + g(B) with its standard error, or no evidence at all (an infinite sd)
        unless *at least one* cohort's own lower bound ``g - 2 se`` is above zero. A
        cohort that responds in its own way is kept even when the other end of its axis
        does not (a premium tier, the newest users): it stands with its best contrasting
        counterpart, whose head then learns the response of the rows it is contrasted
        with. The Bonferroni threshold on the pair's z still decides."""
        (ra, _, sa), (rb, _, sb) = one(a), one(b)
        if not max(ra - LCB_SDS * sa, rb - LCB_SDS * sb) > 0:
            return ra + rb, 0.0, float("inf")
        return ra + rb, 0.0, float(np.hypot(sa, sb))

    return rank_axes(axes, row_cohorts(batches, y, lambda mask, axis: (axis.feature, np.flatnonzero(mask))), pair,
                     min_support, min_positives, alpha, tail_score=lambda a, middle: one(a))


def value_binning(axis: Binning, x: np.ndarray, min_support: float, max_values: int = 20) -> Binning:
    """A numeric axis holding a few integer values (a code) as a categorical axis: its
    values with support >= ``min_support`` (at most ``max_values``, most frequent
    first) are its candidate cohorts, never a range of codes (a code's order may mean
    nothing: ``item_category < 9``)."""
    from c2al_tf.cohorts.binning import value_text

    ok = np.isfinite(x)
    values, counts = np.unique(x[ok], return_counts=True)
    order = np.argsort(-counts, kind="stable")
    keep = [value_text(float(values[i])) for i in order if counts[i] >= min_support * len(x)][:max_values]
    return Binning(axis.feature, "categorical", axis.column, values=keep)


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
