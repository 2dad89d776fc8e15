"""The typing rule: how a column becomes a model feature (one rule for every
command, the CohortMiner and the TFX Trainer).

Recommendation logs code most ids as integers (user/item ids, occupation or
category codes, label-encoded inputs), while some integer columns are genuine
quantities (counts, hours, ages). A plain numeric view of an id column throws its
per-value effects away; a categorical view of a count loses its order. So:

==========================  =========================================================
column                      typed as
==========================  =========================================================
text (not all numbers)      ``categorical``: vocabulary of its values + OOV bucket
integers, id-like name      ``categorical`` (name ends in ``id``/``_id``/``Id``, or is
                            ``*_key``, ``*code``, ``zip*``, ``*hash``)
integers, leading zeros     ``categorical`` (``"00501"`` is a code, not 501)
integers, <= 2 values       ``numeric`` (a 0/1 flag)
other integers              ``integer``: both views, a numeric one (quantile buckets,
                            so extremes and non-linear effects can be modelled) and a
                            categorical one over its frequent values (+ OOV)
other numbers               ``numeric`` (scaled value + quantile-bucket embedding)
==========================  =========================================================

``--categorical`` / ``--numeric`` override the rule per column; in the TFX
pipeline a schema's ``int_domain.is_categorical: true`` does the same.
Every decision comes with a one-line reason (``c2al inspect`` prints it).
"""
from __future__ import annotations

import re
from typing import Tuple

import numpy as np
import pandas as pd

NUMERIC, CATEGORICAL, INTEGER = "numeric", "categorical", "integer"

ID_NAME = re.compile(r"(^|[_\-. ])(id|ids|uid|key|code|zip\d*|zipcode|postcode|postal|hash)$", re.IGNORECASE)
CAMEL_ID = re.compile(r"[a-z0-9](Id|ID|Ids|IDs|Code|Key)$")  # case-sensitive: movieId, not 'paid'



def looks_like_id_name(name: str) -> bool:
    """``user_id``, ``movieId``, ``item-id``, ``zip1``, ``postal_code``, ``hash``..."""
    return bool(ID_NAME.search(str(name)) or CAMEL_ID.search(str(name)))


def integer_kind(name: str, text_values, numbers: np.ndarray) -> Tuple[str, str]:
    """(kind, reason) for a column whose present values are all integers.

    ``text_values``: the column's present values as written (for leading zeros);
    ``numbers``: the same values parsed (float64)."""
    if looks_like_id_name(name):
        return CATEGORICAL, "integer-coded id (by its name)"
    text = np.asarray(text_values, dtype=object)
    if len(text):
        sample = pd.Series(text[: 10_000].astype(str))
        if sample.str.fullmatch(r"-?0\d+").any():  # "007", not "0" or "0.0"
            return CATEGORICAL, "integer code with leading zeros"
    distinct = len(np.unique(numbers))
    if distinct <= 2:
        return NUMERIC, "integer flag (<= 2 values)"
    return INTEGER, f"integers ({distinct} values): numeric buckets + categorical view of frequent values"


def is_integer_valued(numbers: np.ndarray) -> bool:
    v = numbers[~np.isnan(numbers)]
    return len(v) > 0 and bool(np.all(v == np.floor(v))) and float(np.abs(v).max()) < 2 ** 53
