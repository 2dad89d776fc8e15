"""Scoring data with an exported SavedModel through its real serving signatures."""
from __future__ import annotations

import sys
from typing import Dict, Optional

import numpy as np

import c2al_tf  # noqa: F401
from c2al_tf.errors import C2ALInputError


class SavedModelPredictor:
    """Loads an exported c2al SavedModel and scores FeatureTables by serializing
    them to tf.Example and calling ``serving_default`` (or ``all_heads``), i.e.
    exactly what a TF Serving client gets."""

    def __init__(self, export_dir: str):
        import tensorflow as tf

        from c2al_tf.export import load_metadata

        self.export_dir = export_dir
        self.metadata = load_metadata(export_dir)
        self.spec = self.metadata["feature_spec"]
        # {column: tf.Example dtype} the signatures parse: a pipeline model's raw
        # features (its transform graph makes the model's inputs from them)
        raw = self.metadata.get("raw_features")
        self.dtypes = dict(raw) if raw is not None else self.spec.column_dtypes()
        self.loaded = tf.saved_model.load(export_dir)
        self.signatures = self.loaded.signatures

    def read(self, path: str, label: str, positive_label: Optional[str] = None):
        """Reads data typed as the model's feature spec says."""
        from c2al_tf.data import read_table

        numeric = [c for c, d in self.dtypes.items() if d != "string"] if "raw_features" in self.metadata \
            else [f.name for f in self.spec.numeric]
        categorical = [c for c in self.dtypes if c not in numeric]
        table = read_table(path, label, positive_label, numeric=numeric, categorical=categorical,
                           forced_types_may_be_absent=True)
        absent = [n for n in self.dtypes if n not in table.features.columns]
        if absent:
            print(f"c2al: warning: {path}: model features absent from the data, served as missing: "
                  f"{', '.join(absent)}", file=sys.stderr)
        return table

    def predict(self, table, signature: str = "serving_default", batch_size: int = 4096,
                progress: bool = False) -> Dict[str, np.ndarray]:
        """``{output: [n]}`` from the named signature."""
        import tensorflow as tf

        from c2al_tf.data.examples import table_to_examples

        if signature not in self.signatures:
            raise C2ALInputError(f"{self.export_dir}: has no signature '{signature}' "
                                 f"(has {', '.join(self.signatures)})")
        fn = self.signatures[signature]
        dtypes = self.dtypes
        present = [c for c in table.features.columns if c in dtypes]
        sub = type(table)(table.features[present], table.label, table.label_name,
                          [c for c in table.numeric if c in present], [c for c in table.categorical if c in present],
                          table.source)
        try:
            examples = table_to_examples(sub, dtypes=dtypes, include_label=False)
        except ValueError as e:
            raise C2ALInputError(f"{table.source}: cannot encode data as the model's tf.Example types ({e})")
        outputs: Dict[str, list] = {}
        starts = range(0, len(examples), batch_size)
        if progress:
            from tqdm import tqdm
            starts = tqdm(starts, desc="scoring", unit="batch")
        for start in starts:
            result = fn(examples=tf.constant(examples[start:start + batch_size]))
            for k, v in result.items():
                outputs.setdefault(k, []).append(v.numpy().reshape(-1))
        return {k: np.concatenate(v) for k, v in outputs.items()}
