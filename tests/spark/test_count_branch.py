"""Count-based branch: co-occurrence, PPMI and SVD against the seeds' worked examples and a
NumPy reference computation."""

import math

import numpy as np
import pytest
from pyspark.sql.types import DoubleType, IntegerType, StructField, StructType

from w2v_spark.count.cooccurrence import cooccurrence, distance_weights
from w2v_spark.count.ppmi import ppmi
from w2v_spark.count.svd import (
    factor_width,
    randomized_svd,
    sparse_blocks,
    word_vectors,
)
from w2v_spark.schemas import COOCCURRENCE, ENCODED

pytestmark = pytest.mark.spark


def _encoded(spark, docs):
    return spark.createDataFrame([(i, list(d)) for i, d in enumerate(docs)], ENCODED)


def _dense(frame, value, size):
    matrix = np.zeros((size, size))
    for row in frame.collect():
        matrix[row.word_id, row.context_id] = row[value]
    return matrix


def reference_counts(docs, size, window, weights):
    """Direct per-position loop: the definition, written the slow way."""
    counts = np.zeros((size, size))
    for doc in docs:
        for i, w in enumerate(doc):
            for j in range(max(0, i - window), min(len(doc), i + window + 1)):
                if j != i:
                    counts[w, doc[j]] += weights[abs(i - j) - 1]
    return counts


def reference_ppmi(counts, cds, shift):
    total = counts.sum()
    p_wc = counts / total
    p_w = counts.sum(axis=1) / total
    smoothed = counts.sum(axis=0) ** cds
    p_c = smoothed / smoothed.sum()
    with np.errstate(divide="ignore"):
        pmi = np.log(p_wc / np.outer(p_w, p_c)) - math.log(shift)
    return np.where(counts > 0, np.maximum(pmi, 0.0), 0.0)


BOB = ["bob", "dislikes", "kale", "lettuce", "likes", "pizza", "wings"]
# Seed 000's window-1 table, off-diagonal cells (its diagonal marks each word as in its own window).
BOB_TABLE = np.array([
    [1, 1, 0, 0, 1, 0, 0],
    [1, 1, 1, 1, 0, 0, 0],
    [0, 1, 1, 0, 0, 0, 0],
    [0, 1, 0, 1, 0, 0, 0],
    [1, 0, 0, 0, 1, 1, 1],
    [0, 0, 0, 0, 1, 1, 0],
    [0, 0, 0, 0, 1, 0, 1],
])


def _cosine(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_bob_likes_pizza_window_1(spark):
    ids = {w: i for i, w in enumerate(BOB)}
    sentences = ["bob likes pizza", "bob likes wings", "bob dislikes kale", "bob dislikes lettuce"]
    docs = [[ids[w] for w in s.split()] for s in sentences]
    counts = _dense(cooccurrence(_encoded(spark, docs), vocab_size=len(BOB), window=1), "count", len(BOB))
    off = ~np.eye(len(BOB), dtype=bool)
    assert np.array_equal(counts[off] > 0, BOB_TABLE[off] == 1)
    assert counts[ids["bob"], ids["likes"]] == 2  # two documents: counts, not the table's 0/1
    assert np.allclose(counts, counts.T) and np.all(np.diag(counts) == 0)
    # Similarities the diagonal cannot change.
    assert _cosine(counts[ids["lettuce"]], counts[ids["wings"]]) == 0
    assert _cosine(counts[ids["pizza"]], counts[ids["kale"]]) == 0
    # With the table's own diagonal restored, its 0.5 similarities come back.
    table = (counts > 0) + np.eye(len(BOB))
    assert _cosine(table[ids["kale"]], table[ids["lettuce"]]) == pytest.approx(0.5)
    assert _cosine(table[ids["pizza"]], table[ids["wings"]]) == pytest.approx(0.5)


def test_i_like_cats_and_dogs_window_2(spark):
    words = ["i", "like", "cats", "and", "dogs"]
    pairs = cooccurrence(_encoded(spark, [[0, 1, 2, 3, 4]]), vocab_size=5, window=2).collect()
    found = {(words[r.word_id], words[r.context_id]): r["count"] for r in pairs}
    # Seed 002's list of the counts this sentence increments, one each.
    expected = {
        ("i", "like"), ("i", "cats"),
        ("like", "i"), ("like", "cats"), ("like", "and"),
        ("cats", "i"), ("cats", "like"), ("cats", "and"), ("cats", "dogs"),
        ("and", "like"), ("and", "cats"), ("and", "dogs"),
        ("dogs", "cats"), ("dogs", "and"),
    }
    assert found == {pair: 1.0 for pair in expected}


def test_pmi_of_the_i_like_dogs_table(spark):
    # Seed 002's counts: I–like 10, I–dogs 10, like–dogs 40; PMI without smoothing (natural log).
    cells = [(0, 1, 10.0), (1, 0, 10.0), (0, 2, 10.0), (2, 0, 10.0), (1, 2, 40.0), (2, 1, 40.0)]
    table = spark.createDataFrame(cells, COOCCURRENCE)
    values = {(r.word_id, r.context_id): r.ppmi for r in ppmi(table, cds=1.0).collect()}
    assert values[(0, 1)] == pytest.approx(math.log(1.2)) and round(values[(0, 1)], 2) == 0.18
    assert values[(1, 2)] == pytest.approx(math.log(1.92)) and round(values[(1, 2)], 2) == 0.65
    assert values[(1, 0)] == values[(0, 1)] and values[(2, 1)] == values[(1, 2)]
    assert len(values) == 6
    # A shift by log k drops I–like (0.18 < log 1.5) but keeps like–dogs.
    shifted = {(r.word_id, r.context_id) for r in ppmi(table, cds=1.0, shift=1.5).collect()}
    assert shifted == {(1, 2), (2, 1)}


def _random_corpus(seed=7, size=40, docs=60):
    rng = np.random.default_rng(seed)
    # Zipf-like ids so that some pairs repeat many times and some words are rare.
    weights = 1.0 / np.arange(1, size + 1)
    return [
        rng.choice(size, size=int(rng.integers(1, 25)), p=weights / weights.sum()).tolist()
        for _ in range(docs)
    ]


@pytest.mark.parametrize(
    "window, weighting, dynamic", [(5, "uniform", False), (3, "harmonic", False), (4, "harmonic", True)]
)
def test_counts_and_ppmi_equal_the_numpy_reference(spark, window, weighting, dynamic):
    docs, size = _random_corpus(), 40
    weights = distance_weights(window, weighting, dynamic)
    table = cooccurrence(_encoded(spark, docs), vocab_size=size, window=window,
                         weighting=weighting, dynamic_window=dynamic).cache()
    expected = reference_counts(docs, size, window, weights)
    found = _dense(table, "count", size)
    if weighting == "uniform":
        assert np.array_equal(found, expected)  # exact integer counts
    else:
        assert np.allclose(found, expected, rtol=1e-12, atol=0)
    assert table.count() == np.count_nonzero(expected)

    result = ppmi(table, cds=0.75, shift=1.0)
    assert [f.name for f in result.schema] == ["word_id", "context_id", "ppmi"]
    reference = reference_ppmi(expected, 0.75, 1.0)
    assert np.allclose(_dense(result, "ppmi", size), reference, rtol=0, atol=1e-9)
    assert result.count() == np.count_nonzero(reference)
    table.unpersist()


def test_documents_are_not_windows_across_each_other(spark):
    table = cooccurrence(_encoded(spark, [[0, 1], [2, 3]]), vocab_size=4, window=5)
    pairs = {(r.word_id, r.context_id) for r in table.collect()}
    assert pairs == {(0, 1), (1, 0), (2, 3), (3, 2)}


def test_repeated_word_counts_twice_on_the_diagonal_and_min_pair_count(spark):
    table = cooccurrence(_encoded(spark, [[0, 0, 1]]), vocab_size=2, window=2)
    assert _dense(table, "count", 2).tolist() == [[2.0, 2.0], [2.0, 0.0]]
    docs = [[0, 0, 1], [0, 1], [1, 2]]  # 1–2 occurs once: dropped by min_pair_count 2
    kept = cooccurrence(_encoded(spark, docs), vocab_size=3, window=1, min_pair_count=2)
    found = {(r.word_id, r.context_id, r["count"]) for r in kept.collect()}
    assert found == {(0, 0, 2.0), (0, 1, 2.0), (1, 0, 2.0)}


def test_distance_weights():
    assert distance_weights(3) == [1.0, 1.0, 1.0]
    assert distance_weights(3, "harmonic") == [1.0, 0.5, 1 / 3]
    assert distance_weights(4, dynamic_window=True) == [1.0, 0.75, 0.5, 0.25]
    with pytest.raises(ValueError, match="weighting"):
        distance_weights(3, "linear")


MATRIX = StructType([StructField("row", IntegerType()), StructField("col", IntegerType()),
                     StructField("value", DoubleType())])


def _sparse_frame(spark, dense):
    rows, cols = np.nonzero(dense)
    entries = [(int(r), int(c), float(dense[r, c])) for r, c in zip(rows, cols, strict=True)]
    return spark.createDataFrame(entries, MATRIX).repartition(3)


def _both(spark, dense, width, partitions=2):
    """``dense`` as row blocks of A and of Aᵀ, for products with ``width`` columns."""
    frame = _sparse_frame(spark, dense)
    return (sparse_blocks(frame, dense.shape, partitions, width=width),
            sparse_blocks(frame.select("col", "row", "value"), dense.shape[::-1], partitions,
                          width=width))


def test_svd_equals_numpy_up_to_sign(spark):
    rng = np.random.default_rng(3)
    dense = rng.random((30, 24)) * (rng.random((30, 24)) < 0.3)
    matrix, transposed = _both(spark, dense, factor_width(dense.shape, 6, 20))
    u, s, vt = randomized_svd(matrix, transposed, rank=6, oversample=20, power_iterations=2, seed=5)
    matrix.unpersist()
    transposed.unpersist()
    ref_u, ref_s, ref_vt = np.linalg.svd(dense, full_matrices=False)
    assert np.allclose(s, ref_s[:6], rtol=1e-10)
    signs = np.sign(np.sum(u * ref_u[:, :6], axis=0))
    assert np.allclose(u, ref_u[:, :6] * signs, atol=1e-9)
    assert np.allclose(vt, ref_vt[:6] * signs[:, None], atol=1e-9)


def test_svd_of_a_large_sparse_matrix_finds_the_top_of_the_spectrum(spark):
    # Wider than rank + oversample, so the power iterations matter: a planted rank-5 signal.
    rng = np.random.default_rng(4)
    n = 300
    signal = rng.standard_normal((n, 5)) @ np.diag([50, 40, 30, 20, 10]) @ rng.standard_normal((5, n)) / n
    noise = rng.random((n, n)) * (rng.random((n, n)) < 0.02)
    dense = signal * (rng.random((n, n)) < 0.5) + noise
    matrix, transposed = _both(spark, dense, factor_width(dense.shape, 5, 10))
    found = {q: randomized_svd(matrix, transposed, rank=5, oversample=10, power_iterations=q, seed=1)
             for q in (0, 4)}
    matrix.unpersist()
    transposed.unpersist()
    ref_s = np.linalg.svd(dense, compute_uv=False)[:5]
    u, s, _ = found[4]
    # Measured: the top 4 agree to 2e-9 relative; the 5th, next to the noise floor, is 0.35 % low.
    assert np.allclose(s[:4], ref_s[:4], rtol=1e-6)
    assert abs(s[4] - ref_s[4]) / ref_s[4] < 0.01
    assert np.allclose(u.T @ u, np.eye(5), atol=1e-9)
    # Without power iterations the estimate is visibly worse: they are what buys the accuracy.
    error = {q: np.abs(found[q][1] - ref_s).sum() for q in found}
    assert error[0] > 10 * error[4]


def test_word_vectors_weight_the_singular_values():
    u = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert word_vectors(u, np.array([4.0, 9.0]), 0.5).tolist() == [[2.0, 0.0], [0.0, 3.0]]
    assert word_vectors(u, np.array([4.0, 9.0]), 0.0).tolist() == u.tolist()
    assert word_vectors(u, np.array([4.0, 9.0]), 0.5).dtype == np.float32


def test_row_blocks_hold_bounded_bytes_and_products_do_not_depend_on_the_cut(spark):
    # Rows as the PPMI matrix has them: the first (the most frequent words) hold most entries.
    # Cut into many row ranges (600 bytes each) or few (2 partitions), A @ X has the same bits:
    # every row is computed whole by one task, over its entries in column order.
    rng = np.random.default_rng(6)
    dense = rng.random((45, 30)) * (rng.random((45, 30)) < 0.15)
    dense[:5] = rng.random((5, 30)) + 0.1  # 150 of the 325 entries in the first 5 rows
    dense[20:23] = 0.0  # rows without entries
    frame = _sparse_frame(spark, dense)
    width = 7
    many = sparse_blocks(frame, dense.shape, partitions=2, width=width, block_bytes=600)
    few = sparse_blocks(frame, dense.shape, partitions=2, width=width, block_bytes=1 << 30)
    try:
        blocks = many.blocks()
        # A block's entries (12 bytes) and product rows (8 bytes × width): none over its share
        # and one row (a full row: 30 × 12 + 7 × 8 = 416 bytes). Rows of equal height would put
        # the first 5 rows' 150 entries (1,800 bytes) in one.
        held = [block.nnz * 12 + block.shape[0] * width * 8 for _, block in blocks]
        total = np.count_nonzero(dense) * 12 + 45 * width * 8
        assert len(blocks) >= total // 600 and max(held) <= total / len(blocks) + 416, held
        assert few.count() == 2
        starts = [start for start, _ in blocks]
        heights = [block.shape[0] for _, block in blocks]
        assert starts[0] == 0 and all(a + h <= b for a, h, b in zip(starts, heights, starts[1:], strict=False))
        assert all(block.shape[1] == 30 for _, block in blocks)
        stacked = np.zeros_like(dense)
        for start, block in blocks:
            stacked[start : start + block.shape[0]] = block.toarray()
        np.testing.assert_array_equal(stacked, dense)
        dense_x = rng.standard_normal((30, width))
        product = many.multiply(dense_x, piece_elements=width * 3)  # pieces of 3 rows
        assert product.tobytes() == few.multiply(dense_x).tobytes()
        np.testing.assert_allclose(product, dense @ dense_x, rtol=1e-12)
    finally:
        many.unpersist()
        few.unpersist()
