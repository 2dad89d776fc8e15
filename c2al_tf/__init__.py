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


# The public API, imported on first use (PEP 562) so that ``import c2al_tf`` stays light and
# sets TF_USE_LEGACY_KERAS before TensorFlow loads. Documented in docs/api.md.
_PUBLIC = {
    # data
    "read_table": "c2al_tf.data.readers",
    "split_validation": "c2al_tf.data.content_hash",
    # cohorts
    "CohortSpec": "c2al_tf.cohorts.spec",
    "MiningConfig": "c2al_tf.cohorts.config",
    "mine_table": "c2al_tf.cohorts.miner",
    "mine": "c2al_tf.cohorts.miner",
    "binnings_and_axes": "c2al_tf.cohorts.miner",
    # C2AL on your own Keras / TFRS model
    "add_cohort_heads": "c2al_tf.models.heads",
    "add_cohort_heads_to_encoder": "c2al_tf.models.heads",
    "CohortHeads": "c2al_tf.models.heads",
    "CohortModel": "c2al_tf.models.heads",
    "cohort_labels": "c2al_tf.labels",
    "with_cohort_labels": "c2al_tf.labels",
    "with_miner_labels": "c2al_tf.labels",
    # the protocol
    "TrainConfig": "c2al_tf.models.protocol",
    "train_cohort_model": "c2al_tf.models.search",
    "SearchResult": "c2al_tf.models.search",
    "compare_to_baseline": "c2al_tf.models.search",
    "AveragedWeights": "c2al_tf.models.averaging",
    # c2al's own model
    "FeatureSpec": "c2al_tf.models.features",
    "ModelConfig": "c2al_tf.models.config",
    "build_model": "c2al_tf.models.builder",
    "C2ALModel": "c2al_tf.models.builder",
    "MultiHeadModel": "c2al_tf.models.multihead",
    # export
    "export_saved_model": "c2al_tf.export",
    "keras_inputs": "c2al_tf.export",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name):
    if name in _PUBLIC:
        import importlib

        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'c2al_tf' has no attribute '{name}'")


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))
