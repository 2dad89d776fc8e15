"""Where an experiment's numbers come from: the data's hash and the package versions."""
from __future__ import annotations

import hashlib
import os
import sys
from typing import Dict


def data_hash(path: str) -> str:
    """SHA-256 of a file, or of a directory's files in sorted order."""
    h = hashlib.sha256()
    files = [path] if os.path.isfile(path) else sorted(
        os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs)
    for f in files:
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def versions() -> Dict[str, str]:
    """Python's and the stack's versions, as installed."""
    from importlib import metadata

    out = {"python": sys.version.split()[0]}
    for pkg in ("c2al-tf", "tensorflow", "tf-keras", "tensorflow-recommenders", "tensorflow-data-validation",
                "tfx", "apache-beam", "numpy", "scipy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out
