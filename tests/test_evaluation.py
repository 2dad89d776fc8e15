"""The Evaluator's gate (pipeline/evaluation.py) run by TFMA itself."""
import pytest


@pytest.mark.slow
def test_the_gate_blesses_the_baseline_itself_and_refuses_the_worse_of_two(tmp_path, run_cli):
    """The Evaluator's rule (pipeline.evaluation.eval_config: overall NE not worse than the baseline's,
    tolerance 0) on TFMA itself: the baseline's own export as the candidate (what the C2AL
    trainer returns when lambda 0 wins) is blessed; of two different models, exactly the
    one with the higher NE is refused."""
    import tensorflow_model_analysis as tfma

    from c2al_tf.data import read_table
    from c2al_tf.data.examples import write_tfrecord
    from c2al_tf.data.synthetic import write_csv
    from pipeline.evaluation import eval_config

    write_csv(str(tmp_path / "d.csv"), 6000, 3, scenario="interaction")
    models = {}
    for name, extra in (("a", ()), ("b", ("--epochs", "1", "--no-early-stopping", "--learning-rate", "0.0001"))):
        code, _, err = run_cli("train", "--data", tmp_path / "d.csv", "--label", "click", "--export",
                               tmp_path / name, *extra)
        assert code == 0, err
        models[name] = str(tmp_path / name)
    write_tfrecord(read_table(str(tmp_path / "d.csv"), "click"), str(tmp_path / "eval.tfrecord.gz"))
    config = eval_config("click")

    def gate(candidate, baseline, out):
        shared = [tfma.default_eval_shared_model(eval_saved_model_path=models[candidate], eval_config=config,
                                                 model_name="candidate"),
                  tfma.default_eval_shared_model(eval_saved_model_path=models[baseline], eval_config=config,
                                                 model_name="baseline")]
        tfma.run_model_analysis(eval_shared_model=shared, eval_config=config,
                                data_location=str(tmp_path / "eval.tfrecord.gz"), output_path=str(tmp_path / out))
        return tfma.load_validation_result(str(tmp_path / out)).validation_ok

    assert gate("a", "a", "same")
    assert gate("a", "b", "ab") != gate("b", "a", "ba")
