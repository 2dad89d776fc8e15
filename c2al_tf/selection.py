"""Validated cohort selection: confirm the miner's top candidate pairs with short
auxiliary-head trainings on rows held out from the training split.

The miner ranks pairs cheaply (sliced statistics, or a baseline's predictions or
residuals) but never asks whether a pair's auxiliary heads help the primary task.
Here each of the top ``K`` candidate pairs trains the model with its two heads
(lambda = ``weight``) on the fit rows. Beside them train a baseline (no head) and a
*control* whose two heads are random cohorts with the candidates' supports, so a gain
that any pair of heads would give (extra gradient, not cohort signal) is not credited
to a pair. Every model trains under the protocol (early stopping on the held-out
rows, best epoch kept). Each comparison is reported with its paired 95% interval
over the held-out rows,

    d_i = logloss_i(pair) - logloss_i(reference),   mean(d) -+ 1.96 * sd(d) / sqrt(n).

A pair is **confirmed** when its interval against the baseline lies below zero (its
heads lower held-out logloss beyond the rows' noise) and its held-out logloss is
below the control's. A rule on point estimates alone is a coin flip where nothing is
planted: on the null world a pair beat both references by 0.0009 with an interval
of +-0.0016, so it would have been confirmed; with the interval, each pair of a
world without signal is confirmed with probability about 2.5%. ``significant``
says whether *both* intervals exclude zero, and ``require_significance`` confirms
only those (stricter still: the control's interval is wider, its heads change
more rows' predictions).

The confirmed pairs, best (lowest held-out logloss) first, make the spec; when none
is confirmed the spec has no pair, so C2AL adds no head (the null world's answer).
The test split is never seen: callers pass the training rows only.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from c2al_tf.cohorts.spec import CohortSpec
from c2al_tf.errors import C2ALInputError
from c2al_tf.metrics import row_logloss

Z95 = 1.959963984540054
DEFAULT_WEIGHT = 0.3  # lambda of the confirming trainings: the middle of the protocol's grid (0.1, 0.3, 1)


@dataclasses.dataclass
class SelectionConfig:
    """``candidates``: how many of the miner's top pairs to confirm (0 = off, the
    miner's ranking alone). ``weight``: lambda of each confirming training.
    ``require_significance``: confirm only pairs whose intervals against both
    references exclude zero (by default: the baseline's interval, the control's
    point estimate).
    ``seed``: the models' seed."""

    candidates: int = 0
    weight: float = DEFAULT_WEIGHT
    require_significance: bool = False
    seed: int = 0

    def __post_init__(self):
        if int(self.candidates) < 0:
            raise C2ALInputError(f"candidates must be >= 0 (0 = off), got {self.candidates}", arguments=("candidates",))
        if not (np.isfinite(self.weight) and self.weight > 0):
            raise C2ALInputError(f"weight must be > 0, got {self.weight}", arguments=("weight",))


def paired_interval(a: np.ndarray, b: np.ndarray) -> Tuple[float, float, float]:
    """Mean of ``a - b`` and its 95% interval (rows as independent pairs)."""
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    half = Z95 * float(d.std(ddof=1)) / np.sqrt(len(d)) if len(d) > 1 else float("inf")
    return float(d.mean()), float(d.mean() - half), float(d.mean() + half)


def _with_pairs(spec: CohortSpec, pairs: List[Dict[str, Any]]) -> CohortSpec:
    """``spec``'s document (label, method, divergence) with these pairs, in this order."""
    return CohortSpec(dict(spec.doc, pairs=list(pairs)), source="<validated>")


def validate_pairs(table, candidates, selection: SelectionConfig, experiment=None,
                   progress: bool = True) -> Tuple[Any, List[Dict[str, Any]]]:
    """Confirms the first ``selection.candidates`` pairs of ``candidates`` (a
    :class:`~c2al_tf.cohorts.spec.CohortSpec` ranked by the miner) on ``table`` (the
    training rows). Returns ``(spec of the confirmed pairs, one row per model)``."""
    from c2al_tf.experiment import ExperimentConfig, run_variant
    from c2al_tf.models import FeatureSpec, predict
    from c2al_tf.models.protocol import carve_validation

    experiment = experiment or ExperimentConfig()
    train = dataclasses.replace(experiment.train, aux_weights=(float(selection.weight),), select_aux_weight=False)
    config = dataclasses.replace(experiment, train=train)
    pairs = list(candidates.pairs)[:int(selection.candidates)]
    if not pairs:
        return _with_pairs(candidates, []), []
    # refuses held-out rows without positives or negatives, as for any validation split
    fit_rows, held_out = carve_validation(table, train.validation_fraction, train.validation_seed)
    y = np.asarray(held_out.label, np.float64)
    spec = FeatureSpec.from_table(fit_rows, vocab_budget=train.vocab_budget)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(pairs) + 2, desc="validate", unit="model")

    def train_one(variant: str, cohort_spec) -> Tuple[np.ndarray, Dict[str, Any]]:
        cohorts = list(cohort_spec.cohorts()) if cohort_spec is not None else []
        masks = cohort_spec.masks(fit_rows.features) if cohort_spec is not None else {}
        out = run_variant(variant, selection.seed, fit_rows, held_out, spec, cohorts, masks, config,
                          float(selection.weight))
        losses = row_logloss(y, predict(out.model, held_out)[out.model.head_names[0]])
        if bar is not None:
            bar.update(1)
        return losses, {"epochs": out.result.best_epoch}

    base, base_info = train_one("baseline", None)
    control, control_info = train_one("random", _with_pairs(candidates, pairs[:1]))
    rows: List[Dict[str, Any]] = [
        {"model": "baseline (no head)", "logloss": float(base.mean()), **base_info},
        {"model": "control (random cohorts)", "logloss": float(control.mean()), **control_info,
         "vs_baseline": paired_interval(control, base)}]
    confirmed = []
    for pair in pairs:
        losses, info = train_one("c2al", _with_pairs(candidates, [pair]))
        vs_base, vs_control = paired_interval(losses, base), paired_interval(losses, control)
        significant = vs_base[2] < 0 and vs_control[2] < 0
        ok = significant if selection.require_significance else (vs_base[2] < 0 and vs_control[0] < 0)
        rows.append({"model": f"pair on {' x '.join(pair['axis'])}", "axis": list(pair["axis"]),
                     "score": pair["divergence"], "logloss": float(losses.mean()), **info,
                     "vs_baseline": vs_base, "vs_control": vs_control, "significant": bool(significant),
                     "confirmed": bool(ok)})
        if ok:
            confirmed.append((float(losses.mean()), pair))
    if bar is not None:
        bar.close()
    confirmed.sort(key=lambda t: t[0])  # best held-out logloss first, not the miner's score order
    return _with_pairs(candidates, [p for _, p in confirmed]), rows


def mine_and_validate(table, mining, selection: SelectionConfig, predictions=None, beam_args=None,
                      experiment=None, progress: bool = True):
    """:func:`~c2al_tf.cohorts.miner.mine_table` on ``table`` (training rows only),
    then, with ``selection.candidates > 0``, :func:`validate_pairs` on its top pairs;
    keeps ``mining.max_pairs`` pairs. Returns ``(spec, mining results, validation rows)``."""
    from c2al_tf.cohorts.miner import mine_table

    ranked = dataclasses.replace(mining, max_pairs=max(int(mining.max_pairs), int(selection.candidates)))
    spec, results = mine_table(table, ranked, beam_args=beam_args, predictions=predictions)
    rows: List[Dict[str, Any]] = []
    if selection.candidates:
        spec, rows = validate_pairs(table, spec, selection, experiment, progress)
    return _with_pairs(spec, spec.pairs[:int(mining.max_pairs)]), results, rows


def format_rows(rows: List[Dict[str, Any]]) -> str:
    """The validation table: each model's held-out logloss and its paired 95% intervals."""
    def interval(t: Optional[Tuple[float, float, float]]) -> str:
        return "" if t is None else f"{t[0]:+.5f} [{t[1]:+.5f}, {t[2]:+.5f}]"

    def flag(r, key):
        return "" if key not in r else ("yes" if r[key] else "no")

    lines = [f"{'model':34s} {'logloss':>9s} {'epochs':>6s}  {'vs baseline':30s} {'vs control':30s} "
             f"{'significant':11s} confirmed"]
    for r in rows:
        lines.append(f"{r['model'][:34]:34s} {r['logloss']:9.5f} {r['epochs']:6d}  {interval(r.get('vs_baseline')):30s} "
                     f"{interval(r.get('vs_control')):30s} {flag(r, 'significant'):11s} {flag(r, 'confirmed')}")
    return "\n".join(lines)
