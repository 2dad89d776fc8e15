"""The user's own Transform module: a preprocessing_fn written for their model, with no
c2al code in it. The CohortMiner's aux__* labels pass through untouched because the
Trainer reads them from the raw examples."""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # Keras 2 (tf.keras), as the Trainer module uses

import tensorflow as tf  # noqa: E402
import tensorflow_transform as tft  # noqa: E402

NUMERIC = ["tenure_days", "bid"]
CATEGORICAL = ["age", "country", "surface", "device"]
INTEGER = ["item_category", "hour"]
LABEL = "click"


def _dense(x, default):
    if isinstance(x, tf.sparse.SparseTensor):
        x = tf.sparse.to_dense(tf.sparse.reset_shape(x, [x.dense_shape[0], 1]), default_value=default)
    return tf.reshape(x, [-1])


def preprocessing_fn(inputs):
    out = {}
    for name in NUMERIC:
        out[name] = tft.scale_to_z_score(tf.math.log1p(tf.cast(_dense(inputs[name], 0.0), tf.float32)))
    for name in CATEGORICAL:
        out[name] = tft.compute_and_apply_vocabulary(_dense(inputs[name], ""), num_oov_buckets=1, vocab_filename=name)
    for name in INTEGER:
        out[name] = tft.compute_and_apply_vocabulary(tf.strings.as_string(_dense(inputs[name], -1)),
                                                     num_oov_buckets=1, vocab_filename=name)
    return out
