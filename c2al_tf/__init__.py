"""c2al-tf: Cohort-Contrastive Auxiliary Learning (C2AL) for TensorFlow/Keras.

Importing this package forces Keras 2 (``tf_keras``) for ``tf.keras``: TF 2.16
otherwise resolves ``tf.keras`` to Keras 3, which tensorflow-recommenders and
TFMA do not support. The variable must be set before TensorFlow is imported.
"""
import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
