"""Does C2AL's gain grow with data? The share of each cohort's headroom C2AL takes,
by rows, on generator worlds with their planted cohorts given.

    .venv/bin/python -m bench.scale_curve [--worlds rate_shift,planted]
        [--rows 100000,400000,1600000] [--seeds 3] [--large-encoder-at rate_shift:1600000]
        [--work DIR] [--out bench/results/scale_curve.json] [--plot bench/results/scale_curve.png]

For each world and size: ``c2al generate --scenario W --rows N --seed 11`` (written by
the library's ``write_csv``), its planted head / tail given as the cohorts, then
``c2al experiment --variants baseline,c2al --seeds S`` in a child process: the
protocol as users run it (validation carved from the training rows, early stopping,
lambda chosen by the evidence rule, test touched once). Per slice (overall and each
cohort) ``bench/headroom.py`` scores the generator's law on the same test rows: the
baseline's NE, the Bayes NE, the headroom (``max NE_diff``, the Bayes NE's distance from the
baseline's) and how much of it is the cohort's own (``beyond rest``: its headroom minus that
of the rows in no cohort), C2AL's NE_diff (95% CI over paired seeds) and the share of the
headroom it takes ("closed", with the CI divided by the same headroom).

The encoder's capacity is the same at every size (the attention FM's defaults).
``--large-encoder-at WORLD:ROWS`` (repeatable) adds a run of the attention FM with 4x the
embedding width and a wider MLP (``LARGE``) through ``--model-fn
bench.scale_curve:large_attention_fm``, the same path a user's own model takes. Wall time and peak RSS are those of the experiment's child process (wait4).
Each experiment is kept in ``--work``; an existing finished one is read back, not rerun.
Writes the table as JSON and the share of headroom against rows as a PNG.
"""
import argparse
import os

from bench.common import RESULTS, format_ci, lambdas_per_seed, print_table, run_experiment, variant_runs, write_json

GENERATOR_SEED = 11
LARGE = {"embedding_dim": 64, "num_attention": 16, "attention_hidden": (64,), "mlp_units": (512, 256)}


def large_attention_fm(spec):
    """The attention FM with 4x the embedding width and a wider MLP (``LARGE``): a
    ``--model-fn`` for ``c2al experiment``."""
    from c2al_tf.models import ModelConfig, build_model

    return build_model(spec, None, ModelConfig(**LARGE)).serving_model


def prepare(world: str, rows: int, work: str):
    """(CSV path, planted cohorts.json path) of ``rows`` rows of ``world``, generated once."""
    from c2al_tf.data import write_csv

    csv = os.path.join(work, f"{world}-{rows}.csv")
    cohorts = os.path.join(work, f"{world}-{rows}-planted.json")
    if not (os.path.exists(csv) and os.path.exists(cohorts)):
        truth = write_csv(csv, rows, seed=GENERATOR_SEED, scenario=world)
        truth.cohort_spec().save(cohorts)
    return csv, cohorts


def share(comparison, max_diff):
    """C2AL's NE_diff as a share of the headroom, with its CI divided by the same headroom
    (a negative headroom flips the bounds)."""
    if max_diff >= 0:
        return None, None, None
    lo, hi = comparison["ci_high"] / max_diff + 0.0, comparison["ci_low"] / max_diff + 0.0  # + 0.0: no "-0%"
    return comparison["mean"] / max_diff + 0.0, lo, hi


def measure(world: str, rows: int, seeds: int, encoder: str, work: str, extra):
    from bench.headroom import slice_headroom

    csv, cohorts = prepare(world, rows, work)
    out = os.path.join(work, f"exp-{world}-{rows}-{encoder}")
    args = ["--data", csv, "--label", "click", "--cohorts", cohorts, "--seeds", seeds, "--variants", "baseline,c2al",
            *extra]
    if encoder == "large":
        args += ["--model-fn", "bench.scale_curve:large_attention_fm"]
    run = run_experiment(args, out)
    doc, wall, rss, command = run["doc"], run["wall_s"], run["peak_rss_mb"], run["command"]
    c2al, base = variant_runs(doc, "c2al"), variant_runs(doc, "baseline")
    rows_out = []
    for s in slice_headroom(world, GENERATOR_SEED, csv, out):
        if s["slice"].startswith("rest"):
            continue
        closed, lo, hi = share(s["_comparison"], s["_max_diff"])
        rows_out.append({
            "world": world, "rows": rows, "encoder": encoder, "slice": s["slice"], "test rows": s["rows"],
            "baseline NE": s["baseline NE"], "Bayes NE": s["Bayes NE"], "max NE_diff": s["max NE_diff"],
            "beyond rest": s["beyond rest"], "C2AL NE_diff": format_ci(s["_comparison"]),
            "closed": "-" if closed is None else f"{100 * closed:+.0f}% [{100 * lo:+.0f}, {100 * hi:+.0f}]",
            "lambda": lambdas_per_seed(doc),
            "epochs base/c2al": ",".join(str(r["epochs"]) for r in base) + " / "
                                + ",".join(str(r["epochs"]) for r in c2al),
            "wall min": wall / 60, "peak RSS MB": rss,
            "_share": closed, "_share_low": lo, "_share_high": hi, "_comparison": s["_comparison"],
            "_max_diff": s["_max_diff"], "_command": command})
    return rows_out


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    lines = sorted({(r["world"], r["slice"], r["encoder"]) for r in rows if r["_share"] is not None})
    for i, (world, slice_name, encoder) in enumerate(lines):
        pts = sorted((r for r in rows if (r["world"], r["slice"], r["encoder"]) == (world, slice_name, encoder)
                      and r["_share"] is not None), key=lambda r: r["rows"])
        dodge = 1 + 0.025 * (i - (len(lines) - 1) / 2)  # side by side, so the intervals can be read
        x = [r["rows"] * dodge for r in pts]
        y = [100 * r["_share"] for r in pts]
        err = [[100 * (r["_share"] - r["_share_low"]) for r in pts], [100 * (r["_share_high"] - r["_share"]) for r in pts]]
        label = f"{world}: {slice_name}" + ("" if encoder == "default" else f" ({encoder} encoder)")
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=label)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("rows generated (80% train, of which 25% validation)")
    ax.set_ylabel("share of the headroom C2AL takes (%)")
    ax.set_title("C2AL's share of each slice's headroom vs rows (95% CI over seeds)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"wrote {path}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worlds", default="rate_shift,planted")
    ap.add_argument("--rows", default="100000,400000,1600000")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--large-encoder-at", action="append", default=[], metavar="WORLD:ROWS",
                    help="also run the larger encoder on this world and size (repeatable)")
    ap.add_argument("--experiment-arg", action="append", default=[], metavar="X",
                    help="extra flag for every 'c2al experiment' (repeatable)")
    ap.add_argument("--work", default=os.path.join(RESULTS, "scale_work"))
    ap.add_argument("--out", default=None, help="JSON path (default bench/results/scale_curve.json)")
    ap.add_argument("--plot", default=os.path.join(RESULTS, "scale_curve.png"))
    args = ap.parse_args(argv)
    os.makedirs(args.work, exist_ok=True)
    rows = []
    for world in [w.strip() for w in args.worlds.split(",") if w.strip()]:
        for n in [int(r) for r in args.rows.split(",") if r.strip()]:
            rows += measure(world, n, args.seeds, "default", args.work, args.experiment_arg)
            print_table(rows[-3:], [c for c in rows[-1] if not c.startswith("_")])
    for spec in args.large_encoder_at:
        world, _, n = spec.partition(":")
        if not n.isdigit():
            ap.error(f"--large-encoder-at {spec!r}: write it as WORLD:ROWS")
        rows += measure(world, int(n), args.seeds, "large", args.work, args.experiment_arg)
    print()
    print_table(rows, [c for c in rows[0] if not c.startswith("_")])
    write_json("scale_curve", {"seeds": args.seeds, "generator_seed": GENERATOR_SEED, "large_encoder": LARGE,
                               "rows": rows}, args.out)
    plot(rows, args.plot)


if __name__ == "__main__":
    main()
