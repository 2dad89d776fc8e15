"""Grouped embeddings compute, for every feature, what the per-feature layers compute."""
import json

import numpy as np
import pytest
import tensorflow as tf

from c2al_tf.layers import CategoricalEmbedding, CategoricalEmbeddings, NumericEmbedding, NumericEmbeddings


def test_numeric_embeddings_equal_one_layer_per_feature_in_float64():
    rng = np.random.default_rng(0)
    means, stds = [1.0, -2.0, 0.5], [2.0, 0.5, 1.0]
    edges = [[-1.0, 0.0, 1.0, 3.0], [], [0.2]]
    scaled = [True, True, False]
    layer = NumericEmbeddings(4, means, stds, edges, scaled)
    x = rng.normal(size=(64, 3)).astype(np.float32) * 3
    x[::7, 1] = np.nan
    x[3, 0], x[5, 2] = 1.0, 0.2  # on a boundary: the bucket above it, as Bucketize
    out = layer(tf.constant(x)).numpy().astype(np.float64)
    assert out.shape == (64, 3, 4)
    for j in range(3):
        single = NumericEmbedding(4, means[j], stds[j], boundaries=edges[j], scaled=scaled[j])
        single(tf.constant(x[:, j:j + 1]))
        single.b.assign(layer.b.numpy()[j:j + 1])
        single.missing.assign(layer.missing.numpy()[j:j + 1])
        if scaled[j]:
            single.w.assign(layer.w.numpy()[j:j + 1])
        if edges[j]:
            k = layer.k + 1
            single.buckets.assign(layer.buckets.numpy()[j * k:j * k + len(edges[j]) + 1])
        ref = single(tf.constant(x[:, j:j + 1])).numpy().astype(np.float64)
        if not edges[j]:  # the padded bucket row 0 of a feature without boundaries: a constant offset when present
            present = ~np.isnan(x[:, j:j + 1])
            ref = ref + present * layer.buckets.numpy()[j * (layer.k + 1)].astype(np.float64)
        np.testing.assert_allclose(out[:, j, :], ref, atol=1e-6)


def test_numeric_embeddings_validate_and_round_trip_their_config():
    with pytest.raises(ValueError, match="one entry per feature"):
        NumericEmbeddings(4, [0.0], [1.0, 2.0], [[]], [True])
    with pytest.raises(ValueError, match="strictly increasing"):
        NumericEmbeddings(4, [0.0], [1.0], [[1.0, 0.0]], [True])
    with pytest.raises(ValueError, match="scaled=False and no boundaries"):
        NumericEmbeddings(4, [0.0], [1.0], [[]], [False])
    layer = NumericEmbeddings(2, [0.0, 1.0], [1.0, 3.0], [[0.5], []], [True, True])
    assert NumericEmbeddings.from_config(layer.get_config()).get_config() == layer.get_config()


@pytest.mark.parametrize("kind", ["vocabularies", "hash_buckets", "indices"])
def test_categorical_embeddings_give_each_feature_its_own_rows(kind):
    vocabs = [["a", "b"], ["3", "17", "5"]]
    args = {"vocabularies": {"vocabularies": vocabs}, "hash_buckets": {"hash_buckets": [4, 8]},
            "indices": {"indices": [2, 3]}}[kind]
    layer = CategoricalEmbeddings(3, l2=0.01, **args)
    if kind == "indices":
        inputs = [tf.constant([[1], [2], [0], [9]], tf.int64), tf.constant([[3], [1], [2], [0]], tf.int64)]
    else:
        inputs = [tf.constant([["a"], ["b"], ["zz"], [""]]), tf.constant([[17.0], [np.nan], [5.0], [3.0]])]
    out = layer(inputs).numpy()
    table = layer.table.embeddings.numpy()
    assert out.shape == (4, 2, 3)
    offsets = layer.offsets
    if kind == "vocabularies":
        expected = [[1, 2], [2, 0], [0, 3], [0, 1]]  # position + 1, OOV (unseen, missing, NaN) = 0
    elif kind == "indices":
        expected = [[1, 3], [2, 1], [0, 2], [0, 0]]  # out of range = OOV
    else:
        expected = None
    if expected is not None:
        for r, row in enumerate(expected):
            for j, i in enumerate(row):
                np.testing.assert_array_equal(out[r, j], table[offsets[j] + i])
    else:  # a missing value is the OOV row; present values land inside their own feature's block
        np.testing.assert_array_equal(out[3, 0], table[offsets[0]])
        np.testing.assert_array_equal(out[1, 1], table[offsets[1]])
        assert all(any(np.array_equal(out[r, 1], table[offsets[1] + i]) for i in range(1, 9)) for r in (0, 2, 3))
    assert sum(float(v) for v in layer.losses) == pytest.approx(0.01 * float(np.sum(table.astype(np.float64) ** 2)),
                                                                 rel=1e-5)


def test_categorical_embeddings_keep_their_vocabularies_in_a_keras_file(tmp_path):
    vocabs = [["a", "b"], ["x"]]
    inputs = {n: tf.keras.Input(shape=(1,), dtype=tf.string, name=n) for n in ("p", "q")}
    out = CategoricalEmbeddings(2, vocabularies=vocabs, name="cat")([inputs["p"], inputs["q"]])
    model = tf.keras.Model(inputs, out)
    data = {"p": np.array([["b"], ["a"]], dtype=object), "q": np.array([["x"], ["?"]], dtype=object)}
    before = model.predict(data, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = tf.keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.predict(data, verbose=0), before)
    assert loaded.get_layer("cat").vocabularies == vocabs
    config = loaded.get_layer("cat").get_config()
    assert config["vocabularies"] is None and config["vocabulary_sizes"] == [2, 1]
    json.dumps(config)
    with pytest.raises(ValueError, match="exactly one of"):
        CategoricalEmbeddings(2, vocabularies=vocabs, hash_buckets=[3, 3])
    with pytest.raises(ValueError, match="duplicate"):
        CategoricalEmbeddings(2, vocabularies=[["a", "a"]])


def test_single_layer_semantics_match_for_vocabulary_lookup():
    """The grouped lookup equals CategoricalEmbedding's for the same table rows."""
    vocab = ["3", "17"]
    single = CategoricalEmbedding(vocab, 3)
    grouped = CategoricalEmbeddings(3, vocabularies=[vocab])
    x = tf.constant([[17.0], [3.0], [np.nan], [4.0]])
    single(x)
    grouped([x])
    grouped.table.embeddings.assign(single.table.embeddings.numpy())
    np.testing.assert_array_equal(grouped([x]).numpy()[:, 0, :], single(x).numpy())
