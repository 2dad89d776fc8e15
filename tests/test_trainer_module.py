"""The TFX Trainer's run_fn on remote storage: it reads the CohortMiner's Examples
and cohorts.json and exports the SavedModel through tf.io.gfile (ram:// is
TensorFlow's in-memory filesystem, with the same API as gs://)."""
import numpy as np
import tensorflow as tf

from c2al_tf.data.examples import table_to_examples, write_tfrecord
from c2al_tf.data.readers import table_from_frame
from c2al_tf.labels import aux_labels
from helpers import planted_spec, synthetic_table


def test_run_fn_reads_and_exports_on_a_remote_filesystem():
    from tfx.components.trainer.fn_args_utils import FnArgs

    from pipeline.trainer_module import run_fn

    root = "ram://c2al-trainer-test"
    spec = planted_spec()
    table = synthetic_table(3000, seed=2)
    frame = table.to_frame()
    for name, values in aux_labels(table.label, table.features, spec.cohorts()).items():
        frame[name] = values
    labeled = table_from_frame(frame.astype(str), "click")
    try:
        write_tfrecord(labeled, f"{root}/examples/Split-train/data_tfrecord-00000-of-00001.gz")
        spec.save(f"{root}/examples/cohorts.json")
        fn_args = FnArgs(train_files=[f"{root}/examples/Split-train/*"],
                         serving_model_dir=f"{root}/model/serving",
                         custom_config={"label": "click", "epochs": 1, "batch_size": 512, "seed": 0})
        run_fn(fn_args)
        loaded = tf.saved_model.load(f"{root}/model/serving")
        examples = table_to_examples(table.take(np.arange(8)), include_label=False)
        p = loaded.signatures["serving_default"](examples=tf.constant(examples))["probabilities"].numpy()
        assert p.shape == (8, 1) and np.all((p > 0) & (p < 1))
        heads = loaded.signatures["all_heads"](examples=tf.constant(examples))
        assert sorted(heads) == ["aux__user_value_head", "aux__user_value_tail", "probabilities"]
        assert tf.io.gfile.exists(f"{root}/model/serving/assets.extra/trainer.json")
    finally:
        from c2al_tf.io_utils import remove_remote_tree

        remove_remote_tree(root)
