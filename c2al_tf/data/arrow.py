"""Arrow helpers for TFXIO-style RecordBatches (one list column per feature)."""
from __future__ import annotations

from typing import Dict, Iterable, Tuple

import numpy as np
import pyarrow as pa


def first_values(column) -> Tuple[np.ndarray, np.ndarray]:
    """First value of each row of a (possibly list) Arrow array, and a presence mask."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        lengths = np.asarray(column.value_lengths().fill_null(0), dtype=np.int64)
        present = lengths > 0
        flat = column.flatten().to_numpy(zero_copy_only=False)
        picked = np.empty(len(column), dtype=object)
        start = np.cumsum(np.r_[0, lengths[:-1]]) if len(lengths) else lengths
        picked[present] = flat[start[present]]
        return picked, present
    return column.to_numpy(zero_copy_only=False), ~np.asarray(column.is_null())


def predicate_columns(batch: pa.RecordBatch, features: Iterable[str]) -> Dict[str, np.ndarray]:
    """Columns as :func:`c2al_tf.cohorts.spec.predicate_mask` reads them: float64
    (NaN = missing) for numeric columns, str ("" = missing) for bytes/strings."""
    names = batch.schema.names
    out = {}
    for name in features:
        if name not in names:
            out[name] = np.full(batch.num_rows, np.nan)
            continue
        column = batch.column(names.index(name))
        values, present = first_values(column)
        value_type = column.type.value_type if hasattr(column.type, "value_type") else column.type
        if pa.types.is_binary(value_type) or pa.types.is_string(value_type) or pa.types.is_large_binary(value_type):
            out[name] = np.array([(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)) if p else ""
                                  for v, p in zip(values, present)], dtype=object)
        else:
            out[name] = np.where(present, np.array([v if p else 0 for v, p in zip(values, present)], dtype=np.float64),
                                 np.nan)
    return out
