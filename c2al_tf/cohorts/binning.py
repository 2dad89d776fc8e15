"""Candidate axes and bins from global TFDV statistics.

Every feature gets a *binning*: numeric features are cut at the quantile
boundaries of the global statistics (``QUANTILES`` histogram, deduplicated);
categorical features keep their frequent values (support >= min_support, at most
``max_values``) and group the rest into one ``other`` bin. Binned values are
written as string columns ``c2albin<NNN>`` with values ``b<KK>`` so that TFDV can
slice by cohort (one ``SlicingSpec`` per axis) and count every other feature's
bins inside each cohort.

Bin 0 of a categorical binning is ``other`` (not a cohort: its predicate cannot
be written as a finite ``in`` list); a numeric bin ``k`` is
``edges[k-1] <= x < edges[k]`` (open at the ends).

Numeric features are cut at the quantile levels :data:`AXIS_LEVELS` (fine at both
ends: 1, 2, 5, 10, 20 ... 80, 90, 95, 98, 99%) when the statistics have a
percentile histogram, so that an axis' candidate cohorts can be its bottom or
top 1/2/5/10...50% (:meth:`Binning.candidates`: unions of consecutive bins), while
as a *conditioning* feature the same bins are merged into ``bins`` equal-mass
bins (:meth:`Binning.conditioning_map`), which keeps the shape comparison's noise
as it was.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np
import pyarrow as pa

from c2al_tf.data.arrow import first_values
from c2al_tf.errors import C2ALInputError

BIN_PREFIX = "c2albin"
AXIS_LEVELS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99)
QUANTILE_BUCKETS = 100  # percentile histogram in the global statistics (StatisticsGen's stats_options too)


@dataclasses.dataclass
class Candidate:
    """A candidate cohort of an axis: the bins it unites and its predicate."""

    bins: List[int]
    predicate: dict
    side: str = ""  # numeric axes: "bottom" (x < edge) or "top" (x >= edge)
    edge: int = -1  # numeric axes: index of the edge it is cut at


@dataclasses.dataclass
class Binning:
    feature: str
    kind: str                          # "numeric", "categorical" or "cross"
    column: str                        # c2albin<NNN>
    edges: List[float] = dataclasses.field(default_factory=list)     # numeric
    values: List[str] = dataclasses.field(default_factory=list)      # categorical (bin k+1 = values[k])
    parts: List["Binning"] = dataclasses.field(default_factory=list)  # cross: two coarse binnings
    levels: List[float] = dataclasses.field(default_factory=list)    # numeric: quantile level of each edge
    bins: int = 10                     # numeric: equal-mass bins as a conditioning feature

    def conditioning_map(self) -> np.ndarray:
        """Bin index as a conditioning feature, per bin (numeric with ``levels``:
        the fine bins merged into ``bins`` equal-mass bins; otherwise identity)."""
        if self.kind != "numeric" or not self.levels:
            return np.arange(self.num_bins)
        cuts = [i / self.bins for i in range(1, self.bins)]
        # bin k spans [levels[k-1], levels[k]); it joins the conditioning bin of its lower end
        lows = [0.0] + list(self.levels)
        return np.array([sum(1 for c in cuts if c <= lo + 1e-9) for lo in lows])

    def candidates(self, max_share: float = 0.5) -> List[Candidate]:
        """Candidate cohorts: a numeric axis' bottom and top tails (``x < edge`` /
        ``x >= edge`` for every edge at quantile level <= ``max_share`` /
        >= 1 - ``max_share``, or every edge without levels); otherwise each
        selectable bin on its own."""
        if self.kind != "numeric":
            return [Candidate([k], self.predicate(k)) for k in range(self.num_bins) if self.selectable(k)]
        levels = self.levels or [(e + 1) / (len(self.edges) + 1) for e in range(len(self.edges))]
        out = []
        for e, level in enumerate(levels):
            if level <= max_share + 1e-9:
                out.append(Candidate(list(range(0, e + 1)), {"feature": self.feature, "min": None,
                                                             "max": self.edges[e]}, "bottom", e))
            if level >= 1 - max_share - 1e-9:
                out.append(Candidate(list(range(e + 1, len(self.edges) + 1)),
                                     {"feature": self.feature, "min": self.edges[e], "max": None}, "top", e))
        return out

    def candidate_pairs(self, candidates: Sequence[Candidate]) -> List[tuple]:
        """Index pairs of candidates that may contrast: a numeric axis' bottom with a
        top that does not overlap it; any two distinct bins otherwise."""
        idx = range(len(candidates))
        if self.kind != "numeric":
            return [(i, j) for i in idx for j in idx if i < j]
        return [(i, j) for i in idx for j in idx if candidates[i].side == "bottom" and candidates[j].side == "top"
                and candidates[i].edge <= candidates[j].edge]

    @property
    def num_bins(self) -> int:
        if self.kind == "cross":
            return self.parts[0].num_bins * self.parts[1].num_bins
        return len(self.edges) + 1 if self.kind == "numeric" else len(self.values) + 1

    def _split(self, k: int):
        return divmod(k, self.parts[1].num_bins)

    def code(self, k: int) -> str:
        return f"b{k:02d}"

    def selectable(self, k: int) -> bool:
        """Whether bin k can be a cohort (categorical 'other' cannot)."""
        if self.kind == "cross":
            i, j = self._split(k)
            return self.parts[0].selectable(i) and self.parts[1].selectable(j)
        return self.kind == "numeric" or k > 0

    def predicate(self, k: int) -> dict:
        if self.kind == "cross":
            i, j = self._split(k)
            return {"all": [self.parts[0].predicate(i), self.parts[1].predicate(j)]}
        if self.kind == "categorical":
            return {"feature": self.feature, "in": [self.values[k - 1]]}
        lo = self.edges[k - 1] if k > 0 else None
        hi = self.edges[k] if k < len(self.edges) else None
        return {"feature": self.feature, "min": lo, "max": hi}

    def label(self, k: int) -> str:
        if self.kind == "cross":
            i, j = self._split(k)
            return f"{self.parts[0].label(i)} & {self.parts[1].label(j)}"
        if self.kind == "categorical":
            return "other" if k == 0 else self.values[k - 1]
        lo = f"{self.edges[k - 1]:.4g}" if k > 0 else "-inf"
        hi = f"{self.edges[k]:.4g}" if k < len(self.edges) else "inf"
        return f"[{lo}, {hi})"

    def codes(self, column: pa.Array) -> pa.Array:
        """Arrow column (list or flat) -> string bin codes (null where missing); vectorized."""
        flat, present = first_values(column)
        if self.kind == "numeric":
            if flat.dtype == object:
                raise C2ALInputError(f"feature '{self.feature}' is binned as numeric but has non-numeric values")
            present &= ~np.isnan(flat)
            k = np.searchsorted(np.asarray(self.edges, np.float64), np.where(present, flat, 0.0), side="right")
        elif flat.dtype == object:  # bytes / strings: C++ set lookup
            import pyarrow.compute as pc

            values = pa.array(np.where(present, flat, b""), type=pa.binary())
            index = pc.index_in(values, value_set=pa.array([v.encode() for v in self.values], type=pa.binary()))
            k = np.asarray(index.fill_null(-1), dtype=np.int64) + 1
        else:  # integer ids binned by value
            text = np.array([value_text(v) for v in flat], dtype=object)
            lookup = {v: i + 1 for i, v in enumerate(self.values)}
            k = np.array([lookup.get(t, 0) for t in text], dtype=np.int64)
        names = np.array([self.code(i) for i in range(self.num_bins)], dtype=object)
        out = names[np.clip(k, 0, self.num_bins - 1)]
        return pa.array(np.where(present, out, None), type=pa.string())


def value_text(v) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _feature_type(feature) -> str:
    from tensorflow_metadata.proto.v0 import statistics_pb2

    t = statistics_pb2.FeatureNameStatistics
    if feature.type == t.STRING or feature.type == t.BYTES:
        return "categorical"
    if feature.type in (t.INT, t.FLOAT):
        return "numeric"
    return "other"


def _quantile_edges(feature, levels: Sequence[float] = AXIS_LEVELS):
    """(edges, their quantile levels) from the QUANTILES histogram: the edges at
    ``levels`` when it has enough buckets to place them (a percentile histogram),
    else every bucket edge; duplicates (discrete features) keep their first level."""
    from tensorflow_metadata.proto.v0 import statistics_pb2

    for h in feature.num_stats.histograms:
        if h.type == statistics_pb2.Histogram.QUANTILES and h.buckets:
            k = len(h.buckets)
            at = {round(i / k, 6): float(b.low_value) for i, b in enumerate(h.buckets) if i > 0}
            wanted = [(lv, at[round(lv, 6)]) for lv in levels if round(lv, 6) in at]
            pairs = wanted if len(wanted) == len(levels) else sorted(at.items())
            edges, out_levels = [], []
            for level, edge in pairs:
                if np.isfinite(edge) and (not edges or edge > edges[-1]):
                    edges.append(edge)
                    out_levels.append(level)
            return edges, out_levels
    return [], []


def binning_features(binning: Binning) -> List[str]:
    """The input features a binning reads (both parts of a cross)."""
    if binning.kind == "cross":
        return [f for part in binning.parts for f in binning_features(part)]
    return [binning.feature]


def feature_stats(dataset) -> Dict[str, object]:
    """``{feature name: FeatureNameStatistics}`` of one DatasetFeatureStatistics."""
    out = {}
    for f in dataset.features:
        name = f.path.step[-1] if f.path.step else f.name
        out[name] = f
    return out


def binnings_from_statistics(stats, label: str, min_support: float = 0.02, max_values: int = 20,
                             categorical: Sequence[str] = (), exclude: Iterable[str] = (),
                             only: Optional[Sequence[str]] = None, bins: int = 10) -> List[Binning]:
    """One :class:`Binning` per usable feature of the global statistics.

    Args:
      stats: DatasetFeatureStatisticsList (global, unsliced) or its first dataset.
      label: the label feature (never binned).
      min_support: categorical values below this share of examples go to ``other``.
      max_values: at most this many categorical values kept.
      categorical: features to bin by value even if numeric (e.g. integer ids).
      exclude: features never binned (auxiliary labels, weights, ids you do not want).
      only: if given, bin only these features (``--axes``); unknown names are an error.
      bins: equal-mass bins of a numeric feature when it conditions another axis.
    """
    dataset = stats.datasets[0] if hasattr(stats, "datasets") else stats
    features = feature_stats(dataset)
    n = dataset.num_examples
    if label not in features:
        raise C2ALInputError(f"label '{label}' is not in the statistics; features are {', '.join(sorted(features))}")
    excluded = set(exclude) | {label}
    names = [f for f in features if f not in excluded and not f.startswith(BIN_PREFIX)]
    if only:
        missing = [a for a in only if a not in features]
        if missing:
            raise C2ALInputError(f"axes names '{missing[0]}', which is not a feature; features are "
                                 f"{', '.join(sorted(names))}", arguments=("axes",))
    from c2al_tf.data.column_types import looks_like_id_name

    out: List[Binning] = []
    for name in sorted(names):
        f = features[name]
        kind = _feature_type(f)
        if name in set(categorical) or (kind == "numeric" and looks_like_id_name(name)):
            kind = "categorical"  # the typing rule: integer-coded ids are categorical
        column = f"{BIN_PREFIX}{len(out):03d}"
        if kind == "numeric":
            edges, levels = _quantile_edges(f)
            if not edges:
                continue
            out.append(Binning(name, "numeric", column, edges=edges, levels=levels, bins=bins))
        elif kind == "categorical":
            top = f.string_stats.top_values or [type("V", (), {"value": b.label, "frequency": b.sample_count})
                                                for b in f.string_stats.rank_histogram.buckets]
            keep = [t.value for t in top if t.frequency >= min_support * n][:max_values]
            if not keep and f.num_stats.histograms:  # numeric forced categorical: take quantile-free top values
                continue
            if keep:
                out.append(Binning(name, "categorical", column, values=[str(v) for v in keep]))
    if only:
        binned = {b.feature for b in out}
        for axis in only:
            f = features[axis]
            single = ((f.HasField("string_stats") and f.string_stats.unique <= 1)
                      or (f.HasField("num_stats") and f.num_stats.min == f.num_stats.max))
            if single or axis not in binned:
                why = ("has a single value" if single else
                       f"has no value with support >= min_support ({min_support:g}) to form a cohort")
                raise C2ALInputError(f"axes names '{axis}', which {why}; it cannot split the rows into "
                                     f"contrasting cohorts", arguments=("axes", "min_support"))
    return out


def coarsen(b: Binning, max_bins: int = 4) -> Binning:
    """A coarser copy of a binning for crosses: at most ``max_bins`` quantile bins
    (every other decile edge...) or the ``max_bins - 1`` most frequent values."""
    if b.kind == "numeric":
        if b.levels:  # equal-mass cuts at the quartiles (or the nearest levels present)
            want = [i / max_bins for i in range(1, max_bins)]
            edges = sorted({b.edges[int(np.argmin([abs(lv - w) for lv in b.levels]))] for w in want})
            return Binning(b.feature, "numeric", b.column, edges=edges)
        step = max(1, int(np.ceil((len(b.edges) + 1) / max_bins)))
        return Binning(b.feature, "numeric", b.column, edges=list(b.edges[step - 1::step])[:max_bins - 1])
    return Binning(b.feature, "categorical", b.column, values=list(b.values[:max_bins - 1]))


def cross_binning(a: Binning, b: Binning, column: str, max_bins: int = 4) -> Binning:
    """The cross of two axes: cohorts are pairs of their coarse bins (predicate ``all``)."""
    return Binning(f"{a.feature}_x_{b.feature}", "cross", column, parts=[coarsen(a, max_bins), coarsen(b, max_bins)])


def _codes_of(b: Binning, record_batch: pa.RecordBatch) -> pa.Array:
    names = record_batch.schema.names
    if b.kind == "cross":
        left, right = (_codes_of(p, record_batch) for p in b.parts)
        present = ~(np.asarray(left.is_null()) | np.asarray(right.is_null()))
        i = np.array([int(c[1:]) if c is not None else 0 for c in left.to_pylist()])
        j = np.array([int(c[1:]) if c is not None else 0 for c in right.to_pylist()])
        codes = np.array([b.code(k) for k in range(b.num_bins)], dtype=object)[i * b.parts[1].num_bins + j]
        return pa.array(np.where(present, codes, None), type=pa.string())
    if b.feature in names:
        return b.codes(record_batch.column(names.index(b.feature)))
    return pa.nulls(record_batch.num_rows, pa.string())


def add_bin_columns(record_batch: pa.RecordBatch, binnings: Sequence[Binning]) -> pa.RecordBatch:
    """The record batch plus one string column per binning (list<string> like TFDV expects)."""
    arrays, names = list(record_batch.columns), list(record_batch.schema.names)
    for b in binnings:
        codes = _codes_of(b, record_batch)
        present = ~np.asarray(codes.is_null())
        offsets = np.r_[0, np.cumsum(present)].astype(np.int32)
        values = codes.filter(pa.array(present))
        arrays.append(pa.ListArray.from_arrays(pa.array(offsets), values, mask=pa.array(~present)))
        names.append(b.column)
    return pa.RecordBatch.from_arrays(arrays, names)
