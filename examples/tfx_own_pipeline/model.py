"""The user's own Trainer module: their Keras model on their Transform's outputs. The
only C2AL line is the call to ``train_in_trainer`` in ``run_fn``; it adds the cohort
heads on the layer named "shared", chooses lambda on validation rows and exports the
primary head only."""
import c2al_tf  # noqa: F401  (first: TF_USE_LEGACY_KERAS=1)
import tensorflow as tf

from c2al_tf.tfx_trainer import train_in_trainer

try:  # the Trainer loads this file as a module; its neighbour is found beside it
    from preprocessing import CATEGORICAL, INTEGER, LABEL, NUMERIC
except ImportError:  # pragma: no cover
    from examples.tfx_own_pipeline.preprocessing import CATEGORICAL, INTEGER, LABEL, NUMERIC


def build_model(tf_transform_output):
    """Embeddings for the vocabularies, the scaled numbers, two dense layers, a logit."""
    inputs, parts = {}, []
    for name in NUMERIC:
        inputs[name] = tf.keras.Input(shape=(), name=name, dtype=tf.float32)
        parts.append(tf.keras.layers.Reshape((1,))(inputs[name]))
    for name in CATEGORICAL + INTEGER:
        size = tf_transform_output.vocabulary_size_by_name(name) + 1
        inputs[name] = tf.keras.Input(shape=(), name=name, dtype=tf.int64)
        parts.append(tf.keras.layers.Embedding(size, 8)(inputs[name]))
    x = tf.keras.layers.Concatenate()(parts)
    x = tf.keras.layers.Dense(64, activation="relu")(x)
    shared = tf.keras.layers.Dense(32, activation="relu", name="shared")(x)
    return tf.keras.Model(inputs, tf.keras.layers.Dense(1, activation="sigmoid", name="click_probability")(shared))


def run_fn(fn_args):
    train_in_trainer(fn_args, build_model, label=LABEL, representation="shared")
