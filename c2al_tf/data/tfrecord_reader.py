"""TFRecord files of tf.Example, read into a typed table."""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Tuple

import numpy as np
import pandas as pd

from c2al_tf.data.files import TFRECORD_PATTERNS, find_files
from c2al_tf.data.frames import table_from_strings
from c2al_tf.data.table import FeatureTable
from c2al_tf.errors import C2ALInputError
from c2al_tf.names import is_appended


def read_tfrecord(path, label: str, positive_label: Optional[str] = None, *,
                  numeric=(), categorical=(), max_rows: Optional[int] = None, **typing) -> FeatureTable:
    """TFRecord file(s) of ``tf.Example`` (GZIP when the name ends in ``.gz``):
    a file, a directory, or a list of files; at most ``max_rows`` examples.

    ``float_list`` features are numeric, ``bytes_list`` ones categorical and
    ``int64_list`` ones follow :mod:`c2al_tf.data.column_types` (ids vs
    quantities). Features with more than one value in some example are skipped
    with a warning (this reader builds a flat table). The features the CohortMiner
    appends (``aux__*``, ``c2al_cohorts``) are targets, never inputs: they are left out.
    """
    import c2al_tf  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
    import tensorflow as tf

    if isinstance(path, (list, tuple)):
        files, path = list(path), os.path.dirname(path[0]) if path else ""
    elif "://" in str(path):  # gs://, s3://, ram://...: TensorFlow's filesystems
        files = ([path] if not tf.io.gfile.isdir(path) else
                 sorted({f for p in TFRECORD_PATTERNS for f in tf.io.gfile.glob(f"{path.rstrip('/')}/{p}")}))
    else:
        files = [path] if os.path.isfile(path) else find_files(path, TFRECORD_PATTERNS)
    if not files:
        raise C2ALInputError(f"{path}: no TFRecord files found")
    import pyarrow as pa
    from tfx_bsl.coders import example_coder

    from c2al_tf.data.arrow import first_values

    decoder = example_coder.ExamplesToRecordBatchDecoder()
    parts: List[pd.DataFrame] = []
    kinds: Dict[str, str] = {}
    multi: set = set()
    origins: List[Tuple[str, int]] = []
    n = 0
    for f in files:
        if max_rows is not None and n >= max_rows:
            break
        if tf.io.gfile.stat(f).length == 0:  # tf.io.gfile: the Trainer reads remote artifacts
            raise C2ALInputError(f"{f}: file is empty")
        compression = "GZIP" if f.endswith(".gz") else ""
        start = 0
        try:
            batches = tf.data.TFRecordDataset(f, compression_type=compression).batch(20_000)
            for records in batches.as_numpy_iterator():
                if max_rows is not None:
                    records = records[: max_rows - n]
                if start == 0 and len(records):
                    _refuse_sequence_example(f, records[0])
                try:
                    batch = decoder.DecodeBatch(list(records))
                except Exception:
                    raise C2ALInputError(f"{f}: records {start + 1}..{start + len(records)} are not serialized "
                                         f"tf.Examples (or a feature changes type between examples)")
                columns = {}
                for name, column in zip(batch.schema.names, batch.columns):
                    value_type = column.type.value_type if hasattr(column.type, "value_type") else column.type
                    kind = "bytes_list" if (pa.types.is_binary(value_type) or pa.types.is_large_binary(value_type)
                                            or pa.types.is_string(value_type)) else \
                        "int64_list" if pa.types.is_integer(value_type) else \
                        "float_list" if pa.types.is_floating(value_type) else None
                    if kind is None:  # a feature with no value anywhere in this batch
                        continue
                    if kinds.setdefault(name, kind) != kind:
                        raise C2ALInputError(f"{f}: feature '{name}' is {kind} near record {start + 1} but "
                                             f"{kinds[name]} earlier")
                    if (np.asarray(column.value_lengths().fill_null(0)) > 1).any():
                        multi.add(name)
                    values, present = first_values(column)
                    if kind == "bytes_list":
                        text = [v.decode("utf-8", "replace") if p else "" for v, p in zip(values, present)]
                    elif kind == "int64_list":
                        text = [str(int(v)) if p else "" for v, p in zip(values, present)]
                    else:
                        text = [repr(float(v)) if p else "" for v, p in zip(values, present)]
                    columns[name] = text
                parts.append(pd.DataFrame(columns, index=range(n, n + len(records))))
                origins.extend((f, start + i) for i in range(len(records)))
                n += len(records)
                start += len(records)
                if max_rows is not None and n >= max_rows:
                    break
        except tf.errors.DataLossError:
            raise C2ALInputError(f"{f}: corrupt or not a TFRecord file (compression "
                                 f"{compression or 'none'})")
    if n == 0:
        raise C2ALInputError(f"{path}: TFRecord holds no examples")
    frame = pd.concat(parts).reindex(range(n)).fillna("") if len(parts) > 1 else parts[0]
    # the CohortMiner's targets (aux__*, c2al_cohorts) in its output Examples: never model inputs
    frame = frame.drop(columns=[k for k in frame.columns if k != label and is_appended(k)])
    multi = {k for k in multi if not is_appended(k)}
    for key in sorted(multi - {label}):
        print(f"c2al: warning: {path}: feature '{key}' has several values per example; skipped")
        frame = frame.drop(columns=[key])
    if label in multi:
        raise C2ALInputError(f"{path}: label feature '{label}' has several values in one example")
    present = [k for k in kinds if k in frame.columns and k != label]
    categorical = set(categorical) | {k for k in present if kinds[k] == "bytes_list"}
    # float_list features are numeric; int64_list ones follow the typing rule (ids vs quantities)
    numeric = (set(numeric) | {k for k in present if kinds[k] == "float_list"}) - categorical
    return table_from_strings(frame, source=path, label=label, positive_label=positive_label,
                   numeric=numeric - categorical, categorical=categorical,
                   where=lambda i: f"{origins[i][0]} record {origins[i][1] + 1}", **typing)


def _refuse_sequence_example(path: str, record: bytes) -> None:
    """A ``tf.SequenceExample`` parses as a ``tf.Example`` holding only its context
    features; refuse it rather than silently dropping every feature list."""
    import tensorflow as tf

    try:
        seq = tf.train.SequenceExample.FromString(record)
    except Exception:  # not a SequenceExample: the Example decoder reports it
        return
    lists = sorted(seq.feature_lists.feature_list)
    if lists:
        raise C2ALInputError(f"{path}: records are tf.SequenceExamples (feature lists {', '.join(lists[:3])}); c2al "
                             f"reads flat tf.Examples: flatten the sequences into per-example features first")
