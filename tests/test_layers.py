"""Layers: AttentionFM against a float64 numpy reference, FM, embeddings, configs."""
import numpy as np
import pytest
import tensorflow as tf

from c2al_tf.layers import AttentionFM, CategoricalEmbedding, FMInteraction, NumericEmbedding


def numpy_attention_fm(x, layer):
    """G = X X^T Y with Y = MLP(X), all in float64, explicit m x m product."""
    y = x
    for dense in layer.attention_mlp:
        k, b = (w.numpy().astype(np.float64) for w in dense.weights)
        y = np.maximum(y @ k + b, 0.0)
    k, b = (w.numpy().astype(np.float64) for w in layer.attention_out.weights)
    y = y @ k + b
    return np.einsum("bij,bjk->bik", x @ np.transpose(x, (0, 2, 1)), y)


@pytest.mark.parametrize("m,d,k", [(5, 4, 3), (12, 16, 8), (3, 2, 6)])
def test_attention_fm_matches_float64_reference(m, d, k):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, m, d))
    layer = AttentionFM(num_attention=k, hidden_units=(9, 5), dtype="float64")
    out = layer(tf.constant(x)).numpy()
    assert out.shape == (7, m, k)
    np.testing.assert_allclose(out, numpy_attention_fm(x, layer), rtol=1e-10, atol=1e-10)


def test_attention_fm_float32_close_to_reference():
    x = np.random.default_rng(1).normal(size=(4, 6, 8)).astype(np.float32)
    layer = AttentionFM(4)
    np.testing.assert_allclose(layer(x).numpy(), numpy_attention_fm(x.astype(np.float64), layer), rtol=1e-4, atol=1e-4)


def test_attention_fm_config_round_trip():
    layer = AttentionFM(num_attention=5, hidden_units=(7,), name="afm")
    x = tf.random.normal([3, 4, 6], seed=1)
    y = layer(x)
    clone = AttentionFM.from_config(layer.get_config())
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(x).numpy(), y.numpy(), rtol=1e-6)
    assert clone.get_config()["num_attention"] == 5 and clone.get_config()["hidden_units"] == [7]
    restored = tf.keras.layers.deserialize(tf.keras.layers.serialize(layer))
    assert isinstance(restored, AttentionFM)


@pytest.mark.parametrize("shape,msg", [((3, 4), r"\[batch, m, d\]"), ((3, 1, 4), "m >= 2")])
def test_attention_fm_validates_input(shape, msg):
    with pytest.raises(ValueError, match=msg):
        AttentionFM(2)(tf.zeros(shape))


def test_attention_fm_validates_args():
    with pytest.raises(ValueError, match="num_attention"):
        AttentionFM(0)
    with pytest.raises(ValueError, match="hidden_units"):
        AttentionFM(2, hidden_units=(0,))


def test_fm_equals_pairwise_dot_products():
    x = np.random.default_rng(2).normal(size=(5, 7, 3))
    naive = np.array([[sum(x[b, i] @ x[b, j] for i in range(7) for j in range(i + 1, 7))] for b in range(5)])
    np.testing.assert_allclose(FMInteraction(dtype="float64")(x).numpy(), naive, rtol=1e-10)
    v = FMInteraction(reduce=False, dtype="float64")(x).numpy()
    np.testing.assert_allclose(v.sum(axis=1, keepdims=True), naive, rtol=1e-10)
    assert FMInteraction.from_config(FMInteraction(reduce=False).get_config()).reduce is False
    with pytest.raises(ValueError, match="m >= 2"):
        FMInteraction()(tf.zeros([2, 1, 3]))


def test_numeric_embedding_missing_and_scaling():
    layer = NumericEmbedding(4, mean=10.0, std=2.0)
    out = layer(tf.constant([[12.0], [np.nan], [10.0]])).numpy()
    w, b, missing = (v.numpy() for v in layer.weights)
    np.testing.assert_allclose(out[0], (1.0 * w + b)[0], rtol=1e-6)
    np.testing.assert_allclose(out[1], missing[0], rtol=1e-6)
    np.testing.assert_allclose(out[2], b[0], atol=1e-7)
    assert NumericEmbedding.from_config(layer.get_config()).std == 2.0
    with pytest.raises(ValueError, match="std"):
        NumericEmbedding(4, std=0.0)


def test_categorical_embedding_oov_never_fails():
    layer = CategoricalEmbedding(["a", "b"], 3)
    out = layer(tf.constant([["a"], ["zzz"], [""], ["b"]])).numpy()
    assert out.shape == (4, 3)
    np.testing.assert_allclose(out[1], out[2])  # unseen and missing share the OOV row
    assert not np.allclose(out[0], out[1])
    restored = CategoricalEmbedding.from_config(layer.get_config())
    assert restored.vocabulary_size == 2 and "'a'" not in str(layer.get_config())  # state, not config
    with pytest.raises(ValueError, match="duplicate"):
        CategoricalEmbedding(["a", "a"], 3)
    with pytest.raises(TypeError, match="tf.string or numeric"):
        layer(tf.constant([[True]]))
    # numbers (an integer column's categorical view) are looked up as their decimal text
    ints = CategoricalEmbedding(["3", "17"], 3)
    got = ints(tf.constant([[3.0], [17.0], [np.nan], [5.0]])).numpy()
    want = ints(tf.constant([["3"], ["17"], [""], ["5"]])).numpy()
    np.testing.assert_allclose(got, want)
    np.testing.assert_allclose(ints(tf.constant([[3], [17]], tf.int64)).numpy(), want[:2])


@pytest.mark.parametrize("mode", [{"vocabulary": ["a", "b", "c"]}, {"vocabulary": None, "hash_buckets": 7},
                                  {"vocabulary": None, "indices": 5}])
def test_categorical_embedding_l2_penalizes_the_whole_table_against_float64(mode):
    """penalty = l2 * ||E||_F^2 over every row (not only the rows looked up), in
    every mode; l2 round-trips through the config; l2 = 0 adds no loss."""
    layer = CategoricalEmbedding(dim=4, l2=0.003, **mode)
    x = tf.constant([[1]], tf.int64) if mode.get("indices") else tf.constant([["a"]])
    layer(x)  # builds the table; one row looked up
    table = layer.table.embeddings.numpy().astype(np.float64)
    assert len(layer.losses) == 1
    np.testing.assert_allclose(float(layer.losses[0]), 0.003 * np.sum(table ** 2), rtol=1e-6)
    assert CategoricalEmbedding.from_config(layer.get_config()).l2 == 0.003
    plain = CategoricalEmbedding(dim=4, **mode)
    plain(x)
    assert plain.losses == [] and plain.get_config()["l2"] == 0.0
    for bad in (-1e-3, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="l2 must be a finite number >= 0"):
            CategoricalEmbedding(dim=4, l2=bad, **mode)


def test_categorical_embedding_hashed_mode():
    """e = E[1 + FarmHash64(x) mod N] for present values, E[0] for missing; no
    vocabulary stored; config round trip; memory (N + 1) * d whatever the ids."""
    layer = CategoricalEmbedding(None, 4, hash_buckets=50)
    values = tf.constant([["u1"], ["u2"], [""], ["u1"], ["never-seen"]])
    out = layer(values).numpy()
    assert out.shape == (5, 4)
    table = layer.table.embeddings.numpy()
    assert table.shape == (51, 4) and layer.vocabulary == []
    rows = 1 + tf.strings.to_hash_bucket_fast(["u1", "u2", "never-seen"], 50).numpy()
    np.testing.assert_allclose(out[[0, 1, 4]], table[rows])
    np.testing.assert_allclose(out[2], table[0])  # missing
    np.testing.assert_allclose(out[0], out[3])
    np.testing.assert_allclose(layer(tf.constant([[7.0], [np.nan]])).numpy(),
                               layer(tf.constant([["7"], [""]])).numpy())
    config = layer.get_config()
    assert config["hash_buckets"] == 50
    assert CategoricalEmbedding.from_config(config).hash_buckets == 50
    with pytest.raises(ValueError, match="not both"):
        CategoricalEmbedding(["a"], 4, hash_buckets=10)
    with pytest.raises(ValueError, match="hash_buckets must be >= 0"):
        CategoricalEmbedding(None, 4, hash_buckets=-1)


def test_categorical_embedding_indexed_mode():
    """e = E[x] for a transform graph's index 1..V, E[0] for 0 (OOV / missing) and for
    anything out of range; config round trip; integer input only."""
    layer = CategoricalEmbedding(None, 3, indices=4)
    out = layer(tf.constant([[1], [4], [0], [5], [-2]], tf.int64)).numpy()
    table = layer.table.embeddings.numpy()
    assert table.shape == (5, 3)
    np.testing.assert_allclose(out, table[[1, 4, 0, 0, 0]])
    config = layer.get_config()
    assert config["indices"] == 4 and CategoricalEmbedding.from_config(config).indices == 4
    with pytest.raises(TypeError, match="expects an integer index"):
        layer(tf.constant([["a"]]))
    with pytest.raises(ValueError, match="excludes vocabulary and hash_buckets"):
        CategoricalEmbedding(["a"], 3, indices=2)
    with pytest.raises(ValueError, match="indices must be >= 0"):
        CategoricalEmbedding(None, 3, indices=-1)


def test_numeric_embedding_quantile_buckets_against_float64_reference():
    """e = z w + b + B[k], k = #{boundaries <= x}; missing -> e_missing."""
    boundaries = [-1.0, 0.0, 2.5]
    layer = NumericEmbedding(3, mean=0.5, std=2.0, boundaries=boundaries)
    x = np.array([[-3.0], [-1.0], [0.2], [2.5], [9.0], [np.nan]])
    out = layer(tf.constant(x, tf.float32)).numpy()
    w, b, missing, buckets = (v.numpy().astype(np.float64) for v in layer.weights)
    for i, v in enumerate(x[:, 0]):
        if np.isnan(v):
            np.testing.assert_allclose(out[i], missing[0], rtol=1e-6)
            continue
        k = int(np.searchsorted(boundaries, v, side="right"))
        z = np.clip((v - 0.5) / 2.0, -10, 10)
        np.testing.assert_allclose(out[i], z * w[0] + b[0] + buckets[k], rtol=1e-5, atol=1e-6)
    assert NumericEmbedding.from_config(layer.get_config()).boundaries == boundaries
    with pytest.raises(ValueError, match="strictly increasing"):
        NumericEmbedding(3, boundaries=[1.0, 1.0])
    with pytest.raises(ValueError, match="finite"):
        NumericEmbedding(3, boundaries=[0.0, float("inf")])


def test_numeric_embedding_buckets_alone():
    """scaled=False: e = b + B[k] (no linear term), a piecewise-constant response."""
    boundaries = [0.0, 1.0]
    layer = NumericEmbedding(2, boundaries=boundaries, scaled=False)
    x = np.array([[-5.0], [0.5], [0.7], [40.0]])
    out = layer(tf.constant(x, tf.float32)).numpy()
    b, missing, buckets = (v.numpy().astype(np.float64) for v in layer.weights)
    for i, k in enumerate([0, 1, 1, 2]):
        np.testing.assert_allclose(out[i], b[0] + buckets[k], rtol=1e-6)
    clone = NumericEmbedding.from_config(layer.get_config())
    assert clone.scaled is False and clone.boundaries == boundaries
    with pytest.raises(ValueError, match="scaled=False needs boundaries"):
        NumericEmbedding(2, scaled=False)


@pytest.mark.parametrize("fmt", ["keras", "savedmodel"])
def test_categorical_embedding_vocabulary_saved_once_with_the_weights(tmp_path, fmt):
    """The vocabulary is table state: a model saved as .keras or as a Keras SavedModel
    loads back with the same lookups, and the config holds no copy of it."""
    inp = tf.keras.Input((1,), dtype=tf.string, name="x")
    model = tf.keras.Model(inp, CategoricalEmbedding(["a", "b", "c"], 2, name="emb")(inp))
    x = tf.constant([["c"], ["a"], ["nope"]])
    path = str(tmp_path / ("m.keras" if fmt == "keras" else "m"))
    serve = tf.function(lambda x: {"out": model(x)}).get_concrete_function(tf.TensorSpec([None, 1], tf.string))
    model.save(path, **({} if fmt == "keras" else {"save_format": "tf", "save_traces": False, "signatures": serve}))
    loaded = tf.keras.models.load_model(path)
    assert loaded.get_layer("emb").vocabulary == ["a", "b", "c"]
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy())
    if fmt == "savedmodel":
        assert b'"c"' not in (tmp_path / "m" / "keras_metadata.pb").read_bytes()
        served = tf.saved_model.load(path).signatures["serving_default"]  # no Keras: table from the checkpoint
        np.testing.assert_allclose(served(x=x)["out"].numpy(), model(x).numpy())


def numpy_mmoe(x, layer):
    """r_t = sum_k softmax(G_t x + c_t)_k ReLU(W_k x + b_k), float64, loops over tasks and experts."""
    w, b, g, c = (v.numpy().astype(np.float64) for v in (layer.experts, layer.expert_bias, layer.gates,
                                                          layer.gate_bias))
    out = []
    for t in range(layer.num_tasks):
        logits = x @ g[t] + c[t]
        gate = np.exp(logits - logits.max(axis=1, keepdims=True))
        gate /= gate.sum(axis=1, keepdims=True)
        out.append(sum(gate[:, [k]] * np.maximum(x @ w[:, k] + b[k], 0.0) for k in range(layer.num_experts)))
    return out


@pytest.mark.parametrize("d,k,u,t", [(5, 3, 4, 2), (12, 1, 7, 3), (3, 4, 2, 1)])
def test_mixture_of_experts_matches_float64_reference(d, k, u, t):
    from c2al_tf.layers import MixtureOfExperts

    x = np.random.default_rng(3).normal(size=(6, d))
    layer = MixtureOfExperts(k, u, t, dtype="float64")
    layer.build((None, d))
    rng = np.random.default_rng(4)
    layer.set_weights([rng.normal(size=v.shape) for v in layer.get_weights()])
    out = layer(tf.constant(x))
    assert len(out) == t and all(o.shape == (6, u) for o in out)
    for got, want in zip(out, numpy_mmoe(x, layer)):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-10)


def test_mixture_of_experts_config_round_trip_and_bad_input():
    from c2al_tf.layers import MixtureOfExperts

    layer = MixtureOfExperts(num_experts=3, units=5, num_tasks=2, name="moe")
    clone = MixtureOfExperts.from_config(layer.get_config())
    assert (clone.num_experts, clone.units, clone.num_tasks, clone.name) == (3, 5, 2, "moe")
    with pytest.raises(ValueError, match="num_experts must be >= 1"):
        MixtureOfExperts(num_experts=0)
    with pytest.raises(ValueError, match=r"expects \[batch, D\]"):
        MixtureOfExperts()(tf.zeros([2, 3, 4]))
