"""A user's --schema: typing comes from it; a label or C2AL target marked as a model
input is refused in one line, before the pipeline starts."""
import os

import pytest

from c2al_tf.data.schema import categorical_features
from c2al_tf.errors import C2ALInputError

ITEM = 'feature { name: "item" type: INT int_domain { is_categorical: true } }\n'


def _schema(tmp_path, extra=""):
    path = tmp_path / "schema.pbtxt"
    path.write_text(ITEM + 'feature { name: "click" type: INT }\n' + extra)
    return str(path)


def test_categorical_features_from_the_schema(tmp_path):
    assert categorical_features(_schema(tmp_path), "click") == ["item"]


@pytest.mark.parametrize("name,what", [("click", "is the label"), ("aux__user_value_tail", "is a C2AL training target"),
                                       ("c2al_cohorts", "is a C2AL training target")])
def test_targets_marked_as_inputs_are_refused(tmp_path, name, what):
    path = tmp_path / "s.pbtxt"
    path.write_text(ITEM + f'feature {{ name: "{name}" type: INT int_domain {{ is_categorical: true }} }}\n')
    with pytest.raises(C2ALInputError, match=f"feature '{name}' {what}"):
        categorical_features(str(path), "click")


def test_unreadable_schema(tmp_path):
    (tmp_path / "bad.pbtxt").write_text("feature { name: ")
    with pytest.raises(C2ALInputError, match="not a text-format TFDV schema"):
        categorical_features(str(tmp_path / "bad.pbtxt"), "click")
    with pytest.raises(C2ALInputError, match="no such file"):
        categorical_features(str(tmp_path / "none.pbtxt"), "click")


def test_pipeline_refuses_a_schema_that_makes_the_label_an_input(tmp_path, run_cli):
    data = tmp_path / "d.csv"
    data.write_text("click,item\n1,3\n0,4\n")
    schema = tmp_path / "s.pbtxt"
    schema.write_text('feature { name: "click" type: INT int_domain { is_categorical: true } }\n')
    code, _, err = run_cli("pipeline", "run", "--data", data, "--label", "click", "--root", tmp_path / "root",
                           "--schema", schema)
    assert code == 2 and "feature 'click' is the label and cannot be a model input" in err
    assert len(err.strip().splitlines()) == 1 and not os.path.exists(tmp_path / "root")
