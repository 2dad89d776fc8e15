"""One pipeline run's options as one typed object: ``c2al pipeline run`` builds it from
its flags, ``c2al demo`` from its own, a Python caller directly; the local run's child
process receives it as JSON. No module here imports TFX."""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict, List, Optional

from c2al_tf.cohorts.config import MiningConfig
from c2al_tf.models.config import EMBEDDING_L2
from c2al_tf.models.protocol import TrainConfig
from pipeline.evaluation import NE_TOLERANCE

RUNNERS = ("local", "beam")
# ExampleGen's train:eval hash buckets. 4:1 leaves the Trainer, which carves its validation
# rows from train, 60% of the rows to fit (2:1 left half); bench/README.md "The demo over five seeds".
SPLIT = (4, 1)


@dataclasses.dataclass
class PipelineOptions:
    """``data``: CSV file / directory of CSVs, or TFRecord files of tf.Example;
    ``label``: its 0/1 label column (``positive_label``: the rule that binarizes another
    label, applied to a copy under ``root/input``); ``root``: pipeline outputs, MLMD and
    pushed models; ``schema``: a schema.pbtxt for ImportSchemaGen; ``model``, ``seed``,
    ``embedding_l2``: the Trainers'; ``training``: the protocol; ``mining``: the
    CohortMiner's (default: ``MiningConfig(seed=seed)``); ``categorical``: integer
    columns the Transform treats as categorical; ``ne_tolerance``: the Evaluator's gate;
    ``split``: ExampleGen's train and eval hash buckets (default :data:`SPLIT`, 4:1);
    ``beam_args``: Beam options of every data stage; ``runner``: ``local``
    (LocalDagRunner) or ``beam`` (BeamDagRunner); ``enable_cache``; ``verbose``: Keras'
    epoch lines and TFX's warnings too."""

    data: str
    label: str
    root: str
    schema: Optional[str] = None
    model: str = "attention_fm"
    seed: int = 0
    embedding_l2: float = EMBEDDING_L2
    training: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    mining: Optional[MiningConfig] = None
    categorical: List[str] = dataclasses.field(default_factory=list)
    ne_tolerance: float = NE_TOLERANCE
    split: List[int] = dataclasses.field(default_factory=lambda: list(SPLIT))
    beam_args: List[str] = dataclasses.field(default_factory=list)
    runner: str = "local"
    enable_cache: bool = True
    positive_label: Optional[str] = None
    verbose: bool = False

    def __post_init__(self):
        if self.mining is None:
            self.mining = MiningConfig(seed=int(self.seed))
        self.split = check_split(self.split)
        if self.runner not in RUNNERS:
            raise ValueError(f"runner must be one of {', '.join(RUNNERS)}, got '{self.runner}'")

    def to_json(self) -> str:
        doc = dataclasses.asdict(self)
        doc["training"] = self.training.to_dict()
        return json.dumps(doc)

    @classmethod
    def from_json(cls, text: str) -> "PipelineOptions":
        doc: Dict[str, Any] = json.loads(text)
        doc["training"] = TrainConfig(**doc["training"])
        doc["mining"] = MiningConfig(**doc["mining"])
        return cls(**doc)


def check_split(split) -> List[int]:
    """``split`` as [train, eval] hash buckets (two integers >= 1), or a C2ALInputError."""
    from c2al_tf.errors import C2ALInputError

    buckets = list(split) if isinstance(split, (list, tuple)) else []
    if len(buckets) != 2 or not all(isinstance(b, int) and b >= 1 for b in buckets):
        raise C2ALInputError(f"split must be two whole numbers >= 1 (train and eval hash buckets, e.g. 4:1), "
                             f"got {split!r}", arguments=("split",))
    return buckets

