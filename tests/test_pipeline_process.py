"""`c2al pipeline run`: one run per --root, Ctrl-C in one line, a one-class label refused."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from c2al_tf.commands.pipeline_process import LOCK_FILE, root_lock
from c2al_tf.errors import C2ALInputError

HOLD = textwrap.dedent("""
    import sys, time
    from c2al_tf.commands.pipeline_process import root_lock
    with root_lock(sys.argv[1]):
        print("held", flush=True)
        time.sleep(60)
""")


def test_a_second_run_is_refused_while_the_first_is_alive(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(C2ALInputError, match=rf"--root {tmp_path}: another pipeline run is using it "
                                                 rf"\(pid {holder.pid} on "):
            with root_lock(str(tmp_path)):
                pass
    finally:
        holder.kill()
        holder.wait()
    # killed: its lock file stays behind but is stale, and the next run takes it over
    assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == holder.pid
    with root_lock(str(tmp_path)):
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert (tmp_path / LOCK_FILE).read_text() == ""  # a clean end frees it


DRIVER = textwrap.dedent("""
    import sys
    from c2al_tf.cli import main
    from c2al_tf.commands import pipeline_process
    # the child stands in for the pipeline: a process that starts a worker of its own and waits
    child = ["-c", "import subprocess, sys, time; "
                   "w = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
                   "open(sys.argv[1], 'w').write(str(w.pid)); time.sleep(120)", sys.argv[1]]
    try:
        sys.exit(pipeline_process.run_in_child(child, command=[sys.executable]))
    except KeyboardInterrupt:
        print("c2al: interrupted", file=sys.stderr)
        sys.exit(130)
""")


def test_ctrl_c_stops_the_pipeline_and_its_workers_in_one_line(tmp_path):
    pid_file = tmp_path / "worker.pid"
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(pid_file)], stderr=subprocess.PIPE, text=True,
                              preexec_fn=lambda: (signal.signal(signal.SIGINT, signal.SIG_DFL), os.setpgrp()))
    for _ in range(200):
        if pid_file.exists() and pid_file.read_text():
            break
        time.sleep(0.1)
    worker = int(pid_file.read_text())
    os.killpg(driver.pid, signal.SIGINT)  # what the terminal sends on Ctrl-C: the foreground group only
    _, err = driver.communicate(timeout=60)
    assert driver.returncode == 130
    assert err.strip() == "c2al: interrupted"
    for _ in range(100):  # the pipeline's own workers are gone too
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the pipeline's worker survived Ctrl-C")


@pytest.mark.parametrize("labels,message", [
    ([0] * 40, "has only label 0 (40 rows)"),
    ([1] * 40, "has only label 1 (40 rows)"),
    ([1], "has 1 data row"),
    ([0, 1] * 20 + ["2"], "must be 0/1 for the pipeline but is '2' at data row 41"),
])
def test_the_pipeline_refuses_a_label_without_two_classes(tmp_path, run_cli, labels, message):
    rows = "\n".join(f"{i % 7},{i * 0.5},{y}" for i, y in enumerate(labels))
    (tmp_path / "d.csv").write_text("a,b,click\n" + rows + "\n")
    code, _, err = run_cli("pipeline", "run", "--data", tmp_path / "d.csv", "--label", "click",
                           "--root", tmp_path / "root")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "root").exists()  # an input error leaves no directory behind


def test_an_input_error_keeps_a_root_that_existed(tmp_path, run_cli):
    (tmp_path / "d.csv").write_text("a,b,click\n1,2,yes\n2,3,no\n")
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "mine.txt").write_text("kept")
    code, _, err = run_cli("pipeline", "run", "--data", tmp_path / "d.csv", "--label", "click",
                           "--root", tmp_path / "root", "--positive-label", "maybe")
    assert code == 2 and "matches --positive-label 'maybe'" in err
    assert (tmp_path / "root" / "mine.txt").read_text() == "kept"
