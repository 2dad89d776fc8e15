"""How ``c2al pipeline run`` holds its ``--root`` and runs the pipeline.

* **One run per root.** :func:`root_lock` takes an exclusive ``flock`` on
  ``ROOT/.c2al-run.lock`` (pid, host and start time written inside). A second run
  on the same root is refused in one line while the first is alive. The kernel
  drops the lock when its holder dies, so a lock file left by a killed run is
  stale: it is detected and taken over.
* **Its output is this command's.** The child's stdout and stderr are copied to
  this process's, so a caller that captures them (a test, a notebook) sees the run.
* **Ctrl-C in one line.** The pipeline (TFX, Beam's worker processes) runs in a
  child process in a session of its own, so the terminal's SIGINT reaches only
  this process: it stops the child's whole process group (SIGTERM, then SIGKILL)
  and the command ends with ``c2al: interrupted`` and exit 130 instead of a
  traceback from every Beam worker. The child dies with its parent
  (``PR_SET_PDEATHSIG``), so killing the command never leaves a pipeline running.
"""
from __future__ import annotations

import contextlib
import ctypes
import datetime
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from typing import Iterator, List, Optional

from c2al_tf.errors import C2ALInputError

LOCK_FILE = ".c2al-run.lock"


@contextlib.contextmanager
def root_lock(root: str) -> Iterator[None]:
    """Holds ``root``'s run lock (a local directory that exists) for the block."""
    import fcntl

    path = os.path.join(root, LOCK_FILE)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            raise C2ALInputError(f"--root {root}: another pipeline run is using it ({holder}); wait for it to end "
                                 f"or choose another --root") from None
        stale = _holder(fd)
        if stale:
            print(f"[pipeline] {path}: a lock left by an earlier run that did not end ({stale}) is stale; "
                  f"taking it over", file=sys.stderr)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                  "started": datetime.datetime.now().isoformat(timespec="seconds")}).encode(), 0)
        yield
        os.ftruncate(fd, 0)  # a clean end leaves an empty (free) lock file
    finally:
        os.close(fd)  # releases the lock


def _holder(fd: int) -> str:
    """Who holds (or held) the lock, from the file's content; '' when empty."""
    try:
        doc = json.loads(os.pread(fd, 4096, 0).decode() or "null")
    except (ValueError, UnicodeDecodeError):
        return "unknown holder"
    if not doc:
        return ""
    return f"pid {doc.get('pid')} on {doc.get('host')}, started {doc.get('started')}"


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def run_in_child(argv: List[str], command: Optional[List[str]] = None) -> int:
    """Runs ``c2al <argv>`` (``command``: another program instead) in a child process
    of its own session; returns its exit code. Ctrl-C here stops the child's process
    group and re-raises KeyboardInterrupt."""
    command = command or [sys.executable, "-m", "c2al_tf.cli"]
    child = subprocess.Popen([*command, *argv], start_new_session=True, preexec_fn=_die_with_parent,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    relays = [threading.Thread(target=_relay, args=(pipe, stream), daemon=True)
              for pipe, stream in ((child.stdout, sys.stdout), (child.stderr, sys.stderr))]
    for relay in relays:
        relay.start()
    try:
        code = child.wait()
    except KeyboardInterrupt:
        _stop(child)
        raise
    for relay in relays:
        relay.join()
    return code


def _relay(pipe, stream) -> None:
    """Copies the child's output to this process's ``stream`` as it comes (chunks, so
    progress bars that redraw with carriage returns stay live); through ``stream`` a
    caller that captures this process's output (tests, notebooks) sees it too."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")("replace")  # a character split between chunks stays whole
    for chunk in iter(lambda: pipe.read1(1 << 16), b""):
        try:
            stream.write(decoder.decode(chunk))
            stream.flush()
        except (ValueError, OSError):  # the stream was closed (interpreter exit)
            return


def _stop(child: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(child.pid, sig)
        except ProcessLookupError:
            return
        try:
            child.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
        except KeyboardInterrupt:  # a second Ctrl-C: stop at once
            continue
