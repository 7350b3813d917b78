"""The training loop: the model's start and its epochs, one after the other, with checkpoints and
resume, over the packed corpus (:mod:`w2v_spark.corpus.pack`).

Stratified training keeps the model on the executors, in files on the run's storage
(:mod:`w2v_spark.sgns.resident_epochs`), on every master; averaging
(:mod:`w2v_spark.sgns.averaging`) and one partition keep it on the driver between epochs. Both
run in a Spark Connect session too.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa
from pyspark.sql import SparkSession

from w2v_spark.config import DebugConfig, SgnsConfig
from w2v_spark.corpus.pack import PackedCorpus
from w2v_spark.errors import ConfigError, TrainingError
from w2v_spark.sgns.averaging import AveragingEpochs
from w2v_spark.sgns.checkpoint import Checkpoints
from w2v_spark.sgns.kernel import TrainSettings
from w2v_spark.sgns.plan import EpochPlan, Split, Tables
from w2v_spark.sgns.resident_epochs import ResidentEpochs
from w2v_spark.sgns.slices import IdRanges, initial_rows
from w2v_spark.spark.context import Shared, describe, is_connect
from w2v_spark.spark.files import FileSystem
from w2v_spark.vectors.word2vec_format import embeddings_part

log = logging.getLogger(__name__)

#: Largest vocabulary ``[sgns] loss = "softmax"`` accepts: a step holds a (pairs × V) score matrix.
SOFTMAX_MAX_VOCAB = 5000


def initial_model(vocab_size: int, vector_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """word2vec's start: input vectors uniform in ``±0.5 / vector_size``, output vectors zero
    (the rows executor-resident training draws, :func:`~w2v_spark.sgns.slices.initial_rows`).

    Returns ``(syn0, syn1)``, both ``(vocab_size, vector_size) float32``.
    """
    syn0 = initial_rows(0, vocab_size, vector_size, seed)
    return syn0, np.zeros((vocab_size, vector_size), dtype=np.float32)


class TrainedModel:
    """What training leaves: the input vectors on the driver (``vectors``), or, after
    executor-resident training (``resident``), in slice files that the executors write out."""

    def __init__(self, vectors: np.ndarray | None = None,
                 resident: ResidentEpochs | None = None):
        self._vectors, self.resident = vectors, resident

    def vectors(self) -> np.ndarray:
        """``(vocab_size, vector_size) float32`` on this machine."""
        if self._vectors is None:
            self._vectors = self.resident.vectors()
        return self._vectors

    @property
    def on_driver(self) -> bool:
        return self._vectors is not None

    def write_embeddings(self, words: Sequence[str] | pa.StringArray, counts: np.ndarray, path: str,
                         parts: int) -> None:
        """``path`` as ``schemas.EMBEDDINGS`` Parquet, rows in id order within and across
        ``parts`` files of consecutive id ranges (:class:`~w2v_spark.sgns.slices.IdRanges`),
        then ``_SUCCESS``: written here, or (executor-resident training) by the executors, one
        file each — the same bytes either way."""
        if not self.on_driver:
            self.resident.write_embeddings(words, counts, path)
            return
        if not np.isfinite(self._vectors).all():
            raise TrainingError("the vectors contain NaN or Inf; nothing was written")
        bounds = IdRanges(len(words), parts).bounds
        counts = np.asarray(counts, dtype=np.int64)
        for part, (lo, hi) in enumerate(itertools.pairwise(bounds)):
            embeddings_part(path, part, words[lo:hi], counts[lo:hi], self._vectors[lo:hi], int(lo))
        FileSystem(path).write_bytes(f"{path}/_SUCCESS", iter([b""]))

    def close(self) -> None:
        """Delete the slice files (executor-resident training)."""
        if self.resident is not None:
            self.resident.close()


def model_on_executors(config: SgnsConfig, partitions: int) -> bool:
    """Whether training keeps the model on the executors: stratified with several partitions."""
    return config.resolved_partition_mode() == "stratified" and partitions >= 2


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
    corpus: PackedCorpus,
    *,
    tables: Tables,
    config: SgnsConfig,
    partitions: int,
    checkpoints: Checkpoints | None = None,
    resume: bool = False,
    debug: DebugConfig | None = None,
    work: str | None = None,
) -> tuple[TrainedModel, list[EpochReport]]:
    """Run ``config.epochs`` epochs over the packed ``corpus``.

    With one partition both modes are plain sequential SGD over the corpus; with more,
    ``config.resolved_partition_mode()`` picks stratified training or
    :class:`~w2v_spark.sgns.averaging.AveragingEpochs`. Stratified training keeps the model on
    the executors (:class:`~w2v_spark.sgns.resident_epochs.ResidentEpochs`, files under
    ``work``, or under ``checkpoints.root``).

    With ``checkpoints`` the model is saved after every epoch (the driver's copy in the
    background: call ``checkpoints.wait()`` before relying on the last one); with ``resume``
    training continues after the newest checkpoint (same bits as an uninterrupted run).

    ``work``: a directory for this run alone (deleted when training or the model is done with
    it), on storage every executor reaches unless the master is local; the checkpoints' root
    when there are checkpoints. Required over Spark Connect (the tables every task reads are
    files there).

    Returns:
        ``(the trained model, per-epoch reports)``.
    """
    debug = debug or DebugConfig()
    vocab_size = tables.counts.shape[0]
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
    # Stratified over several partitions is exactly when the model stays on the executors.
    resident = model_on_executors(config, partitions)
    log.info("training with the %s kernel, %s, %d thread%s per partition%s", settings.kernel,
             f"{partitions} partitions, {mode}" if partitions > 1 else "1 partition",
             settings.threads, "" if settings.threads == 1 else "s",
             ", the model on the executors" if resident else "")
    if partitions > 1 and config.partition_mode == "auto" and mode == "averaging":
        log.info("sgns.partition_mode 'auto': %s trains by averaging partition models (stratified "
                 "blocks cannot split its windows)", "CBOW" if config.model == "cbow" else
                 "the full softmax")

    def plan_of(epoch: int) -> EpochPlan | None:
        if epoch >= config.epochs:
            return None
        return EpochPlan(settings=settings, seed=config.seed, epoch=epoch,
                         epochs=config.epochs, partitions=partitions,
                         rounds=config.rounds(partitions) if resident else 1,
                         fail_task_once=debug.failing_task())

    shared_root = checkpoints.root if checkpoints is not None else work
    if shared_root is None and is_connect(spark):
        raise ConfigError("training over Spark Connect needs a directory that every executor "
                          "reaches (the run's output, or spark.checkpoint.dir)")
    broadcast_tables = Shared(spark, tables, shared_root)
    try:
        if resident:
            return _train_resident(spark, corpus, broadcast_tables, table=tables, config=config,
                                   plan_of=plan_of, checkpoints=checkpoints, resume=resume,
                                   debug=debug, work=work)
        runner = AveragingEpochs(spark, corpus, broadcast_tables, work=shared_root)
        syn0, reports = _train_on_driver(spark, runner, vocab_size=vocab_size, config=config,
                                         plan_of=plan_of, checkpoints=checkpoints, resume=resume,
                                         debug=debug)
        return TrainedModel(vectors=syn0), reports
    finally:
        broadcast_tables.destroy()
        if not resident and checkpoints is None and work is not None:
            FileSystem(work).delete(work)  # the run's alone; it held what was shared as files


class _Progress:
    """Per-epoch reports, the divergence check, the debug stop and the log line."""

    def __init__(self, config: SgnsConfig, debug: DebugConfig, first_epoch: int,
                 reports: list[EpochReport]):
        self.config, self.debug, self.first_epoch = config, debug, first_epoch
        self.reports = reports
        self.started = time.perf_counter()

    def epoch_done(self, epoch: int, numbers: tuple, finite: bool, seconds: float,
                   split: Split) -> None:
        raw, trained, pairs, loss = numbers
        if not finite:
            raise TrainingError(
                f"training diverged in epoch {epoch + 1}: vectors contain NaN or Inf; "
                f"lower sgns.alpha (now {self.config.alpha})"
            )
        phases = split.rounded()
        self.reports.append(EpochReport(
            epoch=epoch + 1, loss=float(loss), loss_per_pair=float(loss / max(pairs, 1)),
            pairs=int(pairs), raw_words=int(raw), trained_words=int(trained),
            seconds=round(seconds, 3), words_per_sec=raw / max(seconds, 1e-9),
            broadcast_seconds=phases.get("broadcast", 0.0),
            train_seconds=round(phases.get("train", 0.0) + phases.get("cut", 0.0), 3),
            merge_seconds=phases.get("merge", 0.0),
        ))

    def after_checkpoint(self, epoch: int) -> None:
        if self.debug.fail_after_epoch == epoch + 1:
            raise TrainingError(f"debug.fail_after_epoch: stopping after epoch {epoch + 1}")
        elapsed = time.perf_counter() - self.started
        epochs = self.config.epochs
        eta = elapsed / (epoch + 1 - self.first_epoch) * (epochs - epoch - 1)
        log.info("epoch %d/%d: loss %.4f per pair, %.0f words/s, elapsed %.1fs, ETA %.0fs",
                 epoch + 1, epochs, self.reports[-1].loss_per_pair,
                 self.reports[-1].words_per_sec, elapsed, eta)


def _train_on_driver(spark, runner, *, vocab_size, config, plan_of, checkpoints, resume, debug):
    """Epochs whose model is on the driver between them (averaging, one partition)."""
    syn0, syn1 = initial_model(vocab_size, config.vector_size, config.seed)
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
    progress = _Progress(config, debug, first_epoch, reports)
    try:
        for epoch in range(first_epoch, config.epochs):
            t0 = time.perf_counter()
            describe(spark, f"epoch {epoch + 1}/{config.epochs}: training")
            split = Split()
            numbers = runner.run(syn0, syn1, plan_of(epoch), split, ahead=plan_of(epoch + 1))
            describe(spark, None)
            finite = bool(np.isfinite(syn0).all() and np.isfinite(syn1).all())
            progress.epoch_done(epoch, numbers, finite, time.perf_counter() - t0, split)
            if checkpoints is not None:
                checkpoints.save_in_background(epoch + 1, syn0, syn1, reports_as_dicts(reports))
            progress.after_checkpoint(epoch)
    except BaseException:
        if checkpoints is not None:
            # The last finished epoch's checkpoint is what --resume needs: let it land.
            checkpoints.wait()
        raise
    # On success the last checkpoint may still be being written: the caller waits for it
    # (Checkpoints.wait) before it commits, so that the write overlaps with writing the outputs.
    return syn0, reports


def _train_resident(spark, corpus, tables, *, table, config, plan_of, checkpoints, resume,
                    debug, work):
    """Stratified epochs with the model on the executors (:class:`ResidentEpochs`). ``tables``:
    ``table`` shared with the tasks (:class:`~w2v_spark.spark.context.Shared`)."""
    if checkpoints is None and work is None:
        raise ConfigError("training with the model on the executors needs a directory that "
                          "every executor reaches: set a checkpoint directory "
                          "(SparkContext.setCheckpointDir) or use a local master")
    # Without checkpoints, ``work`` is the run's alone: deleted with the model.
    root = checkpoints.root if checkpoints is not None else work
    runner = ResidentEpochs(spark, corpus, tables, work=root, vocab_size=table.counts.shape[0],
                            dim=config.vector_size, seed=config.seed, plan_of=plan_of,
                            mass=table.counts * table.keep_probability,
                            owned=checkpoints is None)
    reports: list[EpochReport] = []
    first_epoch = 0
    found = checkpoints.newest() if resume and checkpoints is not None else None
    if resume and checkpoints is not None and found is None:
        log.info("--resume: no checkpoint in %s, starting from epoch 1", checkpoints.root)
    try:
        if found is None:
            runner.start(0)
        else:
            first_epoch, state, path = found
            reports = [EpochReport(**r) for r in state["reports"]]
            log.info("resuming after epoch %d from %s", first_epoch, path)
            if state.get("layout") == "slices":
                runner.start(first_epoch, checkpoint=path)
            else:
                runner.start(first_epoch, matrices=(f"{path}/syn0.npy", f"{path}/syn1.npy"))
        progress = _Progress(config, debug, first_epoch, reports)
        for epoch in range(first_epoch, config.epochs):
            t0 = time.perf_counter()
            split = Split()
            *numbers, finite = runner.run(plan_of(epoch), split)
            progress.epoch_done(epoch, tuple(numbers), finite, time.perf_counter() - t0, split)
            if checkpoints is not None:
                checkpoints.seal(epoch + 1, runner.directory, reports_as_dicts(reports),
                                 partitions=plan_of(epoch).partitions,
                                 vocab_size=table.counts.shape[0])
            else:
                runner.forget(keep=runner.directory)
            progress.after_checkpoint(epoch)
    except BaseException:
        runner.close()
        raise
    return TrainedModel(resident=runner), reports


def reports_as_dicts(reports: list[EpochReport]) -> list[dict]:
    return [asdict(r) for r in reports]
