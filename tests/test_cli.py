"""`c2al train` / `c2al evaluate` end to end on small data, and their bad input."""
import json
import os

import pytest

from helpers import write_spec


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from c2al_tf.data import write_csv

    d = tmp_path_factory.mktemp("cli")
    write_csv(str(d / "train.csv"), 5000, seed=0)
    write_csv(str(d / "test.csv"), 3000, seed=1)
    return d


def test_train_then_evaluate(data, run_cli):
    spec = write_spec(data / "cohorts.json")
    code, out, err = run_cli("train", "--data", data / "train.csv", "--label", "click", "--export", data / "m",
                             "--cohorts", spec, "--epochs", 1, "--seed", 3)
    assert code == 0, err
    assert "aux__user_value_tail" in out
    code, out, err = run_cli("evaluate", "--model", data / "m", "--data", data / "test.csv", "--label", "click",
                             "--out", data / "metrics.json")
    assert code == 0, err
    metrics = json.loads((data / "metrics.json").read_text())
    assert set(metrics) == {"overall", "cohorts"}
    assert set(metrics["overall"]) == {"ne", "logloss", "auc", "calibration", "count", "positive_rate"}
    assert metrics["overall"]["count"] == 3000
    assert set(metrics["cohorts"]) == {"user_value_head", "user_value_tail"}
    assert 0 < metrics["overall"]["ne"] < 1.2


def test_train_bad_inputs(data, run_cli, tmp_path):
    bad_spec = tmp_path / "c.json"
    bad_spec.write_text('{"format": "c2al.cohorts/1", "label": "click"}')
    code, _, err = run_cli("train", "--data", data / "train.csv", "--label", "click", "--export", tmp_path / "m",
                           "--cohorts", bad_spec)
    assert code == 2 and "c.json: field" in err and len(err.strip().splitlines()) == 1
    other = write_spec(tmp_path / "other.json")
    spec = json.loads(open(other).read())
    spec["label"] = "conversion"
    (tmp_path / "other.json").write_text(json.dumps(spec))
    code, _, err = run_cli("train", "--data", data / "train.csv", "--label", "click", "--export", tmp_path / "m",
                           "--cohorts", other)
    assert code == 2 and "field 'label' is 'conversion' but --label is 'click'" in err
    code, _, err = run_cli("train", "--data", data / "train.csv", "--label", "click", "--export", tmp_path / "m",
                           "--epochs", 0)
    assert code == 2 and "--epochs" in err
    assert not os.path.exists(tmp_path / "m")  # nothing half-written


def test_evaluate_bad_model_dir(data, run_cli, tmp_path):
    code, _, err = run_cli("evaluate", "--model", tmp_path, "--data", data / "test.csv", "--label", "click",
                           "--out", tmp_path / "m.json")
    assert code == 2 and "not a SavedModel directory" in err
    assert not os.path.exists(tmp_path / "m.json")


def test_cli_quiets_third_party_noise_but_keeps_user_settings():
    import subprocess
    import sys

    code = ("import os, c2al_tf.cli as c; c._quiet_third_party(); "
            "print(os.environ['PYTHONWARNINGS'], os.environ['TF_CPP_MIN_LOG_LEVEL'])")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONWARNINGS", "TF_CPP_MIN_LOG_LEVEL")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.stdout.split() == ["ignore::FutureWarning", "3"]
    env.update(PYTHONWARNINGS="default", TF_CPP_MIN_LOG_LEVEL="0")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.stdout.split() == ["default", "0"]
