"""The training loop: the corpus packed for training, the model's start, and its epochs, one after
the other, with checkpoints and resume.

The encoded corpus is packed once into one pair of compact integer arrays per partition and
cached; every epoch then runs as one Spark job over it (:mod:`w2v_spark.sgns.epochs`): the model
leaves the driver once (a broadcast, or in local mode a file) and comes back once per epoch.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa
from pyspark import RDD, StorageLevel
from pyspark.sql import DataFrame, SparkSession

from w2v_spark.config import DebugConfig, SgnsConfig
from w2v_spark.corpus.encode import batch_encoder, encode
from w2v_spark.corpus.packed import pack_records
from w2v_spark.errors import ConfigError, TrainingError
from w2v_spark.sgns.averaging import AveragingEpochs
from w2v_spark.sgns.checkpoint import Checkpoints
from w2v_spark.sgns.epochs import StratifiedEpochs
from w2v_spark.sgns.kernel import TrainSettings
from w2v_spark.sgns.plan import EpochPlan, Split, Tables
from w2v_spark.spark.session import local_master

log = logging.getLogger(__name__)

PACKED_SCHEMA = "ids binary, offsets binary"

#: Largest vocabulary ``[sgns] loss = "softmax"`` accepts: a step holds a (pairs × V) score matrix.
SOFTMAX_MAX_VOCAB = 5000


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


def spread_documents(documents: DataFrame, partitions: int) -> DataFrame:
    """The layout :func:`pack_corpus` trains on: documents hash-partitioned by ``doc_id`` into
    ``partitions`` (so each partition sees the whole corpus's mix of topics), in ``doc_id`` order
    within a partition — a function of the documents alone, since ``doc_id`` hashes their tokens
    (:func:`~w2v_spark.corpus.tokenize.split_long_documents`). Any DataFrame with a ``doc_id`` column and
    a ``tokens`` or ``ids`` column, which orders documents that share a ``doc_id`` (equal ones,
    or a 64-bit hash collision)."""
    content = "tokens" if "tokens" in documents.columns else "ids"
    return documents.repartition(partitions, "doc_id").sortWithinPartitions("doc_id", content)


def pack_corpus(documents: DataFrame, words: Sequence[str], partitions: int, *,
                spread: bool = False) -> RDD:
    """Encode tokenized ``documents`` (``schemas.TOKENS``) with the vocabulary ``words`` (in id
    order) and pack each partition of :func:`spread_documents`'s layout into ``(ids, offsets)``
    records of NumPy arrays, each of about :data:`~w2v_spark.corpus.packed.RECORD_TOKENS` tokens (whole documents,
    in order). The RDD is persisted on disk; the caller unpersists it.

    With ``spread``, ``documents`` are already in that layout for ``partitions`` (encoding keeps
    the order and drops only whole documents): one Arrow pass per partition encodes and packs,
    with no shuffle. Otherwise the encoded documents (smaller than their tokens) are spread first.
    Both give the same arrays.
    """
    if spread:
        # One Python worker per task instead of a chain of two, and one trip of the corpus
        # between the JVM and Python fewer (bench-en, cold: 5.1-5.5 s → 4.0-4.2 s).
        encode_batches = batch_encoder(words)

        def encode_and_pack(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            return _pack_batches(encode_batches(batches))

        packed = documents.select("doc_id", "tokens").mapInArrow(encode_and_pack, PACKED_SCHEMA)
    else:
        packed = spread_documents(documents.transform(encode, words=words), partitions) \
            .mapInArrow(_pack_batches, PACKED_SCHEMA)
    # DataFrame.rdd plans the query (0.1-0.6 s on bench-en): once, and the check reads its result.
    packed = packed.rdd.mapPartitions(pack_records)
    if packed.getNumPartitions() != partitions:
        raise ValueError(f"pack_corpus(spread={spread}): expected {partitions} partitions, "
                         f"got {packed.getNumPartitions()}")
    # On disk only: unrolled into the JVM's memory store, the records of a 300 M-word corpus
    # (650 MB per partition, 16 MB arrays each) exhausted a 1 GB heap; every epoch reads them
    # back from the local disk (and the OS's page cache).
    return packed.persist(StorageLevel.DISK_ONLY)


def initial_model(vocab_size: int, vector_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """word2vec's start: input vectors uniform in ``±0.5 / vector_size``, output vectors zero.

    Returns ``(syn0, syn1)``, both ``(vocab_size, vector_size) float32``.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5EED]))
    syn0 = (rng.random((vocab_size, vector_size), dtype=np.float32) - 0.5) / vector_size
    return syn0, np.zeros((vocab_size, vector_size), dtype=np.float32)


def threads_per_trainer(spark: SparkSession, config: SgnsConfig) -> int:
    """``sgns.threads``, with ``"auto"`` read from the session's ``spark.task.cpus``."""
    return config.resolved_threads(int(spark.conf.get("spark.task.cpus", "1")))


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


def train_sgns(
    spark: SparkSession,
    corpus: RDD,
    *,
    tables: Tables,
    config: SgnsConfig,
    partitions: int,
    checkpoints: Checkpoints | None = None,
    resume: bool = False,
    debug: DebugConfig | None = None,
) -> tuple[np.ndarray, list[EpochReport]]:
    """Run ``config.epochs`` epochs over the cached ``corpus``.

    With one partition both modes are plain sequential SGD over the corpus; with more,
    ``config.resolved_partition_mode()`` picks :class:`~w2v_spark.sgns.epochs.StratifiedEpochs` or
    :class:`~w2v_spark.sgns.epochs.AveragingEpochs`.

    With ``checkpoints`` the model is saved after every epoch (in the background; call
    ``checkpoints.wait()`` before relying on the last one); with ``resume`` training continues
    after the newest checkpoint (same bits as an uninterrupted run).

    Returns:
        ``(syn0 (vocab_size, vector_size) float32, per-epoch reports)``.
    """
    sc = spark.sparkContext
    debug = debug or DebugConfig()
    vocab_size = tables.counts.shape[0]
    syn0, syn1 = initial_model(vocab_size, config.vector_size, config.seed)
    settings = TrainSettings(
        window=config.window, negative=config.negative, alpha=config.alpha,
        min_alpha=config.min_alpha, batch_centers=config.batch_centers,
        kernel=config.resolved_kernel(), model=config.model, loss=config.loss,
        threads=threads_per_trainer(spark, config),
    )
    if config.loss == "softmax" and vocab_size > SOFTMAX_MAX_VOCAB:
        raise ConfigError(
            f"config sgns.loss: 'softmax' costs O(vocabulary) per pair and is refused above "
            f"{SOFTMAX_MAX_VOCAB:,} words (this vocabulary has {vocab_size:,}); use "
            "'negative_sampling' or raise vocab.min_count"
        )
    config.check_partitions(partitions)
    mode = config.resolved_partition_mode()
    log.info("training with the %s kernel, %s, %d thread%s per partition", settings.kernel,
             f"{partitions} partitions, {mode}" if partitions > 1 else "1 partition",
             settings.threads, "" if settings.threads == 1 else "s")
    if partitions > 1 and config.partition_mode == "auto" and mode == "averaging":
        log.info("sgns.partition_mode 'auto': %s trains by averaging partition models (stratified "
                 "blocks cannot split its windows)", "CBOW" if config.model == "cbow" else
                 "the full softmax")
    stratified = mode == "stratified" and partitions > 1
    broadcast_tables = sc.broadcast(tables)
    # local[*]: the cores of this machine, where the driver and its executors run.
    local = local_master(sc.master, dict(sc.getConf().getAll()),
                         cores=lambda: len(os.sched_getaffinity(0)))
    runner = (StratifiedEpochs(sc, corpus, broadcast_tables, local=local)
              if stratified else AveragingEpochs(sc, corpus, broadcast_tables))
    reports: list[EpochReport] = []
    first_epoch = 0
    if resume and checkpoints is not None:
        found = checkpoints.latest()
        if found is None:
            log.info("--resume: no checkpoint in %s, starting from epoch 1", checkpoints.root)
        else:
            first_epoch, syn0, syn1, done = found
            reports = [EpochReport(**r) for r in done]
            log.info("resuming after epoch %d from %s", first_epoch, checkpoints.root)
    def plan_of(epoch: int) -> EpochPlan | None:
        if epoch >= config.epochs:
            return None
        return EpochPlan(settings=settings, seed=config.seed, epoch=epoch,
                         epochs=config.epochs, partitions=partitions,
                         rounds=config.rounds(partitions) if stratified else 1,
                         fail_task_once=debug.failing_task())

    started = time.perf_counter()
    try:
        for epoch in range(first_epoch, config.epochs):
            t0 = time.perf_counter()
            sc.setJobDescription(f"epoch {epoch + 1}/{config.epochs}: training")
            split = Split()
            raw, trained, pairs, loss = runner.run(syn0, syn1, plan_of(epoch), split,
                                                   ahead=plan_of(epoch + 1))
            sc.setJobDescription(None)
            if not (np.isfinite(syn0).all() and np.isfinite(syn1).all()):
                raise TrainingError(
                    f"training diverged in epoch {epoch + 1}: vectors contain NaN or Inf; "
                    f"lower sgns.alpha (now {config.alpha})"
                )
            seconds = time.perf_counter() - t0
            reports.append(EpochReport(
                epoch=epoch + 1, loss=float(loss), loss_per_pair=float(loss / max(pairs, 1)),
                pairs=int(pairs), raw_words=int(raw), trained_words=int(trained),
                seconds=round(seconds, 3), words_per_sec=raw / max(seconds, 1e-9),
                **{f"{k}_seconds": split.rounded().get(k, 0.0) for k in ("broadcast", "train", "merge")},
            ))
            if checkpoints is not None:
                checkpoints.save_in_background(epoch + 1, syn0, syn1, reports_as_dicts(reports))
            if debug.fail_after_epoch == epoch + 1:
                raise TrainingError(f"debug.fail_after_epoch: stopping after epoch {epoch + 1}")
            elapsed = time.perf_counter() - started
            eta = elapsed / (epoch + 1 - first_epoch) * (config.epochs - epoch - 1)
            log.info(
                "epoch %d/%d: loss %.4f per pair, %.0f words/s, elapsed %.1fs, ETA %.0fs",
                epoch + 1, config.epochs, reports[-1].loss_per_pair, reports[-1].words_per_sec,
                elapsed, eta,
            )
    except BaseException:
        if checkpoints is not None:
            # The last finished epoch's checkpoint is what --resume needs: let it land.
            checkpoints.wait()
        raise
    finally:
        runner.close()
        broadcast_tables.destroy()
    # On success the last checkpoint may still be being written: the caller waits for it
    # (Checkpoints.wait) before it commits, so that the write overlaps with writing the outputs.
    return syn0, reports


def reports_as_dicts(reports: list[EpochReport]) -> list[dict]:
    return [asdict(r) for r in reports]
