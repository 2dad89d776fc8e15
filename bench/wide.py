"""Wide data: build time, training throughput and export time as the number of columns grows.

For each width (default 40, 400 and 2,000 columns: 3/4 numeric and integer, 1/4
text, 20k rows), in this process and one after another:

- ``build_s``: ``build_model`` with the grouped embedding layers (one
  ``NumericEmbeddings``, one ``CategoricalEmbeddings`` per kind);
- ``per_feature_build_s``: the same embeddings built the earlier way, one
  ``NumericEmbedding`` / ``CategoricalEmbedding`` layer per column (the design
  this replaced; built only), and ``build_ratio`` = grouped / per-feature;
- ``fit_s`` and ``train_examples_per_s``: one epoch of ``fit`` (batch 1024, a
  10% validation split, tracing included), and ``export_s``: the SavedModel.

Usage: ``python -m bench.wide [--widths 40,400,2000] [--rows 20000] [--out FILE.json]``.
"""
import argparse
import os
import tempfile
import time

import c2al_tf  # noqa: E402,F401
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402

from bench.common import print_table, write_json  # noqa: E402
from c2al_tf.data.readers import table_from_frame  # noqa: E402
from c2al_tf.export import export_saved_model  # noqa: E402
from c2al_tf.layers import CategoricalEmbedding, NumericEmbedding  # noqa: E402
from c2al_tf.models import FeatureSpec, ModelConfig, build_model  # noqa: E402
from c2al_tf.models.protocol import TrainConfig, carve_validation, fit  # noqa: E402


def wide_frame(columns: int, rows: int, seed: int = 0) -> pd.DataFrame:
    """``columns`` features: every 4th text (8 values), every 4th an integer count
    (0..29), the rest real numbers; a 0/1 label ``click`` that depends on a few of them."""
    rng = np.random.default_rng(seed)
    data, logit = {}, np.full(rows, -1.5)
    for j in range(columns):
        if j % 4 == 0:
            values = rng.choice(list("abcdefgh"), rows)
            data[f"c{j}"] = values
            logit += 0.3 * (values == "a") if j < 40 else 0
        elif j % 4 == 1:
            data[f"i{j}"] = rng.integers(0, 30, rows)
        else:
            values = np.round(rng.normal(size=rows), 3)
            data[f"x{j}"] = values
            logit += 0.2 * values if j < 40 else 0
    data["click"] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame(data)


def per_feature_build(spec: FeatureSpec, d: int = 16) -> float:
    """Seconds to build one embedding layer per column (the earlier design), built only."""
    start = time.perf_counter()
    inputs = spec.keras_inputs()
    rows = [NumericEmbedding(d, f.mean, f.std, boundaries=f.boundaries, name=f"emb_{i}")(inputs[f.name])
            for i, f in enumerate(spec.numeric)]
    rows += [CategoricalEmbedding(f.vocabulary, d, name=f"cat_{i}")(inputs[f.column])
             for i, f in enumerate(spec.categorical)]
    rows = [tf.keras.layers.Reshape((1, d))(e) for e in rows]
    tf.keras.Model(inputs, tf.keras.layers.Concatenate(axis=1)(rows))
    return time.perf_counter() - start


def measure(columns: int, rows: int, work: str) -> dict:
    table = table_from_frame(wide_frame(columns, rows), "click")
    fit_table, val_table = carve_validation(table, 0.1)
    spec = FeatureSpec.from_table(fit_table)
    tf.keras.backend.clear_session()
    old = per_feature_build(spec)
    tf.keras.backend.clear_session()
    start = time.perf_counter()
    model = build_model(spec, config=ModelConfig())
    build = time.perf_counter() - start
    start = time.perf_counter()
    fit(model, fit_table, val_table, TrainConfig(epochs=1, early_stopping=False))
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    export_saved_model(model, os.path.join(work, f"m{columns}"))
    export_s = time.perf_counter() - start
    return {"columns": columns, "embeddings": len(spec.embedded), "rows": rows, "build_s": build,
            "per_feature_build_s": old, "build_ratio": build / old, "fit_s": fit_s,
            "train_examples_per_s": len(fit_table) / fit_s, "export_s": export_s}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", default="40,400,2000")
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--out", default=None, help="JSON path (default bench/results/wide.json)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="c2al-wide-") as work:  # the exports, removed with it
        results = [measure(int(w), args.rows, work) for w in args.widths.split(",")]
    print_table(results, ["columns", "embeddings", "build_s", "per_feature_build_s", "build_ratio", "fit_s",
                          "train_examples_per_s", "export_s"])
    write_json("wide", {"rows": args.rows, "results": results}, args.out)


if __name__ == "__main__":
    main()
