"""Interaction and embedding layers (Keras 2 / tf_keras)."""
import c2al_tf  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from c2al_tf.layers.attention_fm import AttentionFM
from c2al_tf.layers.embedding import CategoricalEmbedding, NumericEmbedding
from c2al_tf.layers.fm import FMInteraction

__all__ = ["AttentionFM", "CategoricalEmbedding", "FMInteraction", "NumericEmbedding"]
