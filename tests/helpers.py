"""Shared test helpers: small synthetic tables and a planted CohortSpec."""
import os
import sys

import numpy as np
import pandas as pd
from scipy.special import expit

from c2al_tf.data import generate, ground_truth
from c2al_tf.data.readers import table_from_frame

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = sys.executable


def synthetic_table(rows=6000, seed=0):
    return table_from_frame(generate(rows, seed), "click", source=f"synthetic[{rows},{seed}]")


def planted_spec():
    return ground_truth().cohort_spec(divergence=0.3)


def write_spec(path):
    planted_spec().save(str(path))
    return str(path)


def analyze_records(files, label, out_dir):
    """The pipeline's Transform on the tf.Examples of ``files`` (tf.Transform on Beam's
    DirectRunner, as the Transform component runs it): returns its TFTransformOutput,
    what a Trainer wired with ``transform_graph`` receives."""
    import tensorflow as tf

    from c2al_tf.data.transform import TransformConfig

    kinds = {"int64_list": tf.int64, "float_list": tf.float32, "bytes_list": tf.string}
    rows, spec = [], {}
    for record in tf.data.TFRecordDataset(list(files), compression_type="GZIP"):
        example = tf.train.Example.FromString(record.numpy())
        row = {}
        for name, feature in example.features.feature.items():
            kind = feature.WhichOneof("kind")
            if kind is None:
                continue
            spec.setdefault(name, tf.io.VarLenFeature(kinds[kind]))
            row[name] = list(getattr(feature, kind).value)
        rows.append(row)
    rows = [{name: row.get(name, []) for name in spec} for row in rows]
    return analyze_rows(rows, spec, TransformConfig(label), out_dir)[1]


def analyze_rows(rows, spec, config, out_dir, transform: bool = False):
    """c2al's preprocessing on ``rows`` (dicts of lists, typed by the feature ``spec``) with
    tf.Transform on Beam; writes the transform graph and, as the Transform component does,
    the raw schema beside it under ``out_dir/transform``. Returns (the transformed rows
    when ``transform``, else None; the TFTransformOutput)."""
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

    from c2al_tf.data.transform import preprocessing

    meta = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
    graph = os.path.join(str(out_dir), "transform")
    out = None
    with tft_beam.Context(temp_dir=os.path.join(str(out_dir), "tmp"), force_tf_compat_v1=False):
        if transform:
            (out, _), fn = (rows, meta) | tft_beam.AnalyzeAndTransformDataset(lambda x: preprocessing(x, config))
        else:
            fn = (rows, meta) | tft_beam.AnalyzeDataset(lambda x: preprocessing(x, config))
        _ = fn | tft_beam.WriteTransformFn(graph)
    metadata_io.write_metadata(meta, os.path.join(graph, tft.TFTransformOutput.RAW_METADATA_DIR))
    return out, tft.TFTransformOutput(graph)


def flipped_world(flip: bool, n: int = 60_000, seed: int = 4):
    """surface x category for everybody (+-1), a country main effect, bid without effect;
    with ``flip`` the bottom 10% of user_value reverse surface x category and the top
    10% respond to country x category, which nobody else does (two three-way effects,
    one per end), otherwise user_value only shifts the rate (a main effect)."""
    rng = np.random.default_rng(seed)
    user_value = rng.lognormal(1.0, 1.0, n)
    surface = rng.choice(["feed", "story", "video"], n, p=[0.5, 0.2, 0.3])
    category = rng.choice(["c0", "c1", "c2", "c3"], n)
    country = rng.choice(["us", "in", "br"], n)
    bid = rng.lognormal(0.0, 0.5, n)
    sc = np.where(category == "c0", 1.0, 0.0) * np.where(surface == "feed", 1.0, np.where(surface == "video", -1.0, 0))
    cc = np.where(category == "c1", 1.0, 0.0) * np.where(country == "us", 1.0, np.where(country == "in", -1.0, 0))
    tail = user_value < np.quantile(user_value, 0.10)
    head = user_value >= np.quantile(user_value, 0.90)
    main = pd.Series(country).map({"us": 0.5, "in": -0.5, "br": 0.0}).to_numpy()
    logit = -1.6 + main + (np.where(tail, -1.5, 1.0) * sc + np.where(head, 1.5, 0.0) * cc if flip
                           else sc + 0.4 * np.log(user_value))
    frame = pd.DataFrame({"user_value": user_value, "surface": surface, "category": category, "country": country,
                          "bid": bid, "click": (rng.uniform(size=n) < expit(logit)).astype(int)})
    return table_from_frame(frame, "click", source="world"), user_value, frame
