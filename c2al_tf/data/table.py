"""The typed in-memory table every reader returns."""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Mapping, Optional

import numpy as np
import pandas as pd


def content_order(columns: Mapping[str, np.ndarray], hash_key: Optional[str] = None, keys: bool = False):
    """Row indices sorted by a hash of each row's values in ``columns`` (equal-length
    arrays, hashed in the mapping's order; pandas' row hash with ``hash_key``, 16
    characters, or pandas' default key). Rows that tie are identical in every column,
    hence interchangeable, so the order depends on the rows' content, not their positions.
    ``keys=True`` returns ``(order, hashes)``, the uint64 hash of each row by position."""
    frame = pd.DataFrame({name: np.asarray(v).reshape(-1) for name, v in columns.items()})
    kwargs = {} if hash_key is None else {"hash_key": hash_key}
    key = pd.util.hash_pandas_object(frame, index=False, **kwargs).to_numpy()
    order = np.argsort(key, kind="stable")
    return (order, key) if keys else order


@dataclasses.dataclass
class FeatureTable:
    """Features + binary label, with each feature typed numeric or categorical.

    Attributes:
      features: one column per feature. Numeric columns are float64 with NaN for
        missing values; categorical columns are Python ``str`` with ``""`` for
        missing values.
      label: int64 array of 0/1, one per row.
      label_name: the label column's name in the source.
      numeric: names of numeric feature columns, in source order.
      categorical: names of categorical feature columns, in source order.
      source: where the rows came from (file or directory), for messages.
      dual: ``integer`` columns (see :mod:`c2al_tf.data.column_types`): numeric in
        ``features`` and in ``numeric``, and the model also gives them a
        categorical view of their frequent values.
      reasons: column -> why it got its type (``c2al inspect`` prints it).
    """

    features: pd.DataFrame
    label: np.ndarray
    label_name: str
    numeric: List[str]
    categorical: List[str]
    source: str = ""
    dual: List[str] = dataclasses.field(default_factory=list)
    reasons: Dict[str, str] = dataclasses.field(default_factory=dict)

    def kind(self, name: str) -> str:
        """``numeric``, ``categorical`` or ``integer`` (numeric + categorical view)."""
        if name in self.dual:
            return "integer"
        return "numeric" if name in self.numeric else "categorical"

    def __len__(self) -> int:
        return len(self.label)

    @property
    def positive_rate(self) -> float:
        return float(self.label.mean()) if len(self.label) else float("nan")

    def to_frame(self) -> pd.DataFrame:
        """Features plus the label as one DataFrame (label column last)."""
        frame = self.features.copy()
        frame[self.label_name] = self.label
        return frame

    def take(self, index) -> "FeatureTable":
        """Rows selected by an integer index or boolean mask."""
        index = np.asarray(index)
        return dataclasses.replace(
            self,
            features=self.features.iloc[index].reset_index(drop=True)
            if index.dtype != bool else self.features[index].reset_index(drop=True),
            label=self.label[index],
        )

    def sample(self, max_rows: int, seed: int = 0) -> np.ndarray:
        """Positions of about ``max_rows`` rows, in :meth:`content_order`: the rows whose
        seeded content hash falls below ``max_rows / len(self)`` of its range (the
        sampling rule of :mod:`c2al_tf.data.sampling`, shared with the CohortMiner
        component). All rows when there are at most ``max_rows``."""
        from c2al_tf.data.sampling import HASH_BITS, keep, sample_rate

        order, keys = self._content_keys(seed)
        return order[keep(keys[order] >> np.uint64(64 - HASH_BITS), sample_rate(max_rows, len(self)))]

    def _content_keys(self, seed: int):
        columns = {name: self.features[name].to_numpy() for name in sorted(self.features.columns)}
        columns["\0label"] = self.label
        return content_order(columns, f"c2al{int(seed):012d}"[-16:], keys=True)

    def content_order(self, seed: int = 0) -> np.ndarray:
        """Row positions sorted by a seeded hash of each row's content (features and
        label; :func:`content_order`). The same rows in any row or column order give the
        same sequence of rows, so anything computed from ``take(content_order())`` (a
        sample of its first ``n`` rows, TFDV's order-dependent quantile sketch) does not
        depend on the order the rows came in (Beam writes them in another order each run)."""
        return self._content_keys(seed)[0]

    def empty_columns(self) -> List[str]:
        """Features missing in every row (NaN or "" throughout)."""
        out = []
        for name in self.features.columns:
            col = self.features[name]
            missing = col.isna() if col.dtype != object else (col == "")
            if bool(missing.all()):
                out.append(name)
        return out

    def check_trainable(self, what: str = "train a model") -> None:
        """Raises a one-line C2ALInputError unless the label has both classes and no
        feature is missing in every row (nothing to learn, bin or embed)."""
        from c2al_tf.errors import C2ALInputError

        positives = int(self.label.sum())
        if positives == 0 or positives == len(self):
            only = "0" if positives == 0 else "1"
            raise C2ALInputError(f"{self.source}: label '{self.label_name}' is {only} in all {len(self):,} rows; "
                                 f"to {what} the data needs positives and negatives")
        empty = self.empty_columns()
        if empty:
            raise C2ALInputError(f"{self.source}: column '{empty[0]}' is missing in every row, so it has nothing to "
                                 f"learn from; leave it out with drop {empty[0]}", arguments=("drop",))

    def summary(self) -> str:
        return (f"{len(self):,} rows, {len(self.numeric)} numeric + "
                f"{len(self.categorical)} categorical features, "
                f"label '{self.label_name}' positive rate {self.positive_rate:.4f}")

    def example_dtypes(self) -> dict:
        """How each feature is stored in a ``tf.Example`` (as CsvExampleGen would
        infer it): ``int64`` for integral numbers (numeric columns whose values
        are all whole, categorical columns whose values are all digit strings),
        ``float32`` for other numbers, ``string`` otherwise."""
        out = {}
        for name in self.numeric:
            v = self.features[name].to_numpy()
            v = v[~np.isnan(v)]
            out[name] = "int64" if len(v) and np.all(v == np.floor(v)) and np.abs(v).max() < 2 ** 53 else "float32"
        for name in self.categorical:
            s = self.features[name]
            present = s[s != ""]
            digits = len(present) > 0 and bool(present.str.fullmatch(r"-?\d{1,18}").all())
            out[name] = "int64" if digits else "string"
        return out
