"""Model builder, losses and training glue."""
from c2al_tf.models.builder import ENCODERS, PRIMARY, C2ALModel, ModelConfig, build_model
from c2al_tf.models.features import FeatureSpec
from c2al_tf.models.training import predict, set_seed, train

__all__ = ["ENCODERS", "PRIMARY", "C2ALModel", "FeatureSpec", "ModelConfig", "build_model", "predict",
           "set_seed", "train"]
