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
                             "--cohorts", spec, "--epochs", 1, "--seed", 3, "--aux-weight", 0.5)
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
    for bad in ("-0.001", "nan"):
        code, _, err = run_cli("train", "--data", data / "train.csv", "--label", "click", "--export",
                               tmp_path / "m", "--embedding-l2", bad)
        assert code == 2 and "--embedding-l2 must be a finite number >= 0" in err and len(err.strip().splitlines()) == 1
    assert not os.path.exists(tmp_path / "m")  # nothing half-written


def test_evaluate_bad_model_dir(data, run_cli, tmp_path):
    code, _, err = run_cli("evaluate", "--model", tmp_path, "--data", data / "test.csv", "--label", "click",
                           "--out", tmp_path / "m.json")
    assert code == 2 and "not a SavedModel directory" in err
    assert not os.path.exists(tmp_path / "m.json")


def test_cli_quiets_third_party_noise_but_keeps_user_settings():
    import subprocess
    import sys

    code = ("import os, c2al_tf.commands.common as c; c.quiet_third_party(); "
            "print(os.environ['PYTHONWARNINGS'], os.environ['TF_CPP_MIN_LOG_LEVEL'])")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONWARNINGS", "TF_CPP_MIN_LOG_LEVEL")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.stdout.split() == ["ignore::FutureWarning", "3"]
    env.update(PYTHONWARNINGS="default", TF_CPP_MIN_LOG_LEVEL="0")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.stdout.split() == ["default", "0"]


def test_train_never_deletes_a_users_directory(data, run_cli, tmp_path):
    """The reported data loss: --export onto a directory holding the user's files."""
    import shutil

    d = tmp_path / "d"
    d.mkdir()
    shutil.copy(data / "train.csv", d / "data.csv")
    (d / "notes.txt").write_text("keep")
    code, out, err = run_cli("train", "--data", d / "data.csv", "--label", "click", "--export", d, "--epochs", 1)
    assert code == 2 and "holds files c2al did not write" in err and len(err.strip().splitlines()) == 1
    assert sorted(os.listdir(d)) == ["data.csv", "notes.txt"] and (d / "notes.txt").read_text() == "keep"
    assert "[train]" not in out  # refused before any work


@pytest.mark.parametrize("case", ["under_file", "proc", "is_file"])
def test_output_paths_are_checked_before_training(data, run_cli, tmp_path, case):
    (tmp_path / "f").write_text("x")
    export = {"under_file": tmp_path / "f" / "m", "proc": "/proc/c2al-m", "is_file": tmp_path / "f"}[case]
    code, out, err = run_cli("train", "--data", data / "train.csv", "--label", "click", "--export", export)
    assert code == 2 and err.startswith(f"c2al: error: --export {export}") and len(err.strip().splitlines()) == 1
    assert "[train]" not in out
    code, out, err = run_cli("evaluate", "--model", tmp_path, "--data", data / "test.csv", "--label", "click",
                             "--out", tmp_path)
    assert code == 2 and "is a directory" in err
    code, out, err = run_cli("experiment", "--data", data / "train.csv", "--label", "click", "--out", export)
    assert code == 2 and err.startswith(f"c2al: error: --out {export}") and "[experiment]" not in out
    code, out, err = run_cli("mine", "--data", data / "train.csv", "--label", "click", "--out", tmp_path / "f" / "c.json")
    assert code == 2 and "is a file, not a directory" in err and "[mine]" not in out


def _spec_with(tmp_path, head_pred, tail_pred, name="c.json"):
    doc = json.loads(open(write_spec(tmp_path / name)).read())
    doc["pairs"][0]["head"]["predicate"] = head_pred
    doc["pairs"][0]["tail"]["predicate"] = tail_pred
    (tmp_path / name).write_text(json.dumps(doc))
    return tmp_path / name


def _train_with_head(run_cli, data_path, tmp_path, head_predicate, name):
    """``c2al train`` with a cohorts file whose head cohort has ``head_predicate``."""
    spec = _spec_with(tmp_path, head_predicate, {"feature": "user_value", "min": None, "max": 0.5}, name)
    return run_cli("train", "--data", data_path, "--label", "click", "--export", tmp_path / "m", "--cohorts", spec)


def test_cohorts_that_select_nothing_are_refused(data, run_cli, tmp_path):
    code, out, err = _train_with_head(run_cli, data / "train.csv", tmp_path,
                                      {"feature": "user_value", "min": 1e9, "max": None}, "empty.json")
    assert code == 2 and "empty.json: cohort 'user_value_head' selects no row" in err
    # a cohort with rows but no positive: one surface's rows all made negative
    import pandas as pd

    frame = pd.read_csv(data / "train.csv")
    frame.loc[frame["surface"] == "feed", "click"] = 0
    frame.to_csv(tmp_path / "t.csv", index=False)
    code, out, err = _train_with_head(run_cli, tmp_path / "t.csv", tmp_path,
                                      {"feature": "surface", "in": ["no-such-surface", "feed"]}, "nopos.json")
    assert code == 2 and "nopos.json: cohort 'user_value_head' selects" in err and "but no positive" in err
    assert not os.path.exists(tmp_path / "m")


def test_predicate_on_missing_feature_names_file_and_cohort(data, run_cli, tmp_path):
    code, _, err = _train_with_head(run_cli, data / "train.csv", tmp_path,
                                    {"feature": "no_such_feature", "min": 1.0, "max": None}, "missing.json")
    assert code == 2 and "missing.json: cohort 'user_value_head': predicate reads feature 'no_such_feature'" in err


def test_evaluate_writes_null_for_undefined_metrics(data, run_cli, tmp_path):
    spec = write_spec(tmp_path / "cohorts.json")
    code, _, err = run_cli("train", "--data", data / "train.csv", "--label", "click", "--export", tmp_path / "m",
                           "--cohorts", spec, "--epochs", 1, "--aux-weight", 0.5)
    assert code == 0, err
    empty = _spec_with(tmp_path, {"feature": "user_value", "min": 1e9, "max": None},
                       {"feature": "user_value", "min": None, "max": 0.5}, "empty.json")
    code, out, err = run_cli("evaluate", "--model", tmp_path / "m", "--data", data / "test.csv", "--label", "click",
                             "--out", tmp_path / "metrics.json", "--cohorts", empty)
    assert code == 0, err
    text = (tmp_path / "metrics.json").read_text()
    assert "NaN" not in text
    head = json.loads(text)["cohorts"]["user_value_head"]
    assert head["count"] == 0 and head["ne"] is None and head["auc"] is None


def test_train_saves_the_training_model(data, run_cli, tmp_path):
    import tensorflow as tf

    from c2al_tf.models.builder import MultiHeadModel

    spec = write_spec(tmp_path / "cohorts.json")
    code, _, err = run_cli("train", "--data", data / "train.csv", "--label", "click", "--export", tmp_path / "m",
                           "--cohorts", spec, "--epochs", 1, "--aux-weight", 0.5,
                           "--save-training-model", tmp_path / "t.keras")
    assert code == 0, err
    loaded = tf.keras.models.load_model(str(tmp_path / "t.keras"))
    assert isinstance(loaded, MultiHeadModel) and list(loaded.c2al_heads)[1:] == ["aux__user_value_head",
                                                                                  "aux__user_value_tail"]
    code, out, err = run_cli("train", "--data", data / "train.csv", "--label", "click", "--export", tmp_path / "m2",
                             "--save-training-model", tmp_path / "t.h5")
    assert code == 2 and "must end in .keras" in err and "[train]" not in out


def test_train_chooses_lambda_on_validation_with_zero_a_candidate(data, run_cli, tmp_path):
    """Default protocol: validation carved from the training rows, early stopping,
    lambda from the grid with 0 (the baseline) always tried; the export records it."""
    from c2al_tf.export import load_metadata

    spec = write_spec(tmp_path / "cohorts.json")
    code, out, err = run_cli("train", "--data", data / "train.csv", "--label", "click", "--export", tmp_path / "m",
                             "--cohorts", spec, "--epochs", 2, "--aux-weight", "0.3,1")
    assert code == 0, err
    assert "3,750 rows to fit, 1,250 held out for validation" in out
    meta = load_metadata(str(tmp_path / "m"))
    table = meta["selection"]
    assert [r["aux_weight"] for r in table] == [0.0, 0.3, 1.0]
    # 1 is trained only when 0.3 beat lambda 0 on evidence; the export is the chosen candidate
    assert table[2].get("trained", True) == bool(table[1]["significant"])
    chosen = next(r for r in table if r["aux_weight"] == meta["aux_weight"])
    assert meta["validation_logloss"] == chosen["val_logloss"] and (chosen["aux_weight"] == 0 or chosen["significant"])
    assert 1 <= meta["epochs"] <= 2
    heads = ["primary"] if chosen["aux_weight"] == 0 else ["primary", "aux__user_value_head", "aux__user_value_tail"]
    assert meta["heads"] == heads


@pytest.mark.parametrize("args,msg", [
    (("--validation-fraction", 0.7), "--validation-fraction must be in (0, 0.5], got 0.7"),
    (("--validation-fraction", 0), "--validation-fraction must be in (0, 0.5], got 0.0"),
    (("--aux-weight", "0.3,x"), "--aux-weight takes a number or a comma list"),
    (("--aux-weight", "-1"), "--aux-weight values must be finite and >= 0"),
    (("--patience", 0), "--patience must be >= 1"),
    (("--ema-momentum", 1), "--ema-momentum must be in [0, 1), got 1.0"),
])
def test_train_bad_protocol_flags(data, run_cli, tmp_path, args, msg):
    code, out, err = run_cli("train", "--data", data / "train.csv", "--label", "click", "--export", tmp_path / "m",
                             *args)
    assert code == 2 and msg in err and len(err.strip().splitlines()) == 1 and "[train]" not in out
    assert not os.path.exists(tmp_path / "m")


def test_train_refuses_a_validation_split_without_positives(run_cli, tmp_path):
    import numpy as np

    from c2al_tf.models.protocol import VALIDATION_SEED

    held_out = set(np.random.default_rng(VALIDATION_SEED).permutation(400)[:20].tolist())
    positive = min(set(range(400)) - held_out)  # the only positive row falls outside the validation split
    rows = ["click,x"] + [f"{int(i == positive)},{i % 5}" for i in range(400)]
    (tmp_path / "rare.csv").write_text("\n".join(rows) + "\n")
    code, _, err = run_cli("train", "--data", tmp_path / "rare.csv", "--label", "click", "--export", tmp_path / "m",
                           "--validation-fraction", 0.05)
    assert code == 2 and "the validation split (20 rows, --validation-fraction 0.05) has no positive label" in err
    assert len(err.strip().splitlines()) == 1 and not os.path.exists(tmp_path / "m")


def test_train_refuses_a_column_missing_in_every_row(run_cli, tmp_path):
    (tmp_path / "d.csv").write_text("click,x,empty,s\n" + "".join(f"{i % 2},{i},,{'ab'[i % 3 == 0]}\n" for i in range(60)))
    code, out, err = run_cli("train", "--data", tmp_path / "d.csv", "--label", "click", "--export", tmp_path / "m")
    assert code == 2 and "column 'empty' is missing in every row" in err and "--drop empty" in err
    assert len(err.strip().splitlines()) == 1 and not os.path.exists(tmp_path / "m")


def test_demo_unknown_scenario_is_refused_before_any_work(tmp_path, run_cli):
    code, _, err = run_cli("demo", "--scenario", "nope", "--out", tmp_path / "demo")
    assert code == 2 and "--scenario nope: unknown; scenarios are planted, rate_shift" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "demo").exists()


def test_demo_forwards_beam_options_that_start_with_dashes(tmp_path):
    """--beam-arg=--direct_running_mode=in_memory reaches the pipeline's Beam options
    (passed on as "--beam-arg X", argparse took the value for an option and the
    demo failed), and the pipeline's own flags given to the demo reach its options (one
    typed object, no command line built and parsed again)."""
    from c2al_tf.cli import build_parser
    from c2al_tf.commands.demo import pipeline_options
    from pipeline.options import PipelineOptions

    args = build_parser().parse_args(["demo", "--beam-arg=--direct_running_mode=in_memory",
                                      "--beam-arg=--direct_num_workers=1", "--aux-weight=0.3", "--seed", "3"])
    options = pipeline_options(args, str(tmp_path / "d.csv"), str(tmp_path / "out"))
    assert options.beam_args == ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
    assert options.training.aux_weights == (0.3,) and not options.training.select_aux_weight
    assert options.root == str(tmp_path / "out" / "run") and options.label == "click"
    assert options.seed == 3 and options.mining.seed == 3
    assert options.split == [4, 1]  # ExampleGen's default train:eval buckets
    assert pipeline_options(build_parser().parse_args(["demo", "--split", "2:1"]), "d.csv", "o").split == [2, 1]
    # the child process of a local run receives the same options as JSON
    assert PipelineOptions.from_json(options.to_json()) == options


def test_library_errors_name_arguments_and_the_command_shows_flags():
    """A config names its own argument (``max_rows``); ``c2al`` shows the flag
    (``--max-mining-rows``), only where the message names that argument."""
    from c2al_tf.cohorts.config import MiningConfig
    from c2al_tf.commands.common import for_the_command_line
    from c2al_tf.errors import C2ALInputError

    with pytest.raises(C2ALInputError, match="max_rows must be >= 1000") as err:
        MiningConfig(max_rows=10)
    assert for_the_command_line(err.value) == "--max-mining-rows must be >= 1000, got 10"
    with pytest.raises(C2ALInputError) as err:
        MiningConfig(cross_top=2, by="pairwise")
    assert for_the_command_line(err.value).startswith("--cross-top applies to --by stats only")
    assert for_the_command_line(C2ALInputError("by the way, weight 3")) == "by the way, weight 3"


@pytest.mark.parametrize("value,msg", [("4", "--split takes TRAIN:EVAL hash buckets, e.g. 4:1; got '4'"),
                                       ("a:1", "--split takes TRAIN:EVAL"),
                                       ("0:1", "--split must be two whole numbers >= 1")])
def test_pipeline_split_flag_is_checked_before_any_work(tmp_path, run_cli, value, msg):
    data = tmp_path / "d.csv"
    data.write_text("click,x\n1,2\n0,3\n")
    code, _, err = run_cli("pipeline", "run", "--data", data, "--label", "click", "--root", tmp_path / "root",
                           "--split", value)
    assert code == 2 and msg in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "root").exists()


def test_example_gen_uses_the_split():
    from pipeline.pipeline import example_gen

    config = json.loads(example_gen("d.csv", (3, 2)).exec_properties["output_config"])  # TFX keeps it as JSON
    assert {s["name"]: s["hash_buckets"] for s in config["split_config"]["splits"]} == {"train": 3, "eval": 2}


@pytest.mark.parametrize("command", ["train", "experiment", "pipeline", "demo"])
def test_side_by_side_flag_reaches_the_training_config(command):
    """``--no-side-by-side`` (every training command) trains the lambda candidates one
    at a time; on by default."""
    from c2al_tf.cli import build_parser
    from c2al_tf.commands.common import train_config

    data = ["--data", "d.csv", "--label", "y"]
    required = {"train": [*data, "--export", "m"], "experiment": [*data, "--out", "o"],
                "pipeline": ["run", *data, "--root", "r"], "demo": []}[command]
    parser = build_parser()
    assert train_config(parser.parse_args([command, *required])).side_by_side is True
    assert train_config(parser.parse_args([command, *required, "--no-side-by-side"])).side_by_side is False
