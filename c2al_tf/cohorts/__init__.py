"""Cohorts: the CohortSpec contract and (in mining modules) how cohorts are found."""
from c2al_tf.cohorts.spec import (AUX_PREFIX, FORMAT, CohortSpec, aux_label_name, describe_predicate,
                                  predicate_mask, validate)

__all__ = ["AUX_PREFIX", "FORMAT", "CohortSpec", "aux_label_name", "describe_predicate", "predicate_mask",
           "validate"]
