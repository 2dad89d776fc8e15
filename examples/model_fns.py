"""Model functions for ``c2al experiment --model-fn``: your model, c2al's harness.

A model function takes c2al's ``FeatureSpec`` (the typed columns of the data: numeric
features with their mean and std, categorical ones with their vocabularies) and returns a
functional Keras model on ``spec.keras_inputs()`` that ends in the click probability.
``c2al experiment`` adds the cohort heads on the input of its logit layer (or on
``--representation LAYER``), trains baseline and C2AL under the protocol and reports the
paired NE_diff:

    c2al experiment --data ../shared/data/movielens-100k --label rating --positive-label '>=4' \\
        --out exp --model-fn examples.model_fns:dcn_v2 --variants baseline,c2al
"""
import c2al_tf  # noqa: F401  (first: TF_USE_LEGACY_KERAS=1)
import tensorflow as tf
import tensorflow_recommenders as tfrs


def dcn_v2(spec, embedding_dim: int = 8):
    """DCN-v2 as the TFRS DCN tutorial builds it: an embedding per categorical feature,
    the numbers standardized, one ``tfrs.layers.dcn.Cross`` layer, two deep layers and a
    sigmoid logit."""
    inputs = spec.keras_inputs()
    parts = []
    for f in spec.numeric:
        x = tf.where(tf.math.is_nan(inputs[f.name]), tf.zeros_like(inputs[f.name]), inputs[f.name])
        parts.append((x - f.mean) / (f.std or 1.0))
    for f in spec.categorical:
        x = inputs[f.column]
        if x.dtype.is_floating:  # the categorical view of an integer column reads its number
            x = tf.cast(tf.where(tf.math.is_nan(x), -tf.ones_like(x), x), tf.int64)
        if f.hash_buckets:
            ids = tf.keras.layers.Hashing(f.hash_buckets)(x)
            size = f.hash_buckets
        else:
            lookup = tf.keras.layers.IntegerLookup if x.dtype == tf.int64 else tf.keras.layers.StringLookup
            vocabulary = [int(float(v)) for v in f.vocabulary] if x.dtype == tf.int64 else list(f.vocabulary)
            ids = lookup(vocabulary=vocabulary)(x)
            size = len(vocabulary) + 1
        parts.append(tf.keras.layers.Flatten()(tf.keras.layers.Embedding(size, embedding_dim, name=f"{f.name}_emb")(ids)))
    x0 = tf.keras.layers.Concatenate()(parts)
    x = tfrs.layers.dcn.Cross()(x0, x0)
    x = tf.keras.layers.Dense(64, activation="relu")(x)
    x = tf.keras.layers.Dense(32, activation="relu", name="shared")(x)
    return tf.keras.Model(inputs, tf.keras.layers.Dense(1, activation="sigmoid", name="click")(x), name="dcn_v2")
