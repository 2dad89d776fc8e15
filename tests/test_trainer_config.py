"""The Trainers' custom_config (pipeline/trainer_config.py)."""
import pytest

from c2al_tf.errors import C2ALInputError
from c2al_tf.models.protocol import TrainConfig
from pipeline.trainer_config import TrainerConfig


def test_custom_config_round_trips_and_refuses_an_unknown_key():
    config = TrainerConfig(label="click", model="mlp", training=TrainConfig(epochs=3),
                           platform={"ai_platform_vertex_region": "us-central1"})
    assert TrainerConfig.from_custom_config(config.to_custom_config()) == config
    with pytest.raises(C2ALInputError) as e:
        TrainerConfig.from_custom_config({"label": "click", "epoch": 3})
    assert "custom_config: unknown key 'epoch'; known keys:" in str(e.value) and "\n" not in str(e.value)
    # keys of pipelines compiled when the Trainer typed features itself are accepted and ignored
    assert TrainerConfig.from_custom_config({"label": "click", "categorical": ["a"], "vocab_rows": 10}) == \
        TrainerConfig(label="click")
    with pytest.raises(C2ALInputError, match="custom_config: 'label' is required"):
        TrainerConfig.from_custom_config({"epochs": 3})
