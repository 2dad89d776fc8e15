"""Runners: LocalDagRunner (default) or BeamDagRunner locally, Kubeflow V2 compile.

Beam arguments pass through to every Beam stage; without any, the DirectRunner
runs multi-process on every core (``--direct_running_mode=multi_processing
--direct_num_workers=0``). Give e.g. ``--runner=FlinkRunner --flink_master=...``,
``--runner=SparkRunner ...`` or ``--runner=DataflowRunner --project=... --region=...
--temp_location=gs://...`` to run the data stages on a cluster.
"""
from __future__ import annotations

import logging
import os
import re
import sys
import time
from typing import List, Optional

DEFAULT_BEAM_ARGS = ["--direct_running_mode=multi_processing", "--direct_num_workers=0"]
# Set (to 1) by ``c2al pipeline run --verbose``: the Trainers print Keras' epoch lines and
# TensorFlow/TFX warnings reach the console; otherwise stage lines and results only.
VERBOSE_ENV = "C2AL_VERBOSE"


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV) == "1"


class ProgressHandler(logging.Handler):
    """Prints one line per component start/finish from the orchestrator's log."""

    PATTERN = re.compile(r"Component (\S+) is (running|finished)")

    def __init__(self, stream=None):
        super().__init__(logging.INFO)
        self.stream = stream or sys.stdout
        self.started = {}
        self.t0 = time.time()

    def emit(self, record):
        m = self.PATTERN.search(record.getMessage())
        if not m:
            return
        name, state = m.groups()
        if state == "running":
            self.started[name] = time.time()
            print(f"[pipeline] {time.time() - self.t0:7.1f}s  {name}: running", file=self.stream, flush=True)
        else:
            took = time.time() - self.started.get(name, time.time())
            print(f"[pipeline] {time.time() - self.t0:7.1f}s  {name}: done in {took:.1f}s", file=self.stream,
                  flush=True)


def run(pipeline, runner: str = "local") -> None:
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.INFO)
    handler = ProgressHandler()
    root_logger = logging.getLogger()
    root_logger.addHandler(handler)
    quiet = _quiet_absl_stderr()
    try:
        if runner == "local":
            from tfx.orchestration.local.local_dag_runner import LocalDagRunner
            LocalDagRunner().run(pipeline)
        elif runner == "beam":
            from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner
            BeamDagRunner().run(pipeline)
        else:
            raise ValueError(f"unknown runner '{runner}': use local or beam")
    finally:
        root_logger.removeHandler(handler)
        quiet()


def _quiet_absl_stderr():
    """Keeps INFO records flowing to our progress handler while every other
    handler (absl's, TensorFlow's own, or one a library installed on the root logger) shows only
    errors (warnings too with ``--verbose``)."""
    from absl import logging as absl_logging

    handlers = [absl_logging.get_absl_handler()] + [
        h for h in logging.getLogger().handlers + logging.getLogger("tensorflow").handlers
        if not isinstance(h, ProgressHandler)]
    previous = [(h, h.level) for h in handlers]
    benign = _BenignTfxWarnings()
    for h in handlers:
        h.setLevel(max(h.level, logging.WARNING if verbose() else logging.ERROR))
        h.addFilter(benign)

    def restore():
        for h, level in previous:
            h.setLevel(level)
            h.removeFilter(benign)
    return restore


class _BenignTfxWarnings(logging.Filter):
    """Drops TFX warnings that carry no information for a LocalDagRunner user
    (logged once per input channel of every component)."""

    MESSAGES = ("ArtifactQuery.property_predicate is not supported",)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(m in message for m in self.MESSAGES)


def compile_kubeflow(pipeline, out: str, image: str = "c2al-tf:latest") -> str:
    """Writes a KFP v2 pipeline spec (JSON) for ``pipeline`` with KubeflowV2DagRunner."""
    try:
        from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner
    except ImportError as e:  # kfp is an optional extra
        from c2al_tf.errors import C2ALInputError
        raise C2ALInputError(f"Kubeflow compile needs the kubeflow extra: pip install -c constraints.txt "
                             f"'.[kubeflow]' ({e})")
    out = os.path.abspath(out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = f"{out}.tmp{os.getpid()}"
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(default_image=image),
        output_dir=os.path.dirname(tmp), output_filename=os.path.basename(tmp))
    runner.run(pipeline, write_out=True)
    os.replace(tmp, out)
    return out


def beam_args(user_args: Optional[List[str]]) -> List[str]:
    args = list(user_args or [])
    return args if args else list(DEFAULT_BEAM_ARGS)
