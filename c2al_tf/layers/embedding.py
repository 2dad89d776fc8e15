"""Per-feature embeddings: numeric values and categorical values to R^d."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import c2al_tf  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
import tensorflow as tf

from c2al_tf.layers.base import StaticLayer, as_text, read_json_asset, write_json_asset


@tf.keras.utils.register_keras_serializable(package="c2al")
class NumericEmbedding(StaticLayer):
    """Embeds one numeric feature: its scaled value plus its quantile bucket.

        z = (x - mean) / std, clipped to [-clip, clip]
        k = #{j : boundaries_j <= x}                 (bucket index, 0..K)
        e = z * w + b + B[k]   if x is present       (e = b + B[k] with scaled=False)
        e = e_missing          if x is NaN

    with learned ``w, b, e_missing`` in R^d and ``B`` in R^{(K+1) x d}, K =
    ``len(boundaries)`` (quantile edges of the training data, sorted). The bucket
    term lets the model give a feature's extremes (e.g. its bottom 5%) and any
    non-linear response their own vectors; with no boundaries (K = 0) it is a
    constant absorbed by ``b``. ``scaled=False`` drops the linear term (the
    bucket alone, a piecewise-constant response; it needs boundaries). Input ``[batch, 1]`` float (NaN = missing);
    output ``[batch, d]``.
    """

    def __init__(self, dim: int, mean: float = 0.0, std: float = 1.0, clip: float = 10.0,
                 boundaries: Sequence[float] = (), scaled: bool = True, **kwargs):
        super().__init__(**kwargs)
        if int(dim) < 1:
            raise ValueError(f"NumericEmbedding: dim must be >= 1, got {dim}")
        if not scaled and not len(boundaries):
            raise ValueError("NumericEmbedding: scaled=False needs boundaries (with neither, the feature is a "
                             "constant); give quantile boundaries or keep scaled=True")
        if not std > 0:
            raise ValueError(f"NumericEmbedding: std must be > 0, got {std}")
        boundaries = [float(b) for b in boundaries]
        if any(not np.isfinite(b) for b in boundaries) or boundaries != sorted(set(boundaries)):
            raise ValueError(f"NumericEmbedding: boundaries must be finite, strictly increasing; got {boundaries[:5]}")
        self.dim, self.mean, self.std, self.clip = int(dim), float(mean), float(std), float(clip)
        self.boundaries, self.scaled = boundaries, bool(scaled)

    def build(self, input_shape):
        def init():
            return tf.keras.initializers.RandomNormal(stddev=0.05)

        if self.scaled:
            self.w = self.add_weight(name="w", shape=(1, self.dim), initializer=init())
        self.b = self.add_weight(name="b", shape=(1, self.dim), initializer="zeros")
        self.missing = self.add_weight(name="missing", shape=(1, self.dim), initializer=init())
        if self.boundaries:
            self.buckets = self.add_weight(name="buckets", shape=(len(self.boundaries) + 1, self.dim),
                                           initializer=init())
        super().build(input_shape)

    def call(self, x):
        x = tf.cast(x, tf.float32)
        is_missing = tf.math.is_nan(x)
        filled = tf.where(is_missing, self.mean, x)
        z = tf.clip_by_value((filled - self.mean) / self.std, -self.clip, self.clip)
        e = z * self.w + self.b if self.scaled else tf.zeros_like(z) + self.b
        if self.boundaries:
            k = tf.raw_ops.Bucketize(input=filled, boundaries=self.boundaries)  # [batch, 1]
            e = e + tf.gather(self.buckets, k[:, 0])
        return tf.where(is_missing, self.missing, e)

    def get_config(self):
        config = super().get_config()
        config.update({"dim": self.dim, "mean": self.mean, "std": self.std, "clip": self.clip,
                       "boundaries": list(self.boundaries), "scaled": self.scaled})
        return config


@tf.keras.utils.register_keras_serializable(package="c2al")
class CategoricalEmbedding(StaticLayer):
    """Embeds one categorical feature through a fixed vocabulary.

        i = 1 + position of x in vocabulary, or 0 (the OOV row) for unseen/missing values
        e = E[i],  E in R^{(|vocabulary| + 1) x d}
        penalty = l2 * ||E||_F^2   (added to the model's loss once per step; l2 = 0: none)

    Input ``[batch, 1]`` tf.string, or a number (the categorical view of an
    integer column: integral values are looked up as their decimal text, NaN is
    missing); output ``[batch, d]``. Unknown categories at training or serving
    time share the OOV row; they never fail.

    ``l2`` penalizes the *whole table* every step, not only the rows a batch looks
    up: a row seen once per epoch is pulled back to 0 on every step while its data
    gradient arrives once, so rare ids cannot memorize their few labels (the
    reason a click model's validation loss rises after its first epochs), while a
    frequent id's data gradient outweighs the pull. It is a Gaussian prior on
    every row, in the units of the mean per-example loss.

    The vocabulary is layer *state*, not configuration: it lives in a lookup table
    that is saved with the weights (the SavedModel checkpoint, or
    ``assets/vocabulary.json`` in a ``.keras`` file), so it is stored once per
    export rather than copied into every config that names the layer.
    ``get_config`` records ``vocabulary_size``; a layer made with
    ``from_config`` alone maps every value to the OOV row until its weights are
    loaded (the same contract as an adapted ``StringLookup``). Memory: the table
    holds the |vocabulary| keys once, the embedding (|vocabulary| + 1) * d floats.

    **Hashed mode** (``hash_buckets = N > 0``, for id spaces too large for a
    table, see ``FeatureSpec.from_table(vocab_budget=...)``)::

        i = 1 + (FarmHash64(x) mod N)   for a present value, 0 if missing
        e = E[i],  E in R^{(N + 1) x d}

    No vocabulary is stored: memory is (N + 1) * d floats whatever the number of
    distinct ids, and ids that collide share a row (with V distinct ids about
    V / N of them share a bucket with another id). Unseen ids get a learned
    bucket instead of the OOV row.
    """

    def __init__(self, vocabulary: Optional[Sequence[str]], dim: int, vocabulary_size: Optional[int] = None,
                 hash_buckets: int = 0, indices: int = 0, l2: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if int(dim) < 1:
            raise ValueError(f"CategoricalEmbedding: dim must be >= 1, got {dim}")
        if not (np.isfinite(float(l2)) and float(l2) >= 0):
            raise ValueError(f"CategoricalEmbedding: l2 must be a finite number >= 0, got {l2}")
        self.l2 = float(l2)
        if int(hash_buckets) < 0:
            raise ValueError(f"CategoricalEmbedding: hash_buckets must be >= 0, got {hash_buckets}")
        if int(indices) < 0:
            raise ValueError(f"CategoricalEmbedding: indices must be >= 0, got {indices}")
        self.hash_buckets, self.indices = int(hash_buckets), int(indices)
        if self.indices:
            if vocabulary or self.hash_buckets:
                raise ValueError("CategoricalEmbedding: indices (pre-looked-up input) excludes vocabulary and "
                                 "hash_buckets; give one of them")
            self.dim, self.vocabulary_size, self.lookup_table = int(dim), 0, None
            self.table = self._table(self.indices + 1)
            return
        if self.hash_buckets:
            if vocabulary:
                raise ValueError("CategoricalEmbedding: give a vocabulary or hash_buckets, not both")
            self.dim, self.vocabulary_size, self.lookup_table = int(dim), 0, None
            self.table = self._table(self.hash_buckets + 1)
            return
        if vocabulary is None and vocabulary_size is None:
            raise ValueError("CategoricalEmbedding: give vocabulary (a list of strings) or vocabulary_size")
        keys = None if vocabulary is None else [str(v) for v in vocabulary]
        if keys is not None:
            if len(set(keys)) != len(keys):
                raise ValueError("CategoricalEmbedding: vocabulary has duplicate values; pass each value once")
            if vocabulary_size is not None and int(vocabulary_size) != len(keys):
                raise ValueError(f"CategoricalEmbedding: vocabulary_size {vocabulary_size} != len(vocabulary) "
                                 f"{len(keys)}; give one of them")
        self.dim = int(dim)
        self.vocabulary_size = len(keys) if keys is not None else int(vocabulary_size)
        with tf.init_scope():
            self.lookup_table = tf.lookup.experimental.MutableHashTable(
                key_dtype=tf.string, value_dtype=tf.int64, default_value=0, name="vocabulary")
            if keys:
                self._set_keys(keys)
        self.table = self._table(self.vocabulary_size + 1)

    def _table(self, rows: int):
        return tf.keras.layers.Embedding(rows, self.dim, name="table",
                                         embeddings_initializer=tf.keras.initializers.RandomNormal(stddev=0.05),
                                         embeddings_regularizer=tf.keras.regularizers.L2(self.l2) if self.l2 else None)

    def _set_keys(self, keys):
        self.lookup_table.insert(tf.constant(keys, tf.string), tf.range(1, len(keys) + 1, dtype=tf.int64))

    @property
    def vocabulary(self) -> list:
        """The vocabulary in index order (index 1 first; 0 is the OOV row); [] when hashed."""
        if self.lookup_table is None:
            return []
        keys, values = self.lookup_table.export()
        order = np.argsort(values.numpy(), kind="stable")
        return [k.decode("utf-8") for k in keys.numpy()[order]]

    def call(self, x):
        if self.indices:
            if not x.dtype.is_integer:
                raise TypeError(f"CategoricalEmbedding '{self.name}' (indexed) expects an integer index, got {x.dtype}")
            x = tf.cast(x, tf.int64)
            ids = tf.where((x >= 1) & (x <= self.indices), x, tf.zeros_like(x))
            return tf.squeeze(self.table(ids), axis=1)
        x = as_text(x, f"CategoricalEmbedding '{self.name}'")
        if self.hash_buckets:
            ids = tf.where(tf.equal(x, ""), tf.constant(0, tf.int64),
                           tf.strings.to_hash_bucket_fast(x, self.hash_buckets) + 1)
            return tf.squeeze(self.table(ids), axis=1)
        ids = self.lookup_table.lookup(x)
        ids.set_shape(x.shape)  # a mutable table's lookup has no static shape of its own
        return tf.squeeze(self.table(ids), axis=1)

    def get_config(self):
        config = super().get_config()
        config.update({"vocabulary": None, "vocabulary_size": self.vocabulary_size, "dim": self.dim,
                       "hash_buckets": self.hash_buckets, "indices": self.indices, "l2": self.l2})
        return config

    # .keras format: the table is not a Keras weight, so it travels as an asset file.
    def save_assets(self, dir_path):
        if self.lookup_table is not None:
            write_json_asset(dir_path, "vocabulary.json", self.vocabulary)

    def load_assets(self, dir_path):
        if self.lookup_table is None:
            return
        keys = read_json_asset(dir_path, "vocabulary.json")
        if len(keys) != self.vocabulary_size:
            raise ValueError(f"CategoricalEmbedding '{self.name}': saved vocabulary has {len(keys)} values, "
                             f"the layer expects {self.vocabulary_size}")
        self.lookup_table.remove(self.lookup_table.export()[0])
        if keys:
            self._set_keys(keys)
