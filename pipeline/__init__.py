"""The c2al TFX pipeline: assembly (pipeline.py), Trainer module (trainer_module.py), runners (runner.py)."""
import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"
