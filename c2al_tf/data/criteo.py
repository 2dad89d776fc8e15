"""Criteo display-ads TSV."""
from __future__ import annotations

from c2al_tf.data.csv_reader import read_csv_strings
from c2al_tf.data.frames import table_from_strings
from c2al_tf.data.table import FeatureTable

CRITEO_INT = [f"I{i}" for i in range(1, 14)]
CRITEO_CAT = [f"C{i}" for i in range(1, 27)]
CRITEO_COLUMNS = ["label"] + CRITEO_INT + CRITEO_CAT


def read_criteo(path: str) -> FeatureTable:
    """Criteo display-ads TSV: label, 13 integer (I1..I13), 26 hashed categorical
    (C1..C26) columns, tab-separated, no header, empty = missing."""
    frame = read_csv_strings(path, delimiter="\t", column_names=CRITEO_COLUMNS)
    return table_from_strings(frame, source=path, label="label", positive_label=None,
                   numeric=CRITEO_INT, categorical=CRITEO_CAT, where=lambda i: f"line {i + 1}")
