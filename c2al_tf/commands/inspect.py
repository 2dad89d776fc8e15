"""``c2al inspect``: read data the way every other command will and describe it."""
from __future__ import annotations

from c2al_tf.commands.common import add_data_args, read_data


def register(sub) -> None:
    p = sub.add_parser("inspect", help="read --data and print its typed columns and label rate",
                       description="Read --data exactly as train/mine/evaluate will (type inference, "
                                   "label check) and print what was found.")
    add_data_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    table = read_data(args)
    print(f"{table.source}: {table.summary()}")
    print(f"{'column':24s} {'type':12s} {'missing':>8s} {'distinct':>9s}  why")
    for name in table.features.columns:
        col = table.features[name]
        kind = table.kind(name)
        missing = col.isna().mean() if name in table.numeric else (col == "").mean()
        print(f"{name:24s} {kind:12s} {missing:8.3f} {col.nunique():9d}  {table.reasons.get(name, '')}")
    return 0
