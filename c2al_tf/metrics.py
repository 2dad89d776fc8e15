"""Metrics (numpy only): NE, logloss, AUC, calibration; per cohort; paired over seeds.
Model diagnostics (attention weights, gradient conflict) live in
:mod:`c2al_tf.models.diagnostics`.

Normalized entropy (He et al., 2014)::

    logloss = -1/N sum_i [y_i log p_i + (1 - y_i) log(1 - p_i)]
    NE      = logloss / H(p_bar),   H(q) = -(q log q + (1 - q) log(1 - q)),  p_bar = mean(y)

NE < 1 means the model beats predicting the base rate. Between two models,
``NE_diff = (NE_c2al - NE_base) / NE_base`` (negative = C2AL better). Calibration
is ``sum p / sum y`` (1 = calibrated).
"""
from __future__ import annotations

import math
from typing import Any, Dict, Mapping, Optional, Sequence

import numpy as np

EPS = 1e-7
METRIC_KEYS = ("ne", "logloss", "auc", "calibration", "count", "positive_rate")


def row_logloss(y, p) -> np.ndarray:
    """Per-row logloss ``-(y log p + (1 - y) log(1 - p))``, ``p`` clipped to [EPS, 1 - EPS]."""
    y = np.asarray(y, np.float64).reshape(-1)
    p = np.clip(np.asarray(p, np.float64).reshape(-1), EPS, 1 - EPS)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def logloss(y, p) -> float:
    losses = row_logloss(y, p)
    return float(losses.mean()) if len(losses) else float("nan")


def entropy(rate: float) -> float:
    if rate <= 0 or rate >= 1:
        return 0.0
    return float(-(rate * math.log(rate) + (1 - rate) * math.log(1 - rate)))


def normalized_entropy(y, p) -> float:
    """NE; NaN when the labels have a single class (entropy 0)."""
    h = entropy(float(np.mean(y))) if len(np.asarray(y)) else 0.0
    return logloss(y, p) / h if h > 0 else float("nan")


def auc(y, p) -> float:
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y).reshape(-1)
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, np.asarray(p).reshape(-1)))


def calibration(y, p) -> float:
    s = float(np.sum(y))
    return float(np.sum(p)) / s if s > 0 else float("nan")


def binary_metrics(y, p) -> Dict[str, float]:
    """The metrics.json record: ne, logloss, auc, calibration, count, positive_rate."""
    y = np.asarray(y, np.float64).reshape(-1)
    p = np.asarray(p, np.float64).reshape(-1)
    return {"ne": normalized_entropy(y, p), "logloss": logloss(y, p), "auc": auc(y, p),
            "calibration": calibration(y, p), "count": int(len(y)),
            "positive_rate": float(y.mean()) if len(y) else float("nan")}


def complement_metrics(whole: Mapping[str, Any], parts: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    """NE, logloss, count and positive rate of the rows of ``whole`` outside every one of
    ``parts`` (disjoint slices of it), from their metrics records alone.

    Logloss and positives are sums over rows, so the rest's are the whole's minus the
    parts': ``logloss_rest = (N ll - sum_i n_i ll_i) / (N - sum_i n_i)``, likewise the
    positive rate, and ``NE = logloss / H(rate)``. AUC and calibration are not additive
    and are left out.
    """
    n = whole["count"] - sum(p["count"] for p in parts)
    if n <= 0:
        raise ValueError(f"the parts hold {whole['count'] - n} rows of {whole['count']}: no rows are left")
    loss = (whole["logloss"] * whole["count"] - sum(p["logloss"] * p["count"] for p in parts)) / n
    rate = (whole["positive_rate"] * whole["count"] - sum(p["positive_rate"] * p["count"] for p in parts)) / n
    h = entropy(rate)
    return {"ne": loss / h if h > 0 else float("nan"), "logloss": float(loss), "count": int(n),
            "positive_rate": float(rate)}


def evaluate_predictions(y, p, cohort_masks: Optional[Mapping[str, np.ndarray]] = None) -> Dict[str, Any]:
    """``{"overall": {...}, "cohorts": {name: {...}}}`` (the metrics.json format)."""
    out = {"overall": binary_metrics(y, p), "cohorts": {}}
    y, p = np.asarray(y).reshape(-1), np.asarray(p).reshape(-1)
    for name, mask in (cohort_masks or {}).items():
        mask = np.asarray(mask, bool)
        out["cohorts"][name] = binary_metrics(y[mask], p[mask])
    return out


def ne_diff(ne_candidate: float, ne_base: float) -> float:
    return (ne_candidate - ne_base) / ne_base


def paired_comparison(base: Sequence[float], candidate: Sequence[float], confidence: float = 0.95,
                      method: str = "t", n_boot: int = 10_000, seed: int = 0) -> Dict[str, Any]:
    """Paired NE_diff over seeds: per-seed ``(cand - base) / base``, its mean and a
    confidence interval (Student t by default, or a percentile bootstrap).

    ``excludes_zero`` says whether the interval lies entirely on one side of 0;
    ``verdict`` is ``better`` (CI below 0), ``worse`` (CI above 0) or ``no
    significant difference``.
    """
    from scipy import stats

    base, candidate = np.asarray(base, np.float64), np.asarray(candidate, np.float64)
    if base.shape != candidate.shape or base.ndim != 1 or len(base) == 0:
        raise ValueError("paired_comparison needs two equal-length, non-empty sequences (one value per seed)")
    diffs = (candidate - base) / base
    diffs = diffs[~np.isnan(diffs)]
    n = len(diffs)
    mean = float(diffs.mean()) if n else float("nan")
    if n < 2:
        lo = hi = float("nan")
    elif method == "bootstrap":
        rng = np.random.default_rng(seed)
        boots = rng.choice(diffs, size=(n_boot, n), replace=True).mean(axis=1)
        alpha = (1 - confidence) / 2
        lo, hi = (float(v) for v in np.quantile(boots, [alpha, 1 - alpha]))
    elif method == "t":
        sem = float(diffs.std(ddof=1) / math.sqrt(n))
        if sem == 0:
            lo = hi = mean
        else:
            lo, hi = (float(v) for v in stats.t.interval(confidence, n - 1, loc=mean, scale=sem))
    else:
        raise ValueError(f"unknown CI method '{method}'; use 't' or 'bootstrap'")
    verdict = ("better" if hi < 0 else "worse" if lo > 0 else "no significant difference") if n >= 2 else \
        "too few seeds"
    return {"mean": mean, "ci_low": lo, "ci_high": hi, "n": n, "confidence": confidence, "method": method,
            "diffs": diffs.tolist(), "excludes_zero": bool(n >= 2 and (hi < 0 or lo > 0)), "verdict": verdict}
