"""How cohorts are mined: one dataclass for ``c2al mine``, the CohortMiner component
and the pipeline, so the three mine the same cohorts from the same data."""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, Mapping, Optional, Tuple

from c2al_tf.errors import C2ALInputError

from c2al_tf.cohorts.divergence import DIVERGENCES  # noqa: F401  (defined once, with the functions)
MODES = ("stats", "predictions", "residuals", "pairwise")
NEEDS_MODEL = ("predictions", "residuals")  # modes that score a baseline model's predictions
# what a pair's ``divergence`` in cohorts.json measures when the mode scores with no divergence
# (the top-level ``divergence`` names it; stats and predictions name their divergence)
MODE_SCORES = {"residuals": "residual_deviance", "pairwise": "heldout_gain"}


@dataclasses.dataclass
class MiningConfig:
    """``axes``: candidate axes (None = every feature). ``by``: how cohorts are scored
    (``pairwise``, the default: held-out gain over a pairwise reference, no model;
    ``stats``: sliced TFDV statistics; ``predictions``/``residuals``: a baseline's
    predictions). ``cross_top`` (stats): also mine the crosses of the best N single
    axes (one more statistics pass; 0 = none). ``bins``: equal-mass bins of a numeric
    feature when it conditions an axis (axes themselves are cut at
    1/2/5/10..90/95/98/99% quantiles). ``max_rows``: the in-memory modes (all but
    ``stats``) mine a uniform sample of about this many rows of the mining data, the
    rows whose content hash falls below ``max_rows / rows`` of its range, for a table
    and in the CohortMiner alike (:mod:`c2al_tf.data.sampling`)."""

    axes: Optional[Tuple[str, ...]] = None
    max_pairs: int = 1
    divergence: str = "js"
    min_support: float = 0.02
    min_positives: int = 30
    cross_top: int = 0
    bins: int = 10
    by: str = "pairwise"
    seed: int = 0
    max_rows: int = 200_000

    def __post_init__(self):
        if self.axes is not None:
            self.axes = tuple(self.axes) or None
        if not 0 < float(self.min_support) < 0.5:
            raise C2ALInputError(f"min_support must be in (0, 0.5), got {self.min_support}", arguments=("min_support",))
        if int(self.max_pairs) < 1:
            raise C2ALInputError(f"max_pairs must be >= 1, got {self.max_pairs}", arguments=("max_pairs",))
        if int(self.min_positives) < 0:
            raise C2ALInputError(f"min_positives must be >= 0, got {self.min_positives}", arguments=("min_positives",))
        if int(self.cross_top) < 0 or int(self.cross_top) == 1:
            raise C2ALInputError(f"cross_top must be 0 (no crosses) or >= 2, got {self.cross_top}",
                                 arguments=("cross_top",))
        if int(self.bins) < 2:
            raise C2ALInputError(f"bins must be >= 2, got {self.bins}", arguments=("bins",))
        if self.divergence not in DIVERGENCES:
            raise C2ALInputError(f"divergence must be one of {', '.join(DIVERGENCES)}, got '{self.divergence}'",
                                 arguments=("divergence",))
        if int(self.max_rows) < 1000:
            raise C2ALInputError(f"max_rows must be >= 1000, got {self.max_rows}", arguments=("max_rows",))
        if self.by not in MODES:
            raise C2ALInputError(f"by must be one of {', '.join(MODES)}, got '{self.by}'", arguments=("by",))
        if int(self.cross_top) >= 2 and self.by != "stats":
            raise C2ALInputError(f"cross_top applies to by stats only (crosses of its best axes); "
                                 f"by {self.by} was given", arguments=("cross_top", "by"))

    @property
    def needs_model(self) -> bool:
        """Whether this mode needs a baseline model's predictions (stats and pairwise do not)."""
        return self.by in NEEDS_MODEL

    @classmethod
    def from_properties(cls, props: Mapping[str, Any]) -> "MiningConfig":
        """From a component's exec_properties: a key that is absent or None takes the
        default; any other value, 0 included, is kept."""
        fields = {f.name for f in dataclasses.fields(cls)}
        kwargs: Dict[str, Any] = {k: v for k, v in props.items() if k in fields and v is not None}
        if isinstance(kwargs.get("axes"), str):
            kwargs["axes"] = tuple(a.strip() for a in kwargs["axes"].split(",") if a.strip()) or None
        return cls(**kwargs)

    def to_properties(self) -> Dict[str, Any]:
        """exec_properties for the CohortMiner component (axes as a comma list)."""
        d = dataclasses.asdict(self)
        d["axes"] = ",".join(self.axes) if self.axes else None
        return d
