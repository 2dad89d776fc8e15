"""Arguments shared by several subcommands."""
from __future__ import annotations

import argparse


def add_data_args(p: argparse.ArgumentParser, label_required: bool = True) -> None:
    p.add_argument("--data", required=True, metavar="PATH",
                   help="CSV file with header, directory of CSVs, TFRecord file(s) of tf.Example, "
                        "or a RecBole atomic directory (MovieLens)")
    p.add_argument("--label", required=label_required, metavar="COL", help="label column (0/1)")
    p.add_argument("--positive-label", metavar="VALUE",
                   help="which label value is positive when the label is not 0/1, e.g. 'yes' or '>=4'")
    p.add_argument("--categorical", default="", metavar="A,B",
                   help="columns to read as categorical even if they look numeric")
    p.add_argument("--numeric", default="", metavar="A,B", help="columns to read as numeric")
    p.add_argument("--drop", default="", metavar="A,B", help="columns to ignore")


def split_list(value: str):
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def read_data(args, warn_leakage: bool = True):
    """Reads ``--data`` as every command does; warns (stderr) about features that
    predict the label almost perfectly on their own."""
    import sys

    from c2al_tf.data import read_table

    table = read_table(args.data, args.label, args.positive_label, numeric=split_list(args.numeric),
                       categorical=split_list(args.categorical), drop=split_list(args.drop))
    if warn_leakage:
        from c2al_tf.data.leakage import leakage_warnings

        for line in leakage_warnings(table):
            print(f"c2al: warning: {line}", file=sys.stderr)
    return table
