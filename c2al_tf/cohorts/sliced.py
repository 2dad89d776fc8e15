"""Mining contrasting cohort pairs from sliced TFDV statistics.

For a candidate axis ``a`` with bins (cohorts) ``C`` and every other binned
feature ``F`` with bins ``b``, the sliced, label-weighted statistics give
``n_C(b)`` (examples) and ``y_C(b)`` (positives). The *conditional* label
structure of cohort C on F is the shape of its positive rate over F's bins,
with a common feature distribution so that covariate shift does not count:

    r_C(b)  = (y_C(b) + s * r_C) / (n_C(b) + s)           (smoothed toward the cohort rate r_C, s = 1)
    w(b)    = (n_A(b) / n_A + n_B(b) / n_B) / 2           (common weights of the pair A, B)
    pi_C(b) = r_C(b) w(b) / sum_b' r_C(b') w(b')          (where C's positives would fall)
    D(A, B) = mean_F  div(pi_A^F, pi_B^F)                  (div: js | kl | wasserstein | cosine)

``pi_C`` does not move when a cohort's rate is scaled (a marginal shift) or when
its feature mix changes, so a decoy axis that only shifts the positive rate
scores near zero; an axis whose cohorts respond to features in conflicting ways
scores high. The positive-rate ratio is reported beside it.

Noise: D is biased upward on finite counts. For every pair we simulate the
null (same conditional shape for both cohorts, each keeping its own rate and
counts: ``y*_C(b) ~ Binomial(n_C(b), k_C * rho(b))`` with ``rho`` the pooled
rate curve) and report ``divergence = D - mean(D_null)``, with
``z = divergence / sd(D_null)``. A pair is kept only when ``z`` exceeds the
Bonferroni-corrected one-sided 5% threshold over every pair tested (the noise
threshold: ``z > Phi^-1(1 - 0.05 / pairs tested)``), both cohorts have support
>= ``min_support`` and >= ``min_positives`` positives. Head = the cohort with the
higher positive rate. Axes are ranked by divergence minus two null sds; the top ``max_pairs`` kept.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from c2al_tf.cohorts import divergence as divergences
from c2al_tf.cohorts.binning import Binning, feature_stats
from c2al_tf.cohorts.core import AxisResult, Scored, rank_axes

_SLICE = re.compile(r"^(c2albin\d{3})_b(\d+)$")


@dataclasses.dataclass
class CohortCounts:
    """Counts of one cohort (a bin of an axis)."""

    bin: int
    n: float
    positives: float
    per_feature: Dict[str, Tuple[np.ndarray, np.ndarray]]  # feature -> (n(b), y(b))


def counts_from_statistics(sliced, binnings: Sequence[Binning], axes: Sequence[Binning]
                           ) -> Dict[str, Dict[int, CohortCounts]]:
    """Reads the sliced, label-weighted TFDV statistics into counts per axis and bin;
    each conditioning feature's counts are over its conditioning bins
    (:meth:`Binning.conditioning_map`)."""
    by_column = {b.column: b for b in binnings}
    maps = {b.column: b.conditioning_map() for b in binnings}
    out: Dict[str, Dict[int, CohortCounts]] = {a.feature: {} for a in axes}
    for dataset in sliced.datasets:
        m = _SLICE.match(dataset.name)
        if not m or m.group(1) not in by_column:
            continue
        axis = by_column[m.group(1)]
        if axis.feature not in out:
            continue
        k = int(m.group(2))
        features = feature_stats(dataset)
        per_feature = {}
        for b in binnings:
            if b is axis or b.column not in features:
                continue
            f = features[b.column]
            n_b = np.zeros(b.num_bins)
            y_b = np.zeros(b.num_bins)
            for v in f.string_stats.top_values:
                n_b[int(v.value[1:])] = v.frequency
            for v in f.string_stats.weighted_string_stats.top_values:
                y_b[int(v.value[1:])] = v.frequency
            cmap = maps[b.column]
            size = int(cmap.max()) + 1
            per_feature[b.feature] = (np.bincount(cmap, weights=n_b, minlength=size),
                                      np.bincount(cmap, weights=y_b, minlength=size))
        out[axis.feature][k] = CohortCounts(k, float(dataset.num_examples), float(dataset.weighted_num_examples),
                                            per_feature)
    return out


def union_counts(cohorts: Dict[int, CohortCounts], bins: Sequence[int]) -> Optional[CohortCounts]:
    """The counts of a cohort made of several bins (sums; None if no bin was seen)."""
    parts = [cohorts[k] for k in bins if k in cohorts]
    if not parts:
        return None
    features = set(parts[0].per_feature)
    for p in parts[1:]:
        features &= set(p.per_feature)
    per_feature = {f: (sum(p.per_feature[f][0] for p in parts), sum(p.per_feature[f][1] for p in parts))
                   for f in features}
    return CohortCounts(bins[0], sum(p.n for p in parts), sum(p.positives for p in parts), per_feature)


def _shapes(n_a, y_a, n_b, y_b, smooth=1.0):
    """pi_A, pi_B of the module docstring; arrays [..., B]."""
    na, nb = n_a.sum(-1, keepdims=True), n_b.sum(-1, keepdims=True)
    ra = y_a.sum(-1, keepdims=True) / np.maximum(na, 1)
    rb = y_b.sum(-1, keepdims=True) / np.maximum(nb, 1)
    w = 0.5 * (n_a / np.maximum(na, 1) + n_b / np.maximum(nb, 1))
    pa_ = (y_a + smooth * ra) / (n_a + smooth) * w
    pb_ = (y_b + smooth * rb) / (n_b + smooth) * w
    eps = 1e-12
    return (pa_ + eps) / (pa_ + eps).sum(-1, keepdims=True), (pb_ + eps) / (pb_ + eps).sum(-1, keepdims=True)


def pair_divergence(a: CohortCounts, b: CohortCounts, div, draws: int = 100, rng=None):
    """(raw D, null mean, null sd) for cohorts a and b over their shared features."""
    rng = rng or np.random.default_rng(0)
    raws, nulls = [], []
    for feature in sorted(set(a.per_feature) & set(b.per_feature)):
        n_a, y_a = a.per_feature[feature]
        n_b, y_b = b.per_feature[feature]
        if n_a.sum() == 0 or n_b.sum() == 0 or len(n_a) < 2:
            continue
        pa_, pb_ = _shapes(n_a, y_a, n_b, y_b)
        raws.append(float(div(pa_, pb_)))
        # null: shared shape rho(b), each cohort scaled to its own rate
        rho = (y_a + y_b + 0.5) / (n_a + n_b + 1.0)
        ka = y_a.sum() / max((rho * n_a).sum(), 1e-12)
        kb = y_b.sum() / max((rho * n_b).sum(), 1e-12)
        sim_a = rng.binomial(n_a.astype(np.int64), np.clip(ka * rho, 0, 1), size=(draws, len(n_a)))
        sim_b = rng.binomial(n_b.astype(np.int64), np.clip(kb * rho, 0, 1), size=(draws, len(n_b)))
        qa, qb = _shapes(np.broadcast_to(n_a, sim_a.shape), sim_a, np.broadcast_to(n_b, sim_b.shape), sim_b)
        nulls.append(div(qa, qb))
    if not raws:
        return float("nan"), float("nan"), float("nan")
    null = np.mean(np.stack(nulls), axis=0)
    return float(np.mean(raws)), float(null.mean()), float(null.std(ddof=1))


def mine_axes(counts: Dict[str, Dict[int, CohortCounts]], axes: Sequence[Binning], divergence: str = "js",
              min_support: float = 0.02, min_positives: int = 30, total: Optional[float] = None,
              alpha: float = 0.05, draws: int = 100, seed: int = 0) -> List[AxisResult]:
    """Statistics mode: best pair per axis by the bias-corrected divergence of the
    cohorts' conditional label shapes (module docstring), via :func:`rank_axes`."""
    div = divergences.get(divergence)
    rng = np.random.default_rng(seed)

    def cohorts_of(axis, candidates):
        bins = counts.get(axis.feature, {})
        out = []
        for cand in candidates:
            c = union_counts(bins, cand.bins)
            out.append(Scored(cand, c.n, c.positives, c) if c is not None and c.n > 0 else None)
        return out, total or sum(c.n for c in bins.values())

    return rank_axes(axes, cohorts_of, lambda a, b: pair_divergence(a, b, div, draws, rng),
                     min_support, min_positives, alpha)


