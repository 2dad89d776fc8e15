"""The feature names c2al adds beside a user's columns, defined once, and the
check that a user's columns do not take them.

* ``aux__<cohort>`` (:data:`AUX_PREFIX`): an auxiliary label the CohortMiner
  appends to every record, and the Keras output of that cohort's head.
* ``c2al_cohorts`` (:data:`MEMBERSHIP_FEATURE`): the names of the cohorts a
  record belongs to (the Evaluator slices by it).
* ``<column>__cat`` (:data:`CATEGORICAL_VIEW`): the categorical view of an
  integer column (its own embedding and Transform output).
* ``<column>__z`` (:data:`MAGNITUDE_VIEW`): the pipeline Transform's z-score of a
  numeric column, beside its bucket position (the magnitude the buckets do not carry).

A data column that takes one of these names would be overwritten, dropped from
the model's inputs or collide with a layer, so every reader refuses it before
any work (:func:`check_column_names`) with a one-line error naming the column.
"""
from __future__ import annotations

from typing import Iterable, Optional

from c2al_tf.errors import C2ALInputError

AUX_PREFIX = "aux__"
MEMBERSHIP_FEATURE = "c2al_cohorts"
# the CohortSpec file: in the CohortMiner's cohorts artifact and at the root of its Examples artifact
COHORTS_FILE = "cohorts.json"
CATEGORICAL_VIEW = "__cat"
MAGNITUDE_VIEW = "__z"


def is_appended(name: str) -> bool:
    """A feature the CohortMiner appends to a record (an auxiliary label or the
    memberships): a training target, never a model input."""
    return name.startswith(AUX_PREFIX) or name == MEMBERSHIP_FEATURE


def reserved_clash(name: str, columns: Iterable[str]) -> Optional[str]:
    """Why column ``name`` clashes with a name c2al adds (``columns``: every
    column of the same data), or None."""
    if name.startswith(AUX_PREFIX):
        return f"starts with '{AUX_PREFIX}', the prefix of the auxiliary labels c2al adds"
    if name == MEMBERSHIP_FEATURE:
        return "is the feature c2al adds for each row's cohort memberships"
    if name.endswith(CATEGORICAL_VIEW) and name[: -len(CATEGORICAL_VIEW)] in set(columns):
        return (f"is the name c2al gives the categorical view of column '{name[: -len(CATEGORICAL_VIEW)]}' "
                f"(pattern '<column>{CATEGORICAL_VIEW}')")
    if name.endswith(MAGNITUDE_VIEW) and name[: -len(MAGNITUDE_VIEW)] in set(columns):
        return (f"is the name c2al gives the z-score of column '{name[: -len(MAGNITUDE_VIEW)]}' "
                f"(pattern '<column>{MAGNITUDE_VIEW}')")
    return None


def check_column_names(columns: Iterable[str], source: str, can_drop: bool = True) -> None:
    """Raises a one-line C2ALInputError for the first column that takes a name c2al
    adds; the message offers to leave it out (the readers' ``drop``) when ``can_drop``."""
    columns = list(columns)
    for name in columns:
        why = reserved_clash(name, columns)
        if why:
            fix = f"rename the column or leave it out (drop {name})" if can_drop else "rename the column"
            raise C2ALInputError(f"{source}: column '{name}' {why}; {fix}", arguments=("drop",) if can_drop else ())
