"""Named synthetic worlds (``c2al generate --scenario NAME``): different mechanisms
by which a user axis' extremes respond differently from the majority, plus a null
world, so the miner and the recipe are tested on more than one world.

Every world except ``planted`` (the original generator, :mod:`c2al_tf.data.synthetic`)
is an ads-like click log with the same columns:

=================  ==========  ===================================================
column             type        distribution
=================  ==========  ===================================================
``<axis>``         numeric     the planted axis (name and law per scenario)
``age``            text        ``18-24`` .. ``65+`` (6 buckets)
``country``        text        ``us in br de jp other``
``surface``        text        feed .45, story .2, search .2, video .15
``device``         text        ios .4, android .45, web .15
``item_id``        integer     0..1999, P(k) ~ 1/(k+10) (an id coded as an integer)
``item_category``  integer     ``item_id mod 40`` (a category code)
``store``          integer     0..29 uniform, a code whose name does not say "id"
``hour``           integer     0..23
``bid``            numeric     LogNormal(0, .5), no effect
=================  ==========  ===================================================

Label (per cohort c = tail | majority | head of the axis)::

    logit = b[c] + s[c] * SC + t[c] * DC + h[c] * sin(2 pi hour / 24)
            + ids * (item_bias[item_id] + category_bias[item_category] + store_bias[store])
            + decoys * (age_shift[age] + country_shift[country] + surface_shift[surface])
    SC = +1 on feed x category 0..9, -1 on video x category 0..9, else 0   (surface x category)
    DC = +1 on ios x category 10..19, -1 on android x category 10..19      (device x category)

with tail = axis below its ``tail_quantile``, head = at or above its
``head_quantile``. ``ids`` and ``decoys`` scale per-item and main effects that are
the same in every cohort (no conflict); ``bid`` has no effect.

==================  =========================================================================
scenario            mechanism (majority: b -2.0, s +0.8, t 0, h 0 unless said)
==================  =========================================================================
``rate_shift``      ``user_value`` 5% / 5%: the tail's SC flips (s -0.8) and only it reacts to
                    the hour (h +0.8); the head clicks ~2x more (b -0.9) and responds to DC
                    (t +1.0) instead of SC (s 0)
``interaction``     ``tenure_days`` 10% / 10%: no rate shift at all; the tail's SC flips
                    (s -1.0), the head's DC is reversed (t -1.2)
``extremes``        ``spend`` 2% / 3%: tail s -1.2, h +1.0; head b -1.1, t +1.2
``decoys``          ``user_value`` 10% / 10% as ``interaction`` but with strong main effects
                    on age, country and surface (decoys x 3) that carry no conflict
``int_ids``         ``user_value`` 10% / 10% as ``rate_shift``, with strong per-item effects
                    (ids x 2.5) on the integer-coded ``item_id``/``item_category``/``store``
``flips``           ``tenure_days`` 10% / 10% as ``interaction`` with twice the conflict: the tail's
                    SC is -2.0 (the majority's +0.8), the head's DC -2.0
``wide_flips``      ``tenure_days`` 20% / 20% with ``flips``' coefficients: the same conflicts on
                    twice the users
``lone``            ``spend``: only the top 5% responds in its own way (SC flipped, s -2.0; DC
                    t +1.2; the hour h +1.0); the bottom tail is the majority (a premium tier
                    with no counterpart at the other end)
``null``            nothing planted: one response for everybody (``user_value`` has no effect)
==================  =========================================================================
"""
from __future__ import annotations

import dataclasses
import math
from typing import Dict, Iterator, Optional

import numpy as np
import pandas as pd
from scipy.special import expit, ndtri

LABEL = "click"
N_ITEMS, N_CATEGORIES, N_STORES = 2000, 40, 30
AGES = np.array(["18-24", "25-34", "35-44", "45-54", "55-64", "65+"])
COUNTRIES = np.array(["us", "in", "br", "de", "jp", "other"])
SURFACES = np.array(["feed", "story", "search", "video"])
SURFACE_P = np.array([0.45, 0.2, 0.2, 0.15])
DEVICES = np.array(["ios", "android", "web"])
DEVICE_P = np.array([0.4, 0.45, 0.15])
MAJORITY = {"b": -2.0, "s": 0.8, "t": 0.0, "h": 0.0}


@dataclasses.dataclass(frozen=True)
class World:
    """One scenario: the axis (name, law), its extremes and each cohort's coefficients."""

    name: str
    axis: Optional[str]
    law: str                 # "lognormal" (mu 1, sigma 1.2) or "exponential" (mean 400)
    tail_quantile: float
    head_quantile: float
    tail: Dict[str, float]
    head: Dict[str, float]
    ids: float = 0.5
    decoys: float = 0.3
    description: str = ""

    @property
    def lone(self) -> bool:
        """Only the head is planted: the tail responds like the majority."""
        return self.axis is not None and not self.tail

    def quantile(self, q: float) -> float:
        if self.law == "lognormal":
            return float(math.exp(1.0 + 1.2 * ndtri(q)))
        return float(-400.0 * math.log(1.0 - q))

    def draw(self, rng, n):
        return rng.lognormal(1.0, 1.2, n) if self.law == "lognormal" else rng.exponential(400.0, n)

    def coefficients(self) -> Dict[str, Dict[str, float]]:
        return {"majority": dict(MAJORITY), "tail": {**MAJORITY, **self.tail}, "head": {**MAJORITY, **self.head}}


WORLDS: Dict[str, World] = {w.name: w for w in [
    World("rate_shift", "user_value", "lognormal", 0.05, 0.95, {"s": -0.8, "h": 0.8}, {"b": -0.9, "s": 0.0, "t": 1.0},
          description="5%/5% extremes of user_value: tail flips surface x category and reacts to the hour; "
                      "head clicks ~2x more and responds to device x category"),
    World("interaction", "tenure_days", "exponential", 0.10, 0.90, {"s": -1.0}, {"t": -1.2},
          description="10%/10% of tenure_days, no rate shift: tail flips surface x category, head reverses "
                      "device x category"),
    World("extremes", "spend", "lognormal", 0.02, 0.97, {"s": -1.2, "h": 1.0}, {"b": -1.1, "t": 1.2},
          description="2%/3% extremes of spend with conflicting interactions and a rate shift at the head"),
    World("decoys", "user_value", "lognormal", 0.10, 0.90, {"s": -1.0}, {"t": -1.2}, decoys=3.0,
          description="interaction conflicts on user_value beside strong, conflict-free main effects of age, "
                      "country and surface"),
    World("int_ids", "user_value", "lognormal", 0.10, 0.90, {"s": -0.8, "h": 0.8}, {"b": -0.9, "s": 0.0, "t": 1.0},
          ids=2.5, description="rate_shift's conflicts at 10%/10%, with strong per-item effects on integer-coded "
                               "item_id, item_category and store"),
    World("flips", "tenure_days", "exponential", 0.10, 0.90, {"s": -2.0}, {"t": -2.0},
          description="10%/10% of tenure_days, no rate shift: the tail flips surface x category and the head "
                      "reverses device x category, both strongly"),
    World("wide_flips", "tenure_days", "exponential", 0.20, 0.80, {"s": -2.0}, {"t": -2.0},
          description="20%/20% of tenure_days, no rate shift: flips' strong conflicts on twice the users"),
    World("lone", "spend", "lognormal", 0.05, 0.95, {}, {"s": -2.0, "t": 1.2, "h": 1.0},
          description="only the top 5% of spend responds in its own way (flips surface x category, reacts "
                      "to device x category and the hour); the bottom tail is like everybody else"),
    World("null", None, "lognormal", 0.10, 0.90, {}, {},
          description="nothing planted: user_value has no effect, every row follows one response"),
]}


def columns(world: World):
    return ([world.axis or "user_value", "age", "country", "surface", "device", "item_id", "item_category", "store",
             "hour", "bid", LABEL])


def _effects(seed: int):
    """The per-item / category / store biases (drawn once per seed) and the decoys' shifts."""
    tables = np.random.default_rng([seed, 11])
    return {"item": tables.normal(0.0, 0.5, N_ITEMS), "category": tables.normal(0.0, 0.5, N_CATEGORIES),
            "store": tables.normal(0.0, 0.5, N_STORES), "age": np.linspace(-0.5, 0.5, len(AGES)),
            "country": np.array([0.4, -0.4, 0.2, -0.2, 0.1, -0.1]), "surface": np.array([0.3, -0.1, 0.4, -0.6])}


def _cohort_index(world: World, axis: np.ndarray) -> np.ndarray:
    """0 = majority, 1 = tail, 2 = head."""
    if world.axis is None:
        return np.zeros(len(axis), np.int64)
    return np.where(axis < world.quantile(world.tail_quantile), 1,
                    np.where(axis >= world.quantile(world.head_quantile), 2, 0))


def _interactions(surface, device, category):
    """SC (surface x category) and DC (device x category) of the module docstring."""
    sc = (np.where((surface == 0) & (category < 10), 1.0, 0.0) - np.where((surface == 3) & (category < 10), 1.0, 0.0))
    dc = (np.where((device == 0) & (category >= 10) & (category < 20), 1.0, 0.0)
          - np.where((device == 1) & (category >= 10) & (category < 20), 1.0, 0.0))
    return sc, dc


def _logit(world: World, effects, idx, age, country, surface, device, item, store, hour) -> np.ndarray:
    """The label's logit (the equation in the module docstring) from integer codes."""
    coef = world.coefficients()
    w = {k: np.array([coef[c][k] for c in ("majority", "tail", "head")]) for k in ("b", "s", "t", "h")}
    category = item % N_CATEGORIES
    sc, dc = _interactions(surface, device, category)
    return (w["b"][idx] + w["s"][idx] * sc + w["t"][idx] * dc + w["h"][idx] * np.sin(2 * np.pi * hour / 24)
            + world.ids * (effects["item"][item] + effects["category"][category] + effects["store"][store])
            + world.decoys * (effects["age"][age] + effects["country"][country] + effects["surface"][surface]))


def category_codes(frame: pd.DataFrame, column: str, values) -> np.ndarray:
    """A generated text column back to the integer codes it was drawn as (its index in
    ``values``; -1 for a value not among them)."""
    return pd.Categorical(frame[column].astype(str), categories=values).codes.astype(np.int64)


def probabilities(world: World, frame: pd.DataFrame, seed: int, axis_blind: bool = False) -> np.ndarray:
    """P(label = 1) of each row of ``frame`` (drawn by :func:`iter_chunks` with ``seed``):
    the Bayes-optimal predictor, the reference a model's NE is compared with.
    ``axis_blind=True`` gives every row the majority's response: the best any model
    that ignores the planted axis can do (its NE on a cohort is what a global model
    pays there)."""
    def codes(column, values):
        return category_codes(frame, column, values)

    axis = frame[world.axis or "user_value"].to_numpy(np.float64)
    idx = np.zeros(len(frame), np.int64) if axis_blind else _cohort_index(world, axis)
    return expit(_logit(world, _effects(seed), idx, codes("age", AGES), codes("country", COUNTRIES),
                        codes("surface", SURFACES), codes("device", DEVICES), frame["item_id"].to_numpy(np.int64),
                        frame["store"].to_numpy(np.int64), frame["hour"].to_numpy(np.int64)))


def law_design(world: World, frame: pd.DataFrame):
    """The terms of the label's law (module docstring) for each row of ``frame``, as a
    sparse design matrix: per cohort (majority, tail, head) its indicator and its SC, DC
    and ``sin(2 pi hour / 24)`` terms, then one-hot ``item_id``, ``item_category``,
    ``store``, ``age``, ``country`` and ``surface``. A logistic regression on these
    columns is the correctly specified model: fitted on a world's rows, it shows how much
    of the Bayes gap those rows let any model learn (``bench/headroom.py``)."""
    from scipy import sparse

    def codes(column, values):
        return category_codes(frame, column, values)

    axis = frame[world.axis or "user_value"].to_numpy(np.float64)
    idx = _cohort_index(world, axis)
    surface, device = codes("surface", SURFACES), codes("device", DEVICES)
    item = frame["item_id"].to_numpy(np.int64)
    category = item % N_CATEGORIES
    hour = frame["hour"].to_numpy(np.int64)
    sc, dc = _interactions(surface, device, category)
    terms = [np.ones(len(frame)), sc, dc, np.sin(2 * np.pi * hour / 24)]
    dense = np.column_stack([t * (idx == c) for c in range(3) for t in terms])
    blocks = [sparse.csr_matrix(dense)]
    for values, size in ((item, N_ITEMS), (category, N_CATEGORIES), (frame["store"].to_numpy(np.int64), N_STORES),
                         (codes("age", AGES), len(AGES)), (codes("country", COUNTRIES), len(COUNTRIES)),
                         (surface, len(SURFACES))):
        ok = (values >= 0) & (values < size)
        rows = np.flatnonzero(ok)
        blocks.append(sparse.csr_matrix((np.ones(len(rows)), (rows, values[ok])), shape=(len(frame), size)))
    return sparse.hstack(blocks, format="csr")


def iter_chunks(world: World, rows: int, seed: int, chunk_rows: int) -> Iterator[pd.DataFrame]:
    effects = _effects(seed)
    p_item = 1.0 / (np.arange(N_ITEMS) + 10.0)
    item_cdf = np.cumsum(p_item / p_item.sum())
    rng = np.random.default_rng([seed, 12])
    axis_name = world.axis or "user_value"
    done = 0
    while done < rows:
        n = min(chunk_rows, rows - done)
        axis = world.draw(rng, n)
        age = rng.integers(0, len(AGES), n)
        country = rng.integers(0, len(COUNTRIES), n)
        surface = rng.choice(len(SURFACES), n, p=SURFACE_P)
        device = rng.choice(len(DEVICES), n, p=DEVICE_P)
        item = np.minimum(np.searchsorted(item_cdf, rng.uniform(0, 1, n)), N_ITEMS - 1)
        category = item % N_CATEGORIES
        store = rng.integers(0, N_STORES, n)
        hour = rng.integers(0, 24, n)
        bid = rng.lognormal(0.0, 0.5, n)
        logit = _logit(world, effects, _cohort_index(world, axis), age, country, surface, device, item, store, hour)
        click = (rng.uniform(0, 1, n) < expit(logit)).astype(np.int64)
        yield pd.DataFrame({
            axis_name: np.round(axis, 4), "age": AGES[age], "country": COUNTRIES[country],
            "surface": SURFACES[surface], "device": DEVICES[device], "item_id": item, "item_category": category,
            "store": store, "hour": hour, "bid": np.round(bid, 4), LABEL: click}, columns=columns(world))
        done += n
