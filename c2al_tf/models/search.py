"""Choosing lambda, the auxiliary heads' weight, on validation rows (step 3 of the
protocol, :mod:`c2al_tf.models.protocol`).

lambda = 0 -- the same encoder with no auxiliary head, i.e. the baseline -- is always a
candidate and the default. **A lambda > 0 replaces it only on evidence**
(:func:`compare_to_baseline`): its per-row validation logloss minus the baseline's,
paired over the same validation rows, must be below zero by a one-sided test at level
:data:`SIGNIFICANCE`. The candidates are tested in increasing order and the search
stops at the first that fails (a fixed-sequence procedure: the family-wise error over
all candidates stays at :data:`SIGNIFICANCE`, with no Bonferroni split, and a larger
lambda is trained only when a smaller one helped). Among the candidates that pass, the
lowest validation logloss wins. A difference inside the noise is no choice, so C2AL
then returns the baseline and says why.

:func:`select_per_head` (the experiment's ``per_head`` variant) then gives each
auxiliary head its own lambda by one pass of coordinate search on the same validation
logloss, the all-zero vector (the baseline) still a candidate.

:func:`train_cohort_model` is the whole protocol as one public call for a user's own
model (built with :func:`c2al_tf.add_cohort_heads`).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from c2al_tf.models.protocol import FitResult, TrainConfig, fit_datasets

SIGNIFICANCE = 0.05  # family-wise error of "some lambda > 0 beats lambda 0" (one-sided, fixed sequence)


def compare_to_baseline(losses, baseline, alpha: float = SIGNIFICANCE) -> Dict[str, Any]:
    """The paired evidence that a candidate beats the baseline on validation.

    With ``d_i = losses_i - baseline_i`` over the n validation rows (the same rows in
    the same order), ``mean = mean(d)``, ``se = sd(d) / sqrt(n)`` and ``z`` the normal
    quantile at ``1 - alpha``, the interval is ``mean +- z * se`` (two-sided at
    ``1 - 2 alpha``: 90% for alpha 0.05) and the candidate is ``significant`` when its
    upper end, the one-sided ``1 - alpha`` bound, is below zero. Returns ``diff``
    (mean), ``low``, ``high``, ``relative`` (mean / baseline mean) and ``significant``.
    """
    from scipy.stats import norm

    a = np.asarray(losses, np.float64).reshape(-1)
    b = np.asarray(baseline, np.float64).reshape(-1)
    if len(a) != len(b) or len(a) < 2:
        raise ValueError(f"compare_to_baseline: {len(a)} and {len(b)} row losses; need the same rows, at least 2")
    d = a - b
    mean, se = float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))
    z = float(norm.ppf(1 - alpha))
    low, high = mean - z * se, mean + z * se
    return {"diff": mean, "low": low, "high": high, "relative": mean / float(b.mean()) if b.mean() else None,
            "significant": bool(high < 0)}


def select(build: Callable[[float], Any], train: Callable[[float, Any], FitResult], candidates: Sequence[float],
           trained: Optional[Mapping[float, Tuple[Any, FitResult]]] = None,
           on_candidate: Optional[Callable[[float, FitResult], None]] = None, alpha: float = SIGNIFICANCE,
           train_many: Optional[Callable[[Sequence[float], Sequence[Any]], Optional[Sequence[FitResult]]]] = None):
    """Builds and trains (``train(lam, model)``) lambda 0, then the candidates > 0 in
    increasing order while each beats lambda 0 on evidence (:func:`compare_to_baseline`
    on the per-row validation losses): the first that does not ends the search, and
    the larger ones are not tested. Among those that pass, the lowest validation
    logloss wins; otherwise lambda 0. ``trained`` supplies candidates already fit
    (e.g. the baseline for lambda = 0). Returns ``(model, lam, result, table)``,
    ``table`` listing every candidate's lambda, validation logloss, epochs kept and,
    for lambda > 0, its paired difference to lambda 0 with its interval; a candidate
    the search did not reach has ``trained: False`` and no loss.

    ``train_many(lams, models)``, when given, trains the candidates > 0 side by side
    (:func:`c2al_tf.models.joint.fit_jointly`) and returns their results in order, or
    None to train them one at a time. The rule is then applied to those results as
    above: every candidate is trained, but one the search would not have reached is
    not looked at, so the choice and the table are the one-at-a-time search's."""
    candidates = sorted({float(c) for c in candidates} | {0.0})
    known = dict(trained or {})
    built = {}  # candidates built for train_many that it left to be trained one at a time
    if train_many is not None:
        pending = [lam for lam in candidates if lam > 0 and lam not in known]
        if len(pending) > 1:
            models = [build(lam) for lam in pending]
            results = train_many(pending, models)
            if results is not None:
                known.update({lam: (m, r) for lam, m, r in zip(pending, models, results)})
            else:
                built = dict(zip(pending, models))  # not built a second time below
            del models
    stopped = False
    best = None  # (score, model, lam, result): lambda 0 until a candidate wins on evidence
    base_rows = None
    table = []
    for lam in candidates:
        if stopped:
            table.append({"aux_weight": lam, "val_logloss": None, "epochs": None, "trained": False})
            known.pop(lam, None)
            built.pop(lam, None)
            continue
        if lam in known:
            model, result = known.pop(lam)
        else:
            model = built.pop(lam) if lam in built else build(lam)
            result = train(lam, model)
        row = {"aux_weight": lam, "val_logloss": result.val_logloss, "epochs": result.best_epoch}
        score = result.val_logloss if result.val_logloss is not None else np.inf
        if lam == 0:
            base_rows = result.val_losses
            best = (score, model, lam, result)
        else:
            evidence = None
            if base_rows is not None and result.val_losses is not None:
                evidence = compare_to_baseline(result.val_losses, base_rows, alpha)
                row.update(evidence)
            else:
                row["significant"] = False
            stopped = not row["significant"]
            if evidence is not None and evidence["significant"] and (best[2] == 0 or score < best[0]):
                best = (score, model, lam, result)
            else:
                del model  # only the chosen candidate (and the baseline) stay in memory
        table.append(row)
        if on_candidate:
            on_candidate(lam, result)
    _, model, lam, result = best
    return model, lam, result, table


def format_selection(table: Sequence[Mapping[str, Any]], chosen: float) -> List[str]:
    """Lines for the console: each lambda's validation logloss and, against lambda 0,
    its paired difference with the interval the choice used, then the verdict."""
    lines = []
    skipped = [r["aux_weight"] for r in table if r.get("trained") is False]
    for r in table:
        if r.get("trained") is False:
            continue
        text = f"lambda {r['aux_weight']:<4g} validation logloss {r['val_logloss']:.5f}"
        if r["aux_weight"] > 0 and r.get("diff") is not None:
            text += (f"  vs 0: {r['diff']:+.5f} [{r['low']:+.5f}, {r['high']:+.5f}]"
                     f"{'  significant' if r['significant'] else ''}")
        lines.append(text + ("  <- chosen" if r["aux_weight"] == chosen else ""))
    if skipped:
        lines.append(f"lambda {', '.join(format(w, 'g') for w in skipped)} not tested: lambdas are tested in "
                     f"increasing order and the search stops at the first without evidence")
    if chosen == 0 and any(r["aux_weight"] > 0 for r in table):
        lines.append("no lambda > 0 beat lambda 0 by more than its noise (90% interval below zero), so C2AL "
                     "returns the baseline")
    return lines


def fit_protocol(build: Callable[[float], Any], train: Callable[[float, Any], FitResult], config: TrainConfig,
                 with_heads: bool, trained: Optional[Mapping[float, Tuple[Any, FitResult]]] = None,
                 on_candidate: Optional[Callable[[float, FitResult], None]] = None, train_many=None):
    """The protocol's lambda step for every trainer: with auxiliary heads and a grid,
    :func:`select` among the candidates (``train_many``: see there; not used when
    ``config.side_by_side`` is False); otherwise train the one lambda (0 without
    heads). A lambda found in ``trained`` is not trained again (e.g. the baseline,
    when no cohort was mined). Returns ``(model, lam, result, table or None)``."""
    if with_heads and config.select_aux_weight:
        return select(build, train, config.candidates, trained=trained, on_candidate=on_candidate,
                      train_many=train_many if config.side_by_side else None)
    lam = config.candidates[-1] if with_heads else 0.0
    if trained and lam in trained:
        model, result = trained[lam]
        return model, lam, result, None
    model = build(lam)
    return model, lam, train(lam, model), None


def per_head_grid(candidates: Sequence[float], start: float) -> Tuple[float, ...]:
    """The lambdas one head tries in :func:`select_per_head`: 0, ``start`` and the
    next larger candidate (``candidates`` sorted): switch the head off, keep it, or
    weigh it one step more."""
    above = sorted(float(c) for c in candidates if float(c) > float(start))
    return tuple(sorted({0.0, float(start)} | set(above[:1])))


def select_per_head(build: Callable[[Tuple[float, ...]], Any], train: Callable[[Tuple[float, ...], Any], FitResult],
                    heads: int, candidates: Sequence[float], start: float,
                    known: Optional[Mapping[Tuple[float, ...], Tuple[Any, Any]]] = None):
    """Per-head lambda by coordinate search on validation logloss.

    From ``(start, ..., start)`` (``heads`` auxiliary heads), each head in turn tries
    the other values of :func:`per_head_grid` with the other heads fixed, and the
    vector moves when validation logloss goes down (strictly). The all-zero vector
    (no auxiliary head: the baseline) is always compared last, so the search never
    returns a model worse on validation than the baseline. ``known`` maps vectors
    already trained to ``(model or None, FitResult or val_logloss)`` (e.g. the
    baseline and the joint-lambda candidates); a winner known without its model is trained again
    (training is deterministic per seed). ``build(w)`` builds the model of the vector
    ``w`` and ``train(w, model)`` fits it.

    Returns ``(model, weights, result or None, table)``; ``table`` lists every vector
    looked at with its validation logloss.
    """
    if heads < 1:
        raise ValueError("select_per_head needs at least one auxiliary head")
    seen: Dict[Tuple[float, ...], Tuple[Any, Any, float]] = {}
    for w, (model, known_result) in (known or {}).items():
        result = known_result if isinstance(known_result, FitResult) else None
        loss = result.val_logloss if result is not None else known_result
        seen[tuple(float(v) for v in w)] = (model if result is not None else None, result,
                                            np.inf if loss is None else float(loss))

    def score(w):
        if w not in seen:
            model = build(w)
            result = train(w, model)
            seen[w] = (model, result, np.inf if result.val_logloss is None else float(result.val_logloss))
        return seen[w][2]

    current = (float(start),) * heads
    best = score(current)
    for h in range(heads):
        for value in per_head_grid(candidates, start):
            if value == current[h]:
                continue
            trial = current[:h] + (value,) + current[h + 1:]
            loss = score(trial)
            if loss < best:
                current, best = trial, loss
    zero = (0.0,) * heads
    if score(zero) <= best:  # ties go to the baseline
        current, best = zero, seen[zero][2]
    model, result, _ = seen[current]
    if model is None:
        model = build(current)
        result = train(current, model)
    table = [{"aux_weights": list(w), "val_logloss": None if not np.isfinite(v[2]) else v[2]}
             for w, v in seen.items()]
    return model, current, result, table


@dataclasses.dataclass
class SearchResult:
    """What :func:`train_cohort_model` returns: the chosen model (a
    :class:`~c2al_tf.models.heads.CohortModel`, or what ``build`` returned), its lambda,
    the epochs it kept, its validation logloss, and every candidate's row of the
    validation table (lambda, validation logloss, epochs kept; for lambda > 0 the paired
    difference to lambda 0 with its 90% interval and ``significant``)."""

    model: Any
    aux_weight: float
    epochs: int
    val_logloss: Optional[float]
    table: List[Dict[str, Any]]

    def summary(self) -> str:
        return "\n".join(format_selection(self.table, self.aux_weight))


def train_cohort_model(build: Callable[[float], Any], train_data, validation_data,
                       config: Optional[TrainConfig] = None, verbose: int = 0,
                       trained: Optional[Mapping[float, Tuple[Any, FitResult]]] = None,
                       jointly: Optional[bool] = None) -> SearchResult:
    """The training protocol on a user's own model: each lambda candidate is built by
    ``build(lam)`` (a :class:`~c2al_tf.models.heads.CohortModel`; ``lam = 0`` must give
    the model without auxiliary heads, e.g. ``add_cohort_heads(model, [])``), trained on
    ``train_data`` with early stopping on ``validation_data``'s primary logloss (best
    weights restored), and chosen by the evidence rule above.

    Args:
      build: ``lambda -> CohortModel``; call :func:`tf.keras.utils.set_random_seed` inside
        it so every candidate starts from the same weights.
      train_data: a ``tf.data.Dataset`` of ``(features, {"primary": y, aux_label: y_C})``
        batches, shuffled (:func:`c2al_tf.with_cohort_labels` or
        :func:`c2al_tf.with_miner_labels` make them); or a function of no argument that
        returns one, called for each candidate, so that every candidate sees the rows in
        the same order (a dataset shared by candidates continues its shuffle where the
        previous candidate left it).
      validation_data: the same, in a fixed order: rows carved from the training data,
        never the test rows (:func:`c2al_tf.split_validation`).
      config: :class:`~c2al_tf.models.protocol.TrainConfig` (``aux_weights``, ``epochs``,
        ``patience``...).
      trained: candidates already fit, ``{lambda: (model or None, FitResult)}`` (e.g. lambda 0
        from a baseline's export, its ``val_losses`` on the same validation rows); when
        such a candidate wins, the result's ``model`` is None.
      jointly: train the candidates > 0 side by side in one pass over the data
        (:func:`c2al_tf.models.joint.fit_jointly`: the same results and choice, the
        input read once for all; memory holds every candidate at once); default:
        ``config.side_by_side`` (True). Candidates built under a ``tf.distribute``
        strategy are trained one at a time.
    """
    config = config or TrainConfig()
    if jointly is not None:
        config = dataclasses.replace(config, side_by_side=bool(jointly))
    if validation_data is None:
        raise ValueError("train_cohort_model needs validation_data: lambda is chosen on validation rows")

    def train(lam, model):
        data = train_data() if callable(train_data) else train_data
        return fit_datasets(model, data, validation_data, config, verbose)

    def train_many(lams, models):
        from c2al_tf.models.joint import can_fit_jointly, fit_jointly

        if not can_fit_jointly(models):
            return None
        data = train_data() if callable(train_data) else train_data
        return fit_jointly(models, data, validation_data, config, verbose)

    with_heads = any(c > 0 for c in config.candidates)
    model, lam, result, table = fit_protocol(build, train, config, with_heads=with_heads, trained=trained,
                                             train_many=train_many)
    return SearchResult(model, lam, result.best_epoch, result.val_logloss, table or [])
