"""The mining core every scorer shares: an axis' candidate cohorts ranked by a score
(:func:`rank_axes`, the noise threshold and the tails rule), the rows of each cohort
(:func:`row_cohorts`, :func:`axis_codes`, :func:`conditioning_codes`), the ranked
results (:class:`AxisResult`) and the :class:`~c2al_tf.cohorts.spec.CohortSpec` they
make (:func:`spec_from_results`). The scorers (``pairwise``, ``sliced``: the stats mode,
``predictions``, ``residuals``) each score candidate pairs and call :func:`rank_axes`;
:func:`c2al_tf.cohorts.miner.mine` chooses one."""
from __future__ import annotations

import dataclasses
import re
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pyarrow as pa
from scipy import stats as sps

from c2al_tf.cohorts.binning import Binning, Candidate
from c2al_tf.cohorts.spec import CohortSpec, aux_label_name

SUPPORT_SLACK = 0.05  # a cohort cut at the min_support quantile may hold 5% fewer rows (quantile sketch error)
LCB_SDS = 2.0  # a numeric axis' tail maximizes divergence - null mean - LCB_SDS * null sd against the middle
CROSS = "|"  # key of a pair of conditioning features: "a|b"


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


def axis_codes(batches: Sequence[pa.RecordBatch], axis: Binning) -> np.ndarray:
    """Bin index per row (-1 where missing)."""
    out = []
    for batch in batches:
        names = batch.schema.names
        if axis.feature not in names:
            out.append(np.full(batch.num_rows, -1))
            continue
        codes = axis.codes(batch.column(names.index(axis.feature))).to_numpy(zero_copy_only=False)
        out.append(np.array([int(c[1:]) if c is not None else -1 for c in codes], dtype=np.int64))
    return np.concatenate(out) if out else np.zeros(0, int)


def row_cohorts(batches: Sequence[pa.RecordBatch], label: np.ndarray, payload: Callable[[np.ndarray, Binning], object]):
    """``cohorts_of(axis, candidates)`` for :func:`rank_axes` on in-memory rows: each
    candidate's rows (a mask), their count and positives, and ``payload(mask, axis)``."""
    codes_of: dict = {}  # per axis: its bin per row, computed once (tails are chosen over many calls)

    def cohorts_of(axis, candidates):
        if axis.column not in codes_of:
            codes_of[axis.column] = axis_codes(batches, axis)
        codes = codes_of[axis.column]
        out = []
        for cand in candidates:
            m = np.isin(codes, cand.bins)
            n = float(m.sum())
            out.append(Scored(cand, n, float(label[m].sum()), payload(m, axis)) if n > 0 else None)
        return out, len(label)

    return cohorts_of


def conditioning_codes(batches: Sequence[pa.RecordBatch], binnings: Sequence[Binning],
                       pairs: bool = False) -> Dict[str, np.ndarray]:
    """Per conditioning feature: its conditioning bin per row (missing = one more bin);
    with ``pairs``, also per pair of features ``a|b``: the cell of their two bins."""
    out = {}
    for b in binnings:
        if b.kind == "cross":
            continue
        codes = axis_codes(batches, b)
        cmap = b.conditioning_map()
        size = int(cmap.max()) + 1
        out[b.feature] = np.where(codes >= 0, cmap[np.clip(codes, 0, len(cmap) - 1)], size).astype(np.int64)
    if pairs:
        single = sorted(out)
        for i, a in enumerate(single):
            for b in single[i + 1:]:
                out[f"{a}{CROSS}{b}"] = out[a] * (int(out[b].max()) + 1) + out[b]
    return out
