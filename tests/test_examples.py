"""The runnable examples in examples/, on small settings (slow: they train models)."""
import os
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_keras_tfrs_ranking_adds_c2al_to_a_tfrs_dcn_model(movielens_dir):
    out = subprocess.run([sys.executable, os.path.join(REPO, "examples", "keras_tfrs_ranking.py"), "--data",
                          movielens_dir, "--seeds", "2", "--epochs", "1"], capture_output=True, text=True,
                         timeout=900, cwd=REPO)
    assert out.returncode == 0, out.stderr[-3000:]
    assert re.search(r"^cohorts: \w+", out.stdout, re.M)
    assert len(re.findall(r"^seed \d: test NE baseline 0\.\d+  C2AL 0\.\d+", out.stdout, re.M)) == 2
    assert re.search(r"NE_diff C2AL vs baseline: [+-]\d+\.\d+% \[", out.stdout)
