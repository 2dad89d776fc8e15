"""MovieLens (any RecBole atomic directory: ``*.inter`` with ``*.user`` and ``*.item``)."""
from __future__ import annotations

import glob
import os

import pandas as pd

from c2al_tf.data.csv_reader import read_csv_strings
from c2al_tf.data.frames import table_from_strings
from c2al_tf.data.table import FeatureTable
from c2al_tf.errors import C2ALInputError


def _read_atomic(path: str) -> pd.DataFrame:
    if not os.path.exists(path):
        raise C2ALInputError(f"{path}: file not found")
    frame = read_csv_strings(path, delimiter="\t")
    frame.columns = [c.split(":")[0] for c in frame.columns]
    return frame


def movielens_frame(directory: str) -> pd.DataFrame:
    """RecBole atomic files (``*.inter`` joined with ``*.user`` and ``*.item``) as
    one string DataFrame: user_id, item_id, rating, timestamp, age, gender,
    occupation, zip_code, release_year (non-numeric years become missing), genre
    (first genre of ``class``)."""
    inter = glob.glob(os.path.join(directory, "*.inter"))
    if not inter:
        raise C2ALInputError(f"{directory}: no RecBole *.inter file (MovieLens in RecBole atomic files, "
                             f"e.g. ml-100k.inter)")
    stem = inter[0][: -len(".inter")]
    frame = _read_atomic(inter[0])
    if os.path.exists(stem + ".user"):
        frame = frame.merge(_read_atomic(stem + ".user"), on="user_id", how="left")
    if os.path.exists(stem + ".item"):
        items = _read_atomic(stem + ".item")
        if "class" in items.columns:
            items["genre"] = items["class"].str.split(" ").str[0]
        if "release_year" in items.columns:  # ML-100K spells a missing year 'unkonwn'
            items["release_year"] = items["release_year"].where(items["release_year"].str.isdigit(), "")
        items = items.drop(columns=[c for c in ("movie_title", "class") if c in items.columns])
        frame = frame.merge(items, on="item_id", how="left")
    return frame.fillna("")


def read_movielens(directory: str, positive_label: str = ">=4") -> FeatureTable:
    """MovieLens in RecBole's atomic format; label ``rating`` binarized as
    ``rating >= 4``. ``user_id``, ``item_id``, ``gender``, ``occupation``,
    ``zip_code``, ``genre`` are categorical; ``age``, ``release_year`` and
    ``timestamp`` numeric."""
    frame = movielens_frame(directory)
    return table_from_strings(frame, source=directory, label="rating", positive_label=positive_label,
                   categorical=[c for c in ("user_id", "item_id", "gender", "occupation", "zip_code", "genre")
                                if c in frame.columns])
