"""Shared test helpers: small synthetic tables and a planted CohortSpec."""
import os
import sys

import numpy as np

from c2al_tf.cohorts import CohortSpec
from c2al_tf.data import generate, ground_truth
from c2al_tf.data.readers import table_from_frame

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = sys.executable


def synthetic_table(rows=6000, seed=0):
    return table_from_frame(generate(rows, seed), "click", source=f"synthetic[{rows},{seed}]")


def planted_spec():
    truth = ground_truth()
    return CohortSpec.from_pairs("click", [{
        "axis": ["user_value"], "divergence": 0.3,
        "head": {"name": "user_value_head", "aux_label": "aux__user_value_head",
                 "predicate": {"feature": "user_value", "min": truth.head_min, "max": None}},
        "tail": {"name": "user_value_tail", "aux_label": "aux__user_value_tail",
                 "predicate": {"feature": "user_value", "min": None, "max": truth.tail_max}}}], method="manual")


def write_spec(path):
    planted_spec().save(str(path))
    return str(path)
