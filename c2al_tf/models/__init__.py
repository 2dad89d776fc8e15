"""The model: configuration, encoders, the multi-head model, training protocol and glue."""
from c2al_tf.models.builder import C2ALModel, build_model
from c2al_tf.models.config import ENCODERS, PRIMARY, ModelConfig
from c2al_tf.models.features import FeatureSpec
from c2al_tf.models.training import head_priors, make_dataset, predict, set_seed, train

__all__ = ["ENCODERS", "PRIMARY", "C2ALModel", "FeatureSpec", "ModelConfig", "build_model", "head_priors",
           "make_dataset", "predict", "set_seed", "train"]
