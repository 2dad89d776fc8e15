"""Atomic outputs: write to a temporary name beside the target, then rename, so a
failed run never leaves a half-written file or directory."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
from typing import Any, Iterator


@contextlib.contextmanager
def atomic_directory(path: str) -> Iterator[str]:
    """Yields a temporary directory; on success it replaces ``path`` (an existing
    directory there is removed), on failure it is deleted."""
    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        yield tmp
        if os.path.exists(path):
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_json(path: str, doc: Any) -> None:
    """JSON to ``path`` via a temporary file and a rename (remote URIs such as
    gs://... are written through tf.io.gfile, whose object stores write atomically)."""
    if "://" in path:
        import c2al_tf  # noqa: F401
        import tensorflow as tf

        with tf.io.gfile.GFile(path, "w") as f:
            f.write(json.dumps(doc, indent=2, allow_nan=True) + "\n")
        return
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.tmp{os.getpid()}")
    try:
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=2, allow_nan=True)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
