"""Serialized ``tf.Example`` records on Beam, a batch at a time.

Beam's TFRecord source and sink (and TFXIO's raw-record source, built on them)
handle one record per Python call: framing, CRC and (de)compression buffering
cost about 10 us a record, and tfx_bsl's Example decoder another ~10 us. The
CohortMiner reads its input twice (mining, labeling) and writes it once, so it
moves *batches* instead:

* :class:`ReadRecordBatches`: file pattern -> ``PCollection[list[bytes]]``; the
  pattern is matched at run time (Beam ``fileio.MatchFiles``, any Beam
  filesystem), files are spread over workers (``Reshuffle``) and each is read by
  TensorFlow's C++ TFRecord reader (``tf.data.TFRecordDataset``; GZIP/ZLIB by
  suffix) in batches of ``batch_size`` records. A file is the unit of
  parallelism, as it is for Beam's own source on compressed files.
* :class:`WriteRecordBatches`: ``PCollection[list[bytes]]`` -> TFRecord shards
  through Beam's ``FileBasedSink`` (temporary files renamed on finalize, so a
  failed or retried bundle leaves no partial output; compression by suffix as
  ``WriteToTFRecord``). A batch is framed at once (:func:`frame_records`) and
  handed to the compressor in one write.
* :func:`records_to_record_batch`: ``list[bytes]`` -> Arrow RecordBatch in
  TFXIO's layout (one ``large_list`` column per feature, empty list where the
  feature is absent), parsed by ``tf.io.parse_example`` for only the features
  asked for.
"""
from __future__ import annotations

import re
import struct
from typing import Dict, List, Mapping, Optional

import apache_beam as beam
import pyarrow as pa
from apache_beam import coders
from apache_beam.io import filebasedsink

from c2al_tf.errors import C2ALInputError

# tensorflow_metadata FeatureType values (schema_pb2.INT / FLOAT / BYTES)
INT, FLOAT, BYTES = 2, 3, 1


def _tf_message(error) -> str:
    """First line of a TensorFlow error without its ``{{function_node ...}}`` prefix."""
    text = re.sub(r"\{\{[^}]*\}\}\s*", "", str(getattr(error, "message", error)))
    text = re.sub(r"\s*\[Op:[^\]]*\].*", "", text).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _compression(path: str) -> str:
    lower = path.lower()
    if lower.endswith(".gz") or lower.endswith(".gzip"):
        return "GZIP"
    if lower.endswith(".zz") or lower.endswith(".zlib"):
        return "ZLIB"
    return ""


class _ReadFile(beam.DoFn):
    def __init__(self, batch_size: int):
        self.batch_size = batch_size

    def process(self, path: str):
        import c2al_tf  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
        import tensorflow as tf

        dataset = tf.data.TFRecordDataset(path, compression_type=_compression(path), buffer_size=1 << 22)
        try:
            for batch in dataset.batch(self.batch_size).prefetch(1).as_numpy_iterator():
                yield batch.tolist()
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as e:
            raise C2ALInputError(f"{path}: corrupt TFRecord data ({_tf_message(e)})") from None


class ReadRecordBatches(beam.PTransform):
    """``pipeline | ReadRecordBatches(pattern)`` -> ``PCollection[list[bytes]]``."""

    def __init__(self, file_pattern: str, batch_size: int = 10_000):
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.file_pattern, self.batch_size = file_pattern, batch_size

    def expand(self, pbegin):
        from apache_beam.io import fileio

        return (pbegin
                | "Match" >> fileio.MatchFiles(self.file_pattern)
                | "Paths" >> beam.Map(lambda metadata: metadata.path)
                | "Spread" >> beam.Reshuffle()
                | "Read" >> beam.ParDo(_ReadFile(self.batch_size)))


def _masked_crc(data: bytes, crc32c) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def frame_records(records: List[bytes]) -> bytes:
    """TFRecord framing of a batch: per record ``uint64 length, uint32 masked
    crc32c(length), data, uint32 masked crc32c(data)`` (little-endian), as
    ``tf.io.TFRecordWriter`` writes it."""
    import google_crc32c

    crc32c = google_crc32c.value
    pack_q, pack_i = struct.Struct("<Q").pack, struct.Struct("<I").pack
    header_crc: Dict[int, bytes] = {}
    parts = []
    append = parts.append
    for record in records:
        n = len(record)
        head = header_crc.get(n)
        if head is None:
            length = pack_q(n)
            head = header_crc[n] = length + pack_i(_masked_crc(length, crc32c))
        append(head)
        append(record)
        append(pack_i(_masked_crc(record, crc32c)))
    return b"".join(parts)


class _TFRecordBatchSink(filebasedsink.FileBasedSink):
    """Beam FileBasedSink whose elements are batches (lists) of serialized records."""

    def __init__(self, file_path_prefix, file_name_suffix, num_shards, shard_name_template):
        super().__init__(file_path_prefix, coder=coders.BytesCoder(), file_name_suffix=file_name_suffix,
                         num_shards=num_shards, shard_name_template=shard_name_template)

    def write_record(self, file_handle, value):
        file_handle.write(frame_records(value))


class WriteRecordBatches(beam.PTransform):
    """``batches | WriteRecordBatches(prefix, ".gz")``: TFRecord shards named like
    ``WriteToTFRecord``'s (``prefix-SSSSS-of-NNNNN.gz``)."""

    def __init__(self, file_path_prefix: str, file_name_suffix: str = ".gz", num_shards: int = 0,
                 shard_name_template: Optional[str] = None):
        super().__init__()
        self.args = (file_path_prefix, file_name_suffix, num_shards, shard_name_template)

    def expand(self, batches):
        return batches | "Write" >> beam.io.Write(_TFRecordBatchSink(*self.args))


_TF_DTYPES = {INT: "int64", FLOAT: "float32", BYTES: "string"}
_KEY = re.compile(r"Key: ([^\s,.]+)")


def records_to_record_batch(records: List[bytes], features: Mapping[str, int]) -> pa.RecordBatch:
    """Parses ``features`` (name -> schema FeatureType INT / FLOAT / BYTES) out of
    serialized tf.Examples into an Arrow RecordBatch of ``large_list`` columns
    (TFXIO's layout); a record without the feature gets an empty list. A value
    of another type than the schema's raises a C2ALInputError naming the feature."""
    import c2al_tf  # noqa: F401
    import numpy as np
    import tensorflow as tf

    names = sorted(features)
    unknown = [n for n in names if features[n] not in _TF_DTYPES]
    if unknown:
        raise C2ALInputError(f"feature '{unknown[0]}' has no INT/FLOAT/BYTES type in the schema")
    spec = {n: tf.io.RaggedFeature(tf.as_dtype(_TF_DTYPES[features[n]]), row_splits_dtype=tf.int64) for n in names}
    try:
        parsed = tf.io.parse_example(tf.constant(records, dtype=tf.string), spec)
    except tf.errors.InvalidArgumentError as e:
        message = _tf_message(e)
        key = _KEY.search(message)
        where = f"feature '{key.group(1)}'" if key else "records"
        raise C2ALInputError(f"{where} does not match the schema's type ({message})") from None
    arrays = []
    for n in names:
        ragged = parsed[n]
        values = ragged.flat_values.numpy()
        if features[n] == BYTES:
            flat = pa.array(values.tolist(), type=pa.large_binary())
        else:
            flat = pa.array(values)
        offsets = pa.array(np.asarray(ragged.row_splits.numpy(), dtype=np.int64))
        arrays.append(pa.LargeListArray.from_arrays(offsets, flat))
    return pa.RecordBatch.from_arrays(arrays, names)


def sample_records(records: List[bytes], rate: float) -> List[bytes]:
    """The records whose content hash (:func:`c2al_tf.data.content_hash.content_buckets`)
    falls below ``rate`` of its range (:mod:`c2al_tf.data.sampling`): a uniform sample
    that is the same on every runner and in every run, however the records are
    partitioned and in whatever order their features were serialized."""
    if rate >= 1.0:
        return list(records)
    from c2al_tf.data.content_hash import content_buckets
    from c2al_tf.data.sampling import HASH_BITS, keep

    kept = keep(content_buckets(list(records), 2 ** HASH_BITS).numpy(), rate)
    return [r for r, k in zip(records, kept) if k]
