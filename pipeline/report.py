"""Reads a finished pipeline's outputs (newest execution of each component) and
summarizes them: cohorts, TFMA metrics per slice for C2AL and baseline, blessing,
pushed model."""
from __future__ import annotations

import glob
import json
import os
from typing import Any, Dict, Optional


def newest(root: str, component: str, output: str) -> Optional[str]:
    dirs = [d for d in glob.glob(os.path.join(root, "pipeline", component, output, "*")) if os.path.basename(d).isdigit()]
    return max(dirs, key=lambda d: int(os.path.basename(d))) if dirs else None


def _value(v) -> float:
    if "doubleValue" in v:
        return float(v["doubleValue"])
    if "boundedValue" in v:
        return float(v["boundedValue"]["value"])
    return float("nan")


def evaluator_metrics(eval_uri: str) -> Dict[str, Dict[str, Dict[str, float]]]:
    """``{model: {slice: {metric: value}}}`` from TFMA's output; slice "overall" or a cohort name."""
    import tensorflow_model_analysis as tfma
    from google.protobuf import json_format

    out: Dict[str, Dict[str, Dict[str, float]]] = {}
    for record in tfma.load_metrics(eval_uri):
        rec = json_format.MessageToDict(record)
        parts = rec.get("sliceKey", {}).get("singleSliceKeys", [])
        slice_name = "overall" if not parts else next(
            (p.get("bytesValue") and __import__("base64").b64decode(p["bytesValue"]).decode()) or
            str(p.get("int64Value", p.get("floatValue", ""))) for p in parts)
        for kv in rec.get("metricKeysAndValues", []):
            key = kv["key"]
            model = key.get("modelName", "")
            if key.get("isDiff"):
                continue
            name = key["name"]
            out.setdefault(model, {}).setdefault(slice_name, {})[name] = _value(kv["value"])
    return out


def summarize(root: str) -> Dict[str, Any]:
    import tensorflow_model_analysis as tfma

    from c2al_tf.cohorts import CohortSpec

    summary: Dict[str, Any] = {"root": os.path.abspath(root)}
    cohorts_dir = newest(root, "CohortMiner", "cohorts")
    if cohorts_dir:
        summary["cohorts"] = CohortSpec.load(os.path.join(cohorts_dir, "cohorts.json")).doc
    eval_dir = newest(root, "Evaluator", "evaluation")
    if eval_dir:
        summary["metrics"] = evaluator_metrics(eval_dir)
        summary["evaluation_uri"] = eval_dir
        summary["validation_ok"] = bool(tfma.load_validation_result(eval_dir).validation_ok)
    trainer_dir = newest(root, "Trainer", "model")
    record = os.path.join(trainer_dir or "", "Format-Serving", "assets.extra", "trainer.json")
    if trainer_dir and os.path.exists(record):
        with open(record) as f:
            trained = json.load(f)
        summary["training"] = {"aux_weight": trained.get("aux_weight"), "selection": trained.get("selection")}
    pushed = sorted(glob.glob(os.path.join(root, "serving", "*")))
    summary["pushed_model"] = pushed[-1] if pushed else None
    return summary


def format_report(summary: Dict[str, Any]) -> str:
    from c2al_tf.cohorts.spec import describe_predicate

    lines = []
    doc = summary.get("cohorts") or {}
    lines.append("Cohorts found (CohortMiner):")
    if not doc.get("pairs"):
        lines.append("  none above the noise threshold: C2AL trained no auxiliary head")
    for pair in doc.get("pairs", []):
        lines.append(f"  axis {','.join(pair['axis'])}: divergence {pair['divergence']:.4g}")
        for side in ("head", "tail"):
            c = pair[side]
            lines.append(f"    {side}: {c['name']:24s} {describe_predicate(c['predicate']):32s} "
                         f"support {c.get('support', float('nan')):.3f}  positive rate {c.get('positive_rate', float('nan')):.4f}")
    training = summary.get("training") or {}
    if training.get("selection"):
        lines.append("")
        lines.append("lambda chosen on the train split's validation rows (primary validation logloss; a lambda > 0 "
                     "needs a paired 90% interval vs lambda 0 below zero, tested in increasing order):")
        from c2al_tf.models.search import format_selection

        lines.extend(f"  {line}" for line in format_selection(training["selection"], training["aux_weight"]))
    metrics = summary.get("metrics") or {}
    cand, base = metrics.get("candidate", {}), metrics.get("baseline", {})
    if cand:
        lines.append("")
        lines.append("NE on the eval split (TFMA Evaluator): baseline vs C2AL")
        lines.append(f"  {'slice':26s} {'examples':>9s} {'NE base':>9s} {'NE c2al':>9s} {'NE_diff':>9s} "
                     f"{'AUC base':>9s} {'AUC c2al':>9s} {'calib c2al':>10s}")
        for name in ["overall"] + sorted(k for k in cand if k != "overall"):
            c, b = cand.get(name, {}), base.get(name, {})
            ne_c, ne_b = c.get("normalized_entropy", float("nan")), b.get("normalized_entropy", float("nan"))
            diff = (ne_c - ne_b) / ne_b if ne_b == ne_b and ne_b else float("nan")
            lines.append(f"  {name:26s} {c.get('example_count', float('nan')):9.0f} {ne_b:9.4f} {ne_c:9.4f} "
                         f"{diff:+9.3%} {b.get('auc', float('nan')):9.4f} {c.get('auc', float('nan')):9.4f} "
                         f"{c.get('calibration', float('nan')):10.3f}")
        lines.append(f"  non-regression check on overall NE: {'passed (blessed)' if summary.get('validation_ok') else 'FAILED (not blessed, not pushed)'}")
    pushed = summary.get("pushed_model")
    lines.append("")
    if pushed:
        lines.append(f"Pushed model: {pushed}")
        lines.append("Serve it with TF Serving:")
        lines.append(f"  tensorflow_model_server --rest_api_port=8501 --model_name=c2al "
                     f"--model_base_path={os.path.dirname(pushed)}")
        lines.append("or try it with saved_model_cli (serving_default takes serialized tf.Examples):")
        lines.append(f"  saved_model_cli run --dir {pushed} --tag_set serve --signature_def serving_default "
                     f"--input_examples 'examples=[{example_input(pushed)}]'")
    else:
        lines.append("No model was pushed (the candidate did not pass the Evaluator's check).")
    return "\n".join(lines)


def example_input(model_dir: str) -> str:
    """One tf.Example for ``saved_model_cli --input_examples``, in JSON, from the raw
    features the exported model reads (``assets.extra/c2al.json``): 1.0 for a number,
    "a" for a string; a feature left out is a missing value, which the model accepts."""
    path = os.path.join(model_dir, "assets.extra", "c2al.json")
    raw = {}
    if os.path.exists(path):
        with open(path) as f:
            raw = json.load(f).get("raw_features") or {}
    return json.dumps({name: ["a"] if dtype == "string" else [1] if dtype.startswith("int") else [1.0]
                       for name, dtype in list(raw.items())[:3]}, separators=(",", ":"))


def write_summary(summary: Dict[str, Any], path: str) -> None:
    """``summary.json``: strict JSON (an undefined metric is null, never NaN)."""
    from c2al_tf.io_utils import write_json

    write_json(path, json.loads(json.dumps(summary, default=str)))


def write_report(summary: Dict[str, Any], root: str) -> str:
    """``ROOT/report.md`` (and ``ROOT/ne_per_slice.png``): the mined cohorts, the lambda
    candidates with their intervals, NE per slice for both models, the Evaluator's
    verdict and the pushed model, for a person to open. Returns the report's path."""
    metrics = summary.get("metrics") or {}
    cand, base = metrics.get("candidate", {}), metrics.get("baseline", {})
    lines = ["# C2AL pipeline run", "", f"Run directory: `{summary.get('root')}`", ""]
    if cand:
        plot = _plot_ne(cand, base, os.path.join(root, "ne_per_slice.png"))
        lines += ["## NE per slice (eval split, TFMA)", "", "| slice | examples | NE baseline | NE C2AL | NE_diff |",
                  "|---|---|---|---|---|"]
        for name in ["overall"] + sorted(k for k in cand if k != "overall"):
            c, b = cand.get(name, {}), base.get(name, {})
            ne_c, ne_b = c.get("normalized_entropy"), b.get("normalized_entropy")
            diff = f"{(ne_c - ne_b) / ne_b:+.3%}" if ne_c is not None and ne_b else "n/a"
            lines.append(f"| {name} | {c.get('example_count', 0):.0f} | {_num(ne_b)} | {_num(ne_c)} | {diff} |")
        if plot:
            lines += ["", "![NE per slice](ne_per_slice.png)"]
        lines.append("")
    lines += ["## The run, step by step", "", "```", format_report(summary), "```", ""]
    path = os.path.join(root, "report.md")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def _num(v) -> str:
    return "n/a" if v is None or v != v else f"{v:.4f}"


def _plot_ne(cand, base, path: str) -> Optional[str]:
    """A bar chart of NE per slice, baseline beside C2AL; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    names = ["overall"] + sorted(k for k in cand if k != "overall")
    xs = range(len(names))
    fig, ax = plt.subplots(figsize=(max(4, 1.6 * len(names)), 3))
    ax.bar([x - 0.2 for x in xs], [base.get(n, {}).get("normalized_entropy", 0) for n in names], 0.4,
           label="baseline")
    ax.bar([x + 0.2 for x in xs], [cand.get(n, {}).get("normalized_entropy", 0) for n in names], 0.4, label="C2AL")
    ax.set_xticks(list(xs))
    ax.set_xticklabels(names, rotation=15)
    ax.set_ylabel("NE (lower is better)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
