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
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from scipy import stats as sps

from c2al_tf.cohorts import divergence as divergences
from c2al_tf.cohorts.binning import Binning, Candidate, feature_stats
from c2al_tf.cohorts.spec import CohortSpec, aux_label_name

SUPPORT_SLACK = 0.05  # a cohort cut at the min_support quantile may hold 5% fewer rows (quantile sketch error)
LCB_SDS = 2.0  # a numeric axis' tail maximizes divergence - null mean - LCB_SDS * null sd against the middle
_SLICE = re.compile(r"^(c2albin\d{3})_b(\d+)$")


@dataclasses.dataclass
class CohortCounts:
    """Counts of one cohort (a bin of an axis)."""

    bin: int
    n: float
    positives: float
    per_feature: Dict[str, Tuple[np.ndarray, np.ndarray]]  # feature -> (n(b), y(b))


@dataclasses.dataclass
class AxisResult:
    axis: List[str]
    divergence: float        # bias-corrected (D - null mean)
    raw: float
    null_mean: float
    z: float
    significant: bool
    head: Optional[dict]
    tail: Optional[dict]
    rate_ratio: float
    pairs_tested: int
    reason: str = ""

    @property
    def bound(self) -> float:
        """The divergence minus ``LCB_SDS`` null standard deviations (sd = divergence / z):
        what axes are ranked by, so a pair of tiny, noisy cohorts does not outrank a
        well-supported one with about the same divergence."""
        if not self.z or not np.isfinite(self.z) or self.z <= 0:
            return self.divergence
        return self.divergence - LCB_SDS * self.divergence / self.z


def rank_key(r: "AxisResult"):
    """Significant axes first, then by :attr:`AxisResult.bound`."""
    return (-r.significant, -r.bound, r.axis)


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


def axis_names(axis: Binning) -> List[str]:
    """The CohortSpec ``axis`` field: one feature, or the two features of a cross."""
    return [p.feature for p in axis.parts] if axis.kind == "cross" else [axis.feature]


def cohort_name(axis: Binning, k: int, role: str) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]", "_", axis.feature)
    return f"{base}_{role}"


@dataclasses.dataclass
class Scored:
    """A candidate cohort with its size, positives and what the score reads."""

    candidate: Candidate
    n: float
    positives: float
    payload: object


def rank_axes(axes: Sequence[Binning], cohorts_of: Callable[[Binning, List[Candidate]], Tuple[list, float]],
              score: Callable[[object, object], Tuple[float, float, float]],
              min_support: float = 0.02, min_positives: int = 30, alpha: float = 0.05,
              tail_score: Optional[Callable[[object, object], Tuple[float, float, float]]] = None
              ) -> List[AxisResult]:
    """The one ranking routine of every mining mode.

    For each axis, ``cohorts_of(axis, axis.candidates())`` returns one
    :class:`Scored` per candidate (None if unseen) and the number of rows the
    support is a share of. Candidates with support >= ``min_support`` (less
    :data:`SUPPORT_SLACK`: a tail cut at the 2% quantile of the statistics' sketch
    may hold 1.99% of the rows) and >=
    ``min_positives`` positives form the pairs that
    :meth:`Binning.candidate_pairs` allows; ``score(a, b)`` gives (raw divergence,
    null mean, null sd) of a pair's payloads. The best pair per axis is the one
    with the largest bias-corrected divergence ``raw - null mean`` (a numeric
    axis has one pair, its two tails: :func:`_tails_pair`). The pair is kept when
    ``z = (raw - null mean) / null sd`` exceeds the Bonferroni-corrected one-sided
    ``alpha`` threshold over every pair allowed (also for a numeric axis, whose
    pair is its two tails chosen one by one: :func:`_tails_pair`). Axes are
    ranked significant first, then by the same lower bound as the tails
    (:attr:`AxisResult.bound`). Head = the cohort with the higher
    positive rate. ``tail_score`` (default ``score``) is what a numeric axis'
    tails are chosen by.
    """
    plans = {}
    tested = 0
    for axis in axes:
        candidates = axis.candidates()
        cohorts, n_total = cohorts_of(axis, candidates)
        ok = [c is not None and c.n >= (1 - SUPPORT_SLACK) * min_support * n_total and c.positives >= min_positives
              for c in cohorts]
        pairs = [(i, j) for i, j in axis.candidate_pairs(candidates) if ok[i] and ok[j]]
        plans[axis.feature] = (candidates, cohorts, pairs, n_total)
        tested += len(pairs)
    z_crit = float(sps.norm.ppf(1 - alpha / max(tested, 1)))
    results: List[AxisResult] = []
    for axis in axes:
        candidates, cohorts, pairs, n_total = plans[axis.feature]
        if not pairs:
            results.append(AxisResult(axis_names(axis), 0.0, 0.0, 0.0, 0.0, False, None, None, float("nan"), 0,
                                      reason="fewer than two cohorts with enough support and positives"))
            continue
        if axis.kind == "numeric":
            pairs = _tails_pair(axis, candidates, cohorts, pairs, cohorts_of, tail_score or score)
        best = None
        for i, j in pairs:
            raw, mu, sd = score(cohorts[i].payload, cohorts[j].payload)
            if np.isnan(raw):
                continue
            corrected = raw - mu
            z = corrected / sd if sd > 0 else (np.inf if corrected > 0 else 0.0)
            a, b = cohorts[i], cohorts[j]
            if best is None or corrected > best[0]:
                best = (corrected, corrected, raw, mu, z, a, b)
        if best is None:
            results.append(AxisResult(axis_names(axis), 0.0, 0.0, 0.0, 0.0, False, None, None, float("nan"),
                                      len(pairs), reason="no feature to condition on"))
            continue
        _, corrected, raw, mu, z, a, b = best
        hi, lo = (a, b) if a.positives / a.n >= b.positives / b.n else (b, a)

        def cohort(c: Scored, role: str):
            name = cohort_name(axis, c.candidate.bins[0], role)
            return {"name": name, "aux_label": aux_label_name(name), "predicate": c.candidate.predicate,
                    "support": round(c.n / n_total, 6), "positive_rate": round(c.positives / c.n, 6)}

        results.append(AxisResult(
            axis_names(axis), max(corrected, 0.0), raw, mu, float(z), bool(z > z_crit and corrected > 0),
            cohort(hi, "head"), cohort(lo, "tail"),
            (hi.positives / hi.n) / max(lo.positives / lo.n, 1e-12), len(pairs),
            reason="" if z > z_crit else f"below the noise threshold (z {z:.2f} <= {z_crit:.2f})"))
    results.sort(key=rank_key)
    for r in results:
        r.z_crit = z_crit
    return results


def _tails_pair(axis, candidates, cohorts, pairs, cohorts_of, score, rounds: int = 3):
    """A numeric axis' pair: its bottom tail and its top tail, each chosen as the
    candidate that differs most from the *middle*, the rows in neither tail, by
    the lower bound ``raw - null mean - LCB_SDS * null sd``. Against the middle,
    a cut inside a regime leaves part of that regime in the reference rows and a
    cut beyond it mixes majority rows into the cohort, so the divergence peaks at
    the regime's edge; the bound keeps tiny, noisy cohorts from winning by
    chance. Starting from each tail against all other rows, the two choices
    alternate (each against the middle the other leaves) for up to ``rounds``
    rounds, so a distinct regime at one end neither hides in the other's
    reference rows nor pulls its cut toward the median."""
    eligible = sorted({i for pair in pairs for i in pair})
    if not eligible:
        return []
    sides = {side: [i for i in eligible if candidates[i].side == side] for side in ("bottom", "top")}
    if not sides["bottom"] or not sides["top"]:
        return []

    def best_against(side, other):
        keep = set(candidates[other].bins) if other is not None else set()
        best = None
        for i in sides[side]:
            middle = Candidate([k for k in range(axis.num_bins) if k not in candidates[i].bins and k not in keep], {})
            rest = cohorts_of(axis, [middle])[0][0]
            if rest is None:
                continue
            raw, mu, sd = score(cohorts[i].payload, rest.payload)
            if np.isnan(raw):
                continue
            bound = raw - mu - LCB_SDS * sd
            if best is None or bound > best[0]:
                best = (bound, i)
        return best[1] if best else None

    bottom, top = best_against("bottom", None), best_against("top", None)
    for _ in range(rounds):
        if bottom is None or top is None:
            return []
        new_top = best_against("top", bottom)
        new_bottom = best_against("bottom", new_top)
        if (new_bottom, new_top) == (bottom, top):
            break
        bottom, top = new_bottom, new_top
    pair = (bottom, top)
    return [pair] if pair in set(pairs) else []


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


def spec_from_results(results: Sequence[AxisResult], label: str, divergence: str, max_pairs: int = 1,
                      method: str = "stats") -> CohortSpec:
    """The significant results' top ``max_pairs`` as a CohortSpec; its ``divergence``
    names what the pairs' scores measure (``divergence`` for ``stats`` and
    ``predictions``, :data:`~c2al_tf.cohorts.config.MODE_SCORES` for the others)."""
    from c2al_tf.cohorts.config import MODE_SCORES

    divergence = MODE_SCORES.get(method, divergence)
    pairs = [{"axis": r.axis, "divergence": round(r.divergence, 8), "head": r.head, "tail": r.tail}
             for r in results if r.significant][:max_pairs]
    return CohortSpec.from_pairs(label, pairs, method=method, divergence=divergence)


def format_table(results: Sequence[AxisResult]) -> str:
    lines = [f"{'axis':22s} {'divergence':>10s} {'raw':>9s} {'z':>7s} {'rate ratio':>10s}  "
             f"{'head':28s} {'tail':28s} kept"]
    for r in results:
        from c2al_tf.cohorts.spec import describe_predicate
        head = describe_predicate(r.head["predicate"]) if r.head else "-"
        tail = describe_predicate(r.tail["predicate"]) if r.tail else "-"
        lines.append(f"{','.join(r.axis)[:22]:22s} {r.divergence:10.5f} {r.raw:9.5f} {r.z:7.2f} "
                     f"{r.rate_ratio:10.2f}  {head[:28]:28s} {tail[:28]:28s} "
                     f"{'yes' if r.significant else 'no: ' + r.reason if r.reason else 'no'}")
    return "\n".join(lines)
