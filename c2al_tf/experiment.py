"""The evidence harness: baseline vs C2AL vs ablations over seeds, paired statistics.

Every variant trains the same encoder on the same train split with the same seeds
and is scored on the same test split, overall and on each mined cohort:

* ``baseline``: no auxiliary head.
* ``c2al``: one auxiliary head per mined cohort, labels ``y * 1[x in C]``.
* ``random``: auxiliary heads on random cohorts with the mined cohorts' supports.
* ``head_only`` / ``tail_only``: a single auxiliary head (the first pair's head / tail).
* ``reweight``: no auxiliary head; rows in a mined cohort weigh ``1 + lambda``.
* ``masked``: C2AL's heads, but each auxiliary loss only on its cohort's rows
  (no conflict with the primary head outside the cohort).
* ``dcn``: the baseline with a TFRS DCN-v2 encoder instead of ``--model``'s (does
  the chosen encoder earn its place on this data?).

Opt-in (``--variants``): the recipes of ``RECIPES`` (C2AL with one change each;
``mmoe`` is a multi-gate mixture of experts with the cohort heads as tasks, which
changes the serving model) and ``per_head``: C2AL with one lambda per auxiliary
head, chosen by coordinate search on validation from C2AL's lambda
(:func:`~c2al_tf.models.search.select_per_head`; the baseline stays a candidate).

Protocol (:mod:`c2al_tf.models.protocol`): a validation split is carved from the
training rows; every run trains with early stopping on it and keeps its best
epoch. ``c2al`` chooses lambda per seed on validation among the candidates,
lambda = 0 being that seed's baseline, so a C2AL row can equal the baseline (its
NE_diff is then exactly 0). The ablations use the lambda C2AL chose for the seed
(its best non-zero one when it chose 0). The test split is scored once per run.

For each variant, slice and seed: ``NE_diff = (NE_variant - NE_baseline) / NE_baseline``;
the mean over seeds gets a 95% Student-t interval (paired by seed).
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import sys
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from c2al_tf.cohorts.spec import AUX_PREFIX
from c2al_tf.models.config import EMBEDDING_L2
from c2al_tf.models.protocol import TrainConfig, carve_validation, fit
from c2al_tf.models.search import fit_protocol, select_per_head
from c2al_tf.metrics import evaluate_predictions, paired_comparison

DEFAULT_VARIANTS = ("baseline", "c2al", "random", "head_only", "tail_only", "reweight", "masked", "dcn")
# Recipe ablations (opt-in with --variants): C2AL with the cohorts and lambda of the c2al
# variant and one change to the recipe (ModelConfig fields; see c2al_tf.models.multihead).
RECIPES = {
    "towers": {"aux_tower": (32,)},            # a 32-unit ReLU layer per auxiliary head
    "warmup": {"aux_warmup_steps": "epoch"},   # lambda ramps from 0 over the first epoch's steps
    "projection": {"gradient_projection": True},  # the aux gradient's part opposing the primary's is dropped
    "mmoe": {"mmoe_experts": 4},               # MMoE: 4 experts, one gate per head (changes serving)
}
VARIANTS = DEFAULT_VARIANTS + tuple(RECIPES) + ("per_head",)
FEW_POSITIVES = 100      # a cohort with fewer training positives gets a "few positives" warning
CONFLICT_COSINE = -0.05  # aux vs primary gradient cosine below this is "large gradient conflict"


@dataclasses.dataclass
class ExperimentConfig:
    seeds: int = 5
    model: str = "attention_fm"
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    test_fraction: float = 0.2
    split_seed: int = 12345
    variants: Sequence[str] = DEFAULT_VARIANTS
    embedding_l2: float = EMBEDDING_L2  # ModelConfig.embedding_l2 of every variant
    model_fn: Optional[str] = None  # "package.module:function": the user's model instead of `model`
    representation: Optional[str] = None  # the layer of model_fn's model the auxiliary heads read


def split_indices(rows: int, test_fraction: float, seed: int):
    """(train rows, test rows) of a fixed random split, each sorted."""
    order = np.random.default_rng(seed).permutation(rows)
    n_test = max(1, int(round(rows * test_fraction)))
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def split(table, test_fraction: float, seed: int):
    """A fixed random train/test split (the same for every variant and seed)."""
    train_rows, test_rows = split_indices(len(table), test_fraction, seed)
    return table.take(train_rows), table.take(test_rows)


def data_hash(path: str) -> str:
    h = hashlib.sha256()
    files = [path] if os.path.isfile(path) else sorted(
        os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs)
    for f in files:
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def versions() -> Dict[str, str]:
    from importlib import metadata

    out = {"python": sys.version.split()[0]}
    for pkg in ("c2al-tf", "tensorflow", "tf-keras", "tensorflow-recommenders", "tensorflow-data-validation",
                "tfx", "apache-beam", "numpy", "scipy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def _random_cohorts(cohorts, train_masks, test_masks, seed):
    """Random memberships with each mined cohort's support (fixed by ``seed``)."""
    rng = np.random.default_rng(seed + 777)
    out_train, out_test, specs = {}, {}, []
    for c in cohorts:
        name = "random_" + c["name"]
        support = train_masks[c["name"]].mean()
        out_train[name] = rng.uniform(size=len(train_masks[c["name"]])) < support
        out_test[name] = rng.uniform(size=len(test_masks[c["name"]])) < support
        specs.append({"name": name, "aux_label": AUX_PREFIX + name, "predicate": c["predicate"]})
    return specs, out_train, out_test


def _variant_setup(variant: str, seed: int, fit_table, cohorts, masks_fit, aux_weight: float):
    """(heads, aux labels, sample weights, encoder override) of one variant on the fit rows."""
    y = fit_table.label
    heads: List[Dict[str, Any]] = []
    aux_override = None
    sample_weights = None
    if variant in ("c2al", "masked", "per_head") or variant in RECIPES:
        heads = list(cohorts)
    elif variant == "head_only":
        heads = [cohorts[0]]
    elif variant == "tail_only":
        heads = [cohorts[1]] if len(cohorts) > 1 else []
    elif variant == "random":
        heads, rand_fit, _ = _random_cohorts(cohorts, masks_fit, masks_fit, seed)
        aux_override = {h["aux_label"]: y * rand_fit[h["name"]] for h in heads}
    if variant == "reweight":
        inside = np.zeros(len(fit_table), bool)
        for c in cohorts:
            inside |= masks_fit[c["name"]]
        sample_weights = {"primary": np.where(inside, 1.0 + aux_weight, 1.0)}
    if variant == "masked":
        sample_weights = {c["aux_label"]: masks_fit[c["name"]].astype(np.float64) for c in heads}
    if aux_override is None:
        aux_override = {c["aux_label"]: y * masks_fit[c["name"]] for c in heads}
    return heads, aux_override, sample_weights


def baseline_predictions(train_table, config: ExperimentConfig, seed: int = 0):
    """A baseline trained on ``train_table`` under the protocol (validation carved from
    it, early stopping) and its probabilities on every row of ``train_table``: what
    ``--by residuals|predictions`` mines with, before any variant sees the data."""
    from c2al_tf.models import FeatureSpec, set_seed
    from c2al_tf.models.training import predict

    fit_table, val_table = carve_validation(train_table, config.train.validation_fraction,
                                            config.train.validation_seed)
    spec = FeatureSpec.from_table(train_table, vocab_budget=config.train.vocab_budget)
    set_seed(seed)
    model = _build(spec, config, fit_table, [], {}, 0.0, config.model)
    fit(model, fit_table, val_table, config.train, seed)
    return predict(model, train_table)[model.head_names[0]].reshape(-1)


def recipe_options(variant: str, config: ExperimentConfig, fit_rows: int) -> Dict[str, Any]:
    """The ModelConfig fields a recipe variant changes ("epoch" = one epoch's steps)."""
    steps = max(1, -(-fit_rows // int(config.train.batch_size)))
    return {k: (steps if v == "epoch" else v) for k, v in RECIPES.get(variant, {}).items()}


def _build(spec, config: ExperimentConfig, fit_table, heads, aux_override, aux_weight, model: str,
           recipe: Optional[Dict[str, Any]] = None):
    """``aux_weight``: one lambda for every head, or a tuple with one per head (a head
    whose lambda is 0 is left out)."""
    from c2al_tf.models import ModelConfig, build_model
    from c2al_tf.models.training import head_priors

    priors = head_priors([], fit_table)
    priors.update({k: float(v.mean()) for k, v in aux_override.items()})
    if config.model_fn and model != "dcn":  # the user's model; the dcn variant stays c2al's TFRS peer
        from c2al_tf.models.builder import build_from_model_fn, load_model_fn

        kept = heads if aux_weight and not isinstance(aux_weight, tuple) else \
            [h for h, w in zip(heads, aux_weight or ()) if w > 0]
        weights = ({h["aux_label"]: float(w) for h, w in zip(heads, aux_weight)} if isinstance(aux_weight, tuple)
                   else None)
        return build_from_model_fn(spec, load_model_fn(config.model_fn), kept,
                                   ModelConfig(aux_weight=float(max(aux_weight) if isinstance(aux_weight, tuple)
                                                                else aux_weight), aux_weights=weights),
                                   priors, config.representation)
    if isinstance(aux_weight, tuple):
        kept = [(h, w) for h, w in zip(heads, aux_weight) if w > 0]
        heads, per_head = [h for h, _ in kept], {h["aux_label"]: float(w) for h, w in kept}
        aux_weight = max(per_head.values(), default=0.0)
    else:
        per_head = None
    return build_model(spec, heads if aux_weight > 0 else [],
                       ModelConfig(model=model, aux_weight=aux_weight, aux_weights=per_head,
                                   embedding_l2=config.embedding_l2, **(recipe or {})), priors=priors)


def run_variant(variant: str, seed: int, fit_table, val_table, spec, cohorts, masks_fit,
                config: ExperimentConfig, aux_weight: float, baseline=None,
                selection: Optional[List[Dict[str, Any]]] = None, c2al=None) -> Dict[str, Any]:
    """Trains one variant with one seed under the protocol; returns the trained model,
    its :class:`~c2al_tf.models.protocol.FitResult`, the lambda used and, for
    ``c2al`` and ``per_head``, the candidates' validation table. ``baseline``: this
    seed's trained (model, result), reused as the lambda = 0 candidate;
    ``selection``: C2AL's candidates (joint lambdas already trained, for ``per_head``);
    ``c2al``: this seed's C2AL (model, result, lambda), reused by ``per_head``."""
    from c2al_tf.models import set_seed

    heads, aux_override, sample_weights = _variant_setup(variant, seed, fit_table, cohorts, masks_fit, aux_weight)
    model_name = "dcn" if variant == "dcn" else config.model
    kwargs = {"sample_weights": sample_weights, "aux_override": aux_override}

    recipe = recipe_options(variant, config, len(fit_table))

    def build(lam):
        set_seed(seed)
        return _build(spec, config, fit_table, heads, aux_override, lam, model_name, recipe)

    if variant == "c2al":
        model, lam, result, table = fit_protocol(
            build, lambda lam, m: fit(m, fit_table, val_table, config.train, seed, **kwargs), config.train,
            with_heads=bool(heads), trained={0.0: baseline} if baseline else None)
        return {"model": model, "result": result, "aux_weight": lam, **({"selection": table} if table else {})}
    if variant == "per_head":
        known = {(0.0,) * len(heads): baseline} if baseline else {}
        known.update({(float(r["aux_weight"]),) * len(heads): (None, r["val_logloss"])
                      for r in (selection or []) if r["aux_weight"] > 0 and r["val_logloss"] is not None})
        if c2al and c2al[2] > 0:  # C2AL's own model: not trained again if its vector wins
            known[(float(c2al[2]),) * len(heads)] = (c2al[0], c2al[1])
        model, weights, result, table = select_per_head(
            build, lambda w, m: fit(m, fit_table, val_table, config.train, seed, **kwargs), len(heads),
            config.train.candidates, aux_weight, known)
        return {"model": model, "result": result, "aux_weight": max(weights),
                "head_weights": {h["aux_label"]: w for h, w in zip(heads, weights)}, "per_head_selection": table}
    if variant in ("baseline", "dcn"):
        aux_weight = 0.0
    elif variant == "reweight":
        kwargs["aux_override"] = None
    model = build(aux_weight if variant != "reweight" else 0.0)
    result = fit(model, fit_table, val_table, config.train, seed, **kwargs)
    return {"model": model, "result": result, "aux_weight": aux_weight}


def _diagnostics(model, fit_table, aux_override) -> Dict[str, Any]:
    from c2al_tf.models.diagnostics import attention_weight_histogram, gradient_conflict
    from c2al_tf.models.training import head_labels

    out: Dict[str, Any] = {}
    if model.attention_layer is not None:
        out["attention"] = attention_weight_histogram(model)["weights"]
    if model.cohorts:
        sub = fit_table.take(np.arange(min(len(fit_table), 4096)))
        labels = head_labels(model, sub, {k: v[:len(sub)] for k, v in aux_override.items()})
        out["gradient"] = gradient_conflict(model, model.spec.table_to_inputs(sub), labels)
    return out


def _ablation_weight(config: ExperimentConfig, selection: Optional[List[Dict[str, Any]]], chosen: Optional[float]):
    """The lambda the ablations use for a seed: C2AL's choice, or its best non-zero
    candidate when it chose 0 (an ablation without heads would measure nothing)."""
    if chosen:
        return float(chosen)
    nonzero = [r for r in (selection or []) if r["aux_weight"] > 0 and r["val_logloss"] is not None]
    if nonzero:
        return float(min(nonzero, key=lambda r: r["val_logloss"])["aux_weight"])
    values = [w for w in config.train.candidates if w > 0] or [0.3]
    return float(values[len(values) // 2])


def run_experiment(table, cohort_spec, config: ExperimentConfig, progress: bool = True) -> Dict[str, Any]:
    """All variants x seeds under the protocol. Returns the metrics document (see ``metrics.json``)."""
    from c2al_tf.models import FeatureSpec, predict

    train, test = split(table, config.test_fraction, config.split_seed)
    fit_table, val_table = carve_validation(train, config.train.validation_fraction, config.train.validation_seed)
    cohorts = list(cohort_spec.cohorts())
    masks_fit = cohort_spec.masks(fit_table.features)
    masks_test = cohort_spec.masks(test.features)
    spec = FeatureSpec.from_table(fit_table)
    variants = [v for v in config.variants if v in VARIANTS]
    if not cohorts:
        variants = [v for v in variants if v in ("baseline", "c2al", "dcn")]
    # the baseline first (c2al reuses it), then c2al (the ablations use its lambda)
    variants = ["baseline"] + [v for v in variants if v == "c2al"] + [v for v in variants if v not in ("baseline", "c2al")]
    runs, diagnostics, selection, per_head = [], {}, {}, {}
    jobs = [(v, s) for s in range(config.seeds) for v in variants]
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(jobs), desc="experiment", unit="run")
    baseline, chosen, c2al = None, None, None
    for variant, seed in jobs:
        if variant == "baseline":
            baseline, chosen, c2al = None, None, None
        # c2al's lambda comes from the protocol (fit_protocol); the ablations follow c2al's choice
        weight = 0.0 if variant == "c2al" else _ablation_weight(config, selection.get(seed), chosen)
        out = run_variant(variant, seed, fit_table, val_table, spec, cohorts, masks_fit, config, weight,
                          baseline=baseline, selection=selection.get(seed), c2al=c2al)
        if variant == "baseline":
            baseline = (out["model"], out["result"])
        if variant == "c2al":
            chosen = out["aux_weight"]
            c2al = (out["model"], out["result"], chosen)
            if "selection" in out:
                selection[seed] = out["selection"]
        p = predict(out["model"], test)["primary"]  # the test split, once per run
        metrics = evaluate_predictions(test.label, p, masks_test)
        result = out["result"]
        runs.append({"variant": variant, "seed": seed, "aux_weight": out["aux_weight"],
                     **({"head_weights": out["head_weights"]} if "head_weights" in out else {}),
                     "epochs": result.best_epoch, "epochs_run": result.epochs_run,
                     "val_logloss": result.val_logloss, **metrics})
        if "per_head_selection" in out:
            per_head[seed] = out["per_head_selection"]
        if seed == 0 and variant in ("baseline", "c2al"):
            _, aux_override, _ = _variant_setup(variant, seed, fit_table, cohorts, masks_fit, out["aux_weight"])
            diagnostics[variant] = _diagnostics(out["model"], fit_table, aux_override)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(variant=variant, seed=seed, ne=f"{metrics['overall']['ne']:.4f}",
                            epochs=result.best_epoch)
    if bar is not None:
        bar.close()
    slices = ["overall"] + [c["name"] for c in cohorts]
    comparisons: Dict[str, Dict[str, Any]] = {}
    for variant in variants:
        if variant == "baseline":
            continue
        comparisons[variant] = {}
        for s in slices:
            def ne(v):
                return [(r["overall"] if s == "overall" else r["cohorts"][s])["ne"]
                        for r in sorted((r for r in runs if r["variant"] == v), key=lambda r: r["seed"])]
            comparisons[variant][s] = paired_comparison(ne("baseline"), ne(variant))
    masks_train = cohort_spec.masks(train.features)
    cohort_info = {c["name"]: {"train_support": float(masks_train[c["name"]].mean()),
                               "train_positives": int(train.label[masks_train[c["name"]]].sum()),
                               "test_count": int(masks_test[c["name"]].sum()),
                               "test_positives": int(test.label[masks_test[c["name"]]].sum())} for c in cohorts}
    config_doc = dataclasses.asdict(config)
    config_doc["train"] = config.train.to_dict()
    config_doc["variants"] = list(variants)
    return {"runs": runs, "comparisons": comparisons, "cohorts": cohort_spec.doc, "cohort_info": cohort_info,
            "split": {"train": len(train), "fit": len(fit_table), "validation": len(val_table), "test": len(test),
                      "test_fraction": config.test_fraction, "split_seed": config.split_seed,
                      "validation_fraction": config.train.validation_fraction,
                      "validation_seed": config.train.validation_seed},
            "selection": {str(k): v for k, v in selection.items()},
            **({"per_head_selection": {str(k): v for k, v in per_head.items()}} if per_head else {}),
            "config": config_doc, "diagnostics": diagnostics}


def likely_causes(doc: Dict[str, Any], slice_name: str) -> List[str]:
    """Plain-words causes the data shows for a CI above zero."""
    causes = []
    info = doc.get("cohort_info", {})
    names = [slice_name] if slice_name in info else list(info)
    for n in names:
        if info[n]["train_positives"] < FEW_POSITIVES:
            causes.append(f"cohort '{n}' has only {info[n]['train_positives']} training positives, so its "
                          f"auxiliary head mostly learns to predict zero")
    grad = (doc.get("diagnostics", {}).get("c2al") or {}).get("gradient")
    if grad and grad["cosine"] < CONFLICT_COSINE:
        causes.append(f"the auxiliary gradient opposes the primary one on the shared encoder (cosine "
                      f"{grad['cosine']:.2f}): large gradient conflict; try a smaller --aux-weight")
    if not causes:
        causes.append("no cause visible in the cohort sizes or gradients; check the cohort choice and --aux-weight")
    return causes
