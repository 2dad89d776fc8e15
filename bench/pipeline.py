"""Wall time per component and peak RSS of a whole `c2al pipeline run`.

    .venv/bin/python -m bench.pipeline [--rows 100000,1000000] [--epochs 2]

For each size: synthetic rows -> `c2al pipeline run` (LocalDagRunner, default
DirectRunner options, caching off) in a child process; per-component wall times
come from the run's progress lines, peak RSS (the orchestrator process, which
runs the components in-process, plus Beam's worker processes are reported as
the largest single process seen by wait4 on the run) from wait4. The row
"Transform / StatisticsGen" is the cost of tf.Transform's full-pass analyzers
relative to TFDV's statistics pass over the same examples.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DONE = re.compile(r"\[pipeline\]\s+[\d.]+s\s+(\S+): done in ([\d.]+)s")


def run_once(rows, epochs, work):
    from c2al_tf.data.synthetic import write_csv

    data = os.path.join(work, f"data_{rows}.csv")
    if not os.path.exists(data):
        write_csv(data, rows, seed=0)
    root = os.path.join(work, f"root_{rows}")
    cli = os.path.join(os.path.dirname(sys.executable), "c2al")
    with tempfile.TemporaryFile("w+") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen([cli, "pipeline", "run", "--data", data, "--label", "click", "--root", root,
                                 "--epochs", str(epochs), "--no-cache"], stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        out.seek(0)
        text = out.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"pipeline run on {rows} rows failed:\n{text[-3000:]}")
    components = {m.group(1): float(m.group(2)) for m in DONE.finditer(text)}
    return {"rows": rows, "wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024.0, "components": components}


def main():
    ap = argparse.ArgumentParser(description="pipeline wall time per component and peak RSS")
    ap.add_argument("--rows", default="100000,1000000")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--work", default=os.path.join(ROOT, "bench", "results", "pipeline_work"))
    ap.add_argument("--json")
    args = ap.parse_args()
    from bench.common import print_table, write_json

    os.makedirs(args.work, exist_ok=True)
    results = []
    for rows in [int(r) for r in args.rows.split(",") if r.strip()]:
        r = run_once(rows, args.epochs, args.work)
        results.append(r)
        print(f"[bench] {rows:,} rows: {r['wall_s']:.0f} s, peak RSS {r['peak_rss_mb']:.0f} MB", flush=True)
    names = list(results[0]["components"])
    table = [{"component": n, **{f"{r['rows']:,} rows (s)": r["components"].get(n) for r in results}} for n in names]
    for r in results:  # tf.Transform's full pass against TFDV's, measured in the same run
        c = r["components"]
        r["transform_over_statisticsgen"] = (c["Transform"] / c["StatisticsGen"]
                                             if c.get("Transform") and c.get("StatisticsGen") else None)
    table.append({"component": "Transform / StatisticsGen",
                  **{f"{r['rows']:,} rows (s)": r["transform_over_statisticsgen"] for r in results}})
    table.append({"component": "TOTAL wall", **{f"{r['rows']:,} rows (s)": r["wall_s"] for r in results}})
    table.append({"component": "peak RSS (MB)", **{f"{r['rows']:,} rows (s)": r["peak_rss_mb"] for r in results}})
    print_table(table, ["component"] + [f"{r['rows']:,} rows (s)" for r in results])
    write_json("pipeline", {"results": results}, args.json)


if __name__ == "__main__":
    main()
