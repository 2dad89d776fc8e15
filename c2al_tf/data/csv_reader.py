"""CSV: a file (optionally gzipped) or a directory of CSVs, read as strings, then typed."""
from __future__ import annotations

import csv
import os
import re
from typing import List, Optional

import pandas as pd

from c2al_tf.data.files import CSV_PATTERNS, find_files
from c2al_tf.data.frames import table_from_strings
from c2al_tf.data.table import FeatureTable
from c2al_tf.errors import C2ALInputError


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
    return table_from_strings(frame, source=path, label=label, positive_label=positive_label, **typing)


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

    return table_from_strings(frame, source=path, label=label, positive_label=positive_label, where=where, **typing)
