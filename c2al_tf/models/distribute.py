"""Training on more than one device or machine: the ``tf.distribute`` strategy,
per-worker input sharding, and who exports.

Strategy (``TrainConfig.strategy``, ``--strategy``, ``custom_config["strategy"]``):

================  ===================================================================
``auto``          ``multi_worker`` when ``TF_CONFIG`` names more than one task
                  (Kubeflow/Vertex set it for every replica of a worker pool),
                  ``mirrored`` when this machine has several GPUs, else ``default``
``default``       one device (``tf.distribute.get_strategy()``)
``mirrored``      ``MirroredStrategy``: synchronous data parallelism over local devices
``multi_worker``  ``MultiWorkerMirroredStrategy``: synchronous data parallelism over the
                  workers of ``TF_CONFIG`` (all-reduce over gRPC)
================  ===================================================================

Embeddings whose tables do not fit one worker need ``ParameterServerStrategy``
(variables sharded over parameter servers, asynchronous workers, Keras
``fit`` through a ``ClusterCoordinator``); c2al does not ship it (it cannot be
tested on one small machine here) and hashes huge id spaces instead (see
:class:`c2al_tf.layers.CategoricalEmbedding`).

Input: every worker reads its own shard (``shard_policy``): by *file* when there
are at least as many input files as workers (each worker reads whole files), by
*data* otherwise (each worker reads everything and keeps every N-th element of
each global batch). The batch size is the *global* batch: with N workers each
replica computes ``batch_size / N`` rows per step, so the same data, seed and
batch size give the same model as one process, up to float summation order.

Export: only the chief (task ``chief``, or ``worker`` 0 without a chief) writes
the model; the other workers save into a temporary directory that is deleted,
because saving runs collective reads every worker must join.

A worker that dies mid-training: MultiWorkerMirroredStrategy's health check
(every 30 s, 3 tries of 10 s) aborts the collectives of every other worker with
``UnavailableError``; the trainers turn that into one-line
:class:`~c2al_tf.errors.C2ALInputError` (the one error type) and exit non-zero, so a run never hangs. The
first wait for the cluster is bounded too (:data:`CLUSTER_WAIT_SECONDS`).
"""
from __future__ import annotations

import contextlib
import json
import os
from typing import Optional, Tuple

STRATEGIES = ("auto", "default", "mirrored", "multi_worker")
CLUSTER_WAIT_SECONDS = 300  # how long a worker waits for the others to start


_TF_CONFIG_FORM = '{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": 0}}'


def _tf_config() -> dict:
    """``TF_CONFIG`` parsed (``{}`` without one); a malformed one is a one-line error."""
    from c2al_tf.errors import C2ALInputError

    text = os.environ.get("TF_CONFIG", "").strip()
    if not text:
        return {}
    try:
        config = json.loads(text)
        if not isinstance(config, dict):
            raise TypeError("not a JSON object")
        return config
    except (ValueError, TypeError) as e:
        raise C2ALInputError(f"TF_CONFIG: not a cluster description ({e}); expected {_TF_CONFIG_FORM}") from None


def cluster() -> Tuple[int, Optional[str], int]:
    """(tasks in the cluster, this task's type, this task's index) from ``TF_CONFIG``
    (``(1, None, 0)`` without one). Counts ``chief`` and ``worker`` tasks."""
    from c2al_tf.errors import C2ALInputError

    config = _tf_config()
    if not config:
        return 1, None, 0
    try:
        spec = config.get("cluster", {}) or {}
        task = config.get("task", {}) or {}
        n = len(spec.get("chief", [])) + len(spec.get("worker", []))
        return max(n, 1), task.get("type"), int(task.get("index", 0))
    except (ValueError, AttributeError, TypeError) as e:
        raise C2ALInputError(f"TF_CONFIG: not a cluster description ({e}); expected {_TF_CONFIG_FORM}") from None


def resolve(name: str = "auto") -> str:
    """The strategy ``auto`` stands for here (other names are returned as given)."""
    from c2al_tf.errors import C2ALInputError

    if name not in STRATEGIES:
        raise C2ALInputError(f"strategy {name}: unknown; choose one of {', '.join(STRATEGIES)}",
                             arguments=("strategy",))
    if name != "auto":
        return name
    if cluster()[0] > 1:
        return "multi_worker"
    import c2al_tf  # noqa: F401
    import tensorflow as tf

    return "mirrored" if len(tf.config.list_logical_devices("GPU")) > 1 else "default"


def make_strategy(name: str = "auto"):
    """The ``tf.distribute.Strategy`` for ``name`` (see the module docstring)."""
    import c2al_tf  # noqa: F401
    import tensorflow as tf

    from c2al_tf.errors import C2ALInputError

    kind = resolve(name)
    if kind == "default":
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    n, task_type, _ = cluster()
    if n < 2 and task_type is None:
        raise C2ALInputError("strategy multi_worker needs TF_CONFIG naming the workers "
                             '(e.g. {"cluster": {"worker": ["h1:p", "h2:p"]}, "task": {"type": "worker", '
                             '"index": 0}}); Kubeflow and Vertex set it for each replica', arguments=("strategy",))
    from tensorflow.python.distribute import collective_all_reduce_strategy as cars

    # Bound the first wait for the other workers (TF waits forever by default).
    cars.CollectiveAllReduceExtended._check_health_initial_timeout = CLUSTER_WAIT_SECONDS
    try:
        return tf.distribute.MultiWorkerMirroredStrategy()
    except RuntimeError as e:
        raise C2ALInputError(f"TF_CONFIG: the multi-worker cluster did not come up within "
                             f"{CLUSTER_WAIT_SECONDS} s ({e}); start every worker it names") from None


def num_workers(strategy) -> int:
    return int(getattr(strategy.extended, "_num_workers", 1) or 1)


def is_chief() -> bool:
    """True for the task that writes outputs: no cluster, the ``chief`` task, or
    ``worker`` 0 when the cluster has no chief."""
    n, task_type, index = cluster()
    if task_type is None or n < 2:
        return True
    if task_type == "chief":
        return True
    has_chief = bool((_tf_config().get("cluster") or {}).get("chief"))
    return task_type == "worker" and index == 0 and not has_chief


def shard_policy(num_files: Optional[int], workers: int):
    """FILE when every worker gets at least one file, DATA otherwise (and for
    in-memory data, ``num_files`` None)."""
    import c2al_tf  # noqa: F401
    import tensorflow as tf

    policy = tf.data.experimental.AutoShardPolicy
    if num_files is not None and num_files >= workers:
        return policy.FILE
    return policy.DATA


def with_shard_policy(ds, policy):
    import c2al_tf  # noqa: F401
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = policy
    return ds.with_options(options)


@contextlib.contextmanager
def discarded_directory():
    """A local temporary directory path (not created) that is deleted afterwards:
    where a non-chief worker saves."""
    import tempfile

    # TemporaryDirectory removes only the directory it created itself, never a user path
    with tempfile.TemporaryDirectory(prefix="c2al-worker-") as parent:
        yield os.path.join(parent, "model")


def lost_worker_message(error) -> str:
    """The one-line error for collectives aborted because a worker went away."""
    import re

    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
    detail = next((ln for ln in lines if re.search(r"task:\d+|is down|heartbeat|unreachable", ln)), "")
    detail = f": {detail[:200]}" if detail else ""
    return (f"multi-worker training stopped: a worker of TF_CONFIG's cluster became unreachable "
            f"({type(error).__name__}{detail}); restart the whole cluster")


def cluster_errors():
    """The exceptions a lost worker raises in the others."""
    import c2al_tf  # noqa: F401
    import tensorflow as tf

    return (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError,
            tf.errors.AbortedError)


def local_tf_config(workers: int, index: int, ports) -> str:
    """``TF_CONFIG`` for task ``index`` of a cluster of ``workers`` processes on this
    machine (``ports``: one free port each, see :func:`free_ports`)."""
    return json.dumps({"cluster": {"worker": [f"localhost:{p}" for p in ports[:workers]]},
                       "task": {"type": "worker", "index": int(index)}})


def free_ports(n: int):
    """``n`` TCP ports free on localhost right now (for a local multi-worker cluster)."""
    import socket

    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()
