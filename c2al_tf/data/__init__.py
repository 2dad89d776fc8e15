"""Data: readers for CSV / TFRecord / Criteo / MovieLens and the synthetic generator."""
from c2al_tf.data.readers import (detect_format, read_criteo, read_csv, read_movielens, read_table,
                                  read_tfrecord)
from c2al_tf.data.synthetic import GroundTruth, generate, ground_truth, write_csv
from c2al_tf.data.table import FeatureTable

__all__ = ["FeatureTable", "GroundTruth", "detect_format", "generate", "ground_truth", "read_criteo",
           "read_csv", "read_movielens", "read_table", "read_tfrecord", "write_csv"]
