"""Executor of the streaming CSV ExampleGen: TFX's CsvExampleGen executor with
two changes that keep its memory flat as the rows grow, and nothing else:

- each split's CSV files are converted by :func:`c2al_tf.data.csv_examples.csv_to_examples`
  (the files read twice, never held for the type inference; the second read in
  byte ranges on every worker);
- the records are written without TFX's ``Reshuffle`` before the write (a runner
  shuffles by grouping every record by a random key; Beam's DirectRunner holds
  that group in memory).

Everything else is TFX's: the splits by hash (``BaseExampleGenExecutor.GenerateExamplesByBeam``),
the output files (gzipped TFRecords named ``data_tfrecord-*.gz`` under ``Split-<name>``), the
artifact's properties and the driver (spans, versions, fingerprints).
"""
from __future__ import annotations

import os
from typing import Any, Dict, List

import apache_beam as beam
from tfx import types
from tfx.components.example_gen import base_example_gen_executor, write_split
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.util import examples_utils
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from c2al_tf.data.csv_examples import csv_to_examples


@beam.ptransform_fn
def _csv_split_to_examples(pipeline: beam.Pipeline, exec_properties: Dict[str, Any],
                           split_pattern: str) -> beam.PCollection:
    pattern = os.path.join(exec_properties[standard_component_specs.INPUT_BASE_KEY], split_pattern)
    return pipeline | "CsvToExamples" >> csv_to_examples(pattern)


@beam.ptransform_fn
def _write_split(records: beam.PCollection, split_uri: str) -> beam.pvalue.PDone:
    """TFX's ``write_split.WriteSplit`` for tf.Examples, without its Reshuffle."""
    return (records
            | "Serialize" >> beam.ParDo(write_split.MaybeSerialize())
            | "Write" >> beam.io.WriteToTFRecord(
                os.path.join(split_uri, write_split.DEFAULT_TF_RECORD_FILE_NAME), file_name_suffix=".gz"))


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
    """CSV to tf.Example splits (gzipped TFRecords), memory flat in the rows."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return _csv_split_to_examples

    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        input_config, output_config = example_gen_pb2.Input(), example_gen_pb2.Output()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config)
        proto_utils.json_to_proto(exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], output_config)
        output_format = exec_properties.get(standard_component_specs.OUTPUT_DATA_FORMAT_KEY)
        if output_format not in (None, example_gen_pb2.FORMAT_TF_EXAMPLE):
            raise ValueError("The streaming CSV ExampleGen writes tf.Examples only "
                             f"(output_data_format {output_format}); use TFX's CsvExampleGen for other formats.")
        examples = output_dict[standard_component_specs.EXAMPLES_KEY]
        artifact = artifact_utils.get_single_instance(examples)
        artifact.split_names = artifact_utils.encode_split_names(
            example_gen_utils.generate_output_split_names(input_config, output_config))
        with self._make_beam_pipeline() as pipeline:
            for name, split in self.GenerateExamplesByBeam(pipeline, exec_properties).items():
                _ = split | f"WriteSplit[{name}]" >> _write_split(artifact_utils.get_split_uri(examples, name))
        file_format = exec_properties.get(standard_component_specs.OUTPUT_FILE_FORMAT_KEY)
        for output in examples:  # the artifact's properties as TFX's executor sets them
            if output_format:
                examples_utils.set_payload_format(output, output_format)
            if file_format:
                examples_utils.set_file_format(output, write_split.to_file_format_str(file_format))
