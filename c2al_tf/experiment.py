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

from c2al_tf.metrics import (attention_weight_histogram, evaluate_predictions, gradient_conflict,
                             paired_comparison)

VARIANTS = ("baseline", "c2al", "random", "head_only", "tail_only", "reweight", "masked")
FEW_POSITIVES = 100      # a cohort with fewer training positives gets a "few positives" warning
CONFLICT_COSINE = -0.05  # aux vs primary gradient cosine below this is "large gradient conflict"


@dataclasses.dataclass
class ExperimentConfig:
    seeds: int = 5
    model: str = "attention_fm"
    epochs: int = 2
    batch_size: int = 1024
    aux_weight: float = 0.5
    test_fraction: float = 0.2
    split_seed: int = 12345
    variants: Sequence[str] = VARIANTS


def split(table, test_fraction: float, seed: int):
    """A fixed random train/test split (the same for every variant and seed)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(table))
    n_test = max(1, int(round(len(table) * test_fraction)))
    return table.take(np.sort(order[n_test:])), table.take(np.sort(order[:n_test]))


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
        specs.append({"name": name, "aux_label": "aux__" + name, "predicate": c["predicate"]})
    return specs, out_train, out_test


def run_variant(variant: str, seed: int, train, test, spec, cohorts, masks_train, config: ExperimentConfig,
                diagnostics: bool = False) -> Dict[str, Any]:
    """Trains one variant with one seed; returns test predictions of the primary head
    (and diagnostics for baseline / c2al when asked)."""
    from c2al_tf.models import ModelConfig, build_model, predict, set_seed, train as fit
    from c2al_tf.models.training import head_priors

    set_seed(seed)
    heads: List[Dict[str, Any]] = []
    aux_override = None
    sample_weights = None
    y = train.label
    if variant in ("c2al", "masked"):
        heads = list(cohorts)
    elif variant == "head_only":
        heads = [cohorts[0]]
    elif variant == "tail_only":
        heads = [cohorts[1]] if len(cohorts) > 1 else []
    elif variant == "random":
        heads, rand_train, _ = _random_cohorts(cohorts, masks_train, masks_train, seed)
        aux_override = {h["aux_label"]: y * rand_train[h["name"]] for h in heads}
    if variant == "reweight":
        inside = np.zeros(len(train), bool)
        for c in cohorts:
            inside |= masks_train[c["name"]]
        sample_weights = {"primary": np.where(inside, 1.0 + config.aux_weight, 1.0)}
    if variant == "masked":
        sample_weights = {c["aux_label"]: masks_train[c["name"]].astype(np.float64) for c in heads}
    if aux_override is None:
        aux_override = {c["aux_label"]: y * masks_train[c["name"]] for c in heads}
    priors = head_priors([], train)
    priors.update({k: float(v.mean()) for k, v in aux_override.items()})
    model = build_model(spec, heads, ModelConfig(model=config.model, aux_weight=config.aux_weight), priors=priors)
    fit(model, train, epochs=config.epochs, batch_size=config.batch_size, seed=seed, verbose=0,
        sample_weights=sample_weights, aux_override=aux_override)
    result = {"p": predict(model, test)["primary"]}
    if diagnostics and variant in ("baseline", "c2al"):
        if model.attention_layer is not None:
            result["attention"] = attention_weight_histogram(model)["weights"]
        if heads:
            from c2al_tf.models.training import head_labels

            sub = train.take(np.arange(min(len(train), 4096)))
            labels = head_labels(model, sub, {k: v[:len(sub)] for k, v in aux_override.items()})
            result["gradient"] = gradient_conflict(model, model.spec.table_to_inputs(sub), labels)
    return result


def run_experiment(table, cohort_spec, config: ExperimentConfig, progress: bool = True) -> Dict[str, Any]:
    """All variants x seeds. Returns the metrics document (see ``metrics.json``)."""
    from c2al_tf.models import FeatureSpec

    train, test = split(table, config.test_fraction, config.split_seed)
    cohorts = list(cohort_spec.cohorts())
    masks_train = cohort_spec.masks(train.features)
    masks_test = cohort_spec.masks(test.features)
    spec = FeatureSpec.from_table(train)
    variants = [v for v in config.variants if v in VARIANTS]
    if not cohorts:
        variants = [v for v in variants if v == "baseline" or v == "c2al"]
    runs, diagnostics = [], {}
    jobs = [(v, s) for s in range(config.seeds) for v in variants]
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(jobs), desc="experiment", unit="run")
    for variant, seed in jobs:
        out = run_variant(variant, seed, train, test, spec, cohorts, masks_train, config, diagnostics=(seed == 0))
        metrics = evaluate_predictions(test.label, out["p"], masks_test)
        runs.append({"variant": variant, "seed": seed, **metrics})
        if seed == 0:
            diagnostics[variant] = {k: v for k, v in out.items() if k != "p"}
        if bar is not None:
            bar.update(1)
            bar.set_postfix(variant=variant, seed=seed, ne=f"{metrics['overall']['ne']:.4f}")
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
    cohort_info = {c["name"]: {"train_support": float(masks_train[c["name"]].mean()),
                               "train_positives": int(train.label[masks_train[c["name"]]].sum()),
                               "test_count": int(masks_test[c["name"]].sum()),
                               "test_positives": int(test.label[masks_test[c["name"]]].sum())} for c in cohorts}
    return {"runs": runs, "comparisons": comparisons, "cohorts": cohort_spec.doc, "cohort_info": cohort_info,
            "split": {"train": len(train), "test": len(test), "test_fraction": config.test_fraction,
                      "split_seed": config.split_seed},
            "config": dataclasses.asdict(config), "diagnostics": diagnostics}


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
