"""Shared benchmark helpers: result tables and JSON output."""
import json
import os
import platform
import time

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def shared_data_dir() -> str:
    """Where the real data sets live: ``$C2AL_SHARED_DATA``, else ``../shared/data`` beside
    the repository. (The library names no such path: its readers take the path.)"""
    return os.path.normpath(os.environ.get("C2AL_SHARED_DATA") or os.path.join(REPO, "..", "shared", "data"))


def movielens_dir() -> str:
    """MovieLens 100K in RecBole's atomic files: ``$C2AL_MOVIELENS_DIR``, else
    ``shared_data_dir()/movielens-100k``."""
    return os.environ.get("C2AL_MOVIELENS_DIR") or os.path.join(shared_data_dir(), "movielens-100k")


def print_table(rows, columns):
    widths = [max(len(str(c)), *(len(_fmt(r.get(c))) for r in rows)) for c in columns]
    print("  ".join(str(c).ljust(w) for c, w in zip(columns, widths)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(_fmt(r.get(c)).ljust(w) for c, w in zip(columns, widths)))


def format_ci(c):
    """A paired comparison (:func:`c2al_tf.metrics.paired_comparison`) as ``-0.14% [-0.29, +0.01]``."""
    return f"{100 * c['mean']:+.2f}% [{100 * c['ci_low']:+.2f}, {100 * c['ci_high']:+.2f}]"


def variant_runs(doc, variant):
    """A ``c2al experiment`` metrics.json's runs of one variant, by seed."""
    return sorted((r for r in doc["runs"] if r["variant"] == variant), key=lambda r: r["seed"])


def lambdas_per_seed(doc, variant="c2al"):
    """The lambda each seed's ``variant`` kept, as ``0.3,0,1``."""
    return ",".join(format(r["aux_weight"], "g") for r in variant_runs(doc, variant))


def run_experiment(args, out, reuse=None):
    """Runs ``c2al experiment ARGS --out OUT`` in a child process, the protocol as users
    run it; returns ``{"doc": metrics.json, "wall_s", "peak_rss_mb", "command"}`` (wall time
    and the child's peak RSS from ``wait4``). A finished run in ``out`` made by the same
    command is read back, not rerun, unless ``reuse(doc)`` says its metrics.json is stale
    (e.g. the cohorts file it was given has changed since). A failed run raises
    ``SystemExit`` with the end of its log."""
    import subprocess
    import sys
    import tempfile

    cmd = [sys.executable, "-m", "c2al_tf.cli", "experiment", *map(str, args), "--out", out]
    command = "c2al " + " ".join(cmd[4:])
    done, sidecar = os.path.join(out, "metrics.json"), os.path.join(out, "bench_run.json")
    if os.path.exists(done) and os.path.exists(sidecar):
        with open(sidecar) as f:
            run = json.load(f)
        with open(done) as f:
            doc = json.load(f)
        if run["command"] == command and (reuse is None or reuse(doc)):
            return {"doc": doc, **run}
    print(f"[bench] {command}", flush=True)
    with tempfile.TemporaryFile("w+") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        if os.waitstatus_to_exitcode(status) != 0:
            log.seek(0)
            raise SystemExit(f"{command} failed:\n{log.read()[-3000:]}")
    run = {"wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024.0, "command": command}
    with open(sidecar, "w") as f:
        json.dump(run, f)
    with open(done) as f:
        return {"doc": json.load(f), **run}


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def write_json(name, doc, path=None):
    path = path or os.path.join(RESULTS, f"{name}.json")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    doc = {"benchmark": name, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "node": platform.node()}, **doc}
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
    print(f"wrote {path}")
    return path
