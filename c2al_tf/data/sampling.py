"""The one rule by which mining samples rows: a row is kept when a hash of its
content falls below ``rate`` of the hash range, ``rate = max_rows / rows``.

Both ways in use it: :meth:`c2al_tf.data.table.FeatureTable.sample` (``c2al mine``,
``c2al experiment``: an in-memory table) and
:func:`c2al_tf.data.records.sample_records` (the CohortMiner component: serialized
tf.Examples inside a Beam pipeline). A row's fate depends on its content only, so the
sample is the same in every run, on every runner and however the rows are ordered or
partitioned; its size is about ``max_rows`` (binomial), never read twice.
"""
from __future__ import annotations

import numpy as np

HASH_BITS = 32  # the hashes compared with the rate are in [0, 2^HASH_BITS)


def sample_rate(max_rows: int, rows: int) -> float:
    """The fraction of ``rows`` to keep for a sample of about ``max_rows`` (1 keeps all)."""
    return min(1.0, int(max_rows) / max(int(rows), 1))


def keep(hashes, rate: float) -> np.ndarray:
    """``[n]`` bool: which rows, by their ``[n]`` content hashes in
    ``[0, 2^HASH_BITS)``, the sample at ``rate`` keeps."""
    hashes = np.asarray(hashes).reshape(-1)
    if rate >= 1.0:
        return np.ones(len(hashes), bool)
    return hashes < int(rate * 2 ** HASH_BITS)
