"""Outputs never delete a user's files, are checked before work, and are strict JSON."""
import json
import os

import pytest

from c2al_tf.errors import C2ALInputError
from c2al_tf.io_utils import (MARKER, atomic_directory, check_output_dir, check_output_file, check_writable_dir,
                              json_safe, write_json)


def _foreign(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "data.csv").write_text("a,b\n1,2\n")
    (d / "notes.txt").write_text("keep")
    return d


def test_atomic_directory_refuses_a_directory_it_did_not_create(tmp_path):
    d = _foreign(tmp_path)
    with pytest.raises(C2ALInputError, match="holds files c2al did not write"):
        with atomic_directory(str(d)):
            (tmp_path / "never").write_text("the body must not run")
    assert sorted(os.listdir(d)) == ["data.csv", "notes.txt"]
    assert not (tmp_path / "never").exists()
    assert os.listdir(tmp_path) == ["d"]


def test_atomic_directory_replaces_its_own_output_only_when_the_new_one_is_complete(tmp_path):
    target = tmp_path / "out"
    with atomic_directory(str(target)) as tmp:
        open(os.path.join(tmp, "v"), "w").write("1")
    assert (target / MARKER).exists() and (target / "v").read_text() == "1"
    with pytest.raises(RuntimeError):
        with atomic_directory(str(target)) as tmp:
            open(os.path.join(tmp, "v"), "w").write("2")
            raise RuntimeError("fails half-way")
    assert (target / "v").read_text() == "1"  # the previous output survives a failed run
    with atomic_directory(str(target)) as tmp:
        open(os.path.join(tmp, "v"), "w").write("3")
    assert (target / "v").read_text() == "3"
    assert sorted(os.listdir(tmp_path)) == ["out"]  # no temporary or old copy left


def test_replacing_an_output_never_deletes_a_file_c2al_did_not_write(tmp_path, capsys):
    """The marker lists what c2al wrote; only those files go when the output is
    replaced. A file a user put in the old output later is kept (and reported)."""
    target = tmp_path / "out"
    with atomic_directory(str(target)) as tmp:
        os.makedirs(os.path.join(tmp, "sub"))
        open(os.path.join(tmp, "sub", "v"), "w").write("1")
    (target / "sub" / "my_notes.txt").write_text("mine")
    with atomic_directory(str(target)) as tmp:
        open(os.path.join(tmp, "v"), "w").write("2")
    assert (target / "v").read_text() == "2" and not (target / "sub").exists()
    kept = [p for p in tmp_path.iterdir() if p.name != "out"]
    assert len(kept) == 1 and (kept[0] / "sub" / "my_notes.txt").read_text() == "mine"
    assert not (kept[0] / "sub" / "v").exists() and not (kept[0] / MARKER).exists()
    assert "they are kept in" in capsys.readouterr().err


def test_atomic_directory_uses_an_empty_directory(tmp_path):
    (tmp_path / "empty").mkdir()
    with atomic_directory(str(tmp_path / "empty")) as tmp:
        open(os.path.join(tmp, "x"), "w").write("x")
    assert (tmp_path / "empty" / "x").exists()
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(tmp_path / "empty").st_mode & 0o777 == 0o777 & ~umask  # not mkdtemp's private 0700


@pytest.mark.parametrize("case", ["under_file", "is_file", "proc", "foreign"])
def test_check_output_dir_bad_targets(tmp_path, case):
    (tmp_path / "f").write_text("x")
    path = {"under_file": tmp_path / "f" / "model", "is_file": tmp_path / "f", "proc": "/proc/c2al-model",
            "foreign": _foreign(tmp_path)}[case]
    with pytest.raises(C2ALInputError) as e:
        check_output_dir(str(path), "--export")
    message = str(e.value)
    assert message.startswith(f"--export {path}") and "\n" not in message
    assert os.path.exists(tmp_path / "f")


def test_check_output_file_and_writable_dir(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(C2ALInputError, match="is a directory"):
        check_output_file(str(tmp_path), "--out")
    with pytest.raises(C2ALInputError, match="is a file, not a directory"):
        check_output_file(str(tmp_path / "f" / "m.json"), "--out")
    with pytest.raises(C2ALInputError, match="cannot write"):
        check_output_file("/proc/c2al-metrics.json", "--out")
    check_output_file(str(tmp_path / "new" / "deeper" / "m.json"))  # creatable: fine
    assert not (tmp_path / "new").exists()  # checks create nothing
    with pytest.raises(C2ALInputError, match="is a file"):
        check_writable_dir(str(tmp_path / "f"), "--root")
    check_writable_dir(str(_foreign(tmp_path)), "--root")  # a pipeline root only adds files


def test_write_json_is_strict_json(tmp_path):
    path = tmp_path / "m.json"
    write_json(str(path), {"ne": float("nan"), "auc": float("inf"), "n": [1.5, float("-inf")], "count": 0})
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"ne": None, "auc": None, "n": [1.5, None], "count": 0}
    assert json_safe({"x": (1, 2)}) == {"x": [1, 2]}


def test_remote_paths_go_through_gfile():
    import tensorflow as tf

    root = "ram://c2al-io-test"
    try:
        write_json(f"{root}/a/m.json", {"ne": float("nan")})
        with tf.io.gfile.GFile(f"{root}/a/m.json") as f:
            assert json.loads(f.read()) == {"ne": None}
        with atomic_directory(f"{root}/out") as tmp:
            with tf.io.gfile.GFile(f"{tmp}/x", "w") as f:
                f.write("1")
        assert tf.io.gfile.exists(f"{root}/out/{MARKER}")
        with atomic_directory(f"{root}/out") as tmp:  # ours: replaced
            pass
        assert not tf.io.gfile.exists(f"{root}/out/x")
        tf.io.gfile.makedirs(f"{root}/foreign")
        with tf.io.gfile.GFile(f"{root}/foreign/data.csv", "w") as f:
            f.write("keep")
        with pytest.raises(C2ALInputError, match="did not write"):
            check_output_dir(f"{root}/foreign", "--export")
        assert tf.io.gfile.exists(f"{root}/foreign/data.csv")
    finally:
        from c2al_tf.io_utils import remove_remote_tree

        remove_remote_tree(root)


def test_a_file_output_never_replaces_a_file_c2al_did_not_write(tmp_path, run_cli):
    """`mine --out d.csv` on its own input used to replace the CSV with cohorts JSON."""
    from c2al_tf.data import write_csv

    write_csv(str(tmp_path / "d.csv"), 800, seed=0)
    before = (tmp_path / "d.csv").read_bytes()
    code, _, err = run_cli("mine", "--data", tmp_path / "d.csv", "--label", "click", "--out", tmp_path / "d.csv")
    assert code == 2 and "is not a file c2al wrote" in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "d.csv").read_bytes() == before
    (tmp_path / "notes.json").write_text('{"mine": "not c2al"}')
    code, _, err = run_cli("generate", "--rows", 10, "--out", tmp_path / "x.csv", "--truth", tmp_path / "notes.json")
    assert code == 2 and "notes.json" in err and not (tmp_path / "x.csv").exists()
    # c2al's own outputs (and empty files) are replaced as before
    code, _, err = run_cli("generate", "--rows", 10, "--out", tmp_path / "g.csv", "--truth", tmp_path / "t.json")
    assert code == 0, err
    code, _, err = run_cli("generate", "--rows", 12, "--out", tmp_path / "g.csv", "--truth", tmp_path / "t.json")
    assert code == 0, err
    assert len((tmp_path / "g.csv").read_text().splitlines()) == 13


def test_is_own_json(tmp_path):
    from c2al_tf.io_utils import check_output_file, is_own_json

    cases = {"spec.json": '{"format": "c2al.cohorts/1", "label": "y", "pairs": []}',
             "metrics.json": '{"overall": {}, "cohorts": {}}', "list.json": "[1, 2]", "text.json": "hello",
             "other.json": '{"format": "parquet"}'}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
    assert is_own_json(str(tmp_path / "spec.json")) and is_own_json(str(tmp_path / "metrics.json"))
    assert not any(is_own_json(str(tmp_path / n)) for n in ("list.json", "text.json", "other.json"))
    (tmp_path / "empty.json").write_text("")
    check_output_file(str(tmp_path / "empty.json"))  # an empty file holds nothing to lose
    with pytest.raises(C2ALInputError, match="not a file c2al wrote"):
        check_output_file(str(tmp_path / "other.json"))
