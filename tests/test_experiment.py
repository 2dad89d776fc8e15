"""`c2al experiment`: a 2-seed smoke run of every variant, outputs, reproducibility,
the 'hurts' verdict, and bad input."""
import json
import os

import numpy as np
import pytest

from c2al_tf.experiment import likely_causes
from c2al_tf.report import verdict_line
from helpers import write_spec


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from c2al_tf.data import write_csv

    d = tmp_path_factory.mktemp("exp")
    write_csv(str(d / "d.csv"), 8000, seed=9)
    write_spec(d / "cohorts.json")
    return d


def test_smoke_all_variants(data, run_cli):
    out = data / "run1"
    code, stdout, err = run_cli("experiment", "--data", data / "d.csv", "--label", "click", "--out", out,
                                "--seeds", 2, "--epochs", 1, "--cohorts", data / "cohorts.json")
    assert code == 0, err
    doc = json.loads((out / "metrics.json").read_text())
    variants = {r["variant"] for r in doc["runs"]}
    assert variants == {"baseline", "c2al", "random", "head_only", "tail_only", "reweight", "masked"}
    assert len(doc["runs"]) == 14
    for r in doc["runs"]:
        assert set(r["overall"]) == {"ne", "logloss", "auc", "calibration", "count", "positive_rate"}
        assert set(r["cohorts"]) == {"user_value_head", "user_value_tail"}
    comp = doc["comparisons"]["c2al"]["user_value_tail"]
    assert comp["n"] == 2 and comp["ci_low"] <= comp["mean"] <= comp["ci_high"]
    report = (out / "report.md").read_text()
    assert "NE_diff vs baseline" in report and "sha256" in report and "tensorflow 2.16.2" in report
    assert "c2al experiment" in report
    for png in ("ne_diff.png", "attention_density.png", "calibration.png"):
        assert (out / png).stat().st_size > 5000
    assert doc["diagnostics"]["c2al"]["gradient"]["cosine"] == doc["diagnostics"]["c2al"]["gradient"]["cosine"]


def test_rerun_reproduces_every_ne(data, run_cli):
    runs = []
    for name in ("a", "b"):
        code, _, err = run_cli("experiment", "--data", data / "d.csv", "--label", "click", "--out", data / name,
                               "--seeds", 2, "--epochs", 1, "--cohorts", data / "cohorts.json",
                               "--variants", "baseline,c2al")
        assert code == 0, err
        runs.append(json.loads((data / name / "metrics.json").read_text())["runs"])
    for a, b in zip(*runs):
        assert abs(a["overall"]["ne"] - b["overall"]["ne"]) <= 1e-6
        for c in a["cohorts"]:
            assert abs(a["cohorts"][c]["ne"] - b["cohorts"][c]["ne"]) <= 1e-6


def test_verdict_says_plainly_when_c2al_hurts():
    doc = {"cohort_info": {"tail": {"train_positives": 12, "train_support": 0.02, "test_count": 40,
                                    "test_positives": 3}},
           "diagnostics": {"c2al": {"gradient": {"cosine": -0.4}}}}
    comp = {"mean": 0.012, "ci_low": 0.004, "ci_high": 0.02, "verdict": "worse"}
    line = verdict_line("c2al", "tail", comp, doc)
    assert "C2AL hurts on cohort 'tail'" in line and "lies above zero" in line
    assert "only 12 training positives" in line and "gradient conflict" in line
    assert likely_causes({"cohort_info": {}, "diagnostics": {}}, "overall")[0].startswith("no cause visible")


@pytest.mark.parametrize("args,msg", [(("--seeds", 1), "--seeds must be >= 2"),
                                      (("--variants", "c2al,magic"), "--variants must include baseline")])
def test_bad_arguments(data, run_cli, args, msg):
    code, _, err = run_cli("experiment", "--data", data / "d.csv", "--label", "click", "--out", data / "bad", *args)
    assert code == 2 and msg in err and not os.path.exists(data / "bad")
