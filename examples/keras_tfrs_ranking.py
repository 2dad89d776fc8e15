"""C2AL on your own TensorFlow Recommenders model: a DCN-v2 ranking model written the way
the TFRS DCN tutorial writes one, on MovieLens 100K (label: rating >= 4).

The lines marked ``# C2AL`` are all it takes: mine the cohorts, give the model a
``CohortHeads`` layer on its shared representation, add its loss in ``compute_loss``.
Serving is the model's own ``call``: the heads never run there.

For each seed the script trains the plain model (lambda 0) and the model with cohort
heads (lambda 0.1), early stopping on validation rows carved from the training rows;
the heads are kept only when they beat lambda 0 on those rows by the protocol's evidence
rule (``c2al_tf.compare_to_baseline``). It prints the test NE of both, per seed, and the
paired NE_diff with its 95% interval over seeds.

    python examples/keras_tfrs_ranking.py --data ../shared/data/movielens-100k --seeds 5
"""
import argparse
import sys

import c2al_tf  # first: sets TF_USE_LEGACY_KERAS=1 before TensorFlow loads
import numpy as np
import pandas as pd
import tensorflow as tf
import tensorflow_recommenders as tfrs

from c2al_tf.data.readers import movielens_frame, table_from_frame
from c2al_tf.metrics import normalized_entropy, paired_comparison, row_logloss

CATEGORICAL = ["user_id", "item_id", "gender", "occupation", "genre"]
NUMERIC = ["age"]


class DCN(tfrs.models.Model):
    """Embeddings -> DCN-v2 cross layer -> deep layers -> logit (TFRS's DCN tutorial)."""

    def __init__(self, vocabularies, cohorts=None, aux_weight=0.1):
        super().__init__()
        self.embeddings = {f: tf.keras.Sequential([tf.keras.layers.StringLookup(vocabulary=v),
                                                   tf.keras.layers.Embedding(len(v) + 1, 8)])
                           for f, v in vocabularies.items()}
        self.normalize = tf.keras.layers.Normalization(axis=None, mean=35.0, variance=150.0)
        self.cross = tfrs.layers.dcn.Cross()
        self.deep = tf.keras.Sequential([tf.keras.layers.Dense(64, activation="relu"),
                                         tf.keras.layers.Dense(32, activation="relu")])
        self.logit = tf.keras.layers.Dense(1, activation="sigmoid")
        self.task = tfrs.tasks.Ranking(loss=tf.keras.losses.BinaryCrossentropy())
        self.cohort_heads = c2al_tf.CohortHeads(cohorts, aux_weight) if cohorts else None  # C2AL

    def representation(self, features):
        x = tf.concat([self.embeddings[f](features[f]) for f in CATEGORICAL]
                      + [tf.reshape(self.normalize(features["age"]), [-1, 1])], axis=1)
        return self.deep(self.cross(x, x))

    def call(self, features):
        return self.logit(self.representation(features))

    def compute_loss(self, features, training=False):
        h = self.representation(features)
        loss = self.task(labels=features["label"], predictions=self.logit(h))
        if self.cohort_heads is not None:  # C2AL: y * 1[x in C] for each cohort, from the raw features
            labels = self.cohort_heads.labels(features, features["label"])
            loss += self.cohort_heads.loss(labels, self.cohort_heads(h))
        return loss


def load(path, rows=None):
    """MovieLens rows as a dict of numpy columns (strings; age and the label numbers)."""
    frame = movielens_frame(path)
    if rows:
        frame = frame.sample(n=min(rows, len(frame)), random_state=0)
    columns = {f: frame[f].astype(str).to_numpy() for f in CATEGORICAL}
    columns["age"] = frame["age"].astype(np.float32).to_numpy()
    columns["label"] = (frame["rating"].astype(float) >= 4).astype(np.float32).to_numpy()
    return columns


def take(columns, index):
    return {k: v[index] for k, v in columns.items()}


def fit(model, train, val, epochs, seed):
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-3))
    ds = tf.data.Dataset.from_tensor_slices(train).shuffle(len(train["label"]), seed=seed).batch(1024)
    val_ds = tf.data.Dataset.from_tensor_slices(val).batch(4096)
    stop = tf.keras.callbacks.EarlyStopping("val_loss", patience=2, restore_best_weights=True)
    model.fit(ds, validation_data=val_ds, epochs=epochs, callbacks=[stop], verbose=0)
    return model


def predict(model, columns):
    return model.predict(tf.data.Dataset.from_tensor_slices(columns).batch(4096), verbose=0).reshape(-1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="MovieLens 100K in RecBole atomic files")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--rows", type=int, default=None, help="use a sample of this many ratings")
    args = ap.parse_args(argv)

    columns = load(args.data, args.rows)
    n = len(columns["label"])
    order = np.random.default_rng(12345).permutation(n)
    test, train_all = order[: n // 5], order[n // 5:]
    val, fit_rows = train_all[: len(train_all) // 4], train_all[len(train_all) // 4:]
    train, validation, test = take(columns, fit_rows), take(columns, val), take(columns, test)
    vocabularies = {f: np.unique(train[f]).tolist() for f in CATEGORICAL}

    # C2AL: mine the cohorts on the training rows only
    frame = pd.DataFrame({**{f: train[f] for f in CATEGORICAL + NUMERIC}, "label": train["label"].astype(int)})
    table = table_from_frame(frame, "label", categorical=CATEGORICAL)
    spec, _ = c2al_tf.mine_table(table)
    cohorts = list(spec.cohorts())
    print(f"cohorts: {', '.join(c['name'] for c in cohorts) or 'none'}", flush=True)

    base_ne, c2al_ne = [], []
    for seed in range(args.seeds):
        tf.keras.utils.set_random_seed(seed)
        baseline = fit(DCN(vocabularies), train, validation, args.epochs, seed)
        chosen = baseline
        if cohorts:
            tf.keras.utils.set_random_seed(seed)
            heads = fit(DCN(vocabularies, cohorts, aux_weight=0.1), train, validation, args.epochs, seed)
            evidence = c2al_tf.compare_to_baseline(row_logloss(validation["label"], predict(heads, validation)),
                                                   row_logloss(validation["label"], predict(baseline, validation)))
            chosen = heads if evidence["significant"] else baseline  # lambda 0 unless the heads win
        base_ne.append(normalized_entropy(test["label"], predict(baseline, test)))
        c2al_ne.append(normalized_entropy(test["label"], predict(chosen, test)))
        print(f"seed {seed}: test NE baseline {base_ne[-1]:.4f}  C2AL {c2al_ne[-1]:.4f}"
              f"{'' if chosen is not baseline else '  (lambda 0: no evidence for the heads)'}", flush=True)
    if args.seeds > 1:
        c = paired_comparison(base_ne, c2al_ne)
        print(f"NE_diff C2AL vs baseline: {100 * c['mean']:+.2f}% [{100 * c['ci_low']:+.2f}, "
              f"{100 * c['ci_high']:+.2f}] (paired 95% interval over {args.seeds} seeds): {c['verdict']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
