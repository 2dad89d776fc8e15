"""Mining: the planted axis wins, decoys lose, shuffled labels give nothing, counts
from TFDV equal exact counts, divergences equal scipy's, bad input is refused."""
import numpy as np
import pytest
from scipy import stats as sps
from scipy.spatial import distance

from c2al_tf.cohorts import CohortSpec, divergence
from c2al_tf.cohorts.miner import binnings_and_axes, mine_table, table_to_record_batches
from c2al_tf.cohorts.sliced import counts_from_statistics
from c2al_tf.cohorts.statistics import cohort_statistics, global_statistics, run_statistics
from c2al_tf.data import ground_truth
from c2al_tf.errors import C2ALInputError
from helpers import synthetic_table


@pytest.fixture(scope="module")
def table():
    return synthetic_table(80_000, seed=5)


@pytest.fixture(scope="module")
def mined(table):
    return mine_table(table, max_pairs=3, cross_top=2, by="stats")


@pytest.mark.slow  # runs Beam (TFDV) or trains several models
def test_planted_axis_is_top_pair(mined):
    spec, results = mined
    truth = ground_truth()
    top = spec.pairs[0]
    assert top["axis"] == [truth.axis]
    assert top["head"]["predicate"]["min"] == pytest.approx(truth.head_min, rel=0.1)
    assert top["head"]["predicate"]["max"] is None
    assert top["tail"]["predicate"]["max"] == pytest.approx(truth.tail_max, rel=0.1)
    assert top["tail"]["predicate"]["min"] is None
    assert top["head"]["positive_rate"] > top["tail"]["positive_rate"]
    assert abs(top["head"]["support"] - 0.1) < 0.02 and abs(top["tail"]["support"] - 0.1) < 0.02


def test_decoys_rank_below_planted_axis(mined):
    _, results = mined
    rank = {r.axis[0]: i for i, r in enumerate(results)}
    for decoy in ground_truth().decoys + ground_truth().no_effect:
        assert rank[decoy] > rank["user_value"]
        assert not next(r for r in results if r.axis[0] == decoy).significant


def test_crosses_of_top_axes_are_mined(mined):
    spec, results = mined
    crosses = [r for r in results if len(r.axis) == 2]
    assert crosses, "the two best single axes should be crossed"
    cross = crosses[0]
    assert set(cross.axis) <= {r.axis[0] for r in results if r.significant and len(r.axis) == 1}
    assert "all" in cross.head["predicate"] and len(cross.head["predicate"]["all"]) == 2
    CohortSpec.from_pairs("click", [{"axis": cross.axis, "divergence": cross.divergence, "head": cross.head,
                                     "tail": cross.tail}])


@pytest.mark.slow  # runs Beam (TFDV) or trains several models
def test_shuffled_labels_give_no_pair_above_noise(table):
    shuffled = table.take(np.arange(len(table)))
    shuffled.label = np.random.default_rng(0).permutation(table.label)
    spec, results = mine_table(shuffled, max_pairs=3, by="stats")
    assert spec.pairs == []
    assert all(not r.significant for r in results)


@pytest.mark.slow  # runs Beam (TFDV) or trains several models
def test_spec_is_valid_and_deterministic(table, mined):
    spec, _ = mined
    CohortSpec(spec.doc)  # validates against the JSON schema
    again, _ = mine_table(table, max_pairs=3, cross_top=2, by="stats")
    assert again.doc == spec.doc


@pytest.mark.slow  # runs Beam (TFDV) or trains several models
def test_tfdv_counts_equal_exact_counts(table):
    batches = table_to_record_batches(table)
    stats = run_statistics(batches, global_statistics)
    binnings, axes = binnings_and_axes(stats, "click", axes=["user_value", "surface"], categorical=table.categorical)
    sliced = run_statistics(batches, lambda p: cohort_statistics(p, binnings, axes, "click"))
    counts = counts_from_statistics(sliced, binnings, axes)
    user_value = next(b for b in binnings if b.feature == "user_value")
    surface = next(b for b in binnings if b.feature == "surface")
    uv = np.searchsorted(user_value.edges, table.features["user_value"].to_numpy(), side="right")
    sf = np.array([surface.values.index(v) + 1 if v in surface.values else 0 for v in table.features["surface"]])
    for k, c in counts["user_value"].items():
        m = uv == k
        assert c.n == m.sum() and c.positives == table.label[m].sum()
        n_b, y_b = c.per_feature["surface"]
        np.testing.assert_array_equal(n_b, np.bincount(sf[m], minlength=surface.num_bins))
        np.testing.assert_array_equal(y_b, np.bincount(sf[m], weights=table.label[m], minlength=surface.num_bins))


def test_divergences_equal_scipy():
    rng = np.random.default_rng(0)
    p, q = rng.dirichlet(np.ones(7), size=5), rng.dirichlet(np.ones(7), size=5)
    for i in range(5):
        assert divergence.js(p[i], q[i]) == pytest.approx(distance.jensenshannon(p[i], q[i]) ** 2, rel=1e-9)
        assert divergence.kl(p[i], q[i]) == pytest.approx(sps.entropy(p[i], q[i] + 1e-6), rel=1e-4)
        assert divergence.cosine(p[i], q[i]) == pytest.approx(distance.cosine(p[i], q[i]), rel=1e-9)
        idx = np.arange(7)
        assert divergence.wasserstein(p[i], q[i]) == pytest.approx(
            sps.wasserstein_distance(idx, idx, p[i], q[i]) / 6, rel=1e-9)
    np.testing.assert_allclose(divergence.js(p, q), [divergence.js(a, b) for a, b in zip(p, q)])
    with pytest.raises(C2ALInputError, match="hellinger"):
        divergence.get("hellinger")


@pytest.mark.slow  # runs Beam (TFDV) or trains several models
@pytest.mark.parametrize("name", ["kl", "wasserstein", "cosine"])
def test_other_divergences_also_find_planted_axis(table, name):
    spec, _ = mine_table(table, axes=["user_value", "region", "account_age_days", "bid"], divergence=name, by="stats")
    assert spec.pairs and spec.pairs[0]["axis"] == ["user_value"] and spec.doc["divergence"] == name


@pytest.mark.slow  # runs Beam (TFDV) or trains several models
def test_min_support_and_positives_refuse_thin_cohorts(table):
    # surface: feed .5, story .2, search .2, video .1 -> one value above 25%, no pair
    spec, results = mine_table(table, axes=["surface"], min_support=0.25, by="stats")
    assert spec.pairs == [] and "support" in results[0].reason
    # a numeric axis' cohorts are its tails, each at least min_support
    spec, _ = mine_table(table, axes=["user_value"], min_support=0.2, by="stats")
    for role in ("head", "tail"):
        assert spec.pairs[0][role]["support"] >= 0.19
    spec, _ = mine_table(table, axes=["user_value"], min_positives=10**6, by="stats")
    assert spec.pairs == []


@pytest.mark.slow  # runs Beam (TFDV) or trains several models
def test_mine_cli(tmp_path, run_cli, table):
    from c2al_tf.data import write_csv
    data = tmp_path / "d.csv"
    write_csv(str(data), 40_000, seed=2)
    code, out, err = run_cli("mine", "--data", data, "--label", "click", "--out", tmp_path / "c.json",
                             "--axes", "user_value,region", "--by", "stats")
    assert code == 0, err
    assert "user_value" in out.splitlines()[2] and CohortSpec.load(str(tmp_path / "c.json")).pairs
    code, _, err = run_cli("mine", "--data", data, "--label", "click", "--out", tmp_path / "x.json",
                           "--axes", "nope")
    assert code == 2 and "--axes names 'nope'" in err and not (tmp_path / "x.json").exists()
    code, _, err = run_cli("mine", "--data", data, "--label", "click", "--out", tmp_path / "x.json",
                           "--by", "predictions")
    assert code == 2 and "--baseline-model" in err
    code, _, err = run_cli("mine", "--data", data, "--label", "click", "--out", tmp_path / "x.json",
                           "--min-support", "0.7")
    assert code == 2 and "--min-support" in err
    code, _, err = run_cli("mine", "--data", data, "--label", "click", "--out", tmp_path / "x.json",
                           "--cross-top", "2")
    assert code == 2 and "--cross-top applies to --by stats only" in err
    code, _, err = run_cli("mine", "--data", data, "--label", "click", "--out", tmp_path / "x.json",
                           "--cross-top", "1")
    assert code == 2 and "--cross-top must be 0 (no crosses) or >= 2" in err
    code, _, err = run_cli("mine", "--data", data, "--label", "click", "--out", tmp_path / "x.json",
                           "--max-mining-rows", "10")
    assert code == 2 and "--max-mining-rows must be >= 1000" in err and not (tmp_path / "x.json").exists()


@pytest.mark.slow
def test_predictions_mode(tmp_path, run_cli, table):
    from c2al_tf.data import write_csv
    data = tmp_path / "d.csv"
    write_csv(str(data), 30_000, seed=4)
    assert run_cli("train", "--data", data, "--label", "click", "--export", tmp_path / "base", "--epochs", 1)[0] == 0
    code, out, err = run_cli("mine", "--data", data, "--label", "click", "--out", tmp_path / "c.json",
                             "--by", "predictions", "--baseline-model", tmp_path / "base",
                             "--axes", "user_value,region,bid")
    assert code == 0, err
    spec = CohortSpec.load(str(tmp_path / "c.json"))
    assert spec.doc["method"] == "predictions"


@pytest.mark.slow
def test_movielens_mining(movielens_dir, run_cli, tmp_path):
    code, out, err = run_cli("mine", "--data", movielens_dir, "--label", "rating", "--positive-label", ">=4",
                             "--out", tmp_path / "ml.json", "--max-pairs", "3")
    assert code == 0, err
    assert len(CohortSpec.load(str(tmp_path / "ml.json")).pairs) >= 1


@pytest.mark.slow  # runs Beam (TFDV) or trains several models
def test_category_with_zero_positives_and_a_label_copy_do_not_crash_tfdv():
    """TFDV asserts on weighted quantiles of a slice whose weights sum to zero (a
    category with no positive); a categorical copy of the label is such a case."""
    from c2al_tf.data import generate
    from c2al_tf.data.readers import table_from_frame

    frame = generate(3000, 0)
    frame["shop"] = "a"
    negatives = np.flatnonzero(frame["click"].to_numpy() == 0)[:100]
    frame.loc[negatives, "shop"] = "z"  # 'z': 100 rows, 0 positives
    frame["outcome"] = frame["click"].map({0: "no", 1: "yes"})
    table = table_from_frame(frame, "click")
    spec, results = mine_table(table, cross_top=0, by="stats")
    by_axis = {r.axis[0]: r for r in results}
    assert "shop" in by_axis and "outcome" in by_axis
    # the zero-positive cohort is never chosen (min positives)
    for pair in spec.pairs:
        for side in ("head", "tail"):
            assert pair[side]["predicate"] != {"feature": "shop", "in": ["z"]}


def test_weighted_counts_with_a_zero_positive_slice_are_exact():
    from c2al_tf.cohorts.binning import Binning
    from c2al_tf.data import generate
    from c2al_tf.data.readers import table_from_frame

    frame = generate(2000, 1)
    frame["shop"] = np.where(frame["click"].to_numpy() == 0, np.where(np.arange(2000) % 3 == 0, "z", "a"), "a")
    table = table_from_frame(frame, "click")
    batches = table_to_record_batches(table)
    global_stats = run_statistics(batches, global_statistics)
    binnings, axes = binnings_and_axes(global_stats, "click", axes=["shop"])
    sliced = run_statistics(batches, lambda p: cohort_statistics(p, binnings, axes, "click"))
    counts = counts_from_statistics(sliced, binnings, axes)["shop"]
    shop = axes[0]
    assert isinstance(shop, Binning)
    for k, c in counts.items():
        mask = (table.features["shop"] == shop.values[k - 1]).to_numpy() if k > 0 else None
        if mask is None:
            continue
        assert c.n == mask.sum() and c.positives == table.label[mask].sum()


def test_an_axis_with_a_single_value_is_refused(tmp_path, run_cli):
    from c2al_tf.data import generate

    frame = generate(3000, 3)
    frame["site"] = "only"
    frame.to_csv(tmp_path / "d.csv", index=False)
    code, _, err = run_cli("mine", "--data", tmp_path / "d.csv", "--label", "click", "--out", tmp_path / "c.json",
                           "--axes", "user_value,site")
    assert code == 2 and "--axes names 'site', which has a single value" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "c.json").exists()


def test_one_mining_config_for_the_command_the_component_and_the_pipeline():
    """c2al mine, c2al pipeline run and the CohortMiner take their defaults from
    MiningConfig, so the same data gives the same cohorts; an explicit 0 stays 0."""
    import inspect

    from c2al_tf.cli import build_parser
    from c2al_tf.cohorts.config import MiningConfig
    from components.cohort_miner.component import CohortMiner

    d = MiningConfig()
    mine = build_parser().parse_args(["mine", "--data", "x", "--label", "y", "--out", "o.json"])
    run = build_parser().parse_args(["pipeline", "run", "--data", "x", "--label", "y", "--root", "r"])
    component = inspect.signature(CohortMiner.__init__).parameters
    for field in ("max_pairs", "divergence", "min_support", "min_positives", "cross_top", "by"):
        assert getattr(mine, field) == getattr(run, field) == component[field].default == getattr(d, field), field
    assert mine.max_mining_rows == run.max_mining_rows == component["max_rows"].default == d.max_rows
    assert MiningConfig.from_properties({"min_positives": 0, "cross_top": None, "axes": "a,b"}) == MiningConfig(
        min_positives=0, axes=("a", "b"))


def test_identifier_columns_are_not_default_axes_but_can_be_named():
    """An id column (by the typing rule's name test) whose frequent values pass the
    support test is a conditioning feature, not a candidate axis, unless --axes
    names it."""
    import numpy as np
    import pandas as pd
    import tensorflow_data_validation as tfdv

    from c2al_tf.cohorts.miner import binnings_and_axes

    rng = np.random.default_rng(0)
    n = 4000
    frame = pd.DataFrame({"Clothing ID": rng.choice(["862", "1078", "1094"], n).astype(object),
                          "shop": rng.choice(["a", "b"], n).astype(object),
                          "price": rng.lognormal(size=n), "click": rng.integers(0, 2, n)})
    stats = tfdv.generate_statistics_from_dataframe(frame)
    binnings, axes = binnings_and_axes(stats, "click")
    assert "Clothing ID" in {b.feature for b in binnings}
    assert {a.feature for a in axes} == {"shop", "price"}
    _, named = binnings_and_axes(stats, "click", axes=["Clothing ID"])
    assert [a.feature for a in named] == ["Clothing ID"]


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["planted", "rate_shift", "interaction", "extremes", "decoys", "int_ids", "flips",
                                      "wide_flips", "lone", "null"])
def test_the_default_miner_finds_every_planted_axis_and_nothing_in_the_null_world(scenario):
    """Every generator world, mined with the defaults (200k rows, typing by the default
    rule): the top pair is the planted axis and its tails lie within 2.5 percentage
    points of the planted quantiles (2%/3% extremes included); the null world yields
    no pair."""
    from c2al_tf.data.readers import table_from_frame
    from c2al_tf.data.synthetic import generate

    truth = ground_truth(scenario)
    frame = generate(200_000, 5, scenario)
    spec, results = mine_table(table_from_frame(frame, "click", source=scenario))
    if truth.axis is None:
        assert spec.pairs == [], [(r.axis, r.z) for r in results]
        return
    assert spec.pairs, [(r.axis, r.z, r.reason) for r in results]
    pair = spec.pairs[0]
    assert pair["axis"] == [truth.axis], [(r.axis, r.z) for r in results]
    values = frame[truth.axis].to_numpy()
    low = [pair[s]["predicate"] for s in ("head", "tail") if pair[s]["predicate"]["min"] is None][0]
    high = [pair[s]["predicate"] for s in ("head", "tail") if pair[s]["predicate"]["max"] is None][0]
    if truth.tail_quantile is not None:  # "lone" plants the head alone: its counterpart may lie anywhere
        assert abs(float(np.mean(values < low["max"])) - truth.tail_quantile) <= 0.025, low
    assert abs(float(np.mean(values >= high["min"])) - (1 - truth.head_quantile)) <= 0.025, high


@pytest.mark.slow  # runs Beam (TFDV) or trains several models
def test_mine_table_gives_the_same_sample_bins_and_ranking_in_any_row_order():
    """The miner reads its rows in an order set by their content, so the same rows in
    another order give the same sample (above --max-mining-rows), the same TFDV
    quantiles (an order-dependent sketch) and the same scores to the digit. Both used
    to follow the rows' positions."""
    from c2al_tf.data.readers import table_from_frame
    from c2al_tf.data.synthetic import generate

    frame = generate(30_000, 5, "rate_shift")
    reordered = frame.iloc[np.random.default_rng(1).permutation(len(frame))].reset_index(drop=True)
    for max_rows in (20_000, 200_000):
        runs = [mine_table(table_from_frame(f, "click", source="w"), max_rows=max_rows, max_pairs=3)
                for f in (frame, reordered)]
        assert runs[0][0].pairs == runs[1][0].pairs
        scores = [sorted((str(r.axis), r.divergence, r.z) for r in results) for _, results in runs]
        assert scores[0] == scores[1]
        assert max(r.divergence for r in runs[0][1]) > 0
