"""FeatureTable <-> serialized ``tf.Example`` (via tfx_bsl's C++ encoder)."""
from __future__ import annotations

import os
from typing import Dict, List, Optional

import numpy as np
import pyarrow as pa

from c2al_tf.data.table import FeatureTable


def _arrow_column(values, dtype: str, numeric: bool) -> pa.Array:
    if numeric:
        v = np.asarray(values, dtype=np.float64)
        missing = np.isnan(v)
        numpy_type = {"int64": np.int64, "float64": np.float64}.get(dtype, np.float32)
        flat = pa.array(np.where(missing, 0, v).astype(numpy_type))
    else:
        s = np.asarray(values, dtype=object)
        missing = s == ""
        flat = pa.array([int(x) for x in np.where(missing, "0", s)], type=pa.int64()) if dtype == "int64" \
            else pa.array(s.astype(str)).cast(pa.binary())
    offsets = np.arange(len(flat) + 1, dtype=np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), flat, mask=pa.array(missing))


def table_to_examples(table: FeatureTable, dtypes: Optional[Dict[str, str]] = None,
                      include_label: bool = True, extra: Optional[Dict[str, np.ndarray]] = None) -> List[bytes]:
    """Serialized tf.Examples, one per row; missing values become empty features.

    ``dtypes`` (feature -> int64 / float32 / string) defaults to
    :meth:`FeatureTable.example_dtypes`; ``extra`` adds int64 columns (e.g. aux labels).
    """
    from tfx_bsl.coders import example_coder

    return example_coder.RecordBatchToExamples(table_to_record_batch(table, dtypes, include_label, extra))


def table_to_record_batch(table: FeatureTable, dtypes: Optional[Dict[str, str]] = None, include_label: bool = True,
                          extra: Optional[Dict[str, np.ndarray]] = None, start: int = 0,
                          stop: Optional[int] = None) -> pa.RecordBatch:
    """Rows ``start:stop`` as an Arrow RecordBatch of list columns (as TFXIO makes
    them): ``dtypes`` as in :func:`table_to_examples`, label and ``extra`` as int64."""
    dtypes = dtypes or table.example_dtypes()
    arrays, names = [], []
    for name in table.features.columns:
        arrays.append(_arrow_column(table.features[name].to_numpy()[start:stop], dtypes.get(name, "string"),
                                    name in table.numeric))
        names.append(name)
    columns = dict(extra or {})
    if include_label:
        columns[table.label_name] = table.label
    for name, values in columns.items():
        arrays.append(_arrow_column(np.asarray(values, dtype=np.float64)[start:stop], "int64", True))
        names.append(name)
    return pa.RecordBatch.from_arrays(arrays, names)


def write_tfrecord(table: FeatureTable, path: str, gzip: bool = True, **kwargs) -> str:
    """Writes the table as a TFRecord file of tf.Example (atomically)."""
    import c2al_tf  # noqa: F401
    import tensorflow as tf

    parent = os.path.dirname(path)
    if parent:
        tf.io.gfile.makedirs(parent)
    tmp = f"{path}.tmp{os.getpid()}"
    with tf.io.TFRecordWriter(tmp, tf.io.TFRecordOptions(compression_type="GZIP" if gzip else "")) as w:
        for record in table_to_examples(table, **kwargs):
            w.write(record)
    tf.io.gfile.rename(tmp, path, overwrite=True)  # tf.io.gfile: remote paths too
    return path
