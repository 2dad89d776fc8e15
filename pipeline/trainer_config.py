"""The Trainers' ``custom_config``: one dataclass, written by the pipeline and read by
``run_fn``, so a key is spelled in one place and an unknown one is refused."""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, Mapping

from c2al_tf.errors import C2ALInputError
from c2al_tf.models.config import EMBEDDING_L2
from c2al_tf.models.protocol import TrainConfig

PLATFORM_PREFIX = "ai_platform_"  # keys TFX's Vertex AI Trainer reads (region, training args, enable)
# keys of pipelines compiled by c2al-tf 0.x, when the Trainer typed features without a
# Transform: still accepted, and ignored (the Transform types every feature now)
RETIRED_KEYS = ("categorical", "vocab_rows")


@dataclasses.dataclass
class TrainerConfig:
    """``label``: the label column; ``baseline``: train without auxiliary heads (the
    BaselineTrainer); ``model``, ``embedding_l2``: :class:`~c2al_tf.models.ModelConfig`'s;
    ``seed``; ``training``: the protocol
    (:class:`~c2al_tf.models.protocol.TrainConfig`, flattened into custom_config);
    ``platform``: the Vertex AI Trainer's own keys (``ai_platform_*``), passed through."""

    label: str
    baseline: bool = False
    model: str = "attention_fm"
    embedding_l2: float = EMBEDDING_L2
    seed: int = 0
    training: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    platform: Dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_custom_config(self) -> Dict[str, Any]:
        own = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("training", "platform")}
        return {**own, **self.training.to_dict(), **self.platform}

    @classmethod
    def from_custom_config(cls, cfg: Mapping[str, Any]) -> "TrainerConfig":
        """Parses a Trainer's ``custom_config``; a key that is neither a field here, nor
        a TrainConfig field, nor a platform key is refused in one line naming it."""
        cfg = dict(cfg or {})
        own = {f.name for f in dataclasses.fields(cls)} - {"training", "platform"}
        protocol = {f.name for f in dataclasses.fields(TrainConfig)}
        unknown = sorted(k for k in cfg if k not in own | protocol | set(RETIRED_KEYS)
                         and not k.startswith(PLATFORM_PREFIX))
        if unknown:
            raise C2ALInputError(f"custom_config: unknown key{'s' if len(unknown) > 1 else ''} "
                                 f"{', '.join(repr(k) for k in unknown)}; known keys: "
                                 f"{', '.join(sorted(own | protocol))} (and {PLATFORM_PREFIX}*)")
        if "label" not in cfg:
            raise C2ALInputError("custom_config: 'label' is required (the label column)")
        training = TrainConfig(**{k: cfg[k] for k in protocol if k in cfg})
        return cls(**{k: cfg[k] for k in own if k in cfg}, training=training,
                   platform={k: v for k, v in cfg.items() if k.startswith(PLATFORM_PREFIX)})
