"""``residuals`` mode: rank cohorts by where a baseline model is *wrong* in a
structured way inside them, the signal a single global objective neglects.

A baseline that already models a feature interaction for everybody (a global
surface x category effect, main effects of age or country) leaves no structure
in its residuals, so such axes score near zero here even though their label
statistics differ sharply between cohorts (which fools the ``stats`` mode). A
cohort whose response the baseline averages away (a flipped interaction, a
private hour-of-day effect, an unmodelled rate shift) leaves residuals that vary
over the other features' bins.

For a cohort C and each conditioning feature F (bins b, as in the stats mode;
missing values are a bin of their own), with ``p`` the baseline's probability
per row::

    n_C(b) = rows,  y_C(b) = positives,  e_C(b) = sum of p      (of C's rows in bin b)
    G_C^F  = 2 / n_C * sum_b [ y ln(y / e) + (n - y) ln((n - y) / (n - e)) ]   (binomial deviance per row)
    g(C)   = mean_F G_C^F

``g(C)`` is about twice the log loss per row that recalibrating the baseline on
C's feature bins would recover, in the units of NE's numerator. Before it is
computed, ``p`` is shifted on the odds scale, per bin of F over *all* rows, to
match that bin's positives (:func:`recalibrated`): miscalibration every cohort
shares is the baseline's, not a cohort's. Its null is a calibrated baseline
(``y* ~ Binomial(n_C(b), e_C(b) / n_C(b))``); the pair score is ``g(A) + g(B)``
with null means summed and sds combined (draws independent), so the shared
ranking routine (:func:`c2al_tf.cohorts.core.rank_axes`) applies the same bias
correction, Bonferroni noise threshold and ranking bound as the other modes. A
numeric axis' tails are chosen against the middle rows by the deviance over all
rows, ``share(A) g(A) + share(B) g(B)``: cutting where a regime ends reveals the
most of it, while a per-row score is flat inside the regime.

The predictions should come from rows the baseline did not fit (a held-out part
of the training split): fitting shrinks in-sample residuals, which keeps this
test conservative (fewer cohorts pass) but costs power.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pyarrow as pa

from c2al_tf.cohorts.binning import Binning
from c2al_tf.cohorts.core import (
    CROSS,
    AxisResult,
    conditioning_codes,
    rank_axes,
    row_cohorts,
)

_EPS = 0.5  # pseudo-count inside the logs (a bin with y = 0 or y = n stays finite)


def deviance(n: np.ndarray, y: np.ndarray, e: np.ndarray, eps: float = _EPS) -> np.ndarray:
    """``2 sum_b [y ln(y/e) + (n-y) ln((n-y)/(n-e))]`` over the last axis, with a
    pseudo-count ``eps`` inside the logs (0: the exact binomial likelihood ratio)."""
    e = np.clip(e, 0.0, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(y > 0, y * np.log((y + eps) / (e + eps)), 0.0)
        b = np.where(n - y > 0, (n - y) * np.log((n - y + eps) / (n - e + eps)), 0.0)
    return 2.0 * (a + b).sum(-1)


def recalibrated(label: np.ndarray, predictions: np.ndarray, codes: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Per conditioning feature F, the predictions rescaled on the odds scale so that
    they match the positives of every bin of F over all rows: the miscalibration that
    every cohort shares (the baseline's global misfit along F) is not a cohort's."""
    out = {}
    lo = np.log(np.clip(predictions, 1e-7, 1 - 1e-7) / np.clip(1 - predictions, 1e-7, 1))
    for feature, c in codes.items():
        size = int(c.max()) + 1
        y = np.bincount(c, weights=label, minlength=size)
        e = np.bincount(c, weights=predictions, minlength=size)
        shift = np.log((y + _EPS) / (np.bincount(c, minlength=size) - y + _EPS)) - \
            np.log((e + _EPS) / (np.bincount(c, minlength=size) - e + _EPS))
        out[feature] = 1.0 / (1.0 + np.exp(-(lo + shift[c])))
    return out


def cohort_residuals(mask: np.ndarray, label: np.ndarray, predictions: np.ndarray,
                     codes: Dict[str, np.ndarray], exclude: str) -> Dict[str, Tuple[np.ndarray, ...]]:
    """Feature -> (n(b), y(b), e(b)) of the rows in ``mask``, for every conditioning
    feature but the axis itself."""
    out = {}
    y = label[mask]
    for feature, c in codes.items():
        if exclude in feature.split(CROSS):
            continue
        p = (predictions[feature] if isinstance(predictions, dict) else predictions)[mask]
        idx = c[mask]
        size = int(c.max()) + 1
        out[feature] = (np.bincount(idx, minlength=size).astype(np.float64),
                        np.bincount(idx, weights=y, minlength=size), np.bincount(idx, weights=p, minlength=size))
    return out


def cohort_score(payload: Dict[str, Tuple[np.ndarray, ...]], rng, draws: int = 100) -> Tuple[float, float, float]:
    """(g, null mean of g, null sd of g) of one cohort (module docstring)."""
    raws, nulls = [], []
    for feature in sorted(payload):
        n, y, e = payload[feature]
        total = n.sum()
        if total <= 0:
            continue
        raws.append(deviance(n, y, e) / total)
        sim = rng.binomial(n.astype(np.int64), np.clip(e / np.maximum(n, 1), 0.0, 1.0), size=(draws, len(n)))
        nulls.append(deviance(n, sim, e) / total)
    if not raws:
        return float("nan"), float("nan"), float("nan")
    null = np.mean(np.stack(nulls), axis=0)
    return float(np.mean(raws)), float(null.mean()), float(null.std(ddof=1))


def mine_residuals(batches: Sequence[pa.RecordBatch], label: np.ndarray, predictions: np.ndarray,
                   axes: Sequence[Binning], binnings: Sequence[Binning], min_support: float = 0.02,
                   min_positives: int = 30, alpha: float = 0.05, draws: int = 100, seed: int = 0,
                   recalibrate: bool = True, pairs: bool = False,
                   codes: Optional[Dict[str, np.ndarray]] = None) -> List[AxisResult]:
    """Residuals mode through the shared ranking routine: a cohort's payload is its
    per-feature (rows, positives, expected positives) and a pair's score is the sum
    of its two cohorts' structured deviance (module docstring)."""
    rng = np.random.default_rng(seed)
    y = np.asarray(label, np.float64).reshape(-1)
    p = np.asarray(predictions, np.float64).reshape(-1)
    if len(y) != len(p):
        raise ValueError(f"mine_residuals: {len(p)} predictions for {len(y)} labels")
    codes = conditioning_codes(batches, binnings, pairs=pairs) if codes is None else dict(codes)
    if pairs and codes and not any(CROSS in k for k in codes):
        single = sorted(codes)
        codes.update({f"{a}{CROSS}{b}": codes[a] * (int(codes[b].max()) + 1) + codes[b]
                      for i, a in enumerate(single) for b in single[i + 1:]})
    if pairs:  # only the pairs: a cohort's structure beyond what pairwise terms explain
        codes = {k: v for k, v in codes.items() if CROSS in k}
    n_total = len(p)
    if recalibrate:
        p = recalibrated(y, p, codes)
    cache: Dict[int, Tuple[float, float, float]] = {}

    cohorts_of = row_cohorts(batches, y, lambda m, axis: cohort_residuals(m, y, p, codes, axis.feature))

    def one(payload):
        key = id(payload)
        if key not in cache:
            cache[key] = (cohort_score(payload, rng, draws), payload)  # keep payload alive: ids stay unique
        return cache[key][0]

    def score(a, b):
        ra, ma, sa = one(a)
        rb, mb, sb = one(b)
        return ra + rb, ma + mb, float(np.hypot(sa, sb))

    def total(a, b):
        """The pair's deviance over all rows (per-row g weighted by each cohort's share):
        splitting an axis where its regimes change reveals the most of it."""
        wa, wb = _rows(a) / n_total, _rows(b) / n_total
        ra, ma, sa = one(a)
        rb, mb, sb = one(b)
        return wa * ra + wb * rb, wa * ma + wb * mb, float(np.hypot(wa * sa, wb * sb))

    return rank_axes(axes, cohorts_of, score, min_support, min_positives, alpha, tail_score=total)


def _rows(payload) -> float:
    n = next(iter(payload.values()))[0] if payload else np.zeros(1)
    return float(n.sum())
