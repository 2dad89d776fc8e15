"""Reading ``--data``: :func:`read_table` detects the format (:mod:`~c2al_tf.data.files`)
and calls its reader: CSV (:mod:`~c2al_tf.data.csv_reader`), TFRecord of tf.Example
(:mod:`~c2al_tf.data.tfrecord_reader`), Criteo (:mod:`~c2al_tf.data.criteo`), RecBole/MovieLens
(:mod:`~c2al_tf.data.movielens`). Each reads strings; :mod:`~c2al_tf.data.frames` types them
and applies the label rule (:mod:`~c2al_tf.data.label_rule`).

Bad input raises :class:`~c2al_tf.errors.C2ALInputError` with a one-line message
naming the file and the column or line at fault.
"""
from __future__ import annotations

from typing import Optional

from c2al_tf.data.criteo import read_criteo
from c2al_tf.data.csv_reader import read_csv, read_csv_dir, read_csv_strings
from c2al_tf.data.files import CSV_PATTERNS, TFRECORD_PATTERNS, detect_format, find_files
from c2al_tf.data.frames import table_from_frame, table_from_strings
from c2al_tf.data.label_rule import binarize_label, parse_positive_label
from c2al_tf.data.movielens import movielens_frame, read_movielens
from c2al_tf.data.table import FeatureTable
from c2al_tf.data.tfrecord_reader import read_tfrecord

__all__ = ["CSV_PATTERNS", "TFRECORD_PATTERNS", "binarize_label", "detect_format", "find_files", "movielens_frame",
           "parse_positive_label", "read_criteo", "read_csv", "read_csv_dir", "read_csv_strings", "read_movielens",
           "read_table", "read_tfrecord", "table_from_frame", "table_from_strings"]


def read_table(path: str, label: str, positive_label: Optional[str] = None, *,
               numeric=(), categorical=(), drop=(), forced_types_may_be_absent: bool = False) -> FeatureTable:
    """Reads ``--data PATH``: CSV file, directory of CSVs, TFRecord file(s) of
    tf.Example, or a RecBole atomic directory (MovieLens).

    ``numeric`` / ``categorical`` force column types and ``drop`` ignores columns;
    with ``forced_types_may_be_absent`` a forced column missing from the data is
    not an error (used to type new data like a trained model's feature spec).
    """
    fmt = detect_format(path)
    typing = dict(numeric=numeric, categorical=categorical, drop=drop,
                  forced_types_may_be_absent=forced_types_may_be_absent)
    if fmt == "csv":
        return read_csv(path, label, positive_label, **typing)
    if fmt == "csv_dir":
        return read_csv_dir(path, label, positive_label, **typing)
    if fmt == "tfrecord":
        return read_tfrecord(path, label, positive_label, **typing)
    frame = movielens_frame(path)
    typing["categorical"] = set(categorical) | ({"user_id", "item_id", "zip_code"} - {label})
    return table_from_strings(frame, source=path, label=label, positive_label=positive_label, **typing)
