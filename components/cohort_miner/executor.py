"""CohortMiner executor: reads artifacts, runs c2al_tf's mining and labeling on Beam."""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Dict, List

import apache_beam as beam
from tfx import types
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.components.util import examples_utils, tfxio_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils
from tfx.utils import io_utils

import c2al_tf  # noqa: F401
from c2al_tf.cohorts.binning import binning_features
from c2al_tf.cohorts.miner import binnings_and_axes, mine
from c2al_tf.cohorts.core import format_table
from c2al_tf.cohorts.statistics import cohort_statistics
from c2al_tf.cohorts.config import MiningConfig
from c2al_tf.errors import C2ALInputError
from c2al_tf.cohorts.spec import predicate_features
from c2al_tf.data.records import ReadRecordBatches, WriteRecordBatches, records_to_record_batch, sample_records
from c2al_tf.data.sampling import sample_rate
from c2al_tf.labels import AuxSuffixes, label_records
from c2al_tf.names import COHORTS_FILE

_TELEMETRY = ["C2ALCohortMiner"]
RAW = "__raw_record__"  # raw-record column of the predictions mode's TFXIO read
SLICED_STATS_FILE = "cohort_statistics.pb"
SINGLE_AXIS_STATS_FILE = "single_axis_statistics.pb"
RANKING_FILE = "ranking.txt"  # the ranked axes as `c2al mine` prints them
BATCH = 10_000  # records per batch: per-slice overhead of TFDV dominates on small batches


def _split_list(value) -> List[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


class _AddAuxLabels(beam.DoFn):
    """Appends aux__<cohort> and c2al_cohorts to every record of a batch. The
    CohortSpec document arrives as a side input; only the label and the features
    its predicates read are parsed."""

    def __init__(self, label, types):
        self.label_feature, self.types = label, dict(types)
        self.suffixes = None

    def process(self, records, spec_doc):
        if self.suffixes is None:
            self.cohorts = [c for p in spec_doc["pairs"] for c in (p["head"], p["tail"])]
            self.suffixes = AuxSuffixes(self.cohorts)
            needed = {self.label_feature} | {f for c in self.cohorts for f in predicate_features(c["predicate"])}
            self.parse = {f: self.types[f] for f in needed if f in self.types}
        yield label_records(records, records_to_record_batch(records, self.parse), self.label_feature,
                            self.cohorts, self.suffixes)


@dataclasses.dataclass
class _Job:
    """What one execution works on, checked and loaded by :meth:`Executor._plan`."""

    examples: Any
    splits: List[str]
    split: str
    label: str
    config: MiningConfig
    schema: Any
    binnings: list
    axes: list
    types: Dict[str, int]
    parse_types: Dict[str, int]
    cohorts_uri: str
    out: Any
    spec_paths: List[str]
    rows: int = 0  # examples in the mining split (its statistics)

    @property
    def sliced_path(self) -> str:
        return os.path.join(self.cohorts_uri, SLICED_STATS_FILE)

    @property
    def ranking_path(self) -> str:
        return os.path.join(self.cohorts_uri, RANKING_FILE)


class Executor(base_beam_executor.BaseBeamExecutor):
    """Do: plan (check inputs, axes from StatisticsGen's statistics) -> mine (sliced
    statistics or a baseline's predictions) -> label every split with the mined
    spec (``aux__*`` and ``c2al_cohorts``) -> report."""

    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        job = self._plan(input_dict, output_dict, exec_properties)
        if job.config.by == "pairwise":  # one Beam pipeline: sample -> mine -> label
            ranking = self._mine_sample(job)
        else:
            if job.config.needs_model:
                batches, predictions = self._scored_split(input_dict, job)
                spec, results = mine(batches, job.label, job.binnings, job.axes, job.config, predictions=predictions)
            else:
                spec, results = mine(None, job.label, job.binnings, job.axes, job.config,
                                     statistics=lambda columns, ranked: self._sliced_statistics(job, columns, ranked))
            ranking = _save(spec, results, job.spec_paths, job.ranking_path)
            with self._make_beam_pipeline() as p:
                self._write_labeled(p, job, beam.pvalue.AsSingleton(p | "Spec" >> beam.Create([spec.doc])))
        print(ranking, flush=True)

    def _plan(self, input_dict, output_dict, exec_properties) -> _Job:
        """Checks the inputs (anomalies, payload, split, label) and derives the axes."""
        import tensorflow_data_validation as tfdv

        examples = artifact_utils.get_single_instance(input_dict["examples"])
        statistics = artifact_utils.get_single_instance(input_dict["statistics"])
        label = exec_properties["label"]
        config = MiningConfig.from_properties(exec_properties)  # absent/None -> default; an explicit 0 stays 0
        split = exec_properties.get("mining_split")
        split = "train" if split is None else split
        splits = artifact_utils.decode_split_names(examples.split_names)
        check_anomalies(input_dict.get("anomalies") or [])
        payload = examples_utils.get_payload_format(examples)
        if payload != example_gen_pb2.FORMAT_TF_EXAMPLE:
            raise C2ALInputError(f"CohortMiner: examples must hold tf.Example records (FORMAT_TF_EXAMPLE); got "
                                 f"{example_gen_pb2.PayloadFormat.Name(payload)}")
        if split not in splits:
            raise C2ALInputError(f"CohortMiner: mining_split '{split}' is not a split of the examples ({splits})")
        global_stats = stats_artifact_utils.load_statistics(statistics, split).proto()
        schema = tfdv.infer_schema(global_stats)
        binnings, axes = binnings_and_axes(global_stats, label, list(config.axes) if config.axes else None,
                                           config.min_support,
                                           categorical=_split_list(exec_properties.get("categorical")),
                                           bins=config.bins)
        if not axes:
            raise C2ALInputError(f"CohortMiner: no feature of the '{split}' statistics can be an axis")
        types_ = {f.name: f.type for f in schema.feature}
        needed = {label} | {f for b in binnings for f in binning_features(b)}
        parse_types = {f: types_[f] for f in needed if f in types_}
        if label not in parse_types:
            raise C2ALInputError(f"CohortMiner: label '{label}' is not a feature of the '{split}' statistics")
        cohorts_uri = artifact_utils.get_single_instance(output_dict["cohorts"]).uri
        out = artifact_utils.get_single_instance(output_dict["output_examples"])
        out.split_names = artifact_utils.encode_split_names(splits)
        examples_utils.set_payload_format(out, payload)
        spec_paths = [os.path.join(cohorts_uri, COHORTS_FILE), os.path.join(out.uri, COHORTS_FILE)]
        rows = int(global_stats.datasets[0].num_examples) if global_stats.datasets else 0
        return _Job(examples, splits, split, label, config, schema, binnings, axes, types_, parse_types,
                    cohorts_uri, out, spec_paths, rows)

    @staticmethod
    def _read(p, job: _Job, split: str, name: str):
        pattern = io_utils.all_files_pattern(artifact_utils.get_split_uri([job.examples], split))
        return p | f"{name}[{split}]" >> ReadRecordBatches(pattern, BATCH)

    def _parsed(self, p, job: _Job, split: str):
        """The mining split as RecordBatches of the binned features and the label."""
        return self._read(p, job, split, "Read") | f"Parse[{split}]" >> beam.Map(records_to_record_batch,
                                                                                 job.parse_types)

    def _write_labeled(self, p, job: _Job, spec_side) -> None:
        """Every split, with the ``aux__*`` and ``c2al_cohorts`` features of the spec
        (a side input). Separate reads: the labeling stage runs once the spec is
        mined and streams its input (nothing is held waiting for the side input)."""
        for s in job.splits:
            _ = (self._read(p, job, s, "ReadForLabels")
                 | f"AddAux[{s}]" >> beam.ParDo(_AddAuxLabels(job.label, job.types), spec_side)
                 | f"Write[{s}]" >> WriteRecordBatches(
                        os.path.join(artifact_utils.get_split_uri([job.out], s), "data_tfrecord"), ".gz"))

    def _sliced_statistics(self, job: _Job, columns, axes):
        """The stats mode's sliced statistics of the whole mining split (a Beam pass),
        written to the cohorts artifact: the last pass as cohort_statistics.pb, the
        single axes' pass also as single_axis_statistics.pb when crosses may follow."""
        import tensorflow as tf
        import tensorflow_data_validation as tfdv

        with self._make_beam_pipeline() as p:
            _ = (self._parsed(p, job, job.split) | "Mine" >> _CohortStats(columns, axes, job.label)
                 | "WriteSliced" >> tfdv.WriteStatisticsToBinaryFile(job.sliced_path))
        single_axes = not any(a.kind == "cross" for a in axes)  # the first pass; crosses may follow
        if single_axes and job.config.cross_top >= 2:
            tf.io.gfile.copy(job.sliced_path, os.path.join(job.cohorts_uri, SINGLE_AXIS_STATS_FILE), overwrite=True)
        return tfdv.load_stats_binary(job.sliced_path)

    def _mine_sample(self, job: _Job) -> str:
        """Pairwise mode in one Beam pipeline: a uniform sample of the mining split (at
        about ``max_rows`` records, chosen by content hash: :mod:`c2al_tf.data.sampling`) is mined into the spec, which
        labels every split as a side input. Returns the ranking table."""
        rate = sample_rate(job.config.max_rows, job.rows)
        with self._make_beam_pipeline() as p:
            sample = (self._read(p, job, job.split, "Read")
                      | "Sample" >> beam.Map(sample_records, rate)
                      | "NonEmpty" >> beam.Filter(len)
                      | "Parse" >> beam.Map(records_to_record_batch, job.parse_types)
                      | "Collect" >> beam.combiners.ToList())
            spec_side = sample | "MineSpec" >> beam.Map(_mine_and_save, job.label, job.binnings, job.axes, job.config,
                                                        job.spec_paths, job.ranking_path)
            self._write_labeled(p, job, beam.pvalue.AsSingleton(spec_side))
        import tensorflow as tf

        with tf.io.gfile.GFile(job.ranking_path) as f:
            return f.read()

    def _scored_split(self, input_dict, job: "_Job"):
        """The mining split in memory (RecordBatches) and a baseline model's probability
        per row, through its serving_default (modes ``predictions`` and ``residuals``)."""
        import numpy as np
        import tensorflow as tf
        from tfx.utils import path_utils
        from tfx_bsl.tfxio import dataset_options

        models = input_dict.get("baseline_model") or []
        if not models:
            raise C2ALInputError(f"CohortMiner: by='{job.config.by}' needs a baseline_model input")
        serve = tf.saved_model.load(path_utils.serving_model_path(artifact_utils.get_single_uri(models))
                                    ).signatures["serving_default"]
        io = tfxio_utils.get_split_tfxio([job.examples], job.split, _TELEMETRY, schema=job.schema,
                                         raw_record_column_name=RAW)
        batches, preds = [], []
        for batch in io.RecordBatches(dataset_options.RecordBatchesOptions(batch_size=4096, shuffle=False,
                                                                           num_epochs=1)):
            batches.append(batch)
            records = [r[0] if isinstance(r, list) else r
                       for r in batch.column(batch.schema.names.index(RAW)).to_pylist()]
            preds.append(serve(examples=tf.constant(records))["probabilities"].numpy().reshape(-1))
        return batches, np.concatenate(preds) if preds else np.zeros(0)


def _save(spec, results, spec_paths: List[str], ranking_path: str) -> str:
    """Writes cohorts.json (both copies) and the ranking table; returns the table."""
    import tensorflow as tf

    for path in spec_paths:
        spec.save(path)
    ranking = format_table(results)
    with tf.io.gfile.GFile(ranking_path, "w") as f:
        f.write(ranking)
    return ranking


def _mine_and_save(batches, label: str, binnings, axes, config: MiningConfig, spec_paths: List[str],
                   ranking_path: str):
    """Mines the sampled record batches (in a Beam Map), saves; returns the spec document."""
    if not batches:
        raise C2ALInputError("CohortMiner: the mining split holds no examples to mine")
    spec, results = mine(batches, label, binnings, axes, config)
    _save(spec, results, spec_paths, ranking_path)
    return spec.doc


def check_anomalies(artifacts) -> None:
    """Raises a readable C2ALInputError when ExampleValidator found anomalies.

    The verdict is the anomalies artifact's ``blessed`` custom property (one value
    per split, set by ExampleValidator); the details come from its
    ``SchemaDiff.pb``, read through ``tf.io.gfile`` so remote artifacts (gs://)
    are checked too. Without the property (an older ExampleValidator) the
    ``SchemaDiff.pb`` itself decides."""
    for artifact in artifacts:
        blessed = {}
        if artifact.has_custom_property("blessed"):
            blessed = dict(artifact.get_json_value_custom_property("blessed") or {})
        for split in artifact_utils.decode_split_names(artifact.split_names):
            if blessed.get(split, 0) == 1:
                continue
            problems = _anomaly_problems(os.path.join(artifact_utils.get_split_uri([artifact], split),
                                                      "SchemaDiff.pb"))
            if split in blessed and not problems:
                problems = ["ExampleValidator did not bless this split"]
            if problems:
                raise C2ALInputError(f"ExampleValidator found anomalies in split '{split}': {'; '.join(problems)} "
                                     f"(fix the data or update the schema, then rerun)")


def _anomaly_problems(path: str) -> List[str]:
    import tensorflow as tf
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    if not tf.io.gfile.exists(path):
        return []
    with tf.io.gfile.GFile(path, "rb") as f:
        anomalies = anomalies_pb2.Anomalies.FromString(f.read())
    problems = [f"feature '{name}': {info.short_description or info.description}"
                for name, info in sorted(anomalies.anomaly_info.items())]
    if anomalies.HasField("dataset_anomaly_info"):
        problems.append(f"dataset: {anomalies.dataset_anomaly_info.short_description}")
    return problems


class _CohortStats(beam.PTransform):
    def __init__(self, binnings, axes, label):
        super().__init__()
        self._binnings, self._axes, self._label_feature = binnings, axes, label  # PTransform owns .label

    def expand(self, batches):
        return cohort_statistics(batches, self._binnings, self._axes, self._label_feature)
