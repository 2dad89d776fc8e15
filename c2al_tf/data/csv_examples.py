"""CSV files to ``tf.train.Example`` in Beam, streaming.

The conversion is TFX CsvExampleGen's own (TFX 1.16): the header names the
features; each column's type (int, float or string) is inferred over every row
of the split; a quoted cell may span lines; an empty cell is an empty feature;
blank lines are skipped. TFX computes the types from the parsed rows and then
converts the *same* parsed rows with the types as a side input, so a runner must
hold every parsed row until the type inference has seen the last one (Beam's
DirectRunner holds them in memory: CsvExampleGen's peak memory grows with the
rows). :func:`csv_to_examples` reads the files twice instead, once to infer the
types and once to convert, so nothing is held and memory stays flat; the second
read is split into byte ranges that convert in parallel (bench/README.md, "CSV
ingestion").

Used by the streaming ExampleGen executor (``components/example_gen``); any Beam
pipeline can use it.
"""
from __future__ import annotations

import os
from typing import List

import apache_beam as beam
from tfx_bsl.coders import csv_decoder


def _header(path: str) -> List[str]:
    from tfx.utils import io_utils  # TFX's own header reader (csv module, first line)

    return io_utils.load_csv_column_names(path)


def csv_files(pattern: str) -> List[str]:
    """The files matching ``pattern`` (any filesystem ``tf.io.gfile`` reads), sorted,
    checked to share one header. Raises ``RuntimeError`` as TFX's CsvExampleGen does."""
    import tensorflow as tf

    files = sorted(tf.io.gfile.glob(pattern))
    if not files:
        raise RuntimeError(f"Split pattern {pattern} does not match any files.")
    names = _header(files[0])
    for path in files[1:]:
        if _header(path) != names:
            raise RuntimeError(f"Files in same split {pattern} have different header: "
                               f"{os.path.basename(files[0])} and {os.path.basename(path)}.")
    return files


class _ToSerializedExample(beam.DoFn):
    """Parsed CSV cells -> a serialized tf.Example, TFX's conversion (``_ParsedCsvToTfExample``):
    an INT / FLOAT / STRING column gives an int64 / float / bytes list (empty for an empty
    cell), a column with no value in any row an empty feature. The features are set in
    place rather than built and copied, and the record is serialized deterministically
    (map keys sorted), the bytes TFX's split by hash fingerprints, so the splits are TFX's."""

    def __init__(self):
        self._columns = None

    def process(self, cells, column_infos):
        import tensorflow as tf

        if self._columns is None:
            lists = {csv_decoder.ColumnType.INT: "int64_list", csv_decoder.ColumnType.FLOAT: "float_list",
                     csv_decoder.ColumnType.STRING: "bytes_list"}
            parse = {"int64_list": int, "float_list": float, "bytes_list": lambda cell: cell}
            self._columns = [(info.name.decode() if isinstance(info.name, bytes) else info.name,
                              lists.get(info.type), parse.get(lists.get(info.type))) for info in column_infos]
            self._example = tf.train.Example
        if not cells:  # a blank line
            return
        if len(cells) != len(self._columns):
            raise ValueError(f"Invalid CSV line: {cells}")
        example = self._example()
        features = example.features.feature
        for cell, (name, kind, parse) in zip(cells, self._columns):
            feature = features[name]
            if kind is None:
                continue
            values = getattr(feature, kind)
            if cell:
                values.value.append(parse(cell))
            else:
                values.SetInParent()
        yield example.SerializeToString(deterministic=True)


class _TypeInferrer(csv_decoder.ColumnTypeInferrer):
    """tfx_bsl's ``ColumnTypeInferrer`` that stops looking at a column once it is a
    string (the top of the INT -> FLOAT -> STRING order): same types, fewer cells read."""

    def add_input(self, accumulator, cells):
        if not cells or len(cells) != len(self._column_names):
            return super().add_input(accumulator, cells)
        string = csv_decoder.ColumnType.STRING
        for name, cell in zip(self._column_names, cells):
            previous = accumulator.get(name)
            if previous == string:
                continue
            current = csv_decoder._InferValueType(cell)
            if previous is None or current > previous:
                accumulator[name] = current
        return accumulator


CHUNK_BYTES = 16 * 2**20  # a file's records are converted in ranges of about this many bytes
_BOUNDARIES = "boundaries"


class _ReadRecords(beam.DoFn):
    """``(path, start, end)`` -> the CSV records whose first line starts in bytes
    ``[start, end)`` of the file (``end`` None: to its end; ``start`` 0: after the
    header), a quoted cell spanning lines kept whole (TFX's line buffer). With
    ``chunk_bytes`` it also yields, tagged ``boundaries``, ``(path, offset)`` where a
    record starts about every ``chunk_bytes``. A record ends at a line where the count of
    ``"`` read since its start is even (TFX's CsvExampleGen's rule). Files are plain CSV,
    as TFX's CsvExampleGen reads them (its header reader opens them uncompressed)."""

    def __init__(self, chunk_bytes: int = 0):
        self._chunk = chunk_bytes

    def process(self, element):
        from apache_beam.io.filesystems import FileSystems

        path, start, end = element
        chunk = self._chunk  # 0: no boundaries (the second pass)
        with FileSystems.open(path) as file:
            if start == 0:
                offset = len(file.readline())  # the header
            else:
                file.seek(start)
                offset = start
            next_cut = offset + chunk
            record, quotes = [], 0  # the lines of the record being read, and their '"' count
            for line in file:
                if not record:  # a record starts here
                    if end is not None and offset >= end:
                        return
                    if chunk and offset >= next_cut:
                        yield beam.pvalue.TaggedOutput(_BOUNDARIES, (path, offset))
                        next_cut = offset + chunk
                offset += len(line)
                text = line.decode("utf-8")
                record.append(text)
                quotes += text.count('"')
                if quotes % 2 == 0:
                    yield "".join(record)
                    record, quotes = [], 0
            if record:
                raise ValueError(f"Csv record had unbalanced quotes. File: {path}")


def _ranges(item):
    """``(path, [boundary offsets, and -1 for the file itself])`` -> its byte ranges."""
    path, offsets = item
    cuts = sorted(o for o in offsets if o >= 0)
    starts = [0, *cuts]
    return [(path, a, b) for a, b in zip(starts, [*cuts, None])]


@beam.ptransform_fn
def csv_to_examples(pipeline: beam.Pipeline, pattern: str, chunk_bytes: int = CHUNK_BYTES) -> beam.PCollection:
    """Serialized ``tf.train.Example`` records from the CSV files matching ``pattern``.

    Two passes over the files. The first reads each file whole, in order (a quoted
    cell may span lines), infers the column types over every row and notes where a
    record starts about every ``chunk_bytes``. The second reads those byte ranges,
    each on whichever worker the runner gives it, and converts them with the types.
    Nothing is held between the passes but the types and the offsets.

    Args:
      pipeline: the Beam pipeline (a ``PBegin``).
      pattern: a file glob, e.g. ``gs://bucket/logs/*.csv``; every file starts with
        the same header line.
      chunk_bytes: bytes per range of the second pass (default :data:`CHUNK_BYTES`).

    Returns:
      A PCollection of serialized ``tf.train.Example`` (bytes, deterministic
      serialization), one per CSV record, equal to what TFX's CsvExampleGen
      produces from the same files.
    """
    if chunk_bytes <= 0:
        raise ValueError(f"chunk_bytes must be positive, got {chunk_bytes}")
    files = csv_files(pattern)
    names = _header(files[0])

    whole = pipeline | "Files" >> beam.Create([(f, 0, None) for f in files])
    first = whole | "ReadWhole" >> beam.ParDo(_ReadRecords(chunk_bytes)).with_outputs(_BOUNDARIES, main="records")
    column_types = beam.pvalue.AsSingleton(
        first.records
        | "InferParse" >> beam.ParDo(csv_decoder.ParseCSVLine(delimiter=","))
        | "InferCells" >> beam.Keys()
        | "InferColumnTypes" >> beam.CombineGlobally(_TypeInferrer(names, skip_blank_lines=True)))
    ranges = ((first[_BOUNDARIES], pipeline | "FileKeys" >> beam.Create([(f, -1) for f in files]))
              | "Offsets" >> beam.Flatten()
              | "ByFile" >> beam.GroupByKey()
              | "Ranges" >> beam.FlatMap(_ranges)
              | "Spread" >> beam.Reshuffle())
    return (ranges
            | "ReadRanges" >> beam.ParDo(_ReadRecords())
            | "Parse" >> beam.ParDo(csv_decoder.ParseCSVLine(delimiter=","))
            | "Cells" >> beam.Keys()
            | "ToTFExample" >> beam.ParDo(_ToSerializedExample(), column_types))
