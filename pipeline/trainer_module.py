"""TFX Trainer module: ``run_fn`` trains the C2AL model (or, with
``custom_config["baseline"]``, the same encoder without auxiliary heads) from the
CohortMiner's Examples and exports the serving SavedModel.

custom_config keys: label (required), baseline (bool), model (attention_fm | dhen |
dcn | fm | mlp), epochs, batch_size, aux_weight, seed, categorical (list),
vocab_rows (rows read to build vocabularies and normalization, default 200000).

Typing: the same rule as every ``c2al`` command (:mod:`c2al_tf.data.column_types`:
id-named integers categorical, other integers numeric buckets + a categorical
view); the schema's ``int_domain.is_categorical: true`` (edit it and pass
``--schema``) and ``custom_config["categorical"]`` force a feature categorical.

Training streams the TFRecords: each batch of serialized examples is parsed with
the model's FeatureSpec and mapped to ``(features, {head: label})``, the
auxiliary labels coming from the ``aux__<cohort>`` features CohortMiner wrote.
"""
import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"

import json  # noqa: E402

import c2al_tf  # noqa: E402,F401
import tensorflow as tf  # noqa: E402

from c2al_tf.cohorts import CohortSpec  # noqa: E402
from c2al_tf.data.readers import read_tfrecord  # noqa: E402
from c2al_tf.export import export_saved_model  # noqa: E402
from c2al_tf.labels import MEMBERSHIP_FEATURE  # noqa: E402
from c2al_tf.models import PRIMARY, FeatureSpec, ModelConfig, build_model, set_seed  # noqa: E402
from c2al_tf.models.training import head_priors  # noqa: E402

COHORTS_FILE = "cohorts.json"


def _files(patterns):
    files = []
    for pattern in patterns:
        files.extend(sorted(tf.io.gfile.glob(pattern)))
    if not files:
        raise ValueError(f"no training files match {patterns}")
    return files


def load_cohorts(train_patterns):
    """The CohortSpec CohortMiner stored at the root of its Examples artifact."""
    split_dir = os.path.dirname(train_patterns[0])
    path = os.path.join(os.path.dirname(split_dir), COHORTS_FILE)
    if not tf.io.gfile.exists(path):
        raise ValueError(f"{path} not found: the Trainer's examples must come from CohortMiner")
    return CohortSpec.load(path)


def dataset(files, spec: FeatureSpec, heads, batch_size: int, seed: int, shuffle: bool = True):
    label_features = [spec.label] + [h for h in heads if h != PRIMARY]
    ds = tf.data.TFRecordDataset(files, compression_type="GZIP")
    if shuffle:
        ds = ds.shuffle(100_000, seed=seed, reshuffle_each_iteration=True)

    def to_xy(serialized):
        parsed = spec.parse_examples(serialized, extra_int64=label_features)
        features = {name: parsed[name] for name in spec.names}
        labels = {PRIMARY: parsed[spec.label]}
        labels.update({h: parsed[h] for h in heads if h != PRIMARY})
        return features, labels

    return ds.batch(batch_size).map(to_xy, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(2)


def schema_categorical(schema_path):
    """Features the schema marks ``int_domain { is_categorical: true }``."""
    if not schema_path or not tf.io.gfile.exists(schema_path):
        return []
    from tfx.utils import io_utils
    from tensorflow_metadata.proto.v0 import schema_pb2

    schema = io_utils.parse_pbtxt_file(schema_path, schema_pb2.Schema())
    return [f.name for f in schema.feature if f.HasField("int_domain") and f.int_domain.is_categorical]


def run_fn(fn_args):
    cfg = dict(fn_args.custom_config or {})
    label = cfg["label"]
    seed = int(cfg.get("seed", 0))
    set_seed(seed)
    files = _files(fn_args.train_files)
    spec_doc = load_cohorts(fn_args.train_files)
    cohorts = [] if cfg.get("baseline") else list(spec_doc.cohorts())
    drop = [MEMBERSHIP_FEATURE] + [c["aux_label"] for c in spec_doc.cohorts()]
    categorical = sorted(set(cfg.get("categorical", [])) | set(schema_categorical(getattr(fn_args, "schema_path", None))))
    sample = read_tfrecord(files, label, categorical=[c for c in categorical if c != label], drop=drop,
                           max_rows=int(cfg.get("vocab_rows", 200_000)))
    spec = FeatureSpec.from_table(sample)
    config = ModelConfig(model=cfg.get("model", "attention_fm"),
                         aux_weight=float(cfg.get("aux_weight", ModelConfig.aux_weight)))
    model = build_model(spec, cohorts, config, priors=head_priors(cohorts, sample))
    batch_size = int(cfg.get("batch_size", 1024))
    model.training_model.fit(dataset(files, spec, model.head_names, batch_size, seed),
                             epochs=int(cfg.get("epochs", 2)), verbose=2)
    export_saved_model(model, fn_args.serving_model_dir,
                       extra_metadata={"seed": seed, "baseline": bool(cfg.get("baseline"))})
    with tf.io.gfile.GFile(os.path.join(fn_args.serving_model_dir, "assets.extra", "trainer.json"), "w") as f:
        f.write(json.dumps({"custom_config": cfg, "train_files": files}, default=str))
