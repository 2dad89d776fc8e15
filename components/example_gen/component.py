"""The streaming CSV ExampleGen: TFX's ``CsvExampleGen`` component (same spec,
driver, Examples artifact and splits by hash) run by :mod:`components.example_gen.executor`,
whose memory does not grow with the rows."""
from __future__ import annotations

from tfx import v1 as tfx
from tfx.dsl.components.base import executor_spec

from components.example_gen import executor


class StreamingCsvExampleGen(tfx.components.CsvExampleGen):
    """``tfx.components.CsvExampleGen`` with the streaming executor.

    Takes CsvExampleGen's arguments (``input_base``, ``input_config``,
    ``output_config``, ``range_config``, ...) and writes the same Examples
    artifact; the records are not shuffled before they are written. The pipeline
    gives it the id ``CsvExampleGen``.
    """

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)
