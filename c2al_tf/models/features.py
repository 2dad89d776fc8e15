"""FeatureSpec: what the model reads, how it is parsed from tf.Example and normalized.

The model's input is a dict of dense ``[batch, 1]`` tensors: ``float32`` for
numeric features (NaN = missing) and ``tf.string`` for categorical ones ("" =
missing). :meth:`FeatureSpec.parse_examples` turns serialized ``tf.Example``s into
that dict (the serving signature and TFRecord training use the same function);
:meth:`FeatureSpec.table_to_inputs` does it for an in-memory FeatureTable.

The model's inputs are the data's columns, each once, as written in the data:
the Keras model's ``predict`` takes a dict of raw features. Typing follows
:mod:`c2al_tf.data.column_types`: an ``integer`` column (integers that are not
an id) feeds two embeddings, its numeric view and a categorical view of its
frequent values (feature ``<name>__cat``, :data:`CATEGORICAL_VIEW`, reading the
same numeric input).
"""
from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Dict, List, Optional

import numpy as np
import pandas as pd

from c2al_tf.errors import C2ALInputError

if TYPE_CHECKING:  # annotations only: importing this module does not load TensorFlow
    import tensorflow as tf


VOCAB_BUDGET = 1_000_000  # a column with more distinct values than this is hashed (TrainConfig.vocab_budget)
# A categorical value gets its own embedding row only if it occurs at least this often in the
# training rows; rarer values share the OOV row. A row learned from one example memorises it:
# on the generator (200k users over 100k rows) singletons cost 0.4-1.5% NE and pushed the
# bottom-decile cohort's NE above 1 (bench/feature_typing.py, README "Feature typing").
MIN_COUNT = 2
from c2al_tf.names import CATEGORICAL_VIEW  # noqa: E402  (suffix of an integer column's categorical view)
# Quantile levels of the numeric bucket boundaries: fine at both ends (1/2/5%), so a
# cohort at a feature's extremes gets buckets of its own.
BUCKET_LEVELS = (0.01, 0.02, 0.05) + tuple(i / 20 for i in range(2, 19)) + (0.95, 0.98, 0.99)


@dataclasses.dataclass
class NumericFeature:
    name: str
    mean: float
    std: float
    dtype: str = "float32"  # how it is stored in tf.Example: float32 or int64
    boundaries: List[float] = dataclasses.field(default_factory=list)  # quantile bucket edges

    @property
    def column(self) -> str:
        return self.name


@dataclasses.dataclass
class CategoricalFeature:
    name: str
    vocabulary: List[str]
    dtype: str = "string"  # string or int64 in tf.Example
    source: Optional[str] = None  # the column it reads, when not ``name`` (an integer column's view)
    hash_buckets: int = 0  # > 0: hashed into this many buckets instead of a vocabulary (huge id spaces)
    indices: int = 0  # > 0: the input is already an index 1..indices (0 = OOV), looked up by a transform graph

    @property
    def column(self) -> str:
        return self.source or self.name


@dataclasses.dataclass
class FeatureSpec:
    label: str
    numeric: List[NumericFeature]
    categorical: List[CategoricalFeature]

    @property
    def names(self) -> List[str]:
        """Model input names: the data columns the model reads, each once."""
        return self.columns

    @property
    def embedded(self) -> List[str]:
        """One name per embedding (an integer column's categorical view is ``<name>__cat``)."""
        return [f.name for f in self.numeric] + [f.name for f in self.categorical]

    @property
    def columns(self) -> List[str]:
        """Data columns (tf.Example features) the model reads, each once."""
        out: List[str] = []
        for f in self.numeric + self.categorical:
            if f.column not in out:
                out.append(f.column)
        return out

    def column_dtypes(self) -> Dict[str, str]:
        return {f.column: f.dtype for f in self.numeric + self.categorical}

    # -- construction -------------------------------------------------------
    @classmethod
    def from_table(cls, table, vocab_budget: int = VOCAB_BUDGET, min_count: int = MIN_COUNT,
                   view_min_count: int = MIN_COUNT,
                   buckets: bool = True) -> "FeatureSpec":
        """Normalization statistics, quantile bucket boundaries (at
        :data:`BUCKET_LEVELS`; ``buckets=False`` for none) and vocabularies (most
        frequent first) from a FeatureTable. A column with more than
        ``vocab_budget`` distinct values (seen at least ``min_count`` times) is
        hashed into ``vocab_budget`` buckets instead, so memory stops growing
        with the id space (:class:`c2al_tf.layers.CategoricalEmbedding`). The
        categorical view of an ``integer`` column keeps values seen at least
        ``view_min_count`` times."""
        if int(vocab_budget) < 1:
            raise C2ALInputError(f"vocab_budget must be >= 1, got {vocab_budget}", arguments=("vocab_budget",))
        dtypes = table.example_dtypes()
        numeric = []
        for name in table.numeric:
            v = table.features[name].to_numpy(dtype=np.float64)
            v = v[~np.isnan(v)]
            mean = float(v.mean()) if len(v) else 0.0
            std = float(v.std()) if len(v) else 1.0
            edges = sorted({float(q) for q in np.quantile(v, BUCKET_LEVELS)}) if buckets and len(v) else []
            numeric.append(NumericFeature(name, mean, std if std > 0 else 1.0, dtypes[name], edges))
        categorical = []
        for name in table.categorical:
            s = table.features[name]
            if dtypes[name] == "int64":
                s = s[s != ""].astype(np.int64).astype(str)
            present = s[s != ""]
            if len(present) == 0:
                raise C2ALInputError(f"{table.source}: column '{name}' is missing in every row, so it has no "
                                     f"vocabulary to embed; drop it with drop {name}", arguments=("drop",))
            categorical.append(_categorical(name, present, min_count, vocab_budget, dtypes[name]))
        for name in getattr(table, "dual", []):
            v = table.features[name].to_numpy(dtype=np.float64)
            text = pd.Series(v[~np.isnan(v)].astype(np.int64).astype(str))
            categorical.append(_categorical(name + CATEGORICAL_VIEW, text, view_min_count, vocab_budget, dtypes[name],
                                            source=name))
        return cls(table.label_name, numeric, categorical)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "FeatureSpec":
        return cls(d["label"], [NumericFeature(**f) for f in d["numeric"]],
                   [CategoricalFeature(**f) for f in d["categorical"]])

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    # -- inputs -------------------------------------------------------------
    def keras_inputs(self):
        """One Keras input per data column: float32 (numeric, NaN = missing) or
        tf.string (categorical, "" = missing)."""
        import tensorflow as tf

        inputs = {f.name: tf.keras.Input(shape=(1,), dtype=tf.float32, name=f.name) for f in self.numeric}
        for f in self.categorical:
            if f.column not in inputs:
                inputs[f.column] = tf.keras.Input(shape=(1,), dtype=tf.int64 if f.indices else tf.string,
                                                  name=f.column)
        return inputs

    def parsing_spec(self, extra_int64: Optional[List[str]] = None) -> dict:
        import tensorflow as tf

        types = {"float32": tf.float32, "int64": tf.int64, "string": tf.string}
        spec = {f.column: tf.io.RaggedFeature(types[f.dtype]) for f in self.numeric + self.categorical}
        for name in extra_int64 or []:
            spec[name] = tf.io.RaggedFeature(tf.int64)
        return spec

    def parse_examples(self, serialized, extra_int64: Optional[List[str]] = None) -> Dict[str, "tf.Tensor"]:
        """Serialized tf.Examples ``[batch]`` -> dict of ``[batch, 1]`` tensors.

        Missing features (absent or empty) become NaN / "" and extra values of a
        multi-valued feature are ignored; ``extra_int64`` features (labels) come
        back as float32 ``[batch, 1]`` with missing = 0.
        """
        import tensorflow as tf

        parsed = tf.io.parse_example(serialized, self.parsing_spec(extra_int64))
        out = {}
        for f in self.numeric:
            v = parsed[f.name]
            first = tf.cast(v.to_tensor(default_value=0, shape=[None, 1]), tf.float32)
            present = tf.expand_dims(v.row_lengths() > 0, -1)
            out[f.name] = tf.where(present, first, tf.constant(np.nan, tf.float32))
        for f in self.categorical:
            if f.column in out:  # the categorical view of a numeric column reads its numeric input
                continue
            v = parsed[f.column]
            if f.dtype == "int64":
                present = tf.expand_dims(v.row_lengths() > 0, -1)
                text = tf.strings.as_string(v.to_tensor(default_value=0, shape=[None, 1]))
                out[f.name] = tf.where(present, text, "")
            else:
                out[f.name] = v.to_tensor(default_value="", shape=[None, 1])
        for name in extra_int64 or []:
            out[name] = tf.cast(parsed[name].to_tensor(default_value=0, shape=[None, 1]), tf.float32)
        return out

    def table_to_inputs(self, table) -> Dict[str, np.ndarray]:
        """FeatureTable -> dict of ``[n, 1]`` numpy arrays (float32 / object str)."""
        out = {}
        for f in self.numeric:
            if f.name not in table.features:
                raise C2ALInputError(f"{table.source}: the model needs numeric feature '{f.name}', "
                                     f"which the data does not have")
            col = table.features[f.name]
            if col.dtype == object:
                raise C2ALInputError(f"{table.source}: column '{f.name}' is text in the data but a number in "
                                     f"the model; read it with numeric {f.name}", arguments=("numeric",))
            out[f.name] = col.to_numpy(dtype=np.float32).reshape(-1, 1)
        for f in self.categorical:
            if f.column in out:  # the categorical view of a numeric column reads its numeric input
                continue
            if f.column not in table.features:
                raise C2ALInputError(f"{table.source}: the model needs categorical feature '{f.column}', "
                                     f"which the data does not have")
            col = table.features[f.column]
            if col.dtype != object:  # read as numeric: render integral numbers without ".0"
                v = col.to_numpy(dtype=np.float64)
                col = np.array(["" if np.isnan(x) else (str(int(x)) if x == int(x) else repr(x)) for x in v],
                               dtype=object)
            else:
                col = col.to_numpy(dtype=object)
                if f.dtype == "int64":
                    col = np.array([_int_text(x) for x in col], dtype=object)
            out[f.name] = col.reshape(-1, 1)
        return out


def _categorical(name, values, min_count: int, vocab_budget: int, dtype: str, source=None) -> CategoricalFeature:
    """A vocabulary of the values seen at least ``min_count`` times (most frequent
    first, ties by value descending), or ``vocab_budget`` hash buckets when there are more."""
    counts = pd.Series(values).value_counts(sort=False)
    counts = counts[counts >= min_count]
    if len(counts) > vocab_budget:
        return CategoricalFeature(name, [], dtype, source=source, hash_buckets=int(vocab_budget))
    # most frequent first, ties by value descending: tf.Transform's order (tft.vocabulary), so the
    # pipeline's Transform and this in-memory path give the same vocabulary on the same rows
    order = sorted(zip(counts.to_numpy().tolist(), counts.index.astype(str)), reverse=True)
    return CategoricalFeature(name, [v for _, v in order], dtype, source=source)


def _int_text(value: str) -> str:
    """'0042' -> '42' (how an int64 tf.Example feature prints); other text unchanged."""
    try:
        return str(int(value))
    except ValueError:
        return value
