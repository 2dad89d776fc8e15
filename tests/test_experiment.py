"""`c2al experiment`: a 2-seed smoke run of every variant, outputs, reproducibility,
the 'hurts' verdict, and bad input."""
import json
import os

import numpy as np
import pytest

from c2al_tf.report import likely_causes
from c2al_tf.models.protocol import TrainConfig
from c2al_tf.report import verdict_line
from helpers import write_spec


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from c2al_tf.data import write_csv

    d = tmp_path_factory.mktemp("exp")
    write_csv(str(d / "d.csv"), 6000, seed=9)
    write_spec(d / "cohorts.json")
    return d


ARGS = ("--seeds", 2, "--epochs", 2, "--patience", 1, "--aux-weight", "0,1")


@pytest.fixture(scope="module")
def smoke(data):
    from c2al_tf.cli import main

    out = data / "run1"
    code = main([str(a) for a in ("experiment", "--data", data / "d.csv", "--label", "click", "--out", out,
                                  "--cohorts", data / "cohorts.json", *ARGS)])
    assert code == 0
    return out, json.loads((out / "metrics.json").read_text())


@pytest.mark.slow  # runs Beam (TFDV) or trains several models
def test_smoke_all_variants(smoke):
    out, doc = smoke
    variants = {r["variant"] for r in doc["runs"]}
    assert variants == {"baseline", "c2al", "random", "head_only", "tail_only", "reweight", "masked", "dcn"}
    assert len(doc["runs"]) == 16
    for r in doc["runs"]:
        assert set(r["overall"]) == {"ne", "logloss", "auc", "calibration", "count", "positive_rate"}
        assert set(r["cohorts"]) == {"user_value_head", "user_value_tail"}
        assert 1 <= r["epochs"] <= r["epochs_run"] <= 2 and r["val_logloss"] > 0
    comp = doc["comparisons"]["c2al"]["user_value_tail"]
    assert comp["n"] == 2 and comp["ci_low"] <= comp["mean"] <= comp["ci_high"]
    report = (out / "report.md").read_text()
    assert "NE_diff vs baseline" in report and "sha256" in report and "tensorflow 2.16.2" in report
    assert "c2al experiment" in report and "early stopping on validation logloss" in report
    for png in ("ne_diff.png", "attention_density.png", "calibration.png"):
        assert (out / png).stat().st_size > 5000
    split = doc["split"]
    assert split["fit"] + split["validation"] == split["train"] and split["validation"] == round(TrainConfig().validation_fraction * split["train"])


def test_lambda_is_chosen_per_seed_on_validation_with_the_baseline_as_lambda_zero(smoke):
    _, doc = smoke
    runs = {(r["variant"], r["seed"]): r for r in doc["runs"]}
    for seed in (0, 1):
        table = doc["selection"][str(seed)]
        assert [r["aux_weight"] for r in table] == [0.0, 1.0]
        assert table[0]["val_logloss"] == runs[("baseline", seed)]["val_logloss"]  # lambda 0 is the baseline
        best = min(table, key=lambda r: r["val_logloss"])
        c2al = runs[("c2al", seed)]
        assert c2al["aux_weight"] == best["aux_weight"] and c2al["val_logloss"] == best["val_logloss"]
        if best["aux_weight"] == 0:  # fell back to the baseline: the same model, the same test NE
            assert c2al["overall"]["ne"] == runs[("baseline", seed)]["overall"]["ne"]
        assert runs[("tail_only", seed)]["aux_weight"] > 0  # ablations always train heads
        assert runs[("dcn", seed)]["aux_weight"] == 0


@pytest.mark.slow  # runs Beam (TFDV) or trains several models
def test_rerun_reproduces_every_ne(smoke, data, run_cli):
    _, first = smoke
    code, _, err = run_cli("experiment", "--data", data / "d.csv", "--label", "click", "--out", data / "again",
                           "--cohorts", data / "cohorts.json", *ARGS, "--variants", "baseline,c2al")
    assert code == 0, err
    again = json.loads((data / "again" / "metrics.json").read_text())["runs"]
    before = {(r["variant"], r["seed"]): r for r in first["runs"]}
    assert len(again) == 4
    for b in again:
        a = before[(b["variant"], b["seed"])]
        assert abs(a["overall"]["ne"] - b["overall"]["ne"]) <= 1e-6 and a["aux_weight"] == b["aux_weight"]
        for c in a["cohorts"]:
            assert abs(a["cohorts"][c]["ne"] - b["cohorts"][c]["ne"]) <= 1e-6


@pytest.mark.slow  # runs Beam (TFDV) or trains several models
def test_recipe_ablations_train_heads_with_c2al_lambda(smoke, data, run_cli):
    """--variants towers,warmup,projection: C2AL's cohorts and lambda (its best non-zero
    candidate when it chose 0) with one change to the recipe each; opt-in, not default."""
    _, first = smoke
    assert not {"towers", "warmup", "projection"} & {r["variant"] for r in first["runs"]}
    code, _, err = run_cli("experiment", "--data", data / "d.csv", "--label", "click", "--out", data / "recipes",
                           "--cohorts", data / "cohorts.json", *ARGS,
                           "--variants", "baseline,c2al,towers,warmup,projection")
    assert code == 0, err
    doc = json.loads((data / "recipes" / "metrics.json").read_text())
    runs = {(r["variant"], r["seed"]): r for r in doc["runs"]}
    assert len(runs) == 10
    for seed in (0, 1):
        lam = runs[("c2al", seed)]["aux_weight"] or 1.0  # the only non-zero candidate is 1
        for v in ("towers", "warmup", "projection"):
            assert runs[(v, seed)]["aux_weight"] == lam
            assert np.isfinite(runs[(v, seed)]["overall"]["ne"])
    assert set(doc["comparisons"]) == {"c2al", "towers", "warmup", "projection"}
    report = (data / "recipes" / "report.md").read_text()
    assert "| towers |" in report and "| projection |" in report


@pytest.mark.slow  # runs Beam (TFDV) or trains several models
def test_per_head_lambdas_and_the_mmoe_ablation(smoke, data, run_cli):
    """--variants per_head,mmoe: per_head chooses one lambda per head on validation,
    starting from C2AL's and reusing its candidates (the baseline stays one); mmoe is
    C2AL's heads as the tasks of a mixture of experts, at C2AL's lambda."""
    code, _, err = run_cli("experiment", "--data", data / "d.csv", "--label", "click", "--out", data / "per_head",
                           "--cohorts", data / "cohorts.json", *ARGS, "--variants", "per_head,mmoe,c2al,baseline")
    assert code == 0, err
    doc = json.loads((data / "per_head" / "metrics.json").read_text())
    assert doc["config"]["variants"] == ["baseline", "c2al", "per_head", "mmoe"]
    runs = {(r["variant"], r["seed"]): r for r in doc["runs"]}
    for seed in (0, 1):
        run, table = runs[("per_head", seed)], doc["per_head_selection"][str(seed)]
        vectors = {tuple(r["aux_weights"]): r["val_logloss"] for r in table}
        assert set(run["head_weights"]) == {"aux__user_value_head", "aux__user_value_tail"}
        chosen = tuple(run["head_weights"][h] for h in ("aux__user_value_head", "aux__user_value_tail"))
        assert run["val_logloss"] == vectors[chosen] == min(vectors.values())
        assert vectors[(0.0, 0.0)] == runs[("baseline", seed)]["val_logloss"]
        assert vectors[(1.0, 1.0)] == [r for r in doc["selection"][str(seed)] if r["aux_weight"] == 1.0][0][
            "val_logloss"]
        if chosen == (0.0, 0.0):
            assert run["overall"]["ne"] == runs[("baseline", seed)]["overall"]["ne"]
        assert runs[("mmoe", seed)]["aux_weight"] == (runs[("c2al", seed)]["aux_weight"] or 1.0)
    assert set(doc["comparisons"]) == {"c2al", "per_head", "mmoe"}
    report = (data / "per_head" / "report.md").read_text()
    assert "| C2AL, lambda per head |" in report and "Per-head lambdas looked at" in report


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
                                      (("--variants", "c2al,magic"), "--variants must include baseline"),
                                      (("--validation-fraction", 0.6), "--validation-fraction must be in (0, 0.5]")])
def test_bad_arguments(data, run_cli, args, msg):
    code, _, err = run_cli("experiment", "--data", data / "d.csv", "--label", "click", "--out", data / "bad", *args)
    assert code == 2 and msg in err and not os.path.exists(data / "bad")


def test_model_fn_is_refused_in_one_line_when_it_cannot_be_found(tmp_path, run_cli):
    from c2al_tf.data.synthetic import write_csv

    write_csv(str(tmp_path / "d.csv"), 2000, 0)
    for fn, message in (("nosuchmodule:f", "model_fn 'nosuchmodule:f': cannot import module 'nosuchmodule'"),
                        ("examples.model_fns:nope", "model_fn 'examples.model_fns:nope': module 'examples.model_fns' "
                                                    "has no function 'nope'"),
                        ("justaname", "model_fn 'justaname': write it as package.module:function")):
        code, _, err = run_cli("experiment", "--data", tmp_path / "d.csv", "--label", "click", "--out",
                               tmp_path / "out", "--model-fn", fn)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_experiment_measures_c2al_on_a_user_model_fn(tmp_path, run_cli):
    """--model-fn: the user's DCN-v2 (examples/model_fns.py) in the harness; the report
    names it and C2AL's serving model is the user's model."""
    from c2al_tf.data.synthetic import write_csv

    write_csv(str(tmp_path / "d.csv"), 30_000, 2, scenario="flips")
    code, out, err = run_cli("experiment", "--data", tmp_path / "d.csv", "--label", "click", "--out", tmp_path / "e",
                             "--seeds", "2", "--variants", "baseline,c2al", "--epochs", "2",
                             "--model-fn", "examples.model_fns:dcn_v2")
    assert code == 0, err
    doc = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert doc["config"]["model_fn"] == "examples.model_fns:dcn_v2"
    assert "model `examples.model_fns:dcn_v2`" in (tmp_path / "e" / "report.md").read_text()
    assert {r["variant"] for r in doc["runs"]} == {"baseline", "c2al"}
