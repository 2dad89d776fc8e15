"""TFDV statistics for mining, computed with Beam.

* :func:`global_statistics`: the plain TFDV pass (what StatisticsGen produces).
* :func:`cohort_statistics`: the mining pass: every feature binned
  (:mod:`c2al_tf.cohorts.binning`), sliced by each candidate axis with a TFDV
  ``slicing_config`` (one ``SlicingSpec`` per axis), and weighted by the label
  (``weight_feature``), so each slice's statistics give, for cohort C and every
  other feature F, the examples per bin of F (unweighted counts) and the
  positives per bin of F (label-weighted counts): ``P(y | F = b, C)``.

Both take a PCollection of Arrow RecordBatches (list columns, as TFXIO makes
them), so the same code serves ``c2al mine`` (in-memory batches) and the TFX
component (TFRecords read by TFXIO) on any Beam runner.
"""
from __future__ import annotations

from typing import List, Optional, Sequence

import apache_beam as beam
import pyarrow as pa

from c2al_tf.cohorts.binning import Binning, add_bin_columns

WEIGHT_COLUMN = "c2alweight"
# TFDV computes weighted quantiles of every numeric feature, the weight column
# included, and asserts on a slice whose weights sum to zero (a cohort with no
# positive). The weight column is therefore weighted by a constant 1 instead.
ONE_COLUMN = "c2alone"


def stats_options(**kwargs):
    import tensorflow_data_validation as tfdv

    return tfdv.StatsOptions(**kwargs)


def global_statistics(record_batches: beam.PCollection, num_quantiles: int = 10):
    """PCollection[RecordBatch] -> PCollection[DatasetFeatureStatisticsList] (one)."""
    import tensorflow_data_validation as tfdv

    return record_batches | "GlobalStats" >> tfdv.GenerateStatistics(
        stats_options(num_quantiles_histogram_buckets=num_quantiles, num_top_values=50))


def mining_options(binnings: Sequence[Binning], axes: Sequence[Binning], max_bins: int):
    from tensorflow_data_validation import FeaturePath
    from tfx_bsl.public.proto import slicing_spec_pb2

    config = slicing_spec_pb2.SlicingConfig(
        slicing_specs=[slicing_spec_pb2.SlicingSpec(feature_keys=[a.column]) for a in axes])
    return stats_options(
        feature_allowlist=[b.column for b in binnings] + [WEIGHT_COLUMN, ONE_COLUMN],
        weight_feature=WEIGHT_COLUMN, slicing_config=config,
        per_feature_weight_override={FeaturePath([WEIGHT_COLUMN]): ONE_COLUMN, FeaturePath([ONE_COLUMN]): ONE_COLUMN},
        num_top_values=max_bins + 1, num_rank_histogram_buckets=max_bins + 1,
        enable_semantic_domain_stats=False, use_sketch_based_topk_uniques=True)


class _AddBins(beam.DoFn):
    def __init__(self, binnings, label):
        self.binnings, self.label = binnings, label

    def process(self, batch: pa.RecordBatch):
        import numpy as np

        from c2al_tf.data.arrow import batch_labels

        weight = batch_labels(batch, self.label).astype(np.float64)
        out = add_bin_columns(batch, self.binnings)
        out_names = [b.column for b in self.binnings]
        arrays = [out.column(out.schema.names.index(c)) for c in out_names]
        offsets = pa.array(np.arange(len(weight) + 1, dtype=np.int32))
        arrays.append(pa.ListArray.from_arrays(offsets, pa.array(weight.astype(np.float32))))
        arrays.append(pa.ListArray.from_arrays(offsets, pa.array(np.ones(len(weight), np.float32))))
        yield pa.RecordBatch.from_arrays(arrays, out_names + [WEIGHT_COLUMN, ONE_COLUMN])


def cohort_statistics(record_batches: beam.PCollection, binnings: Sequence[Binning], axes: Sequence[Binning],
                      label: str):
    """PCollection[RecordBatch] -> PCollection[DatasetFeatureStatisticsList] (sliced, weighted)."""
    import tensorflow_data_validation as tfdv

    max_bins = max(b.num_bins for b in binnings)
    return (record_batches
            | "AddBins" >> beam.ParDo(_AddBins(list(binnings), label))
            | "CohortStats" >> tfdv.GenerateStatistics(mining_options(binnings, axes, max_bins)))


def run_statistics(batches: List[pa.RecordBatch], build, beam_args: Optional[List[str]] = None):
    """Runs ``build(pcoll) -> pcoll of stats`` on in-memory batches; returns the proto."""
    import os
    import shutil
    import tempfile

    import tensorflow_data_validation as tfdv
    from apache_beam.options.pipeline_options import PipelineOptions

    tmp = tempfile.mkdtemp(prefix="c2al-stats-")
    path = os.path.join(tmp, "stats.pb")
    try:
        with beam.Pipeline(options=PipelineOptions(beam_args or [])) as p:
            stats = build(p | "Batches" >> beam.Create(batches, reshuffle=False))
            _ = stats | "Write" >> tfdv.WriteStatisticsToBinaryFile(path)
        return tfdv.load_stats_binary(path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
