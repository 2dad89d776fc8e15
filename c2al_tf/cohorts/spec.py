"""CohortSpec (``cohorts.json``): read, validate, write, and cohort membership.

Format ``c2al.cohorts/1`` (see DESIGN.md)::

    {"format": "c2al.cohorts/1", "label": "click", "method": "stats", "divergence": "js",
     "pairs": [{"axis": ["user_value"], "divergence": 0.31,
                "head": {"name": ..., "aux_label": "aux__<name>", "predicate": ..., "support": ...,
                         "positive_rate": ...},
                "tail": {...}}]}

Predicates: numeric ``{"feature", "min", "max"}`` (min inclusive, max exclusive,
null = unbounded); categorical ``{"feature", "in": [values as strings]}``;
cross ``{"all": [predicate, ...]}``. A row whose feature is missing (NaN or "")
is in no cohort.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Iterator, List, Mapping

import numpy as np

from c2al_tf.errors import C2ALInputError

FORMAT = "c2al.cohorts/1"
from c2al_tf.names import AUX_PREFIX  # noqa: E402  (defined once, re-exported)
SCHEMA_PATH = os.path.join(os.path.dirname(os.path.dirname(__file__)), "schemas", "cohort_spec.schema.json")


def aux_label_name(cohort_name: str) -> str:
    return AUX_PREFIX + cohort_name


def predicate_features(predicate: Mapping[str, Any]) -> List[str]:
    """Features a predicate reads, in order."""
    if "all" in predicate:
        out: List[str] = []
        for p in predicate["all"]:
            out.extend(f for f in predicate_features(p) if f not in out)
        return out
    return [predicate["feature"]]


def predicate_mask(predicate: Mapping[str, Any], columns: Mapping[str, Any]) -> np.ndarray:
    """Membership (bool array) of rows given column arrays (numpy / pandas)."""
    if "all" in predicate:
        masks = [predicate_mask(p, columns) for p in predicate["all"]]
        return np.logical_and.reduce(masks)
    feature = predicate["feature"]
    if feature not in columns:
        raise C2ALInputError(f"predicate reads feature '{feature}', which is not in the data; features are "
                             f"{', '.join(sorted(map(str, columns))[:30])}")
    values = np.asarray(columns[feature])
    if "in" in predicate:
        if values.dtype.kind == "f":  # numeric column tested with a categorical predicate
            text = np.array(["" if np.isnan(v) else (str(int(v)) if float(v).is_integer() else str(v))
                             for v in values], dtype=object)
        else:
            text = values.astype(str)
        return np.isin(text, [str(v) for v in predicate["in"]])
    try:
        numbers = values.astype(np.float64)
    except ValueError:
        raise C2ALInputError(f"cohort predicate on '{feature}' has min/max but the feature is not numeric")
    mask = ~np.isnan(numbers)
    if predicate.get("min") is not None:
        mask &= numbers >= float(predicate["min"])
    if predicate.get("max") is not None:
        mask &= numbers < float(predicate["max"])
    return mask


def cohort_mask(cohort: Mapping[str, Any], columns: Mapping[str, Any], source: str = "cohorts.json") -> np.ndarray:
    """Membership of one cohort; an error names the cohorts file and the cohort."""
    try:
        return predicate_mask(cohort["predicate"], columns)
    except C2ALInputError as e:
        raise C2ALInputError(f"{source}: cohort '{cohort.get('name', '?')}': {e}")


def describe_predicate(predicate: Mapping[str, Any]) -> str:
    if "all" in predicate:
        return " and ".join(describe_predicate(p) for p in predicate["all"])
    f = predicate["feature"]
    if "in" in predicate:
        values = predicate["in"]
        shown = ", ".join(values[:4]) + (f", ... ({len(values)} values)" if len(values) > 4 else "")
        return f"{f} in {{{shown}}}"
    lo, hi = predicate.get("min"), predicate.get("max")
    if lo is not None and hi is not None:
        return f"{lo:.4g} <= {f} < {hi:.4g}"
    if lo is not None:
        return f"{f} >= {lo:.4g}"
    if hi is not None:
        return f"{f} < {hi:.4g}"
    return f"{f} is present"


class CohortSpec:
    """The mined cohorts: a validated ``cohorts.json`` document."""

    def __init__(self, doc: Dict[str, Any], source: str = "cohorts.json"):
        validate(doc, source)
        self.doc = doc
        self.source = source

    # -- construction -------------------------------------------------------
    @classmethod
    def from_pairs(cls, label: str, pairs: List[Dict[str, Any]], method: str = "stats",
                   divergence: str = "js") -> "CohortSpec":
        pairs = sorted(pairs, key=lambda p: -p["divergence"])
        return cls({"format": FORMAT, "label": label, "method": method, "divergence": divergence,
                    "pairs": pairs}, source="<mined>")

    @classmethod
    def load(cls, path: str) -> "CohortSpec":
        if "://" in path:  # gs://, s3://, hdfs:// (e.g. an artifact on a cluster)
            import c2al_tf  # noqa: F401
            import tensorflow as tf

            if tf.io.gfile.isdir(path):
                path = path.rstrip("/") + "/cohorts.json"
            with tf.io.gfile.GFile(path) as f:
                return cls(json.loads(f.read()), source=path)
        if not os.path.exists(path):
            raise C2ALInputError(f"{path}: no such file")
        if os.path.isdir(path):  # a CohortSpec artifact directory
            path = os.path.join(path, "cohorts.json")
        try:
            with open(path) as f:
                doc = json.load(f)
        except json.JSONDecodeError as e:
            raise C2ALInputError(f"{path}: not valid JSON ({e.msg} at line {e.lineno} column {e.colno})")
        except OSError as e:
            raise C2ALInputError(f"{path}: cannot read ({e.strerror})")
        return cls(doc, source=path)

    def save(self, path: str) -> None:
        """Writes atomically (temporary file, then rename)."""
        from c2al_tf.io_utils import write_json

        write_json(path, self.doc)

    def to_json(self) -> str:
        return json.dumps(self.doc, indent=2)

    # -- access -------------------------------------------------------------
    @property
    def label(self) -> str:
        return self.doc["label"]

    @property
    def pairs(self) -> List[Dict[str, Any]]:
        return self.doc["pairs"]

    def cohorts(self) -> Iterator[Dict[str, Any]]:
        """Every cohort, head then tail of each pair, in pair order."""
        for pair in self.pairs:
            yield pair["head"]
            yield pair["tail"]

    @property
    def aux_labels(self) -> List[str]:
        return [c["aux_label"] for c in self.cohorts()]

    @property
    def features(self) -> List[str]:
        out: List[str] = []
        for c in self.cohorts():
            out.extend(f for f in predicate_features(c["predicate"]) if f not in out)
        return out

    def masks(self, columns: Mapping[str, Any]) -> Dict[str, np.ndarray]:
        """Cohort name -> membership mask."""
        return {c["name"]: cohort_mask(c, columns, self.source) for c in self.cohorts()}


def validate(doc: Any, source: str = "cohorts.json") -> None:
    """Checks ``doc`` against ``schemas/cohort_spec.schema.json`` and the rules a
    JSON schema cannot say (unique names, aux label = aux__name, min < max)."""
    import jsonschema

    with open(SCHEMA_PATH) as f:
        schema = json.load(f)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(doc), key=lambda e: (len(list(e.absolute_path)), list(e.absolute_path)))
    if errors:
        e = errors[0]
        where = "/".join(str(p) for p in e.absolute_path) or "(top level)"
        raise C2ALInputError(f"{source}: field '{where}': {_short(e)}")
    seen = set()
    for i, pair in enumerate(doc["pairs"]):
        for side in ("head", "tail"):
            c = pair[side]
            if c["name"] in seen:
                raise C2ALInputError(f"{source}: field 'pairs/{i}/{side}/name': cohort name '{c['name']}' repeats")
            seen.add(c["name"])
            if c["aux_label"] != aux_label_name(c["name"]):
                raise C2ALInputError(f"{source}: field 'pairs/{i}/{side}/aux_label' must be "
                                     f"'{aux_label_name(c['name'])}'")
            _check_ranges(c["predicate"], f"pairs/{i}/{side}/predicate", source)


def _check_ranges(pred, where, source):
    if "all" in pred:
        for j, p in enumerate(pred["all"]):
            _check_ranges(p, f"{where}/all/{j}", source)
    elif pred.get("min") is not None and pred.get("max") is not None and pred["min"] >= pred["max"]:
        raise C2ALInputError(f"{source}: field '{where}': min {pred['min']} must be below max {pred['max']}")


def _short(error) -> str:
    if error.validator == "oneOf":
        return "not a valid predicate: use {feature, min, max}, {feature, in: [...]} or {all: [...]}"
    msg = error.message
    return msg if len(msg) < 160 else msg[:157] + "..."


def cohort_list(cohorts) -> List[Dict[str, Any]]:
    """The cohort dicts (``name``, ``aux_label``, ``predicate``...) of a CohortSpec,
    a path to a cohorts.json, or a list of cohort dicts."""
    if cohorts is None:
        return []
    if isinstance(cohorts, str):
        cohorts = CohortSpec.load(cohorts)
    if isinstance(cohorts, CohortSpec):
        return list(cohorts.cohorts())
    out = list(cohorts)
    for c in out:
        if not isinstance(c, Mapping) or "aux_label" not in c or "predicate" not in c:
            raise C2ALInputError(f"cohorts: each cohort needs 'aux_label' and 'predicate' (a CohortSpec's "
                                 f"cohorts()), got {c!r}")
    return out
