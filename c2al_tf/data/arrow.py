"""Arrow helpers for TFXIO-style RecordBatches (one list column per feature)."""
from __future__ import annotations

from typing import Dict, Iterable, Tuple

import numpy as np
import pyarrow as pa


def first_values(column) -> Tuple[np.ndarray, np.ndarray]:
    """First value of each row of a (possibly list) Arrow array, and a presence mask.

    Numeric columns come back as float64 (NaN where missing), others as an object
    array (None where missing); vectorized, no per-row Python.
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        lengths = np.asarray(column.value_lengths().fill_null(0), dtype=np.int64)
        present = lengths > 0
        flat_array = column.flatten()
        start = np.cumsum(np.r_[0, lengths[:-1]]) if len(lengths) else lengths
        taken = flat_array.take(pa.array(start[present])) if present.any() else flat_array.slice(0, 0)
        return _spread(taken, present), present
    present = ~np.asarray(column.is_null())
    return _spread(column.filter(pa.array(present)), present), present


def _spread(values: pa.Array, present: np.ndarray) -> np.ndarray:
    """Values of the present rows -> a full-length array (NaN / None elsewhere)."""
    if pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
        out = np.full(len(present), np.nan)
        out[present] = values.to_numpy(zero_copy_only=False).astype(np.float64)
        return out
    out = np.empty(len(present), dtype=object)
    out[present] = values.to_numpy(zero_copy_only=False)
    return out


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
            out[name] = values  # float64, NaN where missing
    return out


def batch_labels(batch, label: str) -> np.ndarray:
    """The 0/1 label of an Arrow RecordBatch (int64), or a C2ALInputError naming it."""
    from c2al_tf.errors import C2ALInputError

    names = batch.schema.names
    if label not in names:
        raise C2ALInputError(f"label '{label}' is not a feature of the examples; features are {', '.join(names)}")
    values, present = first_values(batch.column(names.index(label)))
    if not present.all():
        raise C2ALInputError(f"label '{label}' is missing in {int((~present).sum())} example(s)")
    try:
        y = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise C2ALInputError(f"label '{label}' must be 0/1 but holds non-numeric values")
    if not np.isin(y, (0.0, 1.0)).all():
        bad = y[~np.isin(y, (0.0, 1.0))][0]
        raise C2ALInputError(f"label '{label}' must be 0/1 but has value {bad:g}")
    return y.astype(np.int64)
