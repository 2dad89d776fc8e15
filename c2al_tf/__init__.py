"""c2al-tf: Cohort-Contrastive Auxiliary Learning (C2AL) for TensorFlow/Keras.

Importing this package forces Keras 2 (``tf_keras``) for ``tf.keras``: TF 2.16
otherwise resolves ``tf.keras`` to Keras 3, which tensorflow-recommenders and
TFMA do not support. The variable must be set before TensorFlow is imported.
"""
import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"
USER_TF_LOG_LEVEL = os.environ.get("TF_CPP_MIN_LOG_LEVEL")  # the c2al command quiets TF further unless set
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"


def _ignore_tf_teardown_noise() -> None:
    """TF 2.16's ``AtomicFunction.__del__`` raises ``TypeError`` when a process
    (e.g. a Beam worker) exits while traced functions are still alive; Python then
    prints an "Exception ignored" traceback for each one. Only that case is
    silenced; every other unraisable exception reaches the previous hook."""
    import sys

    previous = sys.unraisablehook

    def hook(unraisable):
        obj = getattr(unraisable, "object", None)
        if (unraisable.exc_type is TypeError
                and getattr(obj, "__qualname__", "") == "AtomicFunction.__del__"):
            return
        previous(unraisable)

    sys.unraisablehook = hook


_ignore_tf_teardown_noise()
