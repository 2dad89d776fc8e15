"""The experiment's variants, each declared once: which auxiliary heads it trains,
on which labels, with which sample weights, which encoder, and how its lambda is set.

Every variant trains the same encoder on the same rows with the same seeds:

* ``baseline``: no auxiliary head.
* ``c2al``: one auxiliary head per mined cohort, labels ``y * 1[x in C]``; lambda
  chosen on validation (lambda 0, the baseline, is always a candidate).
* ``random``: auxiliary heads on random cohorts with the mined cohorts' supports.
* ``head_only`` / ``tail_only``: a single auxiliary head (the first pair's head / tail).
* ``reweight``: no auxiliary head; rows in a mined cohort weigh ``1 + lambda``.
* ``masked``: C2AL's heads, but each auxiliary loss only on its cohort's rows.
* ``dcn``: the baseline with a TFRS DCN-v2 encoder instead of the experiment's.

Opt-in: the recipes of :data:`RECIPES` (C2AL with one ``ModelConfig`` change each;
``mmoe`` changes the serving model) and ``per_head`` (one lambda per head, chosen by
coordinate search on validation, :func:`~c2al_tf.models.search.select_per_head`).
The ablations use the lambda C2AL chose for the seed (its best non-zero candidate
when it chose 0).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Mapping, Optional

import numpy as np

from c2al_tf.cohorts.spec import AUX_PREFIX

HEADS = ("none", "all", "first", "second", "random")
LAMBDA_POLICIES = ("zero", "search", "per_head", "ablation")


@dataclasses.dataclass(frozen=True)
class Variant:
    """One arm of the experiment.

    ``heads``: the auxiliary heads (``none``; ``all`` mined cohorts; ``first``: the
    first pair's head cohort; ``second``: its tail; ``random``: random memberships
    with each mined cohort's support). ``loss_mask``: each auxiliary loss counts only
    its cohort's rows. ``reweight``: no head; rows in a mined cohort weigh
    ``1 + lambda`` in the primary loss. ``encoder``: an encoder that replaces the
    experiment's (and the user's ``model_fn``). ``lambda_policy``: ``zero``,
    ``search`` (chosen on validation), ``per_head`` (one per head, on validation) or
    ``ablation`` (C2AL's choice for the seed). ``recipe``: ``ModelConfig`` fields it
    changes (``"epoch"`` = one epoch's steps). ``needs_cohorts``: meaningless without
    mined cohorts (skipped then). ``default``: run unless ``variants`` says otherwise."""

    name: str
    heads: str = "none"
    loss_mask: bool = False
    reweight: bool = False
    encoder: Optional[str] = None
    lambda_policy: str = "ablation"
    recipe: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    needs_cohorts: bool = True
    default: bool = True

    def __post_init__(self):
        if self.heads not in HEADS:
            raise ValueError(f"Variant {self.name}: heads must be one of {', '.join(HEADS)}, got '{self.heads}'")
        if self.lambda_policy not in LAMBDA_POLICIES:
            raise ValueError(f"Variant {self.name}: lambda_policy must be one of {', '.join(LAMBDA_POLICIES)}, "
                             f"got '{self.lambda_policy}'")

    def setup(self, seed: int, fit_table, cohorts: List[Dict[str, Any]], masks_fit: Dict[str, np.ndarray],
              aux_weight: float) -> "VariantInputs":
        """The heads, their labels on the fit rows and the sample weights of this variant."""
        y = fit_table.label
        heads: List[Dict[str, Any]] = []
        aux_labels = None
        if self.heads == "all":
            heads = list(cohorts)
        elif self.heads == "first":
            heads = [cohorts[0]]
        elif self.heads == "second":
            heads = [cohorts[1]] if len(cohorts) > 1 else []
        elif self.heads == "random":
            heads, random_masks = random_cohorts(cohorts, masks_fit, seed)
            aux_labels = {h["aux_label"]: y * random_masks[h["name"]] for h in heads}
        sample_weights = None
        if self.reweight:
            inside = np.zeros(len(fit_table), bool)
            for c in cohorts:
                inside |= masks_fit[c["name"]]
            sample_weights = {"primary": np.where(inside, 1.0 + aux_weight, 1.0)}
        if self.loss_mask:
            sample_weights = {c["aux_label"]: masks_fit[c["name"]].astype(np.float64) for c in heads}
        if aux_labels is None:
            aux_labels = {c["aux_label"]: y * masks_fit[c["name"]] for c in heads}
        return VariantInputs(heads, aux_labels, sample_weights)


@dataclasses.dataclass
class VariantInputs:
    """What a variant trains on: ``heads`` (cohort dicts), ``aux_labels`` (aux label ->
    0/1 per fit row) and ``sample_weights`` (head -> weight per fit row, or None)."""

    heads: List[Dict[str, Any]]
    aux_labels: Dict[str, np.ndarray]
    sample_weights: Optional[Dict[str, np.ndarray]]


def random_cohorts(cohorts, masks, seed: int):
    """Random memberships with each mined cohort's support (fixed by ``seed``):
    (cohort dicts, name -> membership)."""
    rng = np.random.default_rng(seed + 777)
    out, specs = {}, []
    for c in cohorts:
        name = "random_" + c["name"]
        support = masks[c["name"]].mean()
        out[name] = rng.uniform(size=len(masks[c["name"]])) < support
        rng.uniform(size=len(masks[c["name"]]))  # a second draw per cohort keeps earlier releases' memberships
        specs.append({"name": name, "aux_label": AUX_PREFIX + name, "predicate": c["predicate"]})
    return specs, out


# C2AL with the cohorts and lambda of the c2al variant and one change to the recipe
# (ModelConfig fields; see c2al_tf.models.multihead).
RECIPES = {
    "towers": {"aux_tower": (32,)},            # a 32-unit ReLU layer per auxiliary head
    "warmup": {"aux_warmup_steps": "epoch"},   # lambda ramps from 0 over the first epoch's steps
    "projection": {"gradient_projection": True},  # the aux gradient's part opposing the primary's is dropped
    "mmoe": {"mmoe_experts": 4},               # MMoE: 4 experts, one gate per head (changes serving)
}

REGISTRY: Dict[str, Variant] = {v.name: v for v in [
    Variant("baseline", lambda_policy="zero", needs_cohorts=False),
    Variant("c2al", heads="all", lambda_policy="search", needs_cohorts=False),
    Variant("random", heads="random"),
    Variant("head_only", heads="first"),
    Variant("tail_only", heads="second"),
    Variant("reweight", reweight=True),
    Variant("masked", heads="all", loss_mask=True),
    Variant("dcn", encoder="dcn", lambda_policy="zero", needs_cohorts=False),
    *[Variant(name, heads="all", recipe=recipe, default=False) for name, recipe in RECIPES.items()],
    Variant("per_head", heads="all", lambda_policy="per_head", default=False),
]}
DEFAULT_VARIANTS = tuple(name for name, v in REGISTRY.items() if v.default)
VARIANTS = tuple(REGISTRY)
