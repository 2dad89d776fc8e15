import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

import c2al_tf  # noqa: E402,F401
from bench.common import movielens_dir as shared_movielens_dir  # noqa: E402


@pytest.fixture(scope="session")
def movielens_dir():
    path = shared_movielens_dir()
    if not os.path.exists(os.path.join(path, "ml-100k.inter")):
        pytest.skip(f"MovieLens 100K not found at {path} (set C2AL_MOVIELENS_DIR)")
    return path


@pytest.fixture
def run_cli(capsys):
    """Runs ``c2al ARGS`` in-process; returns (exit code, stdout, stderr)."""
    from c2al_tf.cli import main

    def run(*args):
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run
