"""How the pipeline's numeric features change what the auxiliary heads add: the
in-memory protocol on a pipeline run's own fit and validation rows, with its numeric
columns as the library reads them or as the Transform writes them.

    .venv/bin/python -m bench.pipeline_features --root ROOT [--root ROOT2] [--seeds 0,1,2,3]
        [--variants raw,r,r+z] [--out bench/results/pipeline_features.json]

``ROOT`` is a finished ``c2al demo`` / ``c2al pipeline run`` root. The rows are the
C2AL Trainer's: the CohortMiner's train split, carved into fit and validation rows by
the Trainer's own content hash and fraction. The cohorts are the CohortMiner's, their
auxiliary labels computed once from the raw values. Per variant and training seed it
trains lambda 0 and lambda 0.1 with :func:`c2al_tf.models.protocol.fit` (c2al's
attention FM, the protocol's defaults) and compares them on the validation rows
(:func:`c2al_tf.models.search.compare_to_baseline`, 90%). Variants of the numeric
columns:

- ``raw``: the raw values (the library path: a bucket row plus a linear term in the
  z-score, one embedding per column);
- ``r``: the Transform's bucket position ``r`` only (the pipeline before ``__z``);
- ``r+z``: ``r`` and the Transform's ``<column>__z``, linear (the pipeline now).

Prints one row per variant and seed and writes them as JSON.
"""
import argparse
import dataclasses
import glob
import json
import os

from bench.common import print_table, write_json

ZSCORE = "_zscore"  # the Transform's <column>__z, as a data column (linear, no buckets)


def load_rows(root):
    """(raw frame, the transform's float outputs {name: r, name__z: z}, number of fit
    rows, cohorts, label) of a pipeline root's C2AL Trainer: its fit rows first, then
    its validation rows."""
    import numpy as np
    import pandas as pd
    import tensorflow as tf
    import tensorflow_transform as tft

    from c2al_tf.cohorts.spec import CohortSpec
    from c2al_tf.data.content_hash import example_records
    from c2al_tf.data.transform import serving_parse_spec
    from pipeline.report import newest

    model = newest(root, "Trainer", "model")
    with open(os.path.join(model, "Format-Serving", "assets.extra", "trainer.json")) as f:
        config = json.load(f)["custom_config"]
    label, fraction = config["label"], float(config["validation_fraction"])
    graph = tft.TFTransformOutput(newest(root, "Transform", "transform_graph"))
    examples = newest(root, "CohortMiner", "output_examples")
    files = sorted(glob.glob(os.path.join(examples, "Split-train", "*")))
    cohorts = list(CohortSpec.load(os.path.join(newest(root, "CohortMiner", "cohorts"), "cohorts.json")).cohorts())
    raw_spec = serving_parse_spec(graph, label)
    dense = {k: tf.io.FixedLenFeature([], f.dtype, default_value="" if f.dtype == tf.string else
                                      (np.nan if f.dtype == tf.float32 else 0)) for k, f in raw_spec.items()}
    dense[label] = tf.io.FixedLenFeature([], tf.int64)
    layer = graph.transform_features_layer()
    parts, transformed, fit_rows = [], [], 0
    for part in ("fit", "validation"):
        for batch in example_records(files, fraction, part).batch(8192):
            fit_rows += int(batch.shape[0]) if part == "fit" else 0
            parsed = tf.io.parse_example(batch, dense)
            parts.append(pd.DataFrame({k: (v.numpy().astype(str) if v.dtype == tf.string else v.numpy())
                                       for k, v in parsed.items()}))
            out = layer(tf.io.parse_example(batch, raw_spec))
            transformed.append({k: v.numpy().reshape(-1) for k, v in out.items() if v.dtype == tf.float32})
    frame = pd.concat(parts, ignore_index=True)
    numeric = {k: np.concatenate([t[k] for t in transformed]) for k in transformed[0]}
    return frame, numeric, fit_rows, cohorts, label


def variant_table(frame, numeric, label, variant, source):
    """A FeatureTable of ``frame`` with its numeric columns as ``variant`` says. An
    integer column read with both views keeps its categorical view in every variant
    (``<column>_value``, its raw values as categories, as the Transform's ``__cat``)."""
    from c2al_tf.data import read_table
    from c2al_tf.names import MAGNITUDE_VIEW

    path = f"{source}.{variant}.csv"
    frame.to_csv(path, index=False)
    try:
        raw = read_table(path, label, None)
        if variant == "raw":
            return raw
        data = frame.copy()
        views = []
        for k in raw.dual:
            data[k + "_value"] = frame[k].astype(str)
            views.append(k + "_value")
        for k in numeric:
            if not k.endswith(MAGNITUDE_VIEW):
                data[k] = numeric[k]
            if k.endswith(MAGNITUDE_VIEW) and variant == "r+z":  # renamed: a data column may not take it
                data[k[: -len(MAGNITUDE_VIEW)] + ZSCORE] = numeric[k]
        data.to_csv(path, index=False)
        floats = [k for k in data if k in numeric or k.endswith(ZSCORE)]
        return read_table(path, label, None, numeric=floats, categorical=views)
    finally:
        os.remove(path)


def run_root(root, seeds, variants, work):
    import numpy as np
    import tensorflow as tf

    from c2al_tf.labels import aux_labels
    from c2al_tf.models import ModelConfig, build_model
    from c2al_tf.models.config import PRIMARY
    from c2al_tf.models.features import FeatureSpec
    from c2al_tf.models.protocol import TrainConfig, fit
    from c2al_tf.models.search import compare_to_baseline

    frame, numeric, n_fit, cohorts, label = load_rows(root)
    aux = aux_labels(frame[label].to_numpy(), frame, cohorts)
    fit_aux = {k: v[:n_fit] for k, v in aux.items()}
    rows = []
    for variant in variants:
        table = variant_table(frame, numeric, label, variant, os.path.join(work, "rows"))
        fit_table, val_table = table.take(np.arange(n_fit)), table.take(np.arange(n_fit, len(table)))
        spec = FeatureSpec.from_table(fit_table)
        spec = dataclasses.replace(spec, numeric=[dataclasses.replace(f, boundaries=[])
                                                  if f.name.endswith(ZSCORE) else f for f in spec.numeric])
        for seed in seeds:
            results = {}
            for lam in (0.0, 0.1):
                tf.keras.utils.set_random_seed(seed)
                heads = cohorts if lam else []
                priors = {PRIMARY: float(fit_table.label.mean()), **{c["aux_label"]: float(fit_aux[c["aux_label"]].mean())
                                                                      for c in heads}}
                model = build_model(spec, heads, ModelConfig(aux_weight=lam), priors=priors)
                model.compile()
                results[lam] = fit(model, fit_table, val_table, TrainConfig(), seed,
                                   aux_override=fit_aux if heads else None)
            c = compare_to_baseline(results[0.1].val_losses, results[0.0].val_losses)
            rows.append({"root": root, "numeric features": variant, "seed": seed, "fit rows": n_fit,
                         "validation rows": len(val_table), "lambda 0 val logloss": results[0.0].val_logloss,
                         "0.1 vs 0": c["diff"], "low": c["low"], "high": c["high"],
                         "significant": c["significant"]})
            print_table(rows[-1:], list(rows[-1]))
    return rows


def main(argv=None):
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", action="append", required=True, help="a finished pipeline root (repeatable)")
    ap.add_argument("--seeds", default="0,1,2,3")
    ap.add_argument("--variants", default="raw,r,r+z")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    import c2al_tf  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)

    seeds = [int(s) for s in args.seeds.split(",")]
    variants = args.variants.split(",")
    rows = []
    with tempfile.TemporaryDirectory(prefix="c2al-bench-features-") as work:
        for root in args.root:
            rows += run_root(root, seeds, variants, work)
    print()
    print_table(rows, list(rows[0]))
    write_json("pipeline_features", {"rows": rows}, args.out)


if __name__ == "__main__":
    main()
