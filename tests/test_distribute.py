"""tf.distribute: strategy choice from TF_CONFIG, who exports, input sharding, and
(slow) two worker processes on localhost training one C2AL model, plus a worker
that dies mid-training."""
import json
import os
import signal
import subprocess
import time

import numpy as np
import pytest

from helpers import PYTHON, REPO, write_spec

from c2al_tf.errors import C2ALInputError
from c2al_tf.models import distribute


def _cluster(monkeypatch, workers=2, task="worker", index=0, chief=False):
    spec = {"worker": [f"localhost:{1000 + i}" for i in range(workers)]}
    if chief:
        spec["chief"] = ["localhost:999"]
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": spec, "task": {"type": task, "index": index}}))


def test_strategy_follows_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert distribute.cluster() == (1, None, 0)
    assert distribute.resolve("auto") == "default"
    assert distribute.is_chief()
    _cluster(monkeypatch, 2, "worker", 1)
    assert distribute.cluster() == (2, "worker", 1)
    assert distribute.resolve("auto") == "multi_worker"
    assert distribute.resolve("default") == "default"  # an explicit choice wins
    assert not distribute.is_chief()
    _cluster(monkeypatch, 2, "worker", 0)
    assert distribute.is_chief()
    _cluster(monkeypatch, 2, "worker", 0, chief=True)  # Vertex: a chief pool, then workers
    assert distribute.cluster()[0] == 3 and not distribute.is_chief()
    _cluster(monkeypatch, 2, "chief", 0, chief=True)
    assert distribute.is_chief()


def test_strategy_bad_input(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(C2ALInputError, match="TF_CONFIG: not a cluster description"):
        distribute.cluster()
    monkeypatch.delenv("TF_CONFIG")
    with pytest.raises(C2ALInputError, match="strategy ring: unknown"):
        distribute.resolve("ring")
    with pytest.raises(C2ALInputError, match="strategy multi_worker needs TF_CONFIG"):
        distribute.make_strategy("multi_worker")
    from c2al_tf.models.protocol import TrainConfig

    with pytest.raises(C2ALInputError, match="strategy ring: unknown"):
        TrainConfig(strategy="ring")
    with pytest.raises(C2ALInputError, match="vocab_budget must be >= 1"):
        TrainConfig(vocab_budget=0)


def test_shard_policy_by_file_only_when_every_worker_gets_one():
    import tensorflow as tf

    policy = tf.data.experimental.AutoShardPolicy
    assert distribute.shard_policy(4, 2) == policy.FILE
    assert distribute.shard_policy(1, 2) == policy.DATA
    assert distribute.shard_policy(None, 2) == policy.DATA  # in memory
    ds = distribute.with_shard_policy(tf.data.Dataset.range(4), policy.DATA)
    assert ds.options().experimental_distribute.auto_shard_policy == policy.DATA


def test_lost_worker_message_is_one_line():
    import tensorflow as tf

    error = tf.errors.UnavailableError(None, None, "in user code:\n\n  File x\nTask /job:worker/replica:0/task:1 "
                                                   "heartbeat timeout. This indicates ...")
    message = distribute.lost_worker_message(error)
    assert "\n" not in message and "task:1 heartbeat timeout" in message and "restart the whole cluster" in message


# -- two processes on localhost ------------------------------------------------------------

def _start_workers(tmp_path, args, n=2):
    """``c2al train ARGS --strategy multi_worker`` in n processes with TF_CONFIG."""
    ports = distribute.free_ports(n)
    procs = []
    for i in range(n):
        env = dict(os.environ, TF_CONFIG=distribute.local_tf_config(n, i, ports), PYTHONPATH=REPO,
                   TF_CPP_MIN_LOG_LEVEL="2")
        out = open(tmp_path / f"worker{i}.out", "w")
        err = open(tmp_path / f"worker{i}.err", "w")
        procs.append(subprocess.Popen([PYTHON, "-m", "c2al_tf.cli", "train", *map(str, args), "--strategy",
                                       "multi_worker"], stdout=out, stderr=err, env=env, cwd=tmp_path,
                                      start_new_session=True))
    return procs


def _stop(procs):
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout=30)


def _wait(procs, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline and any(p.poll() is None for p in procs):
        time.sleep(1)
    return [p.poll() for p in procs]


def _ne(model_dir, table):
    import tensorflow as tf

    from c2al_tf.export import load_metadata
    from c2al_tf.metrics import normalized_entropy

    spec = load_metadata(model_dir)["feature_spec"]
    model = tf.keras.models.load_model(model_dir)
    p = model.predict(spec.table_to_inputs(table), batch_size=4096, verbose=0).reshape(-1)
    return normalized_entropy(table.label, p)


@pytest.mark.slow
def test_two_workers_train_one_c2al_model_that_the_chief_exports(tmp_path, run_cli):
    """Two worker processes (TF_CONFIG, MultiWorkerMirroredStrategy) train the C2AL
    model on the same data as one process; the chief alone exports, the export
    serves the primary head only, and its test NE is within 0.5% (relative) of the
    single-process model's: with DATA sharding every global batch is the same, so
    only float summation order differs."""
    import tensorflow as tf

    from c2al_tf.data import write_csv
    from c2al_tf.data.readers import table_from_frame
    from c2al_tf.data.synthetic import generate

    write_csv(str(tmp_path / "train.csv"), 6000, seed=3)
    cohorts = write_spec(tmp_path / "cohorts.json")
    args = ["--data", tmp_path / "train.csv", "--label", "click", "--cohorts", cohorts, "--aux-weight", "0.3",
            "--epochs", "2", "--no-early-stopping", "--verbose-epochs"]
    procs = _start_workers(tmp_path, args + ["--export", tmp_path / "multi"])
    try:
        codes = _wait(procs, 400)
    finally:
        _stop(procs)
    errors = [(tmp_path / f"worker{i}.err").read_text()[-1500:] for i in range(2)]
    assert codes == [0, 0], errors
    assert "worker done; the chief exports" in (tmp_path / "worker1.out").read_text()
    assert sorted(os.listdir(tmp_path)).count("multi") == 1  # only the chief's export, no worker leftovers

    code, _, err = run_cli("train", *args, "--export", tmp_path / "single")
    assert code == 0, err
    loaded = tf.saved_model.load(str(tmp_path / "multi"))
    assert set(loaded.signatures["serving_default"].structured_outputs) == {"probabilities"}
    meta = json.loads((tmp_path / "multi" / "assets.extra" / "c2al.json").read_text())
    assert meta["workers"] == 2 and meta["heads"][1:] == ["aux__user_value_head", "aux__user_value_tail"]
    test = table_from_frame(generate(4000, 11), "click", source="test")
    ne_multi, ne_single = _ne(str(tmp_path / "multi"), test), _ne(str(tmp_path / "single"), test)
    assert abs(ne_multi - ne_single) / ne_single < 0.005, (ne_multi, ne_single)
    assert np.isfinite(ne_multi)


@pytest.mark.slow
def test_a_worker_that_dies_mid_training_fails_the_run_fast(tmp_path):
    """Killing one worker mid-training makes the other exit non-zero with a one-line
    error within a bounded time (MultiWorkerMirroredStrategy's health check: about a
    minute), instead of hanging in a collective."""
    from c2al_tf.data import write_csv

    write_csv(str(tmp_path / "train.csv"), 4000, seed=3)
    args = ["--data", tmp_path / "train.csv", "--label", "click", "--aux-weight", "0", "--epochs", "500",
            "--no-early-stopping", "--verbose-epochs", "--export", tmp_path / "model"]
    procs = _start_workers(tmp_path, args)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and "Epoch 3/" not in (tmp_path / "worker0.out").read_text():
            assert all(p.poll() is None for p in procs), (tmp_path / "worker0.err").read_text()[-1500:]
            time.sleep(1)
        assert "Epoch 3/" in (tmp_path / "worker0.out").read_text(), "training did not start"
        killed_at = time.time()
        os.killpg(procs[1].pid, signal.SIGKILL)
        code = _wait(procs[:1], 180)[0]
        took = time.time() - killed_at
    finally:
        _stop(procs)
    err = (tmp_path / "worker0.err").read_text()
    assert code == 2, err[-1500:]
    assert took < 180
    line = [ln for ln in err.splitlines() if ln.startswith("c2al: error:")]
    assert line and "became unreachable" in line[0] and "restart the whole cluster" in line[0]
    assert not (tmp_path / "model").exists()  # nothing half-written
