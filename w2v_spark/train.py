"""Distributed skip-gram training: the only module that touches RDDs and broadcasts.

The encoded corpus is packed once into one pair of compact integer arrays per partition and
cached. Each epoch the driver broadcasts the model, every partition trains a private copy with the
NumPy kernel (:mod:`w2v_spark.sgns`) and returns only the rows it touched, and the driver merges
them (:mod:`w2v_spark.merge`) in partition order.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa
from pyspark import RDD, StorageLevel
from pyspark.sql import DataFrame, SparkSession

from w2v_spark.config import SgnsConfig
from w2v_spark.errors import TrainingError
from w2v_spark.merge import RowUpdate, merge_updates
from w2v_spark.sampling import NoiseTable
from w2v_spark.sgns import PartitionStats, TrainSettings, train_partition

log = logging.getLogger(__name__)

PACKED_SCHEMA = "ids binary, offsets binary"


def _pack_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """``(doc_id, ids list<int32>)`` Arrow batches → one row of raw ``int32`` ids and ``int64``
    document offsets per batch."""
    for batch in batches:
        lists = batch.column("ids")
        values = lists.flatten().to_numpy().astype(np.int32, copy=False)
        raw_offsets = lists.offsets.to_numpy().astype(np.int64)
        offsets = raw_offsets - raw_offsets[0]
        yield pa.RecordBatch.from_pydict(
            {"ids": [values.tobytes()], "offsets": [offsets.tobytes()]},
            schema=pa.schema([("ids", pa.binary()), ("offsets", pa.binary())]),
        )


def _concatenate(rows) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """All packed rows of a partition → one ``(ids (n,) int32, offsets (docs + 1,) int64)``."""
    id_parts, offset_parts, base = [], [np.zeros(1, dtype=np.int64)], 0
    for row in rows:
        ids = np.frombuffer(row.ids, dtype=np.int32)
        offsets = np.frombuffer(row.offsets, dtype=np.int64)
        id_parts.append(ids)
        offset_parts.append(offsets[1:] + base)
        base += ids.shape[0]
    ids = np.concatenate(id_parts) if id_parts else np.zeros(0, dtype=np.int32)
    yield ids, np.concatenate(offset_parts)


def pack_corpus(encoded: DataFrame, partitions: int) -> RDD:
    """Spread documents over ``partitions`` by a hash of ``doc_id`` (so each partition sees the
    whole corpus's mix of topics), fix their order within a partition, and pack each partition into
    one ``(ids, offsets)`` pair of NumPy arrays. The RDD is persisted; the caller unpersists it."""
    packed = (
        encoded.repartition(partitions, "doc_id")
        .sortWithinPartitions("doc_id")
        .mapInArrow(_pack_batches, PACKED_SCHEMA)
    )
    return packed.rdd.mapPartitions(_concatenate).persist(StorageLevel.MEMORY_AND_DISK)


def initial_model(vocab_size: int, vector_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """word2vec's start: input vectors uniform in ``±0.5 / vector_size``, output vectors zero.

    Returns ``(syn0, syn1)``, both ``(vocab_size, vector_size) float32``.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5EED]))
    syn0 = (rng.random((vocab_size, vector_size), dtype=np.float32) - 0.5) / vector_size
    return syn0, np.zeros((vocab_size, vector_size), dtype=np.float32)


@dataclass(frozen=True)
class EpochReport:
    epoch: int
    loss: float
    loss_per_pair: float
    pairs: int
    raw_words: int
    trained_words: int
    seconds: float
    words_per_sec: float
    broadcast_seconds: float
    train_seconds: float
    merge_seconds: float


def _train_task(partition, rows, *, model, tables, settings, seed, epoch, epochs):
    """Executor side: train a private copy of the broadcast model on this partition's arrays."""
    syn0_start, syn1_start = model.value
    noise, keep_probability = tables.value
    syn0, syn1 = syn0_start.copy(), syn1_start.copy()
    stats = PartitionStats()
    for ids, offsets in rows:
        stats = train_partition(
            syn0, syn1, ids, offsets,
            keep_probability=keep_probability, noise=noise, settings=settings,
            progress=(epoch / epochs, (epoch + 1) / epochs),
            rng=np.random.default_rng(np.random.SeedSequence([seed, epoch, partition])),
        )
    if stats.input_touches.size == 0:  # empty partition
        return
    yield (
        partition,
        (stats.raw_words, stats.trained_words, stats.pairs, stats.loss),
        RowUpdate.from_matrices(syn0_start, syn0, stats.input_touches),
        RowUpdate.from_matrices(syn1_start, syn1, stats.output_touches),
    )


def train_sgns(
    spark: SparkSession,
    corpus: RDD,
    *,
    noise: NoiseTable,
    keep_probability: np.ndarray,
    config: SgnsConfig,
    raw_words: int,
) -> tuple[np.ndarray, list[EpochReport]]:
    """Run ``config.epochs`` rounds of train-then-average over the cached ``corpus``.

    Args:
        corpus: RDD from :func:`pack_corpus`.
        noise: alias table over the vocabulary.
        keep_probability: ``(vocab_size,) float32`` subsampling keep chance per word id.
        raw_words: in-vocabulary tokens per epoch (for the log's ETA).

    Returns:
        ``(syn0 (vocab_size, vector_size) float32, per-epoch reports)``.
    """
    sc = spark.sparkContext
    vocab_size = keep_probability.shape[0]
    syn0, syn1 = initial_model(vocab_size, config.vector_size, config.seed)
    settings = TrainSettings(
        window=config.window, negative=config.negative, alpha=config.alpha,
        min_alpha=config.min_alpha, batch_centers=config.batch_centers,
    )
    tables = sc.broadcast((noise, keep_probability))
    reports: list[EpochReport] = []
    started = time.perf_counter()
    try:
        for epoch in range(config.epochs):
            reports.append(_run_epoch(sc, corpus, syn0, syn1, tables, settings, config, epoch))
            report = reports[-1]
            elapsed = time.perf_counter() - started
            eta = elapsed / (epoch + 1) * (config.epochs - epoch - 1)
            log.info(
                "epoch %d/%d: loss %.4f per pair, %.0f words/s, elapsed %.1fs, ETA %.0fs",
                epoch + 1, config.epochs, report.loss_per_pair, report.words_per_sec, elapsed, eta,
            )
    finally:
        tables.destroy()
    return syn0, reports


def _run_epoch(sc, corpus, syn0, syn1, tables, settings, config, epoch) -> EpochReport:
    t0 = time.perf_counter()
    model = sc.broadcast((syn0, syn1))
    t1 = time.perf_counter()
    sc.setJobDescription(f"epoch {epoch + 1}/{config.epochs}: training")
    task = functools.partial(_train_task, model=model, tables=tables, settings=settings,
                 seed=config.seed, epoch=epoch, epochs=config.epochs)
    results = sorted(corpus.mapPartitionsWithIndex(task).collect(), key=lambda r: r[0])
    sc.setJobDescription(None)
    t2 = time.perf_counter()
    model.destroy()
    merge_updates(syn0, [r[2] for r in results])
    merge_updates(syn1, [r[3] for r in results])
    if not (np.isfinite(syn0).all() and np.isfinite(syn1).all()):
        raise TrainingError(
            f"training diverged in epoch {epoch + 1}: vectors contain NaN or Inf; "
            f"lower sgns.alpha (now {config.alpha})"
        )
    t3 = time.perf_counter()
    raw, trained, pairs, loss = (sum(r[1][i] for r in results) for i in range(4))
    return EpochReport(
        epoch=epoch + 1, loss=float(loss), loss_per_pair=float(loss / max(pairs, 1)),
        pairs=int(pairs), raw_words=int(raw), trained_words=int(trained), seconds=t3 - t0,
        words_per_sec=raw / max(t3 - t0, 1e-9), broadcast_seconds=t1 - t0,
        train_seconds=t2 - t1, merge_seconds=t3 - t2,
    )


def reports_as_dicts(reports: list[EpochReport]) -> list[dict]:
    return [asdict(r) for r in reports]
