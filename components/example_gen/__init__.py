"""Streaming CSV ExampleGen: TFX's CsvExampleGen with an executor whose memory does not grow with the rows."""
from components.example_gen.component import StreamingCsvExampleGen

__all__ = ["StreamingCsvExampleGen"]
