"""TFX custom components of c2al-tf (thin wrappers over c2al_tf)."""
import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"
