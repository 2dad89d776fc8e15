"""``c2al evaluate``: NE / logloss / AUC / calibration, overall and per cohort."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="score data with an exported model and write metrics.json",
                       description="Score --data through the SavedModel's serving_default signature and write "
                                   "metrics.json: overall and per cohort (from --cohorts, else the cohorts the "
                                   "model was trained with).")
    p.add_argument("--model", required=True, metavar="DIR", help="exported SavedModel directory")
    p.add_argument("--data", required=True, metavar="PATH")
    p.add_argument("--label", required=True, metavar="COL")
    p.add_argument("--positive-label", metavar="VALUE")
    p.add_argument("--out", required=True, metavar="metrics.json")
    p.add_argument("--cohorts", metavar="cohorts.json")
    p.set_defaults(func=run)


def run(args) -> int:
    from c2al_tf.commands.train import load_cohorts
    from c2al_tf.io_utils import write_json
    from c2al_tf.metrics import evaluate_predictions
    from c2al_tf.predictor import SavedModelPredictor

    from c2al_tf.io_utils import check_output_file

    check_output_file(args.out, "--out")  # before any work
    predictor = SavedModelPredictor(args.model)
    cohorts = load_cohorts(args.cohorts, args.label)
    cohort_list = list(cohorts.cohorts()) if cohorts is not None else predictor.metadata.get("cohorts", [])
    table = predictor.read(args.data, args.label, args.positive_label)
    p = predictor.predict(table, progress=True)["probabilities"]
    from c2al_tf.cohorts.spec import cohort_mask

    source = cohorts.source if cohorts is not None else f"{args.model} (cohorts it was trained with)"
    masks = {c["name"]: cohort_mask(c, table.features, source) for c in cohort_list}
    metrics = evaluate_predictions(table.label, p, masks)
    write_json(args.out, metrics)
    print(f"{'slice':28s} {'count':>9s} {'pos rate':>9s} {'NE':>8s} {'AUC':>7s} {'calib':>7s}")
    rows = [("overall", metrics["overall"])] + list(metrics["cohorts"].items())
    for name, m in rows:
        print(f"{name:28s} {m['count']:9d} " + " ".join(
            _fmt(m[k], w, d) for k, w, d in (("positive_rate", 9, 4), ("ne", 8, 4), ("auc", 7, 4),
                                              ("calibration", 7, 3))))
    print(f"wrote {args.out}")
    return 0


def _fmt(value, width: int, digits: int) -> str:
    """A metric for the table; '-' where it is undefined (no rows or one class)."""
    import math

    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return f"{'-':>{width}s}"
    return f"{value:{width}.{digits}f}"
