"""``c2al pipeline run|compile``: the TFX production pipeline."""
from __future__ import annotations

import csv
import dataclasses
import os
import sys


def register(sub) -> None:
    p = sub.add_parser("pipeline", help="run the TFX pipeline locally, or compile it for Kubeflow",
                       description="ExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator -> CohortMiner -> "
                                   "Trainer (C2AL) + Trainer (baseline) -> Evaluator -> Pusher.")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    r = actions.add_parser("run", help="run with LocalDagRunner (default) or BeamDagRunner")
    _pipeline_args(r)
    r.add_argument("--positive-label", metavar="VALUE",
                   help="which label value is positive when the label is not 0/1 (e.g. '>=4'): the CSV input is "
                        "copied under ROOT/input with the label binarized before ExampleGen reads it")
    r.add_argument("--runner", choices=["local", "beam"], default="local")
    r.add_argument("--no-cache", action="store_true", help="rerun every component even if cached")
    r.add_argument("--verbose", action="store_true",
                   help="also show Keras' epoch lines and TensorFlow/TFX warnings (default: stage lines and results)")
    r.set_defaults(func=run)
    c = actions.add_parser("compile", help="compile to a Kubeflow Pipelines v2 spec (JSON)")
    c.add_argument("--target", choices=["kubeflow"], required=True)
    c.add_argument("--out", required=True, metavar="pipeline.json")
    c.add_argument("--image", default="c2al-tf:latest", help="container image with c2al-tf installed")
    c.add_argument("--workers", type=int, default=1, metavar="N",
                   help="train on N worker replicas (MultiWorkerMirroredStrategy): the Trainers become Vertex AI "
                        "training jobs with a chief pool and a pool of N-1 workers (default 1: in the pipeline's pod)")
    c.add_argument("--vertex-project", metavar="PROJECT", help="GCP project of the training jobs (with --workers > 1)")
    c.add_argument("--vertex-region", default="us-central1", metavar="REGION")
    c.add_argument("--machine-type", default="n1-standard-8", metavar="TYPE", help="machine of each worker replica")
    _pipeline_args(c, for_compile=True)
    c.set_defaults(func=compile_)


def _pipeline_args(p, for_compile: bool = False) -> None:
    from c2al_tf.commands.common import add_mining_args, add_model_args, add_training_args
    from c2al_tf.models.builder import ENCODERS
    from pipeline.evaluation import NE_TOLERANCE

    p.add_argument("--data", required=not for_compile, metavar="PATH",
                   help="CSV file / directory of CSVs, or TFRecord files of tf.Example (0/1 label)")
    p.add_argument("--label", required=not for_compile, metavar="COL")
    p.add_argument("--root", required=not for_compile, metavar="DIR",
                   help="pipeline outputs, MLMD (SQLite) and pushed models go here")
    p.add_argument("--schema", metavar="schema.pbtxt", help="use ImportSchemaGen with this schema")
    p.add_argument("--model", default="attention_fm", choices=ENCODERS)
    add_training_args(p)
    add_model_args(p)
    p.add_argument("--seed", type=int, default=0)
    add_mining_args(p, bins=False)
    p.add_argument("--categorical", default="", metavar="a,b", help="integer columns to treat as categorical")
    add_split_arg(p)
    p.add_argument("--ne-tolerance", type=float, default=NE_TOLERANCE,
                   help=f"C2AL's overall NE may exceed the baseline's by at most this fraction (default "
                        f"{NE_TOLERANCE:g}: not worse)")
    p.add_argument("--beam-arg", action="append", default=[], metavar="X",
                   help="Beam pipeline option for every data stage (repeatable), e.g. --beam-arg=--runner=FlinkRunner")


def check_data(data: str, label: str) -> None:
    """Fast checks that give one-line errors before TFX starts."""
    from c2al_tf.data.readers import CSV_PATTERNS, TFRECORD_PATTERNS, find_files
    from c2al_tf.errors import C2ALInputError

    if not os.path.exists(data):
        raise C2ALInputError(f"{data}: no such file or directory")
    files = [data] if os.path.isfile(data) else find_files(data, CSV_PATTERNS)
    if os.path.isdir(data) and not files:
        if not find_files(data, TFRECORD_PATTERNS):
            raise C2ALInputError(f"{data}: directory holds no *.csv or TFRecord files")
        return
    if files and files[0].endswith(".csv"):
        if os.path.getsize(files[0]) == 0:
            raise C2ALInputError(f"{files[0]}: file is empty")
        with open(files[0], "rb") as f:
            if f.read(3) == b"\xef\xbb\xbf":
                raise C2ALInputError(f"{files[0]}: starts with a UTF-8 byte-order mark, which CsvExampleGen would keep "
                                     f"in the first column's name; save the file as UTF-8 without BOM")
        with open(files[0], newline="") as f:
            header = next(csv.reader(f), [])
            first = next(csv.reader(f), None)
        if label not in [h.strip() for h in header]:
            raise C2ALInputError(f"{files[0]}: label column '{label}' not found; columns are {', '.join(header)}")
        if first is None:
            raise C2ALInputError(f"{files[0]}: has a header but no data rows")
        from c2al_tf.names import check_column_names

        check_column_names([h.strip() for h in header if h.strip() != label], files[0], can_drop=False)
        value = first[[h.strip() for h in header].index(label)] if len(first) == len(header) else None
        if value is not None and value.strip() not in ("0", "1"):
            raise C2ALInputError(f"{files[0]}: label column '{label}' must be 0/1 for the pipeline but is "
                                 f"'{value}' at line 2; pass --positive-label VALUE (e.g. '{value}' or '>=4')")
        check_label_classes(files, label)


def check_label_classes(files, label: str) -> None:
    """Streams the label column of every CSV file (bounded memory): it must hold only
    0/1 and both classes, or the pipeline would train on a constant and report NaN."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from c2al_tf.errors import C2ALInputError

    counts = {"0": 0, "1": 0}
    rows = 0
    for path in files:
        options = pacsv.ConvertOptions(include_columns=[label], column_types={label: pa.string()},
                                       strings_can_be_null=False)
        try:
            reader = pacsv.open_csv(path, convert_options=options,
                                    read_options=pacsv.ReadOptions(block_size=1 << 24, use_threads=False))
            for batch in reader:
                values = np.char.strip(batch.column(0).to_numpy(zero_copy_only=False).astype(str))
                bad = ~np.isin(values, ("0", "1"))
                if bad.any():
                    i = int(np.argmax(bad))
                    raise C2ALInputError(f"{path}: label column '{label}' must be 0/1 for the pipeline but is "
                                         f"'{values[i]}' at data row {rows + i + 1}; pass --positive-label VALUE")
                counts["1"] += int((values == "1").sum())
                counts["0"] += int((values == "0").sum())
                rows += len(values)
        except (pa.ArrowInvalid, UnicodeDecodeError) as e:
            raise C2ALInputError(f"{path}: cannot read the label column '{label}' ({str(e).splitlines()[0]})")
    if rows < 2 or not counts["0"] or not counts["1"]:
        what = (f"{rows} data row" if rows < 2 else
                f"only label {'0' if counts['1'] == 0 else '1'} ({rows:,} rows)")
        raise C2ALInputError(f"{files[0]}: label column '{label}' has {what}; a model needs positives and "
                             f"negatives to learn from and to be scored")


def binarized_copy(data: str, label: str, positive_label: str, out_dir: str) -> str:
    """``out_dir/<name>.csv``: the CSV input (file or directory of CSVs) with the
    label rewritten to 0/1 by ``--positive-label`` (as the library commands read
    it); every other column is copied as written. Rewritten only when the input
    or the rule changed."""
    import hashlib
    import json

    import pandas as pd

    from c2al_tf.data.readers import CSV_PATTERNS, binarize_label, find_files, read_csv_strings
    from c2al_tf.errors import C2ALInputError
    from c2al_tf.io_utils import atomic_file, write_json

    if "://" in data:
        raise C2ALInputError(f"{data}: --positive-label rewrites the label locally; binarize remote data first")
    if not os.path.exists(data):
        raise C2ALInputError(f"{data}: no such file or directory")
    files = [data] if os.path.isfile(data) else find_files(data, CSV_PATTERNS)
    if not files or not all(f.endswith((".csv", ".csv.gz")) for f in files):
        raise C2ALInputError(f"{data}: --positive-label in the pipeline needs CSV input; binarize TFRecords first")
    stamp = hashlib.sha256(json.dumps([[f, os.path.getsize(f), os.path.getmtime(f)] for f in files] +
                                      [label, positive_label]).encode()).hexdigest()[:16]
    target = os.path.join(out_dir, f"data-{stamp}.csv")
    if os.path.exists(target):
        return target
    frames = [read_csv_strings(f) for f in files]
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if label not in frame.columns:
        raise C2ALInputError(f"{files[0]}: label column '{label}' not found; columns are {', '.join(frame.columns)}")
    frame[label] = binarize_label(frame[label].to_numpy(), source=data, label=label, positive_label=positive_label)
    with atomic_file(target, suffix=".csv") as tmp:
        frame.to_csv(tmp, index=False)
    write_json(os.path.join(out_dir, f"data-{stamp}.json"), {"source": os.path.abspath(data), "label": label,
                                                           "positive_label": positive_label})
    return target


def add_split_arg(p) -> None:
    """``--split TRAIN:EVAL`` (``c2al pipeline run|compile`` and ``c2al demo``)."""
    p.add_argument("--split", metavar="TRAIN:EVAL",
                   help="ExampleGen's train:eval hash buckets (default 4:1; the Trainer carves its validation "
                        "rows from train)")


def parse_split(text: str):
    """``--split TRAIN:EVAL`` -> [train, eval] hash buckets (checked by PipelineOptions)."""
    from c2al_tf.errors import C2ALInputError

    parts = text.split(":")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise C2ALInputError(f"--split takes TRAIN:EVAL hash buckets, e.g. 4:1; got '{text}'")
    return [int(p) for p in parts]


def options(args, **override):
    """The :class:`pipeline.options.PipelineOptions` of ``c2al pipeline run|compile``'s
    flags (the only place flags become options; a bad flag fails here, before any work).
    ``override``: fields set by the caller instead (``c2al demo``'s data, label and root);
    a flag the caller's parser does not have keeps the option's default."""
    from c2al_tf.commands.common import mining_config, model_config_args, split_list, train_config
    from pipeline.options import PipelineOptions

    fields = dict(training=train_config(args), mining=mining_config(args, seed=args.seed), seed=args.seed,
                  beam_args=list(args.beam_arg), verbose=bool(getattr(args, "verbose", False)),
                  **model_config_args(args))
    fields.update({name: getattr(args, name) for name in ("data", "label", "root", "schema", "model", "ne_tolerance",
                                                          "runner", "positive_label") if hasattr(args, name)})
    if hasattr(args, "categorical"):
        fields["categorical"] = split_list(args.categorical)
    if hasattr(args, "no_cache"):
        fields["enable_cache"] = not args.no_cache
    if getattr(args, "split", None):
        fields["split"] = parse_split(args.split)
    fields.update(override)
    return PipelineOptions(**fields)


def build(opts, root: str, cluster=None):
    """The TFX pipeline of ``opts`` (a PipelineOptions) writing under ``root``."""
    from pipeline.pipeline import create_pipeline
    from pipeline.runner import beam_args

    data = os.path.abspath(opts.data) if opts.data and "://" not in opts.data else opts.data
    return create_pipeline(
        data, opts.label, root, schema_file=opts.schema, model=opts.model, training=opts.training, seed=opts.seed,
        mining=opts.mining, embedding_l2=opts.embedding_l2, categorical=list(opts.categorical),
        ne_tolerance=opts.ne_tolerance, beam_args=beam_args(opts.beam_args), split=opts.split,
        metadata_path=os.path.join(root, "metadata.sqlite") if "://" not in root else None,
        enable_cache=opts.enable_cache, cluster=cluster)


def run(args) -> int:
    return run_pipeline(options(args))


def run_pipeline(opts) -> int:
    """Runs the pipeline of ``opts`` (a :class:`pipeline.options.PipelineOptions`): the
    input checked first (one-line errors), a local root locked for the run, the pipeline
    in a child process (:mod:`c2al_tf.commands.pipeline_process`), then the report."""
    from c2al_tf.commands.pipeline_process import root_lock, run_in_child
    from c2al_tf.io_utils import check_writable_dir

    if opts.schema:
        from c2al_tf.data.schema import categorical_features

        categorical_features(opts.schema, opts.label)  # a label or C2AL target marked as an input fails here
    check_writable_dir(opts.root, "--root")
    if opts.verbose:
        from pipeline.runner import VERBOSE_ENV

        os.environ[VERBOSE_ENV] = "1"  # read by the Trainers and the runner, here and in the child
    if "://" in opts.root:  # a remote root: no local lock, the pipeline runs in this process
        return _run_here(opts, opts.root)
    root = os.path.abspath(opts.root)
    created = not os.path.exists(root)
    os.makedirs(root, exist_ok=True)
    started = False
    try:
        with root_lock(root):
            data = opts.data
            if opts.positive_label is not None:
                data = binarized_copy(opts.data, opts.label, opts.positive_label, os.path.join(root, "input"))
            check_data(data, opts.label)
            started = True
            child = dataclasses.replace(opts, data=data, root=root, positive_label=None)
            return run_in_child([child.to_json()], command=[sys.executable, "-m", __name__])
    except BaseException:
        if created and not started:  # an input error: leave no directory behind that this run created
            _remove_own_start(root)
        raise


def _remove_own_start(root: str) -> None:
    """Removes what a run writes into a new ``root`` before the pipeline starts (the lock
    file, the binarized input copy), then ``root`` itself if it is left empty; anything
    else found there is kept."""
    from c2al_tf.commands.pipeline_process import LOCK_FILE

    inputs = os.path.join(root, "input")
    if os.path.isdir(inputs):
        for name in os.listdir(inputs):
            if name.startswith("data-") and name.endswith((".csv", ".json")):
                os.remove(os.path.join(inputs, name))
    for path in (inputs, root):
        lock = os.path.join(path, LOCK_FILE)
        if os.path.exists(lock):
            os.remove(lock)
        try:
            os.rmdir(path)
        except OSError:  # absent, or holds something this run did not write: kept
            pass


def _run_here(opts, root: str) -> int:
    """The pipeline in this process (a remote root)."""
    if opts.positive_label is not None:
        opts = dataclasses.replace(opts, data=binarized_copy(opts.data, opts.label, opts.positive_label,
                                                             f"{root.rstrip('/')}/input"), positive_label=None)
    check_data(opts.data, opts.label)
    return _run_pipeline(opts, root)


def _run_pipeline(opts, root: str) -> int:
    """TFX, then the summary and the report."""
    from pipeline.report import format_report, summarize, write_report, write_summary
    from pipeline.runner import run as run_tfx

    run_tfx(build(opts, root), opts.runner)
    summary = summarize(root)
    write_summary(summary, os.path.join(root, "summary.json"))
    print(format_report(summary))
    if "://" not in root:
        print(f"\nReport: {write_report(summary, root)}")
    return 0


def compile_(args) -> int:
    from pipeline.pipeline import TrainingCluster
    from pipeline.runner import compile_kubeflow

    cluster = TrainingCluster(args.workers, args.image, args.vertex_project, args.vertex_region, args.machine_type)
    root = args.root or "gs://YOUR_BUCKET/c2al"
    opts = options(args, data=args.data or "gs://YOUR_BUCKET/data", label=args.label or "click", root=root)
    out = compile_kubeflow(build(opts, root, cluster), args.out, args.image)
    where = (f"; Trainers on {args.workers} Vertex AI workers ({args.machine_type})" if args.workers > 1 else "")
    print(f"wrote {out} (KFP v2 pipeline spec; image {args.image}{where})")
    return 0


if __name__ == "__main__":  # the child of a local run: the options as JSON, the lock held by the parent
    from c2al_tf.commands.common import guarded
    from pipeline.options import PipelineOptions

    _options = PipelineOptions.from_json(sys.argv[1])
    sys.exit(guarded(lambda: _run_pipeline(_options, _options.root)))
