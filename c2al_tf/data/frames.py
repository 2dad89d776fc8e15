"""A table of strings (as every reader reads its format) -> a typed
:class:`~c2al_tf.data.table.FeatureTable`: the label by its rule, each feature
numeric or categorical (:mod:`c2al_tf.data.column_types`).

A column is numeric when every non-missing value parses as a number, categorical
when most of its distinct values do not. A column in between (mostly numbers with
a few words, e.g. ``"12", "7", "n/a?"``) is ambiguous and is reported as an
unparsable number; pass it in ``categorical=`` to read it as categorical, or fix the value."""
from __future__ import annotations

from typing import Callable, Dict, Iterable, List, Optional, Tuple

import numpy as np
import pandas as pd

from c2al_tf.data.label_rule import MISSING_TOKENS, binarize_label
from c2al_tf.data.table import FeatureTable
from c2al_tf.errors import C2ALInputError
from c2al_tf.names import check_column_names


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
            kind, reasons[name] = "categorical", "forced (categorical)"
        elif name in numeric:
            kind, reasons[name] = "numeric", "forced (numeric)"
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
            argument = "categorical" if kind == "ambiguous" else "numeric"
            hint = (f"fix the value or list '{name}' in categorical" if kind == "ambiguous"
                    else "fix the value or take the column out of numeric")
            raise C2ALInputError(
                f"{source}: column '{name}' cannot parse '{col.iloc[i]}' as a number at {where(i)}; {hint}",
                arguments=(argument,))
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


def table_from_strings(frame: pd.DataFrame, *, source: str, label: str, positive_label: Optional[str],
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
    return table_from_strings(frame.astype(str), source=source, label=label, positive_label=positive_label, **typing)
