"""The evidence harness: every variant (:mod:`~c2al_tf.experiment.variants`) x seed under
the protocol, scored on one test split, with paired statistics.

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
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from c2al_tf.experiment.variants import DEFAULT_VARIANTS, REGISTRY, Variant
from c2al_tf.metrics import evaluate_predictions, paired_comparison
from c2al_tf.models.config import EMBEDDING_L2
from c2al_tf.models.protocol import FitResult, TrainConfig, carve_validation, fit
from c2al_tf.models.search import fit_protocol, select_per_head

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
    model = build_variant_model(spec, config, fit_table, [], {}, 0.0, config.model)
    fit(model, fit_table, val_table, config.train, seed)
    return predict(model, train_table)[model.head_names[0]].reshape(-1)


def recipe_options(variant: Variant, config: ExperimentConfig, fit_rows: int) -> Dict[str, Any]:
    """The ModelConfig fields a variant's recipe changes ("epoch" = one epoch's steps)."""
    steps = max(1, -(-fit_rows // int(config.train.batch_size)))
    return {k: (steps if v == "epoch" else v) for k, v in variant.recipe.items()}


def build_variant_model(spec, config: ExperimentConfig, fit_table, heads, aux_labels, aux_weight, model: str,
                        recipe: Optional[Dict[str, Any]] = None):
    """The model of one variant: ``config.model_fn``'s (unless ``model`` is ``dcn``, the
    TFRS peer) or c2al's ``model`` encoder, with ``heads``; ``aux_labels`` set the
    heads' starting biases. ``aux_weight``: one lambda for every head, or a tuple with
    one per head (a head whose lambda is 0 is left out)."""
    from c2al_tf.models import ModelConfig, build_model
    from c2al_tf.models.training import head_priors

    priors = head_priors([], fit_table)
    priors.update({k: float(v.mean()) for k, v in aux_labels.items()})
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


@dataclasses.dataclass
class VariantFit:
    """One trained variant: the model, its :class:`~c2al_tf.models.protocol.FitResult`,
    the lambda it used, and for ``c2al`` / ``per_head`` the candidates' validation table
    (``selection`` / ``per_head_selection``) and the per-head lambdas."""

    model: Any
    result: FitResult
    aux_weight: float
    selection: Optional[List[Dict[str, Any]]] = None
    head_weights: Optional[Dict[str, float]] = None
    per_head_selection: Optional[List[Dict[str, Any]]] = None


@dataclasses.dataclass
class Run:
    """One row of ``metrics.json``'s ``runs``: a variant and seed scored on the test split."""

    variant: str
    seed: int
    aux_weight: float
    epochs: int
    epochs_run: int
    val_logloss: Optional[float]
    metrics: Dict[str, Any]
    head_weights: Optional[Dict[str, float]] = None

    def to_dict(self) -> Dict[str, Any]:
        return {"variant": self.variant, "seed": self.seed, "aux_weight": self.aux_weight,
                **({"head_weights": self.head_weights} if self.head_weights is not None else {}),
                "epochs": self.epochs, "epochs_run": self.epochs_run, "val_logloss": self.val_logloss,
                **self.metrics}


def run_variant(variant, seed: int, fit_table, val_table, spec, cohorts, masks_fit,
                config: ExperimentConfig, aux_weight: float, baseline=None,
                selection: Optional[List[Dict[str, Any]]] = None, c2al=None) -> VariantFit:
    """Trains one variant (a :class:`Variant` or its name) with one seed under the
    protocol. ``aux_weight``: the lambda of an ``ablation`` variant. ``baseline``: this
    seed's trained (model, result), reused as the lambda = 0 candidate;
    ``selection``: C2AL's candidates (joint lambdas already trained, for ``per_head``);
    ``c2al``: this seed's C2AL (model, result, lambda), reused by ``per_head``."""
    from c2al_tf.models import set_seed

    variant = REGISTRY[variant] if isinstance(variant, str) else variant
    inputs = variant.setup(seed, fit_table, cohorts, masks_fit, aux_weight)
    heads = inputs.heads
    model_name = variant.encoder or config.model
    kwargs = {"sample_weights": inputs.sample_weights, "aux_override": inputs.aux_labels}
    recipe = recipe_options(variant, config, len(fit_table))

    def build(lam):
        set_seed(seed)
        return build_variant_model(spec, config, fit_table, heads, inputs.aux_labels, lam, model_name, recipe)

    def train(lam, model):
        return fit(model, fit_table, val_table, config.train, seed, **kwargs)

    if variant.lambda_policy == "search":
        def train_many(lams, models):  # the candidates side by side: the same results, the input once
            from c2al_tf.models.joint import fit_tables_jointly

            return fit_tables_jointly(models, fit_table, val_table, config.train, seed, **kwargs)

        model, lam, result, table = fit_protocol(build, train, config.train, with_heads=bool(heads),
                                                 trained={0.0: baseline} if baseline else None, train_many=train_many)
        return VariantFit(model, result, lam, selection=table or None)
    if variant.lambda_policy == "per_head":
        known = {(0.0,) * len(heads): baseline} if baseline else {}
        known.update({(float(r["aux_weight"]),) * len(heads): (None, r["val_logloss"])
                      for r in (selection or []) if r["aux_weight"] > 0 and r["val_logloss"] is not None})
        if c2al and c2al[2] > 0:  # C2AL's own model: not trained again if its vector wins
            known[(float(c2al[2]),) * len(heads)] = (c2al[0], c2al[1])
        model, weights, result, table = select_per_head(build, train, len(heads), config.train.candidates,
                                                        aux_weight, known)
        return VariantFit(model, result, max(weights), per_head_selection=table,
                          head_weights={h["aux_label"]: w for h, w in zip(heads, weights)})
    if variant.lambda_policy == "zero":
        aux_weight = 0.0
    if variant.reweight:  # the weight is in the primary loss's sample weights, not in a head
        kwargs["aux_override"] = None
    model = build(0.0 if variant.reweight else aux_weight)
    return VariantFit(model, train(aux_weight, model), aux_weight)


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
    variants = [v for v in config.variants if v in REGISTRY]
    if not cohorts:
        variants = [v for v in variants if not REGISTRY[v].needs_cohorts]
    # the baseline first (c2al reuses it), then c2al (the ablations use its lambda)
    variants = ["baseline"] + [v for v in variants if v == "c2al"] + [v for v in variants if v not in ("baseline", "c2al")]
    runs: List[Run] = []
    diagnostics, selection, per_head = {}, {}, {}
    jobs = [(v, s) for s in range(config.seeds) for v in variants]
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(jobs), desc="experiment", unit="run")
    baseline, chosen, c2al = None, None, None
    for name, seed in jobs:
        variant = REGISTRY[name]
        if name == "baseline":
            baseline, chosen, c2al = None, None, None
        # c2al's lambda comes from the protocol (fit_protocol); the ablations follow c2al's choice
        weight = 0.0 if variant.lambda_policy == "search" else _ablation_weight(config, selection.get(seed), chosen)
        out = run_variant(variant, seed, fit_table, val_table, spec, cohorts, masks_fit, config, weight,
                          baseline=baseline, selection=selection.get(seed), c2al=c2al)
        if name == "baseline":
            baseline = (out.model, out.result)
        if name == "c2al":
            chosen = out.aux_weight
            c2al = (out.model, out.result, chosen)
            if out.selection:
                selection[seed] = out.selection
        p = predict(out.model, test)["primary"]  # the test split, once per run
        metrics = evaluate_predictions(test.label, p, masks_test)
        runs.append(Run(name, seed, out.aux_weight, out.result.best_epoch, out.result.epochs_run,
                        out.result.val_logloss, metrics, out.head_weights))
        if out.per_head_selection is not None:
            per_head[seed] = out.per_head_selection
        if seed == 0 and name in ("baseline", "c2al"):
            inputs = variant.setup(seed, fit_table, cohorts, masks_fit, out.aux_weight)
            diagnostics[name] = _diagnostics(out.model, fit_table, inputs.aux_labels)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(variant=name, seed=seed, ne=f"{metrics['overall']['ne']:.4f}",
                            epochs=out.result.best_epoch)
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
                return [(r.metrics["overall"] if s == "overall" else r.metrics["cohorts"][s])["ne"]
                        for r in sorted((r for r in runs if r.variant == v), key=lambda r: r.seed)]
            comparisons[variant][s] = paired_comparison(ne("baseline"), ne(variant))
    masks_train = cohort_spec.masks(train.features)
    cohort_info = {c["name"]: {"train_support": float(masks_train[c["name"]].mean()),
                               "train_positives": int(train.label[masks_train[c["name"]]].sum()),
                               "test_count": int(masks_test[c["name"]].sum()),
                               "test_positives": int(test.label[masks_test[c["name"]]].sum())} for c in cohorts}
    config_doc = dataclasses.asdict(config)
    config_doc["train"] = config.train.to_dict()
    config_doc["variants"] = list(variants)
    return {"runs": [r.to_dict() for r in runs], "comparisons": comparisons, "cohorts": cohort_spec.doc,
            "cohort_info": cohort_info,
            "split": {"train": len(train), "fit": len(fit_table), "validation": len(val_table), "test": len(test),
                      "test_fraction": config.test_fraction, "split_seed": config.split_seed,
                      "validation_fraction": config.train.validation_fraction,
                      "validation_seed": config.train.validation_seed},
            "selection": {str(k): v for k, v in selection.items()},
            **({"per_head_selection": {str(k): v for k, v in per_head.items()}} if per_head else {}),
            "config": config_doc, "diagnostics": diagnostics}
