"""Synthetic ads-click data with planted, conflicting cohorts.

Each row is one ad impression; the label ``click`` is 1 when it was clicked.

Features (shape of real ads logs: long-tailed ids, numeric and categorical):

========================  ===========  =============================================
column                    type         distribution
========================  ===========  =============================================
``user_id``               categorical  P(k) ~ 1/(k+10) over 200,000 users (``u<k>``)
``ad_id``                 categorical  P(k) ~ 1/(k+10) over 50,000 ads (``a<k>``)
``user_value``            numeric      LogNormal(mu=1, sigma=1.2): the planted axis
``ad_quality``            numeric      N(0, 1)
``discount``              numeric      U(0, 1)
``bid``                   numeric      LogNormal(0, 0.5), no effect on clicks
``hour``                  numeric      0..23
``surface``               categorical  feed .5, story .2, search .2, video .1
``ad_category``           categorical  ``cat_00`` .. ``cat_11``, Zipf-like weights
``device``                categorical  ios .4, android .45, web .15
``region``                categorical  decoy: ``r0`` .. ``r5``
``account_age_days``      numeric      decoy: Exponential(mean 400)
========================  ===========  =============================================

Planted ground truth (returned by :func:`ground_truth`)::

    cohort(x) = tail      if user_value <  exp(1 + 1.2 * z_0.10)   (bottom 10%)
                head      if user_value >= exp(1 + 1.2 * z_0.90)   (top 10%)
                majority  otherwise

    logit P(click) = b[c] + q[c] * ad_quality + d[c] * (2 * discount - 1)
                     + s[c] * match(surface, ad_category)
                     + 0.25 * sin(2 pi hour / 24) + user_bias + ad_bias
                     + region_shift[region] + 0.1 * z(log account_age)

    with match = +1 on feed x {cat_00..cat_03}, -1 on video x {cat_00..cat_03},
    0 elsewhere, and per cohort c:

        cohort     b      q      d      s
        majority  -3.3   +0.8   +0.3   +0.7
        tail      -3.8   -1.2   +1.5   -1.0     (conflicts with the majority)
        head      -2.4   +1.8   -0.8   +1.5     (conflicts on d, amplifies q, s)

The tail cohort rewards *low* ad quality and the reverse surface x category
interaction: the majority's structure conflicts with it, which is what C2AL's
auxiliary heads are meant to preserve. ``region`` and ``account_age_days`` are
decoys: they shift the marginal click rate mildly (intercept only) but leave the
conditional structure unchanged, so a miner should rank them below
``user_value``. ``bid`` and ``device`` have no effect at all. The overall click rate is about
7.6%, the tail's about 5%, the majority's about 6% and the head's about 22%.

Generation streams in fixed-size chunks, so memory does not grow with ``rows``.

This is scenario ``planted`` (the default). Other worlds, each with its own
mechanism and ground truth (rate shift + response change, a pure interaction
flip, 2-5% extremes, strong decoys, integer-coded ids, a null world), are in
:mod:`c2al_tf.data.scenarios`; every function here takes ``scenario=``.
"""
from __future__ import annotations

import dataclasses
import math
import os
from typing import Dict, Iterator, List, Optional

import numpy as np
import pandas as pd
from scipy.special import expit, ndtri

LABEL = "click"
AXIS = "user_value"
N_USERS = 200_000
N_ADS = 50_000
CHUNK_ROWS = 100_000
SURFACES = np.array(["feed", "story", "search", "video"])
SURFACE_P = np.array([0.5, 0.2, 0.2, 0.1])
CATEGORIES = np.array([f"cat_{i:02d}" for i in range(12)])
DEVICES = np.array(["ios", "android", "web"])
DEVICE_P = np.array([0.4, 0.45, 0.15])
REGIONS = np.array([f"r{i}" for i in range(6)])
REGION_SHIFT = np.array([-0.15, -0.08, 0.0, 0.0, 0.08, 0.15])
VALUE_MU, VALUE_SIGMA = 1.0, 1.2
TAIL_Q, HEAD_Q = 0.10, 0.90
COEFFICIENTS: Dict[str, Dict[str, float]] = {
    "majority": {"intercept": -3.3, "ad_quality": 0.8, "discount": 0.3, "match": 0.7},
    "tail": {"intercept": -3.8, "ad_quality": -1.2, "discount": 1.5, "match": -1.0},
    "head": {"intercept": -2.4, "ad_quality": 1.8, "discount": -0.8, "match": 1.5},
}
COLUMNS = ["user_id", "ad_id", "user_value", "ad_quality", "discount", "bid", "hour", "surface",
           "ad_category", "device", "region", "account_age_days", LABEL]


@dataclasses.dataclass(frozen=True)
class GroundTruth:
    """What the generator planted; tests check the miner against it."""

    label: str
    axis: Optional[str]  # None: nothing planted (scenario "null")
    tail_max: Optional[float]  # tail: axis <  tail_max (None: no tail planted)
    head_min: Optional[float]  # head: axis >= head_min
    tail_quantile: Optional[float]
    head_quantile: Optional[float]
    coefficients: Dict[str, Dict[str, float]]
    conflicting_features: List[str]
    decoys: List[str]
    no_effect: List[str]
    scenario: str = "planted"
    description: str = ""

    def cohort_spec(self, divergence: float = 0.0):
        """The planted tail and head as a :class:`~c2al_tf.cohorts.spec.CohortSpec`
        (``method="manual"``; cohorts ``<axis>_head`` / ``<axis>_tail``), e.g. to give
        ``c2al experiment --cohorts`` the truth. Where only the head is planted the tail
        is its counterpart, every other row. Refused when nothing is planted."""
        from c2al_tf.cohorts.spec import CohortSpec

        if self.axis is None:
            raise ValueError(f"scenario '{self.scenario}' plants no cohort")
        return CohortSpec.from_pairs(self.label, [{
            "axis": [self.axis], "divergence": float(divergence),
            "head": {"name": f"{self.axis}_head", "aux_label": f"aux__{self.axis}_head",
                     "predicate": {"feature": self.axis, "min": self.head_min, "max": None}},
            "tail": {"name": f"{self.axis}_tail", "aux_label": f"aux__{self.axis}_tail",
                     "predicate": {"feature": self.axis, "min": None,
                                   "max": self.head_min if self.tail_max is None else self.tail_max}}}],
            method="manual")

    def cuts(self, digits: int = 4) -> str:
        """The planted cuts for a message: ``tail < X, head >= Y`` (or the head alone)."""
        head = f"head >= {self.head_min:.{digits}g}"
        return head if self.tail_max is None else f"tail < {self.tail_max:.{digits}g}, {head}"

    def cohort_of(self, axis_values) -> np.ndarray:
        """``"tail"`` / ``"majority"`` / ``"head"`` per row."""
        v = np.asarray(axis_values, dtype=np.float64)
        if self.axis is None:
            return np.full(len(v), "majority")
        tail = v < self.tail_max if self.tail_max is not None else np.zeros(len(v), bool)
        return np.where(tail, "tail", np.where(v >= self.head_min, "head", "majority"))


def scenario_names() -> List[str]:
    from c2al_tf.data.scenarios import WORLDS

    return ["planted", *WORLDS]


def _world(scenario: str):
    from c2al_tf.data.scenarios import WORLDS
    from c2al_tf.errors import C2ALInputError

    if scenario == "planted":
        return None
    if scenario not in WORLDS:
        raise C2ALInputError(f"scenario {scenario}: unknown; scenarios are {', '.join(scenario_names())}",
                             arguments=("scenario",))
    return WORLDS[scenario]


def ground_truth(scenario: str = "planted") -> GroundTruth:
    world = _world(scenario)
    if world is not None:
        planted = world.axis is not None
        return GroundTruth(
            label=LABEL, axis=world.axis,
            tail_max=world.quantile(world.tail_quantile) if planted and not world.lone else None,
            head_min=world.quantile(world.head_quantile) if planted else None,
            tail_quantile=world.tail_quantile if planted and not world.lone else None,
            head_quantile=world.head_quantile if planted else None,
            coefficients=world.coefficients(),
            conflicting_features=["surface", "item_category", "device", "hour"] if planted else [],
            decoys=["age", "country", "surface"], no_effect=["bid"] + ([] if planted else ["user_value"]),
            scenario=scenario, description=world.description)
    return GroundTruth(
        label=LABEL, axis=AXIS,
        tail_max=float(math.exp(VALUE_MU + VALUE_SIGMA * ndtri(TAIL_Q))),
        head_min=float(math.exp(VALUE_MU + VALUE_SIGMA * ndtri(HEAD_Q))),
        tail_quantile=TAIL_Q, head_quantile=HEAD_Q,
        coefficients={k: dict(v) for k, v in COEFFICIENTS.items()},
        conflicting_features=["ad_quality", "discount", "surface", "ad_category"],
        decoys=["region", "account_age_days"], no_effect=["bid", "device"])


def _power_law_cdf(size: int, offset: float = 10.0) -> np.ndarray:
    """CDF of P(k) proportional to 1 / (k + offset), k in [0, size): long-tailed ids."""
    p = 1.0 / (np.arange(size) + offset)
    return np.cumsum(p / p.sum())


def _long_tail_ids(rng: np.random.Generator, n: int, cdf: np.ndarray) -> np.ndarray:
    return np.minimum(np.searchsorted(cdf, rng.uniform(0.0, 1.0, n)), len(cdf) - 1)


def _planted_biases(seed: int):
    """The per-user and per-ad biases of ``planted`` (drawn once per seed)."""
    table_rng = np.random.default_rng([seed, 1])
    return table_rng.normal(0.0, 0.35, N_USERS), table_rng.normal(0.0, 0.35, N_ADS)


def _planted_logit(cohort, quality, discount, surface, category, hour, id_bias, region, account_age) -> np.ndarray:
    """The ``planted`` label's logit (the module docstring's equation) from integer codes;
    ``cohort``: ``"tail"`` / ``"majority"`` / ``"head"`` per row."""
    coef = {k: np.array([v["intercept"], v["ad_quality"], v["discount"], v["match"]])
            for k, v in COEFFICIENTS.items()}
    w = np.stack([coef["majority"]] * len(cohort))
    w[cohort == "tail"] = coef["tail"]
    w[cohort == "head"] = coef["head"]
    match = (np.where((surface == 0) & (category < 4), 1.0, 0.0)
             - np.where((surface == 3) & (category < 4), 1.0, 0.0))
    return (w[:, 0] + w[:, 1] * quality + w[:, 2] * (2 * discount - 1) + w[:, 3] * match
            + 0.25 * np.sin(2 * np.pi * hour / 24) + id_bias
            + REGION_SHIFT[region] + 0.1 * (np.log1p(account_age) - 5.4))


def _planted_probabilities(frame: pd.DataFrame, seed: int, axis_blind: bool) -> np.ndarray:
    from c2al_tf.data.scenarios import category_codes

    def codes(column, values):
        return category_codes(frame, column, values)

    user_bias, ad_bias = _planted_biases(seed)
    users = frame["user_id"].astype(str).str[1:].astype(np.int64).to_numpy()
    ads = frame["ad_id"].astype(str).str[1:].astype(np.int64).to_numpy()
    cohort = (np.full(len(frame), "majority") if axis_blind
              else ground_truth().cohort_of(frame[AXIS].to_numpy(np.float64)))
    return expit(_planted_logit(cohort, frame["ad_quality"].to_numpy(np.float64),
                                frame["discount"].to_numpy(np.float64), codes("surface", SURFACES),
                                codes("ad_category", CATEGORIES), frame["hour"].to_numpy(np.float64),
                                user_bias[users] + ad_bias[ads], codes("region", REGIONS),
                                frame["account_age_days"].to_numpy(np.float64)))


def iter_chunks(rows: int, seed: int = 0, chunk_rows: int = CHUNK_ROWS, scenario: str = "planted"
                ) -> Iterator[pd.DataFrame]:
    """Yields DataFrames of at most ``chunk_rows`` rows, ``rows`` in total."""
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    world = _world(scenario)
    if world is not None:
        from c2al_tf.data.scenarios import iter_chunks as world_chunks

        yield from world_chunks(world, rows, seed, chunk_rows)
        return
    truth = ground_truth()
    user_bias, ad_bias = _planted_biases(seed)
    cat_p = 1.0 / np.arange(1, len(CATEGORIES) + 1) ** 0.6
    cat_p /= cat_p.sum()
    user_cdf, ad_cdf = _power_law_cdf(N_USERS), _power_law_cdf(N_ADS)
    rng = np.random.default_rng([seed, 2])
    done = 0
    while done < rows:
        n = min(chunk_rows, rows - done)
        users = _long_tail_ids(rng, n, user_cdf)
        ads = _long_tail_ids(rng, n, ad_cdf)
        user_value = rng.lognormal(VALUE_MU, VALUE_SIGMA, n)
        quality = rng.normal(0.0, 1.0, n)
        discount = rng.uniform(0.0, 1.0, n)
        bid = rng.lognormal(0.0, 0.5, n)
        hour = rng.integers(0, 24, n)
        surface = rng.choice(len(SURFACES), n, p=SURFACE_P)
        category = rng.choice(len(CATEGORIES), n, p=cat_p)
        device = rng.choice(len(DEVICES), n, p=DEVICE_P)
        region = rng.integers(0, len(REGIONS), n)
        account_age = rng.exponential(400.0, n)

        logit = _planted_logit(truth.cohort_of(user_value), quality, discount, surface, category, hour,
                               user_bias[users] + ad_bias[ads], region, account_age)
        click = (rng.uniform(0.0, 1.0, n) < expit(logit)).astype(np.int64)
        yield pd.DataFrame({
            "user_id": np.char.add("u", users.astype(str)),
            "ad_id": np.char.add("a", ads.astype(str)),
            "user_value": np.round(user_value, 4),
            "ad_quality": np.round(quality, 4),
            "discount": np.round(discount, 4),
            "bid": np.round(bid, 4),
            "hour": hour,
            "surface": SURFACES[surface],
            "ad_category": CATEGORIES[category],
            "device": DEVICES[device],
            "region": REGIONS[region],
            "account_age_days": np.round(account_age, 1),
            LABEL: click,
        }, columns=COLUMNS)
        done += n


def oracle_probabilities(frame: pd.DataFrame, scenario: str, seed: int, axis_blind: bool = False) -> np.ndarray:
    """P(label = 1) of rows that :func:`generate` drew for a named scenario with
    ``seed``: the Bayes-optimal reference, or (``axis_blind``) the best predictor that
    ignores the planted axis (see :func:`c2al_tf.data.scenarios.probabilities`)."""
    from c2al_tf.data.scenarios import probabilities

    world = _world(scenario)
    if world is None:
        return _planted_probabilities(frame, seed, axis_blind)
    return probabilities(world, frame, seed, axis_blind)


def generate(rows: int, seed: int = 0, scenario: str = "planted") -> pd.DataFrame:
    """All rows in memory (for tests and small experiments)."""
    return pd.concat(list(iter_chunks(rows, seed, scenario=scenario)), ignore_index=True)


def headers() -> List[str]:
    """The header line of every CSV ``write_csv`` can write (one per scenario)."""
    from c2al_tf.data.scenarios import WORLDS, columns

    return sorted({",".join(COLUMNS)} | {",".join(columns(w)) for w in WORLDS.values()})


def is_generated_csv(path: str) -> bool:
    """Whether ``path`` starts with a header ``write_csv`` writes (safe for
    ``c2al generate`` to replace)."""
    try:
        with open(path, "rb") as f:
            first = f.readline(1 << 16).decode("utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return False
    return first in headers()


def write_csv(path: str, rows: int, seed: int = 0, progress: bool = False, scenario: str = "planted") -> GroundTruth:
    """Streams ``rows`` rows to ``path`` (written to a temporary name, then
    renamed, so a failed run leaves no partial file). Returns the ground truth."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.tmp{os.getpid()}")
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=rows, unit="rows", desc="generate", unit_scale=True)
    try:
        with open(tmp, "w", newline="") as f:
            for i, chunk in enumerate(iter_chunks(rows, seed, scenario=scenario)):
                chunk.to_csv(f, header=(i == 0), index=False)
                if bar is not None:
                    bar.update(len(chunk))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    finally:
        if bar is not None:
            bar.close()
    return ground_truth(scenario)
