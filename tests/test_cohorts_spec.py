"""CohortSpec: schema validation with messages naming the field, load/save."""
import json

import numpy as np
import pytest

from c2al_tf.cohorts import CohortSpec
from c2al_tf.errors import C2ALInputError


def doc():
    return {"format": "c2al.cohorts/1", "label": "click", "method": "stats", "divergence": "js",
            "pairs": [{"axis": ["user_value"], "divergence": 0.31,
                       "head": {"name": "user_value_head", "aux_label": "aux__user_value_head",
                                "predicate": {"feature": "user_value", "min": 38.2, "max": None},
                                "support": 0.05, "positive_rate": 0.31},
                       "tail": {"name": "user_value_tail", "aux_label": "aux__user_value_tail",
                                "predicate": {"feature": "user_value", "min": None, "max": 1.43},
                                "support": 0.05, "positive_rate": 0.06}}]}


def test_design_example_is_valid_and_round_trips(tmp_path):
    spec = CohortSpec(doc())
    assert spec.aux_labels == ["aux__user_value_head", "aux__user_value_tail"]
    spec.save(str(tmp_path / "c.json"))
    again = CohortSpec.load(str(tmp_path / "c.json"))
    assert again.doc == spec.doc and again.features == ["user_value"]
    masks = again.masks({"user_value": np.array([0.5, 10.0, 40.0])})
    assert masks["user_value_head"].tolist() == [False, False, True]
    assert masks["user_value_tail"].tolist() == [True, False, False]


def mutate(fn):
    d = doc()
    fn(d)
    return d


@pytest.mark.parametrize("change,field", [
    (lambda d: d.update(format="c2al.cohorts/2"), "format"),
    (lambda d: d.pop("label"), r"\(top level\)"),
    (lambda d: d.update(divergence="hellinger"), "divergence"),
    (lambda d: d["pairs"][0]["head"].update(aux_label="aux__other"), "pairs/0/head/aux_label"),
    (lambda d: d["pairs"][0]["tail"].update(name="user_value_head", aux_label="aux__user_value_head"),
     "pairs/0/tail/name"),
    (lambda d: d["pairs"][0]["head"].update(predicate={"min": 3}), "pairs/0/head/predicate"),
    (lambda d: d["pairs"][0]["head"].update(predicate={"feature": "x", "min": 3, "max": 1}), "pairs/0/head/predicate"),
    (lambda d: d["pairs"][0]["tail"].update(support=1.5), "pairs/0/tail/support"),
    (lambda d: d["pairs"][0].update(divergence="big"), "pairs/0/divergence"),
])
def test_invalid_specs_name_the_field(change, field):
    with pytest.raises(C2ALInputError, match=f"field '{field}"):
        CohortSpec(mutate(change), source="c.json")


def test_load_errors(tmp_path):
    with pytest.raises(C2ALInputError, match="no such file"):
        CohortSpec.load(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(C2ALInputError, match=r"bad\.json: not valid JSON"):
        CohortSpec.load(str(bad))


def test_pairs_sorted_by_divergence():
    d = doc()
    second = json.loads(json.dumps(d["pairs"][0]))
    for side in ("head", "tail"):
        second[side]["name"] = "age_" + side
        second[side]["aux_label"] = "aux__age_" + side
    second["divergence"] = 0.9
    spec = CohortSpec.from_pairs("click", [d["pairs"][0], second])
    assert [p["divergence"] for p in spec.pairs] == [0.9, 0.31]
