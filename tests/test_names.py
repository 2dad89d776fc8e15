"""Column names that take a name c2al adds are refused before any work, in one line."""
import pandas as pd
import pytest

from c2al_tf.errors import C2ALInputError
from c2al_tf.names import check_column_names, reserved_clash


def test_reserved_patterns():
    assert "aux__" in reserved_clash("aux__x", ["aux__x"])
    assert "memberships" in reserved_clash("c2al_cohorts", [])
    assert "'hour'" in reserved_clash("hour__cat", ["hour", "hour__cat"])
    assert reserved_clash("hour__cat", ["hour__cat"]) is None  # no integer column of that name: no clash
    assert "z-score of column 'bid'" in reserved_clash("bid__z", ["bid", "bid__z"])
    assert reserved_clash("bid__z", ["bid__z"]) is None
    assert reserved_clash("auxiliary", ["auxiliary"]) is None
    with pytest.raises(C2ALInputError, match=r"column 'aux__x'.*\(drop aux__x\)") as err:
        check_column_names(["a", "aux__x"], "d.csv")
    assert err.value.arguments == ("drop",)  # c2al shows it as --drop
    with pytest.raises(C2ALInputError, match=r"rename the column$"):
        check_column_names(["c2al_cohorts"], "d.csv", can_drop=False)


@pytest.mark.parametrize("column,extra,pattern", [
    ("aux__x", 1, "starts with 'aux__'"),
    ("c2al_cohorts", "a", "cohort memberships"),
    ("hour__cat", None, "categorical view of column 'hour'"),
])
def test_train_refuses_a_reserved_column(tmp_path, run_cli, column, extra, pattern):
    from c2al_tf.data import write_csv

    write_csv(str(tmp_path / "base.csv"), 600, seed=0)
    frame = pd.read_csv(tmp_path / "base.csv")
    frame[column] = frame["hour"] if extra is None else extra
    frame.to_csv(tmp_path / "d.csv", index=False)
    code, _, err = run_cli("train", "--data", tmp_path / "d.csv", "--label", "click", "--export", tmp_path / "m")
    assert code == 2 and pattern in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "m").exists()
    # the pipeline checks the same names before TFX starts, and leaves no --root behind
    code, _, err = run_cli("pipeline", "run", "--data", tmp_path / "d.csv", "--label", "click",
                           "--root", tmp_path / "root")
    assert code == 2 and pattern in err and "rename the column" in err, err
    assert not (tmp_path / "root").exists()


def test_a_column_named_like_a_layer_is_refused():
    from c2al_tf.data.readers import table_from_frame
    from c2al_tf.models import FeatureSpec
    from c2al_tf.models.builder import build_model

    frame = pd.DataFrame({"primary": [0.1, 0.5, 0.9, 0.3] * 5, "b": list("xyzw") * 5, "click": [0, 1] * 10})
    spec = FeatureSpec.from_table(table_from_frame(frame, "click"))
    with pytest.raises(C2ALInputError, match=r"column 'primary' takes the name 'primary' of a layer"):
        build_model(spec)


def test_one_feature_needs_an_mlp():
    from c2al_tf.data.readers import table_from_frame
    from c2al_tf.models import FeatureSpec, ModelConfig
    from c2al_tf.models.builder import build_model

    frame = pd.DataFrame({"bid": [0.1, 0.5, 0.9, 0.3] * 5, "click": [0, 1] * 10})
    spec = FeatureSpec.from_table(table_from_frame(frame, "click"))
    with pytest.raises(C2ALInputError, match=r"needs at least 2 features.*use model mlp"):
        build_model(spec)
    build_model(spec, config=ModelConfig(model="mlp"))  # the suggested fix works
