"""``predictions`` mode (the paper's recipe): contrast cohorts by the distribution
of a baseline model's predictions instead of label statistics.

Predictions ``p`` (from the baseline SavedModel's ``serving_default``) are cut at
their global quantiles into ``bins`` bins; each cohort's histogram over those bins
is its distribution, and ``div(hist_A, hist_B)`` ranks pairs. The null (both
cohorts drawing from the pooled histogram with their own sizes, multinomial)
gives the same bias correction and noise threshold as the statistics mode.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np
import pyarrow as pa
from scipy import stats as sps

from c2al_tf.cohorts import divergence as divergences
from c2al_tf.cohorts.binning import Binning
from c2al_tf.cohorts.mining import AxisResult, axis_names, cohort_name
from c2al_tf.cohorts.spec import aux_label_name


def axis_codes(batches: Sequence[pa.RecordBatch], axis: Binning) -> np.ndarray:
    """Bin index per row (-1 where missing)."""
    out = []
    for batch in batches:
        names = batch.schema.names
        if axis.feature not in names:
            out.append(np.full(batch.num_rows, -1))
            continue
        codes = axis.codes(batch.column(names.index(axis.feature))).to_numpy(zero_copy_only=False)
        out.append(np.array([int(c[1:]) if c is not None else -1 for c in codes]))
    return np.concatenate(out) if out else np.zeros(0, int)


def mine_predictions(batches: Sequence[pa.RecordBatch], label: np.ndarray, predictions: np.ndarray,
                     axes: Sequence[Binning], divergence: str = "js", bins: int = 20, min_support: float = 0.02,
                     min_positives: int = 30, alpha: float = 0.05, draws: int = 100, seed: int = 0
                     ) -> List[AxisResult]:
    div = divergences.get(divergence)
    rng = np.random.default_rng(seed)
    p = np.asarray(predictions, np.float64).reshape(-1)
    y = np.asarray(label).reshape(-1)
    edges = np.unique(np.quantile(p, np.linspace(0, 1, bins + 1)[1:-1]))
    pbin = np.searchsorted(edges, p, side="right")
    nb = len(edges) + 1
    n_total = len(p)
    per_axis: Dict[str, list] = {}
    tested = 0
    for axis in axes:
        codes = axis_codes(batches, axis)
        cohorts = []
        for k in range(axis.num_bins):
            m = codes == k
            if not axis.selectable(k) or m.sum() < min_support * n_total or y[m].sum() < min_positives:
                continue
            cohorts.append((k, m, np.bincount(pbin[m], minlength=nb).astype(float)))
        per_axis[axis.feature] = cohorts
        tested += len(cohorts) * (len(cohorts) - 1) // 2
    z_crit = float(sps.norm.ppf(1 - alpha / max(tested, 1)))
    results = []
    for axis in axes:
        cohorts = per_axis[axis.feature]
        best = None
        for i, (ka, ma, ha) in enumerate(cohorts):
            for kb, mb, hb in cohorts[i + 1:]:
                raw = float(div(ha + 1e-9, hb + 1e-9))
                pooled = (ha + hb) / (ha + hb).sum()
                sa = rng.multinomial(int(ha.sum()), pooled, size=draws) + 1e-9
                sb = rng.multinomial(int(hb.sum()), pooled, size=draws) + 1e-9
                null = div(sa, sb)
                score = raw - null.mean()
                z = score / null.std(ddof=1) if null.std(ddof=1) > 0 else 0.0
                if best is None or score > best[0]:
                    best = (score, raw, float(null.mean()), float(z), (ka, ma), (kb, mb))
        if best is None:
            results.append(AxisResult(axis_names(axis), 0.0, 0.0, 0.0, 0.0, False, None, None, float("nan"), 0,
                                      reason="fewer than two cohorts with enough support and positives"))
            continue
        score, raw, mu, z, a, b = best
        rate = {k: y[m].mean() for k, m in (a, b)}
        (khi, mhi), (klo, mlo) = (a, b) if rate[a[0]] >= rate[b[0]] else (b, a)

        def cohort(k, m, role):
            name = cohort_name(axis, k, role)
            return {"name": name, "aux_label": aux_label_name(name), "predicate": axis.predicate(k),
                    "support": round(float(m.mean()), 6), "positive_rate": round(float(y[m].mean()), 6)}

        results.append(AxisResult(axis_names(axis), max(score, 0.0), raw, mu, z, bool(z > z_crit and score > 0),
                                  cohort(khi, mhi, "head"), cohort(klo, mlo, "tail"),
                                  rate[khi] / max(rate[klo], 1e-12), len(cohorts) * (len(cohorts) - 1) // 2,
                                  reason="" if z > z_crit else f"below the noise threshold (z {z:.2f} <= {z_crit:.2f})"))
    results.sort(key=lambda r: (-r.significant, -r.divergence, r.axis))
    return results
