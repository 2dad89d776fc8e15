"""TFX Transform module: ``preprocessing_fn`` runs :func:`c2al_tf.data.transform.preprocessing`.

custom_config (from the pipeline, one :class:`c2al_tf.data.transform.TransformConfig`):
label, categorical (``--categorical`` plus the schema's ``int_domain.is_categorical``),
numeric, vocab_budget.
"""
import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"

import c2al_tf  # noqa: E402,F401
from c2al_tf.data.transform import TransformConfig, preprocessing  # noqa: E402


def preprocessing_fn(inputs, custom_config):
    return preprocessing(inputs, TransformConfig.from_dict(custom_config))
