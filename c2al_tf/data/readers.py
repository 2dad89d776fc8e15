"""Readers: CSV (file or directory), TFRecord of tf.Example, Criteo TSV, MovieLens.

Each returns a :class:`~c2al_tf.data.table.FeatureTable`. Feature types are
inferred: a column is numeric when every non-missing value parses as a number,
categorical when most of its distinct values do not. A column in between (mostly
numbers with a few words, e.g. ``"12", "7", "n/a?"``) is ambiguous and is
reported as an unparsable number; pass it in ``categorical=`` (``--categorical``)
to read it as categorical, or fix the value.

Bad input raises :class:`~c2al_tf.errors.C2ALInputError` with a one-line message
naming the file and the column or line at fault.
"""
from __future__ import annotations

import csv
import glob
import os
import re
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from c2al_tf.data.table import FeatureTable
from c2al_tf.errors import C2ALInputError
from c2al_tf.names import check_column_names, is_appended

# Values read as "missing" in numeric columns (and as "" in categorical ones).
MISSING_TOKENS = frozenset({"", "NA", "N/A", "NaN", "nan", "NAN", "null", "NULL", "None", "none"})

TFRECORD_PATTERNS = ("*.tfrecord", "*.tfrecords", "*.tfrecord.gz", "*.tfrecords.gz",
                     "*tfrecord-*", "*.tfr", "*.tfr.gz")
CSV_PATTERNS = ("*.csv", "*.csv.gz")

_OPS = {">=": np.greater_equal, "<=": np.less_equal, ">": np.greater, "<": np.less,
        "==": np.equal, "=": np.equal}


# --------------------------------------------------------------------------- labels

def parse_positive_label(spec: Optional[str]):
    """``--positive-label`` value -> ``(op, value)``.

    ``"click"`` or ``"=click"`` means equality; ``">=4"``, ``">4"``, ``"<=0"``,
    ``"<0"`` compare numerically (e.g. MovieLens ``--positive-label '>=4'``).
    """
    if spec is None:
        return None
    match = re.match(r"^(>=|<=|==|=|>|<)?(.*)$", spec.strip())
    op, value = match.group(1) or "==", match.group(2).strip()
    if value == "":
        raise C2ALInputError(f"positive_label '{spec}' names no value; e.g. positive_label 1 or '>=4'",
                             arguments=("positive_label",))
    if op not in ("=", "=="):
        try:
            float(value)
        except ValueError:
            raise C2ALInputError(f"positive_label '{spec}': '{value}' must be a number to compare with {op}",
                                 arguments=("positive_label",))
    return op, value


def binarize_label(raw: Sequence[str], *, source: str, label: str,
                   positive_label: Optional[str] = None,
                   where: Callable[[int], str] = lambda i: f"line {i + 2}") -> np.ndarray:
    """Raw label strings -> int64 0/1, or a one-line error naming file and line."""
    values = np.asarray(raw, dtype=object).astype(str)
    missing = np.isin(values, list(MISSING_TOKENS))
    if missing.any():
        i = int(np.argmax(missing))
        raise C2ALInputError(f"{source}: label column '{label}' is empty at {where(i)}")
    if positive_label is not None and positive_label.strip() in set(values.tolist()):
        return (values == positive_label.strip()).astype(np.int64)  # an exact label value wins (e.g. '>50K')
    rule = parse_positive_label(positive_label)
    if rule is None:
        numbers = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy()
        bad = ~np.isin(numbers, (0.0, 1.0))
        if bad.any():
            i = int(np.argmax(bad))
            raise C2ALInputError(
                f"{source}: label column '{label}' must be 0/1 but is '{values[i]}' at {where(i)}; "
                f"pass positive_label VALUE (e.g. '{values[i]}' or '>=4') to say which value is positive",
                    arguments=("positive_label",))
        return numbers.astype(np.int64)
    op, target = rule
    numbers = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy()
    if op in ("=", "=="):
        try:
            target_num = float(target)
        except ValueError:
            target_num = None
        if target_num is not None and not np.isnan(numbers).any():
            result = numbers == target_num
        else:
            result = values == target
    else:
        if np.isnan(numbers).any():
            i = int(np.argmax(np.isnan(numbers)))
            raise C2ALInputError(
                f"{source}: label column '{label}' has non-numeric value '{values[i]}' at {where(i)} "
                f"but positive_label '{op}{target}' compares numbers", arguments=("positive_label",))
        result = _OPS[op](numbers, float(target))
    if not result.any():
        raise C2ALInputError(
            f"{source}: no row of label column '{label}' matches positive_label '{positive_label}'",
                arguments=("positive_label",))
    return result.astype(np.int64)


# --------------------------------------------------------------------------- typing

def _type_columns(frame: pd.DataFrame, *, source: str, numeric: Iterable[str] = (),
                  categorical: Iterable[str] = (),
                  where: Callable[[int], str] = lambda i: f"line {i + 2}", may_be_absent: bool = False,
                  ) -> Tuple[pd.DataFrame, List[str], List[str], List[str], Dict[str, str]]:
    """String columns -> float64 (numeric) or str (categorical) columns, by the
    rule of :mod:`c2al_tf.data.column_types`; returns (frame, numeric, categorical,
    dual, reasons)."""
    from c2al_tf.data import column_types as typing_rule

    numeric, categorical = set(numeric), set(categorical)
    for name in numeric | categorical:
        if name not in frame.columns and not may_be_absent:
            raise C2ALInputError(f"{source}: column '{name}' named in numeric/categorical is not in the data; "
                                 f"columns are {', '.join(map(str, frame.columns))}",
                                     arguments=("numeric", "categorical"))
    out: Dict[str, pd.Series] = {}
    num_cols, cat_cols, dual, reasons = [], [], [], {}
    for name in frame.columns:
        col = frame[name].astype(str)
        is_missing = col.isin(MISSING_TOKENS).to_numpy()
        parsed = pd.to_numeric(col.where(~is_missing, None), errors="coerce")
        failed = parsed.isna().to_numpy() & ~is_missing
        if name in categorical:
            kind, reasons[name] = "categorical", "forced (--categorical)"
        elif name in numeric:
            kind, reasons[name] = "numeric", "forced (--numeric)"
        elif not failed.any():
            if not (~is_missing).any():
                kind, reasons[name] = "categorical", "every value missing"
            else:
                values = parsed.to_numpy(dtype=np.float64)
                if typing_rule.is_integer_valued(values):
                    kind, reasons[name] = typing_rule.integer_kind(name, col[~is_missing].to_numpy(),
                                                                   values[~np.isnan(values)])
                else:
                    kind, reasons[name] = "numeric", "real numbers"
        else:
            distinct = pd.unique(col[~is_missing])
            distinct_numbers = pd.to_numeric(pd.Series(distinct), errors="coerce").notna().mean()
            kind = "ambiguous" if distinct_numbers > 0.5 else "categorical"
            reasons[name] = "text"
            if kind == "ambiguous" and typing_rule.looks_like_id_name(name):
                kind, reasons[name] = "categorical", "code, mostly digits (by its name)"
        if kind in ("numeric", "ambiguous") and failed.any():
            i = int(np.argmax(failed))
            hint = (f"fix the value or pass --categorical {name}" if kind == "ambiguous"
                    else "fix the value or drop the column from --numeric")
            raise C2ALInputError(
                f"{source}: column '{name}' cannot parse '{col.iloc[i]}' as a number at {where(i)}; {hint}")
        if kind == "integer":
            dual.append(name)
            kind = "numeric"
        if kind in ("numeric", "ambiguous"):
            values = parsed.to_numpy(dtype=np.float64)
            if np.isinf(values).any():
                i = int(np.argmax(np.isinf(values)))
                raise C2ALInputError(f"{source}: column '{name}' has infinite value '{col.iloc[i]}' at {where(i)}")
            out[name] = pd.Series(values, name=name)
            num_cols.append(name)
        else:
            out[name] = col.where(~is_missing, "").reset_index(drop=True)
            cat_cols.append(name)
    return pd.DataFrame(out), num_cols, cat_cols, dual, reasons


def _finish(frame: pd.DataFrame, *, source: str, label: str, positive_label: Optional[str],
            numeric=(), categorical=(), drop=(), where=lambda i: f"line {i + 2}",
            forced_types_may_be_absent: bool = False) -> FeatureTable:
    if len(frame) == 0:
        raise C2ALInputError(f"{source}: has a header but no data rows")
    if label not in frame.columns:
        raise C2ALInputError(f"{source}: label column '{label}' not found; columns are "
                             f"{', '.join(map(str, frame.columns))}")
    y = binarize_label(frame[label].to_numpy(), source=source, label=label,
                       positive_label=positive_label, where=where)
    features = frame.drop(columns=[label] + [c for c in drop if c in frame.columns])
    numeric = [c for c in numeric if c not in set(drop)]
    categorical = [c for c in categorical if c not in set(drop)]
    if features.shape[1] == 0:
        raise C2ALInputError(f"{source}: no feature columns besides the label '{label}'")
    check_column_names([str(c) for c in features.columns], source)
    typed, num_cols, cat_cols, dual, reasons = _type_columns(features, source=source, numeric=numeric,
                                                             categorical=categorical, where=where,
                                                             may_be_absent=forced_types_may_be_absent)
    return FeatureTable(typed, y, label, num_cols, cat_cols, source, dual=dual, reasons=reasons)


def table_from_frame(frame: pd.DataFrame, label: str, positive_label: Optional[str] = None,
                     source: str = "<frame>", **typing) -> FeatureTable:
    """An in-memory DataFrame (e.g. from the synthetic generator) typed exactly as a
    CSV with the same content would be."""
    return _finish(frame.astype(str), source=source, label=label, positive_label=positive_label, **typing)


# --------------------------------------------------------------------------- CSV

def read_csv_strings(path: str, *, delimiter: str = ",", column_names: Optional[List[str]] = None
                     ) -> pd.DataFrame:
    """Reads a delimited file as all-string columns, refusing ragged rows."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if os.path.getsize(path) == 0:
        raise C2ALInputError(f"{path}: file is empty")
    gzipped = _is_gzip(path)
    if path.endswith(".gz") and not gzipped:
        raise C2ALInputError(f"{path}: named .gz but not gzip-compressed (plain text?); rename it without .gz")
    if column_names is None:
        opener = __import__("gzip").open if gzipped else open
        try:  # utf-8-sig: a byte-order mark is not part of the first column's name
            with opener(path, "rt", newline="", encoding="utf-8-sig", errors="replace") as f:
                header = next(csv.reader(f, delimiter=delimiter), None)
        except (OSError, EOFError) as e:
            raise C2ALInputError(f"{path}: truncated or corrupt gzip data ({e})")
        if not header or all(not h.strip() for h in header):
            raise C2ALInputError(f"{path}: file is empty (no header line)")
        names = [h.strip() for h in header]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise C2ALInputError(f"{path}: header repeats column '{dupes[0]}'")
        if "" in names:
            raise C2ALInputError(f"{path}: header has an empty column name at position {names.index('') + 1}")
    else:
        names = list(column_names)

    bad_rows: list = []

    def on_invalid(row):
        bad_rows.append(row)
        return "skip"

    import sys

    unraisable = []  # pyarrow decodes a bad row's text before our handler sees it; a UnicodeDecodeError
    previous_hook = sys.unraisablehook  # there would print "Exception ignored ..." before the one-line error
    sys.unraisablehook = unraisable.append
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=False, column_names=names,
                                           skip_rows=0 if column_names is not None else 1,
                                           block_size=1 << 24),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid,
                                             newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False))
    except pa.ArrowInvalid as e:
        first = str(e).splitlines()[0]
        m = re.search(r"column #(\d+)", first)
        column = names[int(m.group(1))] if m and int(m.group(1)) < len(names) else None
        if "UTF8" in first or "UTF-8" in first or _decode_errors(unraisable):
            where = f"column '{column}'" if column else "a column"
            raise C2ALInputError(f"{path}: {where} is not valid UTF-8; {_reencode_hint(path)}")
        if gzipped and ("gzip" in first.lower() or "inflate" in first.lower() or "truncat" in first.lower()):
            raise C2ALInputError(f"{path}: truncated or corrupt gzip data ({first})")
        raise C2ALInputError(f"{path}: cannot parse as delimited text"
                             f"{f' (column {column!r})' if column else ''}: {first}")
    except (OSError, EOFError) as e:  # zlib errors surface as IOError
        if gzipped:
            raise C2ALInputError(f"{path}: truncated or corrupt gzip data ({str(e).splitlines()[0]})")
        raise C2ALInputError(f"{path}: cannot read ({str(e).splitlines()[0]})")
    finally:
        sys.unraisablehook = previous_hook
    if _decode_errors(unraisable):
        raise C2ALInputError(f"{path}: a row is not valid UTF-8; {_reencode_hint(path)}")
    if bad_rows:
        row = bad_rows[0]
        raise C2ALInputError(f"{path}: line {row.number} has {row.actual_columns} fields, expected "
                             f"{row.expected_columns} (ragged row)")
    return table.to_pandas()


def _decode_errors(unraisable) -> bool:
    return any(isinstance(u.exc_value, UnicodeDecodeError) for u in unraisable)


def _reencode_hint(path: str) -> str:
    """How to re-encode a file that is not UTF-8, naming its likely encoding:
    Windows-1252 when its first undecodable bytes are printable there, latin-1
    otherwise (binary data: not text at all)."""
    opener = __import__("gzip").open if _is_gzip(path) else open
    with opener(path, "rb") as f:
        head = f.read(1 << 24)
    try:
        head.decode("utf-8")
        return "re-encode it as UTF-8"
    except UnicodeDecodeError as e:
        del e
    if b"\x00" in head[:4096]:
        return "it looks like binary data, not delimited text"
    name = os.path.basename(path)
    high = [b for b in head if b >= 0x80]
    try:  # bytes 0x80-0x9F are printable only in Windows-1252 (quotes, dashes, euro); latin-1 has controls there
        if any(0x80 <= b <= 0x9F for b in high) and bytes(high).decode("cp1252"):
            return f"it looks like Windows-1252 text; re-encode it, e.g. iconv -f cp1252 -t utf-8 {name} > fixed.csv"
    except UnicodeDecodeError:
        pass
    return (f"it looks like latin-1 (ISO-8859-1) text; re-encode it, e.g. iconv -f latin1 -t utf-8 {name} > "
            f"fixed.csv")


def _is_gzip(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def read_csv(path: str, label: str, positive_label: Optional[str] = None, **typing) -> FeatureTable:
    """A CSV file with a header line. ``typing``: numeric=, categorical=, drop= (see
    :func:`read_table`)."""
    frame = read_csv_strings(path)
    return _finish(frame, source=path, label=label, positive_label=positive_label, **typing)


def read_csv_dir(path: str, label: str, positive_label: Optional[str] = None, **typing) -> FeatureTable:
    """Every ``*.csv`` under a directory (recursively), all with the same header."""
    files = find_files(path, CSV_PATTERNS)
    if not files:
        raise C2ALInputError(f"{path}: directory holds no *.csv files")
    frames, origins = [], []
    for f in files:
        frame = read_csv_strings(f)
        if frames and list(frame.columns) != list(frames[0].columns):
            raise C2ALInputError(f"{f}: header {list(frame.columns)} differs from {files[0]}'s "
                                 f"{list(frames[0].columns)}")
        frames.append(frame)
        origins.extend((f, i) for i in range(len(frame)))
    frame = pd.concat(frames, ignore_index=True)

    def where(i):
        return f"{origins[i][0]} line {origins[i][1] + 2}"

    return _finish(frame, source=path, label=label, positive_label=positive_label, where=where, **typing)


# --------------------------------------------------------------------------- TFRecord

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
    return _finish(frame, source=path, label=label, positive_label=positive_label,
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


# --------------------------------------------------------------------------- Criteo

CRITEO_INT = [f"I{i}" for i in range(1, 14)]
CRITEO_CAT = [f"C{i}" for i in range(1, 27)]
CRITEO_COLUMNS = ["label"] + CRITEO_INT + CRITEO_CAT


def read_criteo(path: str) -> FeatureTable:
    """Criteo display-ads TSV: label, 13 integer (I1..I13), 26 hashed categorical
    (C1..C26) columns, tab-separated, no header, empty = missing."""
    frame = read_csv_strings(path, delimiter="\t", column_names=CRITEO_COLUMNS)
    return _finish(frame, source=path, label="label", positive_label=None,
                   numeric=CRITEO_INT, categorical=CRITEO_CAT, where=lambda i: f"line {i + 1}")


# --------------------------------------------------------------------------- MovieLens

def _read_atomic(path: str) -> pd.DataFrame:
    if not os.path.exists(path):
        raise C2ALInputError(f"{path}: file not found")
    frame = read_csv_strings(path, delimiter="\t")
    frame.columns = [c.split(":")[0] for c in frame.columns]
    return frame


def movielens_frame(directory: str) -> pd.DataFrame:
    """RecBole atomic files (``*.inter`` joined with ``*.user`` and ``*.item``) as
    one string DataFrame: user_id, item_id, rating, timestamp, age, gender,
    occupation, zip_code, release_year (non-numeric years become missing), genre
    (first genre of ``class``)."""
    inter = glob.glob(os.path.join(directory, "*.inter"))
    if not inter:
        raise C2ALInputError(f"{directory}: no RecBole *.inter file (MovieLens in RecBole atomic files, e.g. ml-100k.inter)")
    stem = inter[0][: -len(".inter")]
    frame = _read_atomic(inter[0])
    if os.path.exists(stem + ".user"):
        frame = frame.merge(_read_atomic(stem + ".user"), on="user_id", how="left")
    if os.path.exists(stem + ".item"):
        items = _read_atomic(stem + ".item")
        if "class" in items.columns:
            items["genre"] = items["class"].str.split(" ").str[0]
        if "release_year" in items.columns:  # ML-100K spells a missing year 'unkonwn'
            items["release_year"] = items["release_year"].where(items["release_year"].str.isdigit(), "")
        items = items.drop(columns=[c for c in ("movie_title", "class") if c in items.columns])
        frame = frame.merge(items, on="item_id", how="left")
    return frame.fillna("")


def read_movielens(directory: str, positive_label: str = ">=4") -> FeatureTable:
    """MovieLens in RecBole's atomic format; label ``rating`` binarized as
    ``rating >= 4``. ``user_id``, ``item_id``, ``gender``, ``occupation``,
    ``zip_code``, ``genre`` are categorical; ``age``, ``release_year`` and
    ``timestamp`` numeric."""
    frame = movielens_frame(directory)
    return _finish(frame, source=directory, label="rating", positive_label=positive_label,
                   categorical=[c for c in ("user_id", "item_id", "gender", "occupation", "zip_code", "genre")
                                if c in frame.columns])


# --------------------------------------------------------------------------- dispatch

def find_files(path: str, patterns: Sequence[str]) -> List[str]:
    """The files under the directory ``path`` (recursively) matching any of ``patterns``, sorted."""
    found = set()
    for pattern in patterns:
        found.update(glob.glob(os.path.join(path, "**", pattern), recursive=True))
    return sorted(f for f in found if os.path.isfile(f))


def detect_format(path: str) -> str:
    """``csv``, ``csv_dir``, ``tfrecord``, ``movielens`` or a C2ALInputError."""
    if not os.path.exists(path):
        raise C2ALInputError(f"{path}: no such file or directory")
    if os.path.isdir(path):
        if glob.glob(os.path.join(path, "*.inter")):
            return "movielens"
        if find_files(path, CSV_PATTERNS):
            return "csv_dir"
        if find_files(path, TFRECORD_PATTERNS):
            return "tfrecord"
        raise C2ALInputError(f"{path}: directory holds no *.csv, TFRecord or RecBole *.inter files")
    name = os.path.basename(path).lower()
    if any(s in name for s in (".tfrecord", ".tfr")) or "tfrecord-" in name:
        return "tfrecord"
    if os.path.getsize(path) == 0:
        raise C2ALInputError(f"{path}: file is empty")
    with open(path, "rb") as f:
        head = f.read(64)
    if name.endswith((".csv.gz", ".csv")):
        return "csv"
    if head[:2] == b"\x1f\x8b":
        return "tfrecord"
    if b"\x00" in head[:12]:
        return "tfrecord"
    return "csv"


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
    return _finish(frame, source=path, label=label, positive_label=positive_label, **typing)
