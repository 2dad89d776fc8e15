"""Model hyper-parameters (one dataclass shared by every command, the TFX Trainer and the experiment)."""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Dict, Mapping, Optional, Sequence

PRIMARY = "primary"
ENCODERS = ("attention_fm", "dhen", "dcn", "fm", "mlp")  # see c2al_tf.models.encoders
DEFAULT_AUX_WEIGHT = 0.5
# L2 on every categorical embedding table (CategoricalEmbedding.l2), per step, in units of the
# mean per-example loss. Without it a click model's id embeddings memorize their rare rows after
# 1-2 epochs, early stopping ends training there, and what needs more epochs (a cohort's own
# response) is never learned. Chosen on validation rows of four datasets (bench/regularization.py):
# 1e-3 to 1e-2 is a flat optimum on all of them; 1e-3 is the weakest that stops the rise.
EMBEDDING_L2 = 1e-3
# Momentum of the moving average of the weights that validation, early stopping and the kept
# model use (c2al_tf.models.averaging.AveragedWeights): the average of the last ~50 steps instead
# of the last step. On the demo's data it narrowed the training-seed spread of lambda's paired
# validation difference (sd 0.00054 vs 0.00084 over 5 seeds, not significant) with a baseline no
# worse: bench/README.md, "Averaged weights". 0 = off.
EMA_MOMENTUM = 0.98


@dataclasses.dataclass
class ModelConfig:
    """Hyper-parameters. ``aux_weight`` is lambda_C for every auxiliary head (0.5 by
    default, so a head/tail pair adds at most the primary loss's weight);
    ``aux_weights`` overrides it per head (keys: cohort names or aux labels)."""

    model: str = "attention_fm"
    embedding_dim: int = 16
    num_attention: int = 8
    attention_hidden: Sequence[int] = (32,)
    mlp_units: Sequence[int] = (128, 64)
    cross_layers: int = 2
    dropout: float = 0.0
    learning_rate: float = 1e-3
    aux_weight: float = DEFAULT_AUX_WEIGHT
    aux_weights: Optional[Dict[str, float]] = None
    embedding_l2: float = EMBEDDING_L2  # L2 on every categorical embedding table (0: none)
    numeric_buckets: bool = True  # quantile-bucket embedding beside each numeric feature's scaled value
    numeric_scaled: bool = True   # the scaled value's linear term (False: buckets alone; bench/feature_typing.py)
    # Recipe options (ablations in `c2al experiment --variants`; all off by default, measured in the README):
    aux_tower: Sequence[int] = ()     # a small MLP per auxiliary head on the shared representation (() = none)
    aux_warmup_steps: int = 0         # lambda ramps linearly from 0 to its value over this many steps (0 = none)
    gradient_projection: bool = False  # drop the part of the auxiliary gradient that opposes the primary one
    # MMoE (multi-task ablation): K experts of mmoe_units on the shared representation, one gate per head
    # (0 = none). Unlike the options above it changes the serving model (experts + the primary's gate).
    mmoe_experts: int = 0
    mmoe_units: int = 32

    def __post_init__(self):
        if self.model not in ENCODERS:
            raise ValueError(f"unknown model '{self.model}'; choose one of {', '.join(ENCODERS)}")
        if self.aux_weight < 0:
            raise ValueError(f"aux_weight must be >= 0, got {self.aux_weight}")
        if not self.numeric_scaled and not self.numeric_buckets:
            raise ValueError("numeric_scaled=False needs numeric_buckets=True (a numeric feature needs one of them)")
        if not (math.isfinite(float(self.embedding_l2)) and float(self.embedding_l2) >= 0):
            raise ValueError(f"embedding_l2 must be a finite number >= 0, got {self.embedding_l2}")
        if any(int(u) < 1 for u in self.aux_tower):
            raise ValueError(f"aux_tower units must be >= 1, got {list(self.aux_tower)}")
        if int(self.aux_warmup_steps) < 0:
            raise ValueError(f"aux_warmup_steps must be >= 0, got {self.aux_warmup_steps}")
        if int(self.mmoe_experts) < 0 or int(self.mmoe_units) < 1:
            raise ValueError(f"mmoe_experts must be >= 0 and mmoe_units >= 1, got {self.mmoe_experts}, "
                             f"{self.mmoe_units}")
        if self.embedding_dim < 1 or self.num_attention < 1:
            raise ValueError("embedding_dim and num_attention must be >= 1")

    def weight_for(self, cohort: Mapping[str, Any]) -> float:
        weights = self.aux_weights or {}
        for key in (cohort["name"], cohort["aux_label"]):
            if key in weights:
                return float(weights[key])
        return float(self.aux_weight)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["attention_hidden"], d["mlp_units"] = list(self.attention_hidden), list(self.mlp_units)
        d["aux_tower"] = [int(u) for u in self.aux_tower]
        return d
