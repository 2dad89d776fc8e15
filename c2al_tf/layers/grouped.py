"""Grouped embeddings: every numeric feature in one layer, every categorical feature
of one kind in one table, so a model's size in layers and ops does not grow with
its number of columns.

One layer per column (:class:`~c2al_tf.layers.NumericEmbedding`,
:class:`~c2al_tf.layers.CategoricalEmbedding`) costs a Keras layer call, a few
variables and about 30 graph ops per column: a 2,000-column log took minutes to
build and each training step ran thousands of small kernels. These layers compute
the same functions for all columns at once (``bench/wide.py`` measures both).
"""
from __future__ import annotations

from typing import List, Optional, Sequence

import numpy as np
import c2al_tf  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
import tensorflow as tf

from c2al_tf.layers.base import StaticLayer, as_text, read_json_asset, write_json_asset

_SEPARATOR = "\x1f"  # between a feature's index and its value in the shared vocabulary's keys


def _init():
    return tf.keras.initializers.RandomNormal(stddev=0.05)


@tf.keras.utils.register_keras_serializable(package="c2al")
class NumericEmbeddings(StaticLayer):
    """Embeds n numeric features at once, each as :class:`NumericEmbedding` does::

        z_j = clip((x_j - mean_j) / std_j, -clip, clip)
        k_j = #{i : boundaries_j[i] <= x_j}              (bucket index, 0..K_j)
        e_j = s_j * z_j * w_j + b_j + B_j[k_j]   if x_j is present
        e_j = missing_j                          if x_j is NaN

    with learned ``w, b, missing`` in R^{n x d} and ``B`` in R^{n x (K+1) x d},
    ``K = max_j K_j`` (shorter boundary lists are padded with +inf, which no value
    reaches); ``s_j`` is 1 for a ``scaled`` feature, else 0 (its buckets alone).

    Input ``[batch, n]`` float (NaN = missing); output ``[batch, n, d]``.
    """

    def __init__(self, dim: int, means: Sequence[float], stds: Sequence[float],
                 boundaries: Sequence[Sequence[float]], scaled: Sequence[bool], clip: float = 10.0, **kwargs):
        super().__init__(**kwargs)
        n = len(means)
        if int(dim) < 1:
            raise ValueError(f"NumericEmbeddings: dim must be >= 1, got {dim}")
        if n < 1 or not (len(stds) == len(boundaries) == len(scaled) == n):
            raise ValueError(f"NumericEmbeddings: means, stds, boundaries and scaled need one entry per feature "
                             f"(got {len(means)}, {len(stds)}, {len(boundaries)}, {len(scaled)})")
        if any(not s > 0 for s in stds):
            raise ValueError(f"NumericEmbeddings: every std must be > 0, got {[s for s in stds if not s > 0][:3]}")
        cleaned = []
        for j, edges in enumerate(boundaries):
            edges = [float(e) for e in edges]
            if any(not np.isfinite(e) for e in edges) or edges != sorted(set(edges)):
                raise ValueError(f"NumericEmbeddings: boundaries of feature {j} must be finite, strictly "
                                 f"increasing; got {edges[:5]}")
            if not scaled[j] and not edges:
                raise ValueError(f"NumericEmbeddings: feature {j} has scaled=False and no boundaries (a constant); "
                                 f"give boundaries or keep scaled=True")
            cleaned.append(edges)
        self.dim, self.clip = int(dim), float(clip)
        self.means, self.stds = [float(m) for m in means], [float(s) for s in stds]
        self.boundaries, self.scaled = cleaned, [bool(s) for s in scaled]
        self.k = max(len(e) for e in cleaned)

    def build(self, input_shape):
        n, d = len(self.means), self.dim
        self.w = self.add_weight(name="w", shape=(n, d), initializer=_init())
        self.b = self.add_weight(name="b", shape=(n, d), initializer="zeros")
        self.missing = self.add_weight(name="missing", shape=(n, d), initializer=_init())
        if self.k:
            self.buckets = self.add_weight(name="buckets", shape=(n * (self.k + 1), d), initializer=_init())
        super().build(input_shape)

    def call(self, x):
        x = tf.cast(x, tf.float32)                                     # [B, n]
        mean = tf.constant(self.means, tf.float32)
        is_missing = tf.math.is_nan(x)
        filled = tf.where(is_missing, mean, x)
        z = tf.clip_by_value((filled - mean) / tf.constant(self.stds, tf.float32), -self.clip, self.clip)
        s = tf.constant([1.0 if v else 0.0 for v in self.scaled], tf.float32)
        e = tf.expand_dims(z * s, -1) * self.w + self.b               # [B, n, d]
        if self.k:
            edges = np.full((len(self.means), self.k), np.inf, np.float32)
            for j, row in enumerate(self.boundaries):
                edges[j, :len(row)] = row
            k = tf.reduce_sum(tf.cast(tf.constant(edges) <= tf.expand_dims(filled, -1), tf.int32), -1)  # [B, n]
            offsets = tf.range(len(self.means), dtype=tf.int32) * (self.k + 1)
            e = e + tf.gather(self.buckets, k + offsets)
        return tf.where(tf.expand_dims(is_missing, -1), self.missing, e)

    def compute_output_shape(self, input_shape):
        return tf.TensorShape([input_shape[0], len(self.means), self.dim])

    def get_config(self):
        config = super().get_config()
        config.update({"dim": self.dim, "means": self.means, "stds": self.stds, "boundaries": self.boundaries,
                       "scaled": self.scaled, "clip": self.clip})
        return config


@tf.keras.utils.register_keras_serializable(package="c2al")
class CategoricalEmbeddings(StaticLayer):
    """Embeds n categorical features of one kind through one table, each as
    :class:`CategoricalEmbedding` does::

        i_j = o_j + 1 + position of x_j in vocabulary_j, or o_j (feature j's OOV row)
        e_j = E[i_j],  E in R^{(sum_j (V_j + 1)) x d},  o_j = sum_{l<j} (V_l + 1)
        penalty = l2 * ||E||_F^2

    Kinds (one per layer): ``vocabularies`` (one shared lookup table keyed by
    ``"<j>\\x1f<value>"``), ``hash_buckets`` (``i_j = o_j + 1 + FarmHash64(x_j) mod N_j``
    for a present value) or ``indices`` (the input already is an index 1..V_j, 0 = OOV,
    e.g. from a transform graph). A numeric input is looked up as its integral
    decimal text (NaN is missing), as in :class:`CategoricalEmbedding`.

    Input: a list of n ``[batch, 1]`` tensors; output ``[batch, n, d]``. The
    vocabularies are layer state saved with the weights (``assets/vocabularies.json``
    in a ``.keras`` file); ``get_config`` records their sizes.
    """

    def __init__(self, dim: int, vocabularies: Optional[Sequence[Optional[Sequence[str]]]] = None,
                 vocabulary_sizes: Optional[Sequence[int]] = None, hash_buckets: Sequence[int] = (),
                 indices: Sequence[int] = (), l2: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if int(dim) < 1:
            raise ValueError(f"CategoricalEmbeddings: dim must be >= 1, got {dim}")
        if not (np.isfinite(float(l2)) and float(l2) >= 0):
            raise ValueError(f"CategoricalEmbeddings: l2 must be a finite number >= 0, got {l2}")
        kinds = [bool(vocabularies is not None or vocabulary_sizes is not None), bool(len(hash_buckets)),
                 bool(len(indices))]
        if sum(kinds) != 1:
            raise ValueError("CategoricalEmbeddings: give exactly one of vocabularies (or vocabulary_sizes), "
                             "hash_buckets or indices")
        self.dim, self.l2 = int(dim), float(l2)
        self.hash_buckets, self.indices = [int(h) for h in hash_buckets], [int(i) for i in indices]
        if any(v < 1 for v in self.hash_buckets + self.indices):
            raise ValueError("CategoricalEmbeddings: hash_buckets and indices must be >= 1")
        self.lookup_table = None
        if kinds[0]:
            keys = None if vocabularies is None else [[str(v) for v in vocab] for vocab in vocabularies]
            for j, vocab in enumerate(keys or []):
                if len(set(vocab)) != len(vocab):
                    raise ValueError(f"CategoricalEmbeddings: vocabulary {j} has duplicate values; pass each once")
            sizes = [len(v) for v in keys] if keys is not None else [int(s) for s in vocabulary_sizes]
            if keys is not None and vocabulary_sizes is not None and list(vocabulary_sizes) != sizes:
                raise ValueError("CategoricalEmbeddings: vocabulary_sizes disagree with the vocabularies")
            self.vocabulary_sizes = sizes
            with tf.init_scope():
                self.lookup_table = tf.lookup.experimental.MutableHashTable(
                    key_dtype=tf.string, value_dtype=tf.int64, default_value=-1, name="vocabularies")
                if keys:
                    self._set_keys(keys)
            rows = [v + 1 for v in sizes]
        else:
            self.vocabulary_sizes = []
            rows = [v + 1 for v in (self.hash_buckets or self.indices)]
        self.n = len(rows)
        self.offsets = [int(o) for o in np.concatenate([[0], np.cumsum(rows)[:-1]])]
        self.table = tf.keras.layers.Embedding(
            int(sum(rows)), self.dim, name="table", embeddings_initializer=_init(),
            embeddings_regularizer=tf.keras.regularizers.L2(self.l2) if self.l2 else None)

    def _set_keys(self, vocabularies: List[List[str]]):
        keys, values = [], []
        for j, vocab in enumerate(vocabularies):
            keys += [f"{j}{_SEPARATOR}{v}" for v in vocab]
            values += list(range(1, len(vocab) + 1))
        if keys:
            self.lookup_table.insert(tf.constant(keys, tf.string), tf.constant(values, tf.int64))

    @property
    def vocabularies(self) -> List[List[str]]:
        """Each feature's vocabulary in index order ([] per feature when hashed or indexed)."""
        if self.lookup_table is None:
            return [[] for _ in range(self.n)]
        keys, values = self.lookup_table.export()
        out: List[List] = [[None] * size for size in self.vocabulary_sizes]
        for key, value in zip(keys.numpy(), values.numpy()):
            j, text = key.decode("utf-8").split(_SEPARATOR, 1)
            out[int(j)][int(value) - 1] = text
        return out

    def _text(self, x):
        return as_text(x, f"CategoricalEmbeddings '{self.name}'")

    def _texts(self, inputs):
        """``[batch, n]`` strings: the inputs converted by dtype group (one conversion per
        group, not per feature), back in the features' order."""
        groups = {}
        for j, t in enumerate(inputs):
            kind = "float" if t.dtype.is_floating else "int" if t.dtype.is_integer else "string"
            groups.setdefault(kind, []).append(j)
        if len(groups) == 1:
            return self._text(tf.concat([tf.cast(t, tf.float32) if t.dtype.is_floating else t for t in inputs], 1))
        parts, order = [], []
        for kind, members in groups.items():
            parts.append(self._text(tf.concat([tf.cast(inputs[j], tf.float32) if kind == "float" else
                                               tf.cast(inputs[j], tf.int64) if kind == "int" else inputs[j]
                                               for j in members], 1)))
            order += members
        position = np.argsort(order)  # column of feature j in the concatenated groups
        return tf.gather(tf.concat(parts, 1), position, axis=1)

    def call(self, inputs):
        inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if len(inputs) != self.n:
            raise ValueError(f"CategoricalEmbeddings '{self.name}' expects {self.n} inputs, got {len(inputs)}")
        offsets = tf.constant(self.offsets, tf.int64)
        if self.indices:
            x = tf.concat([tf.cast(t, tf.int64) for t in inputs], axis=1)           # [B, n]
            ids = tf.where((x >= 1) & (x <= tf.constant(self.indices, tf.int64)), x, tf.zeros_like(x))
            return self.table(ids + offsets)
        x = self._texts(inputs)                                                     # [B, n] strings
        if self.hash_buckets:
            buckets = tf.constant(self.hash_buckets, tf.int64)
            h = tf.math.floormod(tf.strings.to_hash_bucket_fast(x, 2 ** 63 - 1), buckets)
            ids = tf.where(tf.equal(x, ""), tf.zeros_like(h), h + 1)
            return self.table(ids + offsets)
        prefix = tf.constant([f"{j}{_SEPARATOR}" for j in range(self.n)])
        found = self.lookup_table.lookup(tf.strings.join([tf.broadcast_to(prefix, tf.shape(x)), x]))
        ids = tf.where(found > 0, found, tf.zeros_like(found))                     # 0: feature j's OOV row
        ids.set_shape(x.shape)
        return self.table(ids + offsets)

    def compute_output_shape(self, input_shape):
        return tf.TensorShape([input_shape[0][0], self.n, self.dim])

    def get_config(self):
        config = super().get_config()
        config.update({"dim": self.dim, "vocabularies": None,
                       "vocabulary_sizes": self.vocabulary_sizes if self.lookup_table is not None else None,
                       "hash_buckets": self.hash_buckets, "indices": self.indices, "l2": self.l2})
        return config

    # .keras format: the table is not a Keras weight, so it travels as an asset file.
    def save_assets(self, dir_path):
        if self.lookup_table is not None:
            write_json_asset(dir_path, "vocabularies.json", self.vocabularies)

    def load_assets(self, dir_path):
        if self.lookup_table is None:
            return
        keys = read_json_asset(dir_path, "vocabularies.json")
        if [len(k) for k in keys] != self.vocabulary_sizes:
            raise ValueError(f"CategoricalEmbeddings '{self.name}': saved vocabularies have sizes "
                             f"{[len(k) for k in keys][:5]}, the layer expects {self.vocabulary_sizes[:5]}")
        self.lookup_table.remove(self.lookup_table.export()[0])
        self._set_keys(keys)
