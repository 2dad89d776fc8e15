"""Wall time, rows/s and peak memory per component of a whole `c2al pipeline run`.

    .venv/bin/python -m bench.pipeline [--rows 1000000,4000000] [--epochs 1]
    .venv/bin/python -m bench.pipeline --from-json a.json --from-json b.json   # tables of finished runs

For each size: synthetic rows -> `c2al pipeline run` (LocalDagRunner, default
DirectRunner options, caching off) in a child process. Per component:

- wall seconds, from the run's own progress lines (``<name>: done in <s>s``);
- rows/s: the generated rows over those seconds (per generated row, whichever split
  the component reads: the Trainers read the train split, the Evaluator the eval split);
- x StatisticsGen: its seconds over StatisticsGen's in the same run (a statistics
  pass is the yardstick a data stage is held to);
- peak RSS while it ran, sampled every ``--sample-s`` seconds (psutil) over the
  run's process tree (the orchestrator, which runs the components in-process, and
  Beam's worker processes): the largest single process and the tree's sum (the sum
  counts pages forked workers share more than once, so it is an upper bound). The
  orchestrator keeps what earlier components left in its heap, so a component's
  "largest" is at least the one before it: compare a component across sizes, not components with each other.

The whole run's largest process is also taken from wait4. Growth: with two sizes
or more, each component's peak RSS at the largest size over that at the smallest.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DONE = re.compile(r"\[pipeline\]\s+[\d.]+s\s+(\S+): done in ([\d.]+)s")
RUNNING = re.compile(r"\[pipeline\]\s+[\d.]+s\s+(\S+): running")
MB = 1024.0 * 1024.0


def tree_rss(proc):
    """(largest process, sum) RSS in MB of ``proc`` (a psutil.Process) and its descendants."""
    import psutil

    sizes = []
    try:
        family = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0.0, 0.0
    for p in family:
        try:
            sizes.append(p.memory_info().rss / MB)
        except psutil.Error:  # ended between the listing and the read
            pass
    return max(sizes, default=0.0), sum(sizes)


def run_once(rows, epochs, work, sample_s=0.5):
    import psutil

    from c2al_tf.data.synthetic import write_csv

    data = os.path.join(work, f"data_{rows}.csv")
    if not os.path.exists(data):
        write_csv(data, rows, seed=0)
    root = os.path.join(work, f"root_{rows}")
    cli = os.path.join(os.path.dirname(sys.executable), "c2al")
    t0 = time.perf_counter()
    proc = subprocess.Popen([cli, "pipeline", "run", "--data", data, "--label", "click", "--root", root,
                             "--epochs", str(epochs), "--no-cache"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, bufsize=1)
    lines, stage, ended = [], [None], {}

    def read():  # the progress lines say which component runs now
        for line in proc.stdout:
            lines.append(line)
            running, done = RUNNING.search(line), DONE.search(line)
            if running:
                stage[0] = running.group(1)
            elif done and stage[0] == done.group(1):
                stage[0] = None

    def reap():  # wait4 on the child: the run's largest single process
        _, status, usage = os.wait4(proc.pid, 0)
        ended.update(status=status, usage=usage, wall=time.perf_counter() - t0)

    threads = [threading.Thread(target=read, daemon=True), threading.Thread(target=reap, daemon=True)]
    for t in threads:
        t.start()
    me, peaks = psutil.Process(proc.pid), {}
    while not ended:
        name = stage[0]
        if name is not None:
            largest, total = tree_rss(me)
            old = peaks.get(name, (0.0, 0.0))
            peaks[name] = (max(old[0], largest), max(old[1], total))
        time.sleep(sample_s)
    for t in threads:
        t.join()
    text = "".join(lines)
    if os.waitstatus_to_exitcode(ended["status"]) != 0:
        raise SystemExit(f"pipeline run on {rows} rows failed:\n{text[-3000:]}")
    components = {m.group(1): float(m.group(2)) for m in DONE.finditer(text)}
    return {"rows": rows, "wall_s": ended["wall"], "peak_rss_mb": ended["usage"].ru_maxrss / 1024.0,
            "components": components,
            "component_rss_mb": {n: {"largest": a, "tree": b} for n, (a, b) in peaks.items()}}


def component_table(results):
    """One row per component and size: s, rows/s, x StatisticsGen, peak RSS (largest / tree)."""
    table = []
    for r in results:
        stats = r["components"].get("StatisticsGen")
        for name, seconds in r["components"].items():
            rss = r["component_rss_mb"].get(name, {})
            table.append({"rows": f"{r['rows']:,}", "component": name, "s": seconds,
                          "rows/s": r["rows"] / seconds if seconds else None,
                          "x StatisticsGen": seconds / stats if stats else None,
                          "peak RSS MB (largest)": rss.get("largest"), "peak RSS MB (tree)": rss.get("tree")})
        table.append({"rows": f"{r['rows']:,}", "component": "TOTAL", "s": r["wall_s"],
                      "rows/s": r["rows"] / r["wall_s"], "peak RSS MB (largest)": r["peak_rss_mb"]})
    return table


def growth_table(results):
    """Each component's peak RSS at the largest size over that at the smallest."""
    small, large = min(results, key=lambda r: r["rows"]), max(results, key=lambda r: r["rows"])
    rows = []
    for name in large["components"]:
        a, b = small["component_rss_mb"].get(name), large["component_rss_mb"].get(name)
        if a and b:
            rows.append({"component": name, "rows": f"{small['rows']:,} -> {large['rows']:,}",
                         "RSS growth (largest)": b["largest"] / a["largest"], "RSS growth (tree)": b["tree"] / a["tree"],
                         "time growth": large["components"][name] / small["components"][name]})
    return rows


def main():
    ap = argparse.ArgumentParser(description="pipeline wall time, rows/s and peak RSS per component")
    ap.add_argument("--rows", default="1000000,4000000")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--sample-s", type=float, default=0.5, help="seconds between memory samples")
    ap.add_argument("--work", default=os.path.join(ROOT, "bench", "results", "pipeline_work"))
    ap.add_argument("--json")
    ap.add_argument("--from-json", action="append", default=[], metavar="FILE",
                    help="print the tables of earlier runs' JSON (repeatable; e.g. one size per run) "
                         "instead of running")
    args = ap.parse_args()
    from bench.common import print_table, write_json

    results, epochs = [], {args.epochs}
    for path in args.from_json:
        with open(path) as f:
            doc = json.load(f)
        results += doc["results"]
        epochs = {doc.get("epochs")} if path == args.from_json[0] else epochs | {doc.get("epochs")}
    if not args.from_json:
        os.makedirs(args.work, exist_ok=True)
        for rows in [int(r) for r in args.rows.split(",") if r.strip()]:
            r = run_once(rows, args.epochs, args.work, args.sample_s)
            results.append(r)
            print(f"[bench] {rows:,} rows: {r['wall_s']:.0f} s, peak RSS {r['peak_rss_mb']:.0f} MB", flush=True)
    results.sort(key=lambda r: r["rows"])
    table = component_table(results)
    print_table(table, list(table[0]))
    growth = growth_table(results) if len(results) > 1 else []
    if growth:
        print()
        print_table(growth, list(growth[0]))
    write_json("pipeline", {"epochs": ",".join(map(str, sorted(epochs, key=str))), "results": results, "table": table, "growth": growth}, args.json)


if __name__ == "__main__":
    main()
