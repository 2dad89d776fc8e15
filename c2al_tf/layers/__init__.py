"""Interaction and embedding layers (Keras 2 / tf_keras)."""
import c2al_tf  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from c2al_tf.layers.attention_fm import AttentionFM
from c2al_tf.layers.embedding import CategoricalEmbedding, NumericEmbedding
from c2al_tf.layers.fm import FMInteraction
from c2al_tf.layers.grouped import CategoricalEmbeddings, NumericEmbeddings
from c2al_tf.layers.mmoe import MixtureOfExperts

# tensorflow-recommenders' DCN-v2 Cross registers itself on import: exports of the
# dcn / dhen encoders then load with tf.keras.models.load_model wherever c2al's
# layers are imported (``import c2al_tf.models`` before loading an export).
import tensorflow_recommenders  # noqa: E402,F401

__all__ = ["AttentionFM", "CategoricalEmbedding", "CategoricalEmbeddings", "FMInteraction", "MixtureOfExperts",
           "NumericEmbedding", "NumericEmbeddings"]
