"""Outputs that never lose a user's files and never end half-written.

* :func:`check_output_dir` / :func:`check_output_file` run *before* any work, so a
  bad ``--export``/``--out`` costs a one-line error, not minutes of training and a
  traceback.
* :func:`atomic_directory` writes a directory under a temporary name beside the
  target and renames it into place. An existing target is replaced only when it is
  empty or a previous output of c2al (it holds the :data:`MARKER` file, or is a
  SavedModel exported by c2al); anything else is refused: c2al never deletes what
  it did not create. The previous output is moved aside, the new one renamed in,
  and only then the old one removed.
* :func:`write_json` writes a file through a temporary name and a rename.

Each check takes ``name``: how its messages name the path (the library's own
argument, e.g. ``export_dir``; the ``c2al`` command passes its flag, e.g. ``--out``).

Paths with a scheme (``gs://``, ``s3://``, ``hdfs://``, ``ram://``) go through
``tf.io.gfile``; object stores have no atomic directory rename, so there the
directory is written in place once the checks pass (as TFX's own exporters do).
"""
from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import shutil
import sys
import tempfile
from typing import Any, Iterator

from c2al_tf.errors import C2ALInputError

MARKER = ".c2al-output"  # written into every directory c2al creates


def is_remote(path: str) -> bool:
    return "://" in str(path)


def _gfile():
    import c2al_tf  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
    import tensorflow as tf

    return tf.io.gfile


def exists(path: str) -> bool:
    return _gfile().exists(path) if is_remote(path) else os.path.exists(path)


def is_ours(path: str) -> bool:
    """Whether a directory is a previous output of c2al (safe to replace)."""
    join = os.path.join
    if is_remote(path):
        g = _gfile()
        return g.exists(join(path, MARKER)) or g.exists(join(path, "assets.extra", "c2al.json"))
    return os.path.isfile(join(path, MARKER)) or os.path.isfile(join(path, "assets.extra", "c2al.json"))


def _is_empty_dir(path: str) -> bool:
    if is_remote(path):
        return not _gfile().listdir(path)
    return not os.listdir(path)


def default_mode(mode: int) -> int:
    """``mode`` less the process umask (mkstemp/mkdtemp create private paths)."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def _check_parent_writable(path: str, name: str) -> None:
    """The nearest existing ancestor of ``path`` must be a writable directory."""
    ancestor = os.path.dirname(path)
    while ancestor and not os.path.exists(ancestor):
        parent = os.path.dirname(ancestor)
        if parent == ancestor:
            break
        ancestor = parent
    if os.path.exists(ancestor) and not os.path.isdir(ancestor):
        raise C2ALInputError(f"{name} {path}: '{ancestor}' is a file, not a directory")
    try:  # a real probe: os.access says yes to root even on /proc
        fd, probe = tempfile.mkstemp(prefix=".c2al-probe", dir=ancestor)
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise C2ALInputError(f"{name} {path}: cannot write in '{ancestor}' ({e.strerror or e})")


def check_output_dir(path: str, name: str = "path") -> None:
    """Raises a one-line C2ALInputError unless ``path`` can become an output
    directory: creatable, and either absent, empty, or a previous c2al output."""
    if not path:
        raise C2ALInputError(f"{name}: no directory given")
    if is_remote(path):
        g = _gfile()
        if g.exists(path) and not g.isdir(path):
            raise C2ALInputError(f"{name} {path}: is a file, not a directory")
        if g.exists(path) and not _is_empty_dir(path) and not is_ours(path):
            raise C2ALInputError(f"{name} {path}: exists and holds files c2al did not write; choose a new "
                                 f"directory (c2al never deletes what it did not create)")
        return
    path = os.path.abspath(path)
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise C2ALInputError(f"{name} {path}: is a file, not a directory")
        if not _is_empty_dir(path) and not is_ours(path):
            raise C2ALInputError(f"{name} {path}: exists and holds files c2al did not write; choose a new "
                                 f"directory (c2al never deletes what it did not create)")
    _check_parent_writable(path, name)


def check_writable_dir(path: str, name: str = "path") -> None:
    """For a directory c2al adds to without deleting anything (a pipeline root):
    it must be a directory, or creatable, and writable."""
    if not path:
        raise C2ALInputError(f"{name}: no directory given")
    if is_remote(path):
        if _gfile().exists(path) and not _gfile().isdir(path):
            raise C2ALInputError(f"{name} {path}: is a file, not a directory")
        return
    path = os.path.abspath(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise C2ALInputError(f"{name} {path}: is a file, not a directory")
    _check_parent_writable(os.path.join(path, "probe"), name)


def _read_head(path: str, limit: int) -> bytes:
    if is_remote(path):
        with _gfile().GFile(path, "rb") as f:
            return f.read(limit)
    with open(path, "rb") as f:
        return f.read(limit)


def _size(path: str) -> int:
    return _gfile().stat(path).length if is_remote(path) else os.path.getsize(path)


# keys that mark a JSON document c2al writes: a CohortSpec ("format": "c2al.cohorts/1"),
# metrics.json ("overall" + "cohorts"), a generator's ground truth (--truth)
_OWN_JSON_KEYS = ({"overall", "cohorts"}, {"label", "axis", "tail_max", "head_min", "scenario"})
_OWN_JSON_LIMIT = 64 << 20  # c2al's JSON outputs are small; a larger file is not one of them


def is_own_json(path: str) -> bool:
    """Whether the file at ``path`` is a JSON document c2al writes (cohorts.json,
    metrics.json, a --truth file): safe to replace."""
    if _size(path) > _OWN_JSON_LIMIT:
        return False
    try:
        doc = json.loads(_read_head(path, _OWN_JSON_LIMIT).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return False
    if not isinstance(doc, dict):
        return False
    if str(doc.get("format", "")).startswith("c2al."):
        return True
    return any(keys <= set(doc) for keys in _OWN_JSON_KEYS)


def check_output_file(path: str, name: str = "path", ours=is_own_json) -> None:
    """Raises a one-line C2ALInputError unless a file can be written at ``path``:
    a writable place that is absent, empty, or a file c2al wrote (``ours(path)``,
    by default :func:`is_own_json`); any other file is refused, never replaced."""
    if not path:
        raise C2ALInputError(f"{name}: no file given")
    if not is_remote(path):
        path = os.path.abspath(path)
    if (_gfile().isdir(path) if is_remote(path) else os.path.isdir(path)):
        raise C2ALInputError(f"{name} {path}: is a directory; give a file name")
    if exists(path) and _size(path) > 0 and not ours(path):
        raise C2ALInputError(f"{name} {path}: exists and is not a file c2al wrote; choose a new file name "
                             f"(c2al never replaces what it did not create)")
    if not is_remote(path):
        _check_parent_writable(path, name)


@contextlib.contextmanager
def atomic_directory(path: str, name: str = "path") -> Iterator[str]:
    """Yields a temporary directory that becomes ``path`` on success (see the
    module docstring); on failure it is deleted and ``path`` is left as it was."""
    check_output_dir(path, name)
    if is_remote(path):
        g = _gfile()
        if g.exists(path):
            leftovers = remove_own_output(path)  # checked above: empty or ours
            if leftovers:
                raise C2ALInputError(f"{name} {path}: holds files c2al did not write ({leftovers[0]}, ...); "
                                     f"choose a new directory (c2al never deletes what it did not create)")
        g.makedirs(path)
        yield path
        _write_marker(path)
        return
    path = os.path.abspath(path)
    parent, base = os.path.dirname(path), os.path.basename(path)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{base}.tmp", dir=parent)
    os.chmod(tmp, default_mode(0o777))
    try:
        yield tmp
        if not os.path.isdir(tmp):
            raise RuntimeError(f"{tmp} was removed while being written")
        _write_marker(tmp)
        _replace_dir(tmp, path, name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def remove_remote_tree(path: str) -> None:
    """``tf.io.gfile.rmtree``; where a filesystem lists entries it cannot delete
    (TensorFlow's ram:// lists ``assets.extra/x`` also as ``assets/.extra``), the
    files are removed one by one and such phantom entries are skipped."""
    import tensorflow as tf

    g = _gfile()
    try:
        g.rmtree(path)
        return
    except tf.errors.NotFoundError:
        pass
    for root, _, files in list(g.walk(path)):
        for name in files:
            try:
                g.remove(f"{root.rstrip('/')}/{name}")
            except tf.errors.NotFoundError:
                pass


def copy_tree(src: str, dst: str) -> None:
    """Copies the directory ``src`` to ``dst`` (local or remote, through tf.io.gfile)."""
    import tensorflow as tf

    g = _gfile()
    src = src.rstrip("/")
    for root, _, files in list(g.walk(src)):
        rel = root[len(src):].lstrip("/")
        target = f"{dst.rstrip('/')}/{rel}" if rel else dst
        g.makedirs(target)
        for name in files:
            try:
                g.copy(f"{root.rstrip('/')}/{name}", f"{target.rstrip('/')}/{name}", overwrite=True)
            except tf.errors.NotFoundError:  # a phantom entry (see remove_remote_tree)
                pass


def _write_marker(root: str) -> None:
    """The marker, listing every file c2al wrote under ``root`` (its manifest)."""
    g = _gfile()
    root = root.rstrip("/")
    files = sorted(f"{r[len(root):].lstrip('/')}/{n}".lstrip("/") for r, _, names in g.walk(root) for n in names)
    with g.GFile(f"{root}/{MARKER}", "w") as f:
        f.write(json.dumps({"c2al": 1, "files": [x for x in files if x != MARKER]}) + "\n")


def remove_own_output(root: str) -> list:
    """Removes what c2al wrote under ``root`` (the files its marker lists) and the
    directories left empty; returns the files it kept (anything else, e.g. a file a
    user added later, or everything when the marker has no list)."""
    import tensorflow as tf

    g = _gfile()
    root = root.rstrip("/")
    try:
        with g.GFile(f"{root}/{MARKER}") as f:
            listed = set(json.loads(f.read()).get("files", []))
    except (tf.errors.NotFoundError, ValueError, AttributeError):
        listed = set()
    if listed:
        listed.add(MARKER)
    kept = []
    walk = list(g.walk(root))
    for r, _, names in walk:
        for n in names:
            rel = f"{r[len(root):].lstrip('/')}/{n}".lstrip("/")
            if rel not in listed:
                kept.append(rel)
                continue
            try:
                g.remove(f"{r.rstrip('/')}/{n}")
            except tf.errors.NotFoundError:  # a phantom entry (see remove_remote_tree)
                pass
    for r, _, _ in sorted(walk, key=lambda w: -len(w[0])):  # deepest first: remove directories left empty
        try:
            if g.isdir(r) and not g.listdir(r):
                g.rmtree(r)
        except tf.errors.NotFoundError:
            pass
    return kept


def _replace_dir(tmp: str, path: str, name: str) -> None:
    """Renames ``tmp`` to ``path``; a previous output there is moved aside first and
    removed only once the new one is in place."""
    if not os.path.exists(path):
        os.replace(tmp, path)
        return
    check_output_dir(path, name)  # still empty or ours after the work
    old = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.old", dir=os.path.dirname(path))
    os.rmdir(old)
    os.replace(path, old)
    try:
        os.replace(tmp, path)
    except OSError:
        os.replace(old, path)
        raise
    leftovers = remove_own_output(old)
    if leftovers:  # files someone added to the old output: never deleted, said where they are
        print(f"c2al: warning: {name} {path}: the previous output held files c2al did not write; they are kept "
              f"in {old}", file=sys.stderr)


def json_safe(doc: Any) -> Any:
    """``doc`` with every NaN/inf float replaced by None (strict JSON has no NaN)."""
    if isinstance(doc, float):
        return doc if math.isfinite(doc) else None
    if isinstance(doc, dict):
        return {k: json_safe(v) for k, v in doc.items()}
    if isinstance(doc, (list, tuple)):
        return [json_safe(v) for v in doc]
    if hasattr(doc, "item") and getattr(doc, "shape", None) == ():  # numpy scalar
        return json_safe(doc.item())
    return doc


@contextlib.contextmanager
def atomic_file(path: str, suffix: str = "") -> Iterator[str]:
    """Yields a temporary local path beside ``path`` (ending in ``suffix``); on
    success it is renamed to ``path`` (permissions as a plain ``open`` would give),
    on failure removed."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as e:
        if e.errno in (errno.EEXIST, errno.ENOTDIR):
            raise C2ALInputError(f"{path}: a parent of this path is a file, not a directory")
        raise
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.tmp", suffix=suffix, dir=directory)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, default_mode(0o666))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_json(path: str, doc: Any) -> None:
    """Strict JSON (NaN -> null) to ``path`` via a temporary file and a rename
    (remote URIs are written through tf.io.gfile, whose object stores write a
    file atomically)."""
    text = json.dumps(json_safe(doc), indent=2, allow_nan=False) + "\n"
    if is_remote(path):
        with _gfile().GFile(path, "w") as f:
            f.write(text)
        return
    with atomic_file(path) as tmp:
        with open(tmp, "w") as f:
            f.write(text)
