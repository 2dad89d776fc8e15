"""The label rule: a 0/1 label column, or any column with a rule that says which
values are positive (``positive_label``: ``yes``, ``>=4``...)."""
from __future__ import annotations

import re
from typing import Callable, Optional, Sequence

import numpy as np
import pandas as pd

from c2al_tf.errors import C2ALInputError

# Values read as "missing" in numeric columns (and as "" in categorical ones).
MISSING_TOKENS = frozenset({"", "NA", "N/A", "NaN", "nan", "NAN", "null", "NULL", "None", "none"})

_OPS = {">=": np.greater_equal, "<=": np.less_equal, ">": np.greater, "<": np.less,
        "==": np.equal, "=": np.equal}


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
