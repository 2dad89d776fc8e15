"""A hash of a serialized ``tf.Example``'s *content*, for splits and samples that must
be the same in every run, trainer and worker.

Hashing the serialized bytes is not enough: a ``tf.Example``'s features are a
protobuf map, and map entries are serialized in no fixed order (Python's
protobuf writes them in insertion order, and the same CSV row written by two
CsvExampleGen runs comes out as different bytes). The CohortMiner also appends
its auxiliary labels to each record, so the bytes a baseline trainer reads from
ExampleGen differ from those the C2AL trainer reads from the miner.

:func:`content_buckets` therefore hashes each feature entry (its name and value,
serialized on its own, which is deterministic) and sums the entries' hashes, a
sum being independent of their order::

    bucket(x) = (sum over entries e of x not ignored: Fingerprint64(e) mod 2^48) mod buckets

Entries whose name matches ``ignore`` (a RE2 pattern, e.g. the auxiliary targets)
are left out. Records made by concatenating serialized Examples (protobuf merges
them, as the CohortMiner's labeling does) count the entries of every part. Runs
inside TensorFlow (``tf.io.decode_proto``), so it works in a ``tf.data`` pipeline
and, eagerly, on a batch of records in a Beam DoFn.
"""
from __future__ import annotations

from typing import Optional

ENTRY_BITS = 48  # per-entry hashes below 2^48: a sum of up to 2^15 entries fits in int64
_DESCRIPTOR: Optional[bytes] = None


def _field1_descriptor() -> bytes:
    """A FileDescriptorSet with one message, ``c2al.Field1 { repeated bytes values = 1; }``.
    Decoding a tf.Example with it yields its ``features`` parts; a ``Features`` part,
    its map entries; a map entry, its key."""
    global _DESCRIPTOR
    if _DESCRIPTOR is None:
        from google.protobuf import descriptor_pb2

        files = descriptor_pb2.FileDescriptorSet()
        proto = files.file.add(name="c2al_content_hash.proto", package="c2al", syntax="proto2")
        message = proto.message_type.add(name="Field1")
        message.field.add(name="values", number=1, label=descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED,
                          type=descriptor_pb2.FieldDescriptorProto.TYPE_BYTES)
        _DESCRIPTOR = files.SerializeToString()
    return _DESCRIPTOR


def _field1(serialized):
    """``[n]`` serialized messages -> ``[n, k]`` their field-1 values (padded with "")."""
    import tensorflow as tf

    _, (values,) = tf.io.decode_proto(serialized, "c2al.Field1", ["values"], [tf.string],
                                      descriptor_source=b"bytes://" + _field1_descriptor())
    return values


def content_buckets(serialized, buckets: int, ignore: Optional[str] = None):
    """``[n]`` serialized tf.Examples -> ``[n]`` int64 buckets in ``[0, buckets)``,
    a function of the features' names and values only (see the module docstring).

    Args:
      serialized: a string tensor (or list of bytes) of shape ``[n]``.
      buckets: number of buckets, ``1 <= buckets <= 2^48``.
      ignore: a RE2 pattern; feature names that fully match it are not hashed.
    """
    import tensorflow as tf

    if not 1 <= int(buckets) <= 2 ** ENTRY_BITS:
        raise ValueError(f"buckets must be in [1, 2^{ENTRY_BITS}], got {buckets}")
    serialized = tf.convert_to_tensor(serialized, tf.string)
    if serialized.shape.rank != 1:
        raise ValueError(f"serialized must have shape [n], got {serialized.shape}")
    n = tf.shape(serialized)[0]
    serialized = tf.concat([serialized, [""]], axis=0)     # decode_proto refuses an empty batch
    parts = _field1(serialized)                            # [n+1, p] Features parts
    entries = _field1(tf.reshape(parts, [-1]))             # [n*p, e] map entries
    per_row = tf.reshape(entries, [n + 1, -1])             # [n+1, p*e]
    flat = tf.reshape(per_row, [-1])
    keep = tf.not_equal(flat, "")
    if ignore:
        keys = _field1(flat)                               # [n*p*e, 0 or 1]
        keys = tf.concat([keys, tf.fill([tf.shape(keys)[0], 1], "")], axis=1)[:, 0]
        keep = tf.logical_and(keep, tf.logical_not(tf.strings.regex_full_match(keys, ignore)))
    hashes = tf.strings.to_hash_bucket_fast(flat, 2 ** ENTRY_BITS)
    hashes = tf.where(keep, hashes, tf.zeros_like(hashes))
    total = tf.reduce_sum(tf.reshape(hashes, tf.shape(per_row)), axis=1)[:n]
    return tf.math.floormod(total, tf.constant(int(buckets), tf.int64))


def row_buckets(features, buckets: int):
    """The bucket of one row given as a feature dict (``{name: tensor}``, as a
    ``tf.data`` pipeline yields before ``batch``): a fingerprint of every feature's name
    and values, in name order, so the same row lands in the same bucket in every run
    and any row order. Returns an int64 scalar in ``[0, buckets)``."""
    import tensorflow as tf

    if not isinstance(features, dict) or not features:
        raise ValueError("row_buckets takes a non-empty feature dict (one row, before .batch())")
    parts = []
    for name in sorted(features):
        value = tf.convert_to_tensor(features[name])
        text = value if value.dtype == tf.string else tf.strings.as_string(value, precision=9) \
            if value.dtype.is_floating else tf.strings.as_string(value)
        parts.append(tf.strings.reduce_join([tf.constant(name), tf.strings.reduce_join(tf.reshape(text, [-1]),
                                                                                         separator="\x1f")],
                                            separator="\x1e"))
    key = tf.strings.reduce_join(tf.stack(parts), separator="\x1d")
    return tf.strings.to_hash_bucket_fast(key, int(buckets))


def split_validation(dataset, fraction: float, buckets: int = 10_000):
    """``(fit, validation)``: the rows of an unbatched ``tf.data`` pipeline of
    ``(features, ...)`` (or feature dicts) split by :func:`row_buckets`, the validation
    part about ``fraction`` of them. The same rows are held out in every epoch and run,
    whatever the order of the rows (the protocol's carve-out, for a user's pipeline)."""
    import tensorflow as tf

    if not 0 < float(fraction) < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    cut = int(round(float(fraction) * buckets))

    def held_out(*element):
        features = element[0]
        return row_buckets(dict(features), buckets) < cut

    return (dataset.filter(lambda *e: tf.logical_not(held_out(*e))), dataset.filter(held_out))


VALIDATION_BUCKETS = 10_000
CARVE_BATCH = 4096


def in_validation(serialized, fraction: float):
    """``[n]`` serialized examples -> ``[n]`` bool, True for the rows held out for
    validation: :func:`content_buckets` of each row's features (names and values, in any
    serialized order; the CohortMiner's targets ``aux__*`` and ``c2al_cohorts`` left
    out), so the rows are the same in every trainer (a baseline on ExampleGen's
    examples, C2AL on the CohortMiner's), epoch, worker and pipeline run."""
    from c2al_tf.labels import APPENDED_FEATURES

    return content_buckets(serialized, VALIDATION_BUCKETS, APPENDED_FEATURES) < int(
        round(fraction * VALIDATION_BUCKETS))


def example_records(files, validation_fraction: float = 0.0, part: str = "all"):
    """The serialized tf.Examples of GZIP TFRecord ``files`` (an ExampleGen or
    CohortMiner split) in file order; ``part`` "fit" / "validation" keeps the rows
    outside / inside the validation carve-out (:func:`in_validation`), "all" every row.
    The protocol's carve-out for a TFX Trainer."""
    import tensorflow as tf

    ds = tf.data.TFRecordDataset(files, compression_type="GZIP")
    if part in ("fit", "validation"):  # hashed a batch at a time, then filtered row by row
        want = part == "validation"

        def mark(batch):
            return batch, tf.equal(in_validation(batch, validation_fraction), want)

        def kept(record, keep):
            return keep

        def record_of(record, keep):
            return record

        ds = ds.batch(CARVE_BATCH).map(mark).unbatch().filter(kept).map(record_of)
    return ds


CONTENT_ORDER_BUCKETS = 64  # write_in_content_order holds about 1/64 of the records at a time


def write_in_content_order(records, path: str, buckets: int = CONTENT_ORDER_BUCKETS) -> int:
    """Writes the serialized tf.Examples of the ``records`` dataset to the TFRecord file
    ``path`` sorted by their content (:func:`content_buckets` over 2^48, the
    CohortMiner's targets left out), so the file is the same whatever order the
    records came in: two pipeline runs, or ExampleGen's and the CohortMiner's copies
    of a split, give the same sequence. An external sort: one pass deals the records
    into ``buckets`` files by the key's top bits (each record written after its 8-byte
    key, so it is hashed once), then each bucket is sorted in memory and appended, so
    memory holds about ``1/buckets`` of the records. Rows with the same key have the
    same content. Returns the number of records."""
    import os

    import numpy as np
    import tensorflow as tf

    from c2al_tf.labels import APPENDED_FEATURES

    shift = np.uint64(ENTRY_BITS - max(int(buckets) - 1, 1).bit_length())
    parts = [f"{path}.part{b:03d}" for b in range(buckets)]
    writers = [tf.io.TFRecordWriter(p) for p in parts]
    count = 0
    try:
        for batch in records.batch(CARVE_BATCH):
            keys = content_buckets(batch, 2 ** ENTRY_BITS, APPENDED_FEATURES).numpy().astype(np.uint64)
            for record, key in zip(batch.numpy(), keys):
                writers[int(key >> shift)].write(int(key).to_bytes(8, "big") + record)
            count += len(keys)
    finally:
        for w in writers:
            w.close()
    with tf.io.TFRecordWriter(path) as out:
        for p in parts:
            part = list(tf.data.TFRecordDataset(p).as_numpy_iterator())
            if part:
                keys = np.frombuffer(b"".join(r[:8] for r in part), dtype=">u8")
                for i in np.argsort(keys, kind="stable"):
                    out.write(part[i][8:])
            os.remove(p)
    return count
