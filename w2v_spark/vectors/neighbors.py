"""Nearest neighbours of every word (or of a word list), computed blockwise in Spark.

The unit-normalised vectors are cut into blocks of ``block_size`` rows. Every (query block,
candidate block) pair is one task: a ``block × block`` product and a partial top-k per query row;
partial results of one query block are merged by ``reduceByKey``. No task ever holds more than two
blocks and their product, so the vocabulary is bounded by the cluster, not by one executor's
memory for a ``V × V`` product.
"""

from __future__ import annotations

import numpy as np
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from w2v_spark.vectors.embeddings import unit_rows


def _block(rows) -> tuple[np.ndarray, list[str], np.ndarray]:
    """``(id, word, vector)`` rows → ``(ids (n,) int64, words, unit (n, d) float32)``, by id."""
    rows = sorted(rows, key=lambda r: r[0])
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    _, unit = unit_rows(np.array([r[2] for r in rows], dtype=np.float32))
    return ids, [r[1] for r in rows], unit


def top_k(scores: np.ndarray, candidates: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the ``k`` best ``scores`` (ties: smaller candidate id first).

    Args:
        scores: ``(n, m) float32``, ``-inf`` for excluded cells.
        candidates: ids of the columns, ``(m,)`` shared by all rows or ``(n, m)`` per row, int64.
    Returns:
        ``(ids (n, k') int64, scores (n, k') float32)``, ``k' = min(k, m)``, best first.
    """
    candidates = np.broadcast_to(candidates, scores.shape)
    k = min(k, scores.shape[1])
    if k < scores.shape[1]:
        chosen = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        chosen = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
    picked = np.take_along_axis(scores, chosen, axis=1)
    ids = np.take_along_axis(candidates, chosen, axis=1)
    order = np.lexsort((ids, -picked), axis=1)
    return np.take_along_axis(ids, order, axis=1), np.take_along_axis(picked, order, axis=1)


def nearest_neighbors(spark: SparkSession, embeddings: DataFrame, *, topn: int = 10,
                      block_size: int = 4096, words: list[str] | None = None) -> DataFrame:
    """Top-``topn`` cosine neighbours (the word itself excluded).

    Input: ``schemas.EMBEDDINGS``. ``words`` restricts the queried words (all when None); the
    candidates are always the whole vocabulary.
    Output schema (:data:`~w2v_spark.schemas.NEIGHBORS`)::

        word      string
        neighbor  string
        rank      int      1 = closest
        cosine    float
    """
    if topn < 1 or block_size < 1:
        raise ValueError("topn and block_size must be ≥ 1")
    rows = embeddings.select("id", "word", "vector").rdd.map(tuple)

    def blocks(source):
        keyed = source.map(lambda r: (r[0] // block_size, r))
        count = max(1, keyed.keys().distinct().count())
        return keyed.groupByKey(numPartitions=count).mapValues(_block)

    candidates = blocks(rows)
    if words is not None:
        wanted = set(words)
        queries = blocks(rows.filter(lambda r: r[1] in wanted))
    else:
        queries = candidates

    def partial(pair):
        (q_key, (q_ids, q_words, q_unit)), (_, (c_ids, _, c_unit)) = pair
        scores = q_unit @ c_unit.T
        scores[q_ids[:, None] == c_ids[None, :]] = -np.inf  # never a word's own neighbour
        return q_key, (q_words, *top_k(scores, c_ids, topn))

    def merge(a, b):
        q_words, ids_a, best_a = a
        _, ids_b, best_b = b
        ids, best = top_k(np.concatenate([best_a, best_b], axis=1),
                          np.concatenate([ids_a, ids_b], axis=1), topn)
        return q_words, ids, best

    def emit(item):
        _, (q_words, ids, best) = item
        for row, word in enumerate(q_words):
            for rank, (other, score) in enumerate(zip(ids[row], best[row], strict=True), start=1):
                if np.isfinite(score):
                    yield word, int(other), rank, float(score)

    found = spark.createDataFrame(
        queries.cartesian(candidates).map(partial).reduceByKey(merge).flatMap(emit),
        "word string, neighbor_id long, rank int, cosine float",
    )
    names = F.broadcast(embeddings.select(F.col("id").cast("long").alias("neighbor_id"),
                                          F.col("word").alias("neighbor")))
    return found.join(names, "neighbor_id").select("word", "neighbor", "rank", "cosine")
