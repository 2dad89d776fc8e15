"""The Dockerfile builds on the TFX release constraints.txt pins and installs the
package from constraints.txt with TF_USE_LEGACY_KERAS=1 (no Docker engine runs in
the tests: this checks the recipe, not an image)."""
import os
import re

from helpers import REPO


def _pins():
    pins = {}
    with open(os.path.join(REPO, "constraints.txt")) as f:
        for line in f:
            m = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)", line.strip())
            if m:
                pins[m.group(1).lower()] = m.group(2)
    return pins


def test_dockerfile_pins_agree_with_constraints():
    text = open(os.path.join(REPO, "Dockerfile")).read()
    base = re.search(r"^FROM\s+tensorflow/tfx:(\S+)", text, re.M)
    assert base, "the image must build on the official tensorflow/tfx image"
    assert base.group(1) == _pins()["tfx"]
    assert re.search(r"pip install[^\n]*-c constraints\.txt", text)
    assert re.search(r"TF_USE_LEGACY_KERAS=1", text)
    for path in ("c2al_tf", "components", "pipeline", "schemas", "constraints.txt", "setup.py"):
        assert re.search(rf"^COPY [^\n]*\b{re.escape(path)}\b", text, re.M), path


def test_compiled_pipeline_names_the_image_the_readme_builds():
    readme = open(os.path.join(REPO, "README.md")).read()
    assert "docker build -t" in readme and "--image" in readme
    assert "docker build -t" in open(os.path.join(REPO, "docs", "scaling.md")).read() + \
        open(os.path.join(REPO, "docs", "pipeline.md")).read()
