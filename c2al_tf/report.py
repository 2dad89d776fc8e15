"""Experiment report: report.md (tables + plain-words verdicts) and PNG plots."""
from __future__ import annotations

import os
from typing import Any, Dict, List

import numpy as np

FEW_POSITIVES = 100      # a cohort with fewer training positives gets a "few positives" cause
CONFLICT_COSINE = -0.05  # aux vs primary gradient cosine below this is "large gradient conflict"

LABELS = {"c2al": "C2AL", "random": "random cohorts", "head_only": "head only", "tail_only": "tail only",
          "reweight": "reweighting", "masked": "masked aux loss",
          "dcn": "DCN-v2 baseline", "per_head": "C2AL, lambda per head", "mmoe": "MMoE (cohort heads as tasks)"}


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
                      f"{grad['cosine']:.2f}): large gradient conflict; try a smaller lambda")
    if not causes:
        causes.append("no cause visible in the cohort sizes or gradients; check the cohort choice and lambda")
    return causes


def _candidate(r) -> str:
    if r.get("trained") is False:
        return f"{r['aux_weight']:g} not tested"
    text = f"{r['aux_weight']:g} -> {r['val_logloss']:.5f}"
    if r.get("diff") is not None:
        text += f" ({r['diff']:+.5f} [{r['low']:+.5f}, {r['high']:+.5f}]{', significant' if r['significant'] else ''})"
    return text


def format_lambdas(weights) -> str:
    """Per-head lambdas as ``0.3/1`` (one per auxiliary head, in cohort order)."""
    return "/".join(format(w, "g") for w in weights)


def _pct(x: float) -> str:
    return "n/a" if x != x else f"{100 * x:+.3f}%"


def verdict_line(variant: str, slice_name: str, comp: Dict[str, Any], doc: Dict[str, Any]) -> str:
    name = LABELS.get(variant, variant)
    where = "overall" if slice_name == "overall" else f"on cohort '{slice_name}'"
    if comp["verdict"] == "better":
        return (f"{name} improves NE {where}: NE_diff {_pct(comp['mean'])}, 95% CI "
                f"[{_pct(comp['ci_low'])}, {_pct(comp['ci_high'])}] lies below zero.")
    if comp["verdict"] == "worse":
        causes = "; ".join(likely_causes(doc, slice_name))
        return (f"**{name} hurts {where}**: NE_diff {_pct(comp['mean'])}, 95% CI [{_pct(comp['ci_low'])}, "
                f"{_pct(comp['ci_high'])}] lies above zero. Likely cause: {causes}.")
    if comp["verdict"] == "too few seeds":
        return f"{name} {where}: too few seeds for a confidence interval."
    return (f"{name} {where}: no significant difference (95% CI [{_pct(comp['ci_low'])}, "
            f"{_pct(comp['ci_high'])}] contains zero).")


def write_markdown(doc: Dict[str, Any], path: str, meta: Dict[str, Any]) -> None:
    comps = doc["comparisons"]
    slices = ["overall"] + [c["name"] for p in doc["cohorts"]["pairs"] for c in (p["head"], p["tail"])]
    lines = ["# C2AL experiment report", ""]
    lines.append(f"- command: `{meta['command']}`")
    lines.append(f"- data: `{meta['data']}` (sha256 `{meta['data_hash'][:16]}...`), label `{meta['label']}`")
    sp, tc = doc["split"], doc["config"]["train"]
    lines.append(f"- split: {sp['train']:,} train ({sp['fit']:,} fit + {sp['validation']:,} validation) / "
                 f"{sp['test']:,} test rows (fixed seeds {sp['split_seed']}, {sp['validation_seed']}); seeds: "
                 f"{doc['config']['seeds']}; model `{doc['config'].get('model_fn') or doc['config']['model']}`")
    if tc["early_stopping"]:
        lines.append(f"- protocol: early stopping on validation logloss of the primary head (patience "
                     f"{tc['patience']}, at most {tc['epochs']} epochs, best epoch kept); the test split is "
                     f"scored once per run")
    else:
        lines.append(f"- protocol: fixed budget of {tc['epochs']} epoch(s), no early stopping")
    if tc["select_aux_weight"]:
        lines.append(f"- lambda chosen per seed on validation among {tc['aux_weights']} (0 = the baseline)")
    else:
        lines.append(f"- lambda fixed at {tc['aux_weights'][0]}")
    lines.append("- versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()))
    lines.append("")
    lines.append("## Cohorts")
    if not doc["cohorts"]["pairs"]:
        lines.append("No cohort pair above the noise threshold: C2AL has nothing to add on this data.")
    for p in doc["cohorts"]["pairs"]:
        from c2al_tf.cohorts.spec import describe_predicate
        lines.append(f"- axis `{','.join(p['axis'])}` (divergence {p['divergence']:.4g})")
        for side in ("head", "tail"):
            c = p[side]
            info = doc["cohort_info"][c["name"]]
            lines.append(f"  - {side} `{c['name']}`: {describe_predicate(c['predicate'])}; train support "
                         f"{info['train_support']:.3f}, {info['train_positives']:,} train positives, "
                         f"{info['test_count']:,} test rows")
    lines.append("")
    lines.append("## NE_diff vs baseline (mean over seeds, 95% CI)")
    lines.append("")
    lines.append("| variant | " + " | ".join(slices) + " |")
    lines.append("|---|" + "---|" * len(slices))
    for variant, per_slice in comps.items():
        cells = []
        for s in slices:
            c = per_slice.get(s)
            if c is None:
                cells.append("")
                continue
            mark = " ✓" if c["verdict"] == "better" else " ✗" if c["verdict"] == "worse" else ""
            cells.append(f"{_pct(c['mean'])} [{_pct(c['ci_low'])}, {_pct(c['ci_high'])}]{mark}")
        lines.append(f"| {LABELS.get(variant, variant)} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("✓ CI entirely below zero (better), ✗ CI entirely above zero (worse).")
    lines.append("")
    lines.append("## Verdicts")
    for variant, per_slice in comps.items():
        for s in slices:
            if s in per_slice:
                lines.append(f"- {verdict_line(variant, s, per_slice[s], doc)}")
    lines.append("")
    lines.append("## Absolute metrics (mean over seeds)")
    lines.append("")
    lines.append("| variant | slice | NE | logloss | AUC | calibration |")
    lines.append("|---|---|---|---|---|---|")
    for variant in ["baseline"] + list(comps):
        runs = [r for r in doc["runs"] if r["variant"] == variant]
        for s in slices:
            ms = [r["overall"] if s == "overall" else r["cohorts"][s] for r in runs]
            mean = {k: float(np.nanmean([m[k] for m in ms])) for k in ("ne", "logloss", "auc", "calibration")}
            lines.append(f"| {LABELS.get(variant, variant)} | {s} | {mean['ne']:.5f} | {mean['logloss']:.5f} | "
                         f"{mean['auc']:.4f} | {mean['calibration']:.3f} |")
    lines.append("")
    lines.append("## Training (mean over seeds)")
    lines.append("")
    lines.append("| variant | lambda per seed | epochs kept per seed | validation logloss |")
    lines.append("|---|---|---|---|")
    for variant in ["baseline"] + list(comps):
        runs = sorted((r for r in doc["runs"] if r["variant"] == variant), key=lambda r: r["seed"])
        vals = [r["val_logloss"] for r in runs if r.get("val_logloss") is not None]
        weights = ", ".join(format_lambdas(r["head_weights"].values()) if "head_weights" in r
                            else format(r["aux_weight"], "g") for r in runs)
        epochs = ", ".join(str(r["epochs"]) for r in runs)
        val = format(float(np.mean(vals)), ".5f") if vals else "n/a"
        lines.append(f"| {LABELS.get(variant, variant)} | {weights} | {epochs} | {val} |")
    if doc.get("selection"):
        lines.append("")
        lines.append("C2AL's lambda candidates (validation logloss of the primary head per seed; for lambda > 0 "
                     "the paired difference to lambda 0 over the validation rows and its 90% interval, tested in increasing order; a "
                     "lambda > 0 is chosen only when the interval is below zero): " + "; ".join(
                         f"seed {seed}: " + ", ".join(_candidate(r) for r in table)
                         for seed, table in doc["selection"].items()))
    if doc.get("per_head_selection"):
        lines.append("")
        lines.append("Per-head lambdas looked at (one per auxiliary head, in cohort order -> validation logloss): "
                     + "; ".join(f"seed {seed}: " + ", ".join(
                         format_lambdas(r["aux_weights"]) + " -> "
                         + ("n/a" if r["val_logloss"] is None else format(r["val_logloss"], ".5f")) for r in table)
                         for seed, table in doc["per_head_selection"].items()))
    grad = (doc.get("diagnostics", {}).get("c2al") or {}).get("gradient")
    if grad:
        lines.append("")
        lines.append("## Diagnostics (seed 0)")
        lines.append(f"- auxiliary vs primary gradient on the shared encoder: cosine {grad['cosine']:.3f}; "
                     f"parallel part {grad['parallel_norm']:.4g}, orthogonal part {grad['orthogonal_norm']:.4g} "
                     f"(primary gradient norm {grad['primary_norm']:.4g})")
    for name in ("attention_density.png", "ne_diff.png", "calibration.png"):
        lines.append(f"\n![{name}]({name})")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def write_plots(doc: Dict[str, Any], out: str) -> List[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    comps = doc["comparisons"]
    slices = ["overall"] + [c["name"] for p in doc["cohorts"]["pairs"] for c in (p["head"], p["tail"])]
    # NE_diff per slice with CI bars
    series = {}
    for variant, per_slice in comps.items():
        mean = np.array([100 * per_slice[s]["mean"] for s in slices])
        lo = np.array([100 * per_slice[s]["ci_low"] for s in slices])
        hi = np.array([100 * per_slice[s]["ci_high"] for s in slices])
        series[LABELS.get(variant, variant)] = (mean, np.vstack([np.nan_to_num(mean - lo), np.nan_to_num(hi - mean)]))
    written.append(_grouped_bars(os.path.join(out, "ne_diff.png"), slices, series, 0.0,
                                 "NE_diff vs baseline (%)  [lower is better]",
                                 "NE_diff per slice, mean over seeds with 95% CI"))
    # attention-layer weight density (the paper's Figure 2)
    diag = doc.get("diagnostics", {})
    weights = {v: diag.get(v, {}).get("attention") for v in ("baseline", "c2al")}
    fig, ax = plt.subplots(figsize=(6, 4))
    for v, w in weights.items():
        if w is not None and len(w):
            ax.hist(np.asarray(w), bins=60, density=True, histtype="step", linewidth=1.5,
                    label=f"{LABELS.get(v, v)} (|w|<1e-3: {np.mean(np.abs(w) < 1e-3):.1%})")
    ax.set_xlabel("attention-layer weight")
    ax.set_ylabel("density")
    ax.set_title("Attention-layer weight density, seed 0")
    if ax.get_legend_handles_labels()[0]:  # a model without an attention layer draws nothing
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no attention layer in these models", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    path = os.path.join(out, "attention_density.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)
    # calibration per slice
    series = {}
    for v in ["baseline"] + list(comps):
        runs = [r for r in doc["runs"] if r["variant"] == v]
        series[LABELS.get(v, v)] = (np.array([np.nanmean([(r["overall"] if s == "overall" else r["cohorts"][s])
                                                           ["calibration"] for r in runs]) for s in slices]), None)
    written.append(_grouped_bars(os.path.join(out, "calibration.png"), slices, series, 1.0,
                                 "calibration (sum p / sum y)", "Calibration per slice, mean over seeds"))
    return written


def _grouped_bars(path, slices, series, reference, ylabel, title) -> str:
    """One group of bars per slice, one bar per series (optional error bars)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(slices) * max(1, len(series)) / 2), 4))
    width = 0.8 / max(1, len(series))
    for i, (name, (values, err)) in enumerate(series.items()):
        ax.bar(np.arange(len(slices)) + i * width, values, width, yerr=err, capsize=3 if err is not None else 0,
               label=name)
    ax.axhline(reference, color="black", linewidth=0.8)
    ax.set_xticks(np.arange(len(slices)) + width * (len(series) - 1) / 2)
    ax.set_xticklabels(slices, rotation=15)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
