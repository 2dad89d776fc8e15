"""Which files a path holds, and in which format."""
from __future__ import annotations

import glob
import os
from typing import List, Sequence

from c2al_tf.errors import C2ALInputError

TFRECORD_PATTERNS = ("*.tfrecord", "*.tfrecords", "*.tfrecord.gz", "*.tfrecords.gz",
                     "*tfrecord-*", "*.tfr", "*.tfr.gz")
CSV_PATTERNS = ("*.csv", "*.csv.gz")


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
