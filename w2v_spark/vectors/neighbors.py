"""Nearest neighbours of every word (or of a word list), computed blockwise in Spark, with
DataFrame operations only (so it runs under Spark Connect as in a classic session).

The unit-normalised vectors are cut into blocks of ``block_size`` rows (one Arrow record per
block). Every (query block, candidate block) pair of a cross join is one row: a
``block × block`` product and a partial top-k per query row; the partial results of one query
block are merged in one group. No task ever holds more than two blocks and their product, so
the vocabulary is bounded by the cluster, not by one executor's memory for a ``V × V`` product.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from w2v_spark.vectors.embeddings import unit_rows

_BLOCK = "block long, ids binary, words array<string>, unit binary, dim int"
_PARTIAL = "block long, words array<string>, ids binary, cosines binary, k int"
_PARTIAL_SCHEMA = pa.schema([("block", pa.int64()), ("words", pa.list_(pa.string())),
                             ("ids", pa.binary()), ("cosines", pa.binary()), ("k", pa.int32())])
_FOUND = "word string, neighbor_id long, rank int, cosine float"


def _pack_blocks(table: pa.Table) -> pa.Table:
    """One block's ``(block, id, word, vector)`` rows → one ``_BLOCK`` row, ordered by id:
    ids as int64 bytes, unit vectors as float32 bytes."""
    table = table.sort_by("id")
    ids = table.column("id").to_numpy().astype(np.int64)
    vectors = table.column("vector").combine_chunks()
    dim = len(vectors[0]) if len(vectors) else 0
    flat = vectors.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
    _, unit = unit_rows(flat.reshape(len(ids), dim))
    return pa.table({"block": pa.array([table.column("block")[0].as_py()], pa.int64()),
                     "ids": pa.array([ids.tobytes()], pa.binary()),
                     "words": pa.array([table.column("word").to_pylist()],
                                       pa.list_(pa.string())),
                     "unit": pa.array([np.ascontiguousarray(unit).tobytes()], pa.binary()),
                     "dim": pa.array([dim], pa.int32())})


def _unpack(ids: bytes, unit: bytes, dim: int) -> tuple[np.ndarray, np.ndarray]:
    ids = np.frombuffer(ids, np.int64)
    return ids, np.frombuffer(unit, np.float32).reshape(ids.shape[0], dim)


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
    """Top-``topn`` cosine neighbours (the word itself excluded). ``spark`` is not used (the
    DataFrame carries its session); it stays for callers of the earlier signature.

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
    rows = embeddings.select(F.floor(F.col("id") / block_size).cast("long").alias("block"),
                             F.col("id").cast("long").alias("id"), "word", "vector")
    candidates = rows.groupBy("block").applyInArrow(_pack_blocks, _BLOCK)
    if words is not None:
        queries = rows.where(F.col("word").isin(list(dict.fromkeys(words)))) \
            .groupBy("block").applyInArrow(_pack_blocks, _BLOCK)
    else:
        queries = candidates
    pairs = queries.select(*(F.col(c).alias(f"q_{c}") for c in ("block", "ids", "words", "unit",
                                                                  "dim"))) \
        .crossJoin(candidates.select(F.col("ids").alias("c_ids"), F.col("unit").alias("c_unit")))

    def partial(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for row in batch.to_pylist():
                q_ids, q_unit = _unpack(row["q_ids"], row["q_unit"], row["q_dim"])
                c_ids, c_unit = _unpack(row["c_ids"], row["c_unit"], row["q_dim"])
                scores = q_unit @ c_unit.T
                scores[q_ids[:, None] == c_ids[None, :]] = -np.inf  # never a word's own neighbour
                ids, best = top_k(scores, c_ids, topn)
                yield pa.RecordBatch.from_pylist(
                    [{"block": row["q_block"], "words": row["q_words"], "ids": ids.tobytes(),
                      "cosines": best.astype(np.float32).tobytes(), "k": ids.shape[1]}],
                    schema=_PARTIAL_SCHEMA)

    def merge(table: pa.Table) -> pa.Table:
        # One query block's partial top-k against every candidate block, in any order: top_k
        # breaks ties by id, so the merged result is the same whatever the order.
        words = table.column("words")[0].as_py()
        n = len(words)
        ids = np.concatenate([np.frombuffer(b, np.int64).reshape(n, k) for b, k in
                              zip(table.column("ids").to_pylist(), table.column("k").to_pylist(),
                                  strict=True)], axis=1)
        best = np.concatenate([np.frombuffer(b, np.float32).reshape(n, k) for b, k in
                               zip(table.column("cosines").to_pylist(),
                                   table.column("k").to_pylist(), strict=True)], axis=1)
        ids, best = top_k(best, ids, topn)
        keep = np.isfinite(best)
        rows_of = np.repeat(np.arange(n), ids.shape[1]).reshape(ids.shape)
        ranks = np.tile(np.arange(1, ids.shape[1] + 1, dtype=np.int32), (n, 1))
        return pa.table({"word": pa.array(np.asarray(words, dtype=object)[rows_of[keep]],
                                          pa.string()),
                         "neighbor_id": pa.array(ids[keep], pa.int64()),
                         "rank": pa.array(ranks[keep], pa.int32()),
                         "cosine": pa.array(best[keep], pa.float32())})

    found = pairs.mapInArrow(partial, _PARTIAL).groupBy("block").applyInArrow(merge, _FOUND)
    names = F.broadcast(embeddings.select(F.col("id").cast("long").alias("neighbor_id"),
                                          F.col("word").alias("neighbor")))
    return found.join(names, "neighbor_id").select("word", "neighbor", "rank", "cosine")
