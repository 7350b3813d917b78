"""The stratified epoch on Spark (``[sgns] partition_mode = "stratified"``, the default; the
averaging epoch is :mod:`w2v_spark.sgns.averaging`, the tasks both schedule are in
:mod:`w2v_spark.sgns.stratum`).

Ownership of model rows (:mod:`w2v_spark.sgns.strata`). Each data
partition cuts its windows into blocks of (round, stratum, bucket); one shuffle per epoch brings
every block to its trainer; then, round after round, ``P`` strata run one after the other, each
as a stage of ``P`` trainers whose rows are disjoint. A trainer holds only its two slices of the
model, which travel to the next stratum's trainers through a shuffle: no averaging, and the
driver sees the model once per epoch, not once per stratum. (In local mode blocks and slices
travel through files instead: :class:`~w2v_spark.sgns.stratum.BlockFiles`,
:class:`~w2v_spark.sgns.stratum.SharedModel`; and when the local master runs all ``P`` trainers at
once, each trainer runs every stratum of the epoch in one task, the trainers waiting for each
other between strata: :func:`~w2v_spark.sgns.stratum.gang_task`.)

This module holds the Spark side: the blocks' shuffle, the stages, the shuffles' clean-up. It
reaches into Spark's JVM for partition pruning, early map stages and shuffle clean-up; the
executor-resident training path of issue #21 replaces it with public DataFrame APIs.
"""

from __future__ import annotations

import functools
import logging
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from py4j.protocol import Py4JJavaError
from pyspark import RDD, Broadcast, InheritableThread

from w2v_spark.sgns.plan import EpochPlan, Split
from w2v_spark.sgns.strata import Deal, assign_buckets
from w2v_spark.sgns.stratum import (
    INPUT,
    OUTPUT,
    ROWS,
    STATS,
    SharedModel,
    block_task,
    gang_task,
    identity_partition,
    stratum_task,
    trainer_of_key,
)

if TYPE_CHECKING:
    from w2v_spark.spark.session import LocalMaster

log = logging.getLogger(__name__)

#: Every this many strata, the stage's inputs are marked for local checkpointing. When a job
#: ends, Spark walks its whole lineage recursively (``RDD.doCheckpoint``) and stops only at an
#: RDD marked for a checkpoint; an epoch of ``R · P = 128`` strata (P = 16) overflowed the
#: driver's thread stack there (``StackOverflowError``, BENCHMARKS.md session 15), 32 did not.
#: A marked stage keeps its inputs (one stratum's blocks and slices) on the executors until the
#: epoch ends; they also cut the lineage, so a lost executor's share of them fails the job.
LINEAGE_STAGES = 16


def _stage_inputs(rdd, stage: int, partitions: int):
    """Partitions ``stage * P .. stage * P + P - 1`` of ``rdd`` as an RDD of ``P`` partitions (in
    order, so partition ``b`` is trainer ``b``'s), without computing or reading the others.

    PySpark has no partition pruning; this wraps Spark's ``PartitionPruningRDD`` (a developer API
    since Spark 1.0), whose filter is a Scala ``Set`` of partition indices (a Scala set is an
    ``Int => Boolean``). Without it every stage would read the blocks of all stages (measured on
    bench-en: 4 × the block bytes per epoch).
    """
    from pyspark.rdd import RDD

    jvm = rdd.ctx._jvm
    keep = jvm.org.apache.spark.api.python.PythonUtils.toSeq(
        list(range(stage * partitions, (stage + 1) * partitions))).toSet()
    pruned = jvm.org.apache.spark.rdd.PartitionPruningRDD.create(rdd._jrdd.rdd(), keep)
    return RDD(jvm.org.apache.spark.api.java.JavaRDD(pruned, rdd._jrdd.classTag()), rdd.ctx,
               rdd._jrdd_deserializer)


@dataclass
class _Blocks:
    """One epoch's blocks, shuffled to their (stage, trainer) partitions (``stages × P`` of
    them; a gang's to one partition per trainer), and the broadcast deals they were cut with.
    ``map_stage`` is the JVM's future of the map stage when it was submitted as a job of its own
    (ahead of the epoch's job, or, for a gang, before it)."""

    plan: EpochPlan
    rdd: RDD
    deals: Broadcast  # list[Deal], one per round
    directory: str | None = None  # local mode: where the blocks are (BlockFiles)
    map_stage: object = None  # py4j proxy of org.apache.spark.SimpleFutureAction

    def submit(self, sc, description: str) -> None:
        """Queue the map stage that cuts these blocks as a job of its own (Spark's
        ``submitMapStage``, a developer API): the epoch's job then finds the shuffle written."""
        previous = sc.getLocalProperty("spark.job.description")
        sc.setJobDescription(description)
        try:
            self.map_stage = sc._jsc.sc().submitMapStage(_shuffle_dependency(self.rdd))
        finally:
            sc.setJobDescription(previous)

    def release(self) -> None:
        if self.map_stage is not None and not self.map_stage.isCompleted():
            self.map_stage.cancel()
        self.deals.destroy()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)


def _shuffle_dependency(rdd: RDD):
    """The JVM's ``ShuffleDependency`` of an RDD made by PySpark's ``partitionBy``."""
    return rdd._jrdd.rdd().dependencies().head().rdd().dependencies().head()  # under valueOfPair


def _remove_shuffles(sc, rdds: list[RDD]) -> None:
    """Delete the shuffle files of ``rdds`` (made by ``partitionBy``) now, without waiting.

    Spark removes a shuffle's files only once the driver's JVM has garbage-collected its
    dependency (``spark.cleaner.periodicGC.interval``, 30 min by default): an epoch's ≈ 140 MB of
    blocks and model slices (bench-en) would pile up on the executors' disks and in their page
    cache for the whole run. Removed when the epoch ends, their page cache is recycled by the next
    epoch's shuffles instead of fresh memory, which is not free everywhere (on the VM of
    BENCHMARKS.md a first touch costs ≈ 6 ms of kernel time per MB).
    """
    cleaner = sc._jsc.sc().cleaner()
    if cleaner.isEmpty():  # spark.cleaner.referenceTracking = false
        return
    for rdd in rdds:
        cleaner.get().doCleanupShuffle(_shuffle_dependency(rdd).shuffleId(), False)


def _collect_then(sc, rdd, then) -> list:
    """``rdd.collect()``, calling ``then()`` on this thread once the collect's job has started
    its last stage (or ended). A job ``then`` submits is queued behind this one (the FIFO
    scheduler runs tasks of the job with the lowest id first, others' only on idle cores), and
    by then it has left only the last stage's tasks: the queued job's tasks take the cores that
    the last stage's trainers free one after the other, and that the driver leaves idle while it
    merges the model and starts the next job. (Queued at the job's start, they took the cores
    at the first stage boundary instead, in the gap before the DAG scheduler submits the next
    stage, and the gap after the job stayed idle.)"""
    group = f"w2v_spark-{uuid.uuid4().hex}"
    outcome: dict = {}

    def collect():
        sc.setLocalProperty("spark.jobGroup.id", group)
        try:
            outcome["records"] = rdd.collect()
        except BaseException as error:  # noqa: BLE001 - re-raised on the calling thread
            outcome["error"] = error

    thread = InheritableThread(target=collect, daemon=True)  # keeps the job description
    thread.start()
    try:
        tracker, last_stage, started = sc.statusTracker(), None, time.monotonic()
        while thread.is_alive():
            if last_stage is None:
                jobs = tracker.getJobIdsForGroup(group)
                job = tracker.getJobInfo(jobs[0]) if jobs else None
                last_stage = max(job.stageIds) if job is not None else None
                stages = len(job.stageIds) if job is not None else 1
            elif last_stage in tracker.getActiveStageIds():
                # (Not the stage's task counts: the status store refreshes those at most every
                # spark.ui.liveUpdate.period, often only when the first task has finished.)
                break
            # Every poll is a py4j round trip, ≈ 1 ms of CPU in the JVM and the driver, on the
            # trainers' cores in local mode: poll at half the job's time so far per stage of it
            # (short jobs stay responsive), at most every 0.25 s — the last stage's trainers
            # run far longer before they free a core (bench-en: 1 s; the JVM's py4j threads
            # 0.59 → 0.48 CPU s in one run each against a fixed 50 ms).
            thread.join(0.002 if last_stage is None else
                        min(0.25, max(0.01, (time.monotonic() - started) / (2 * stages))))
        then()
    finally:
        thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["records"]


class StratifiedEpochs:
    """Runs stratified epochs over the cached ``corpus``, one Spark job each.

    An epoch runs as ``plan.rounds`` rounds, each over a ``1 / rounds`` slice of every
    partition's documents with freshly dealt buckets, in ``P`` strata. One map stage cuts the
    blocks of every round and stratum (one shuffle, a partition per stage and trainer), then
    each stratum is a stage of ``P`` trainers that read only their own blocks and whose model
    slices reach the next stratum's trainers through a shuffle. The model leaves the driver once
    (a broadcast) and comes back once (the last stratum's slices), however many strata the
    epoch has. In local mode neither slices nor blocks enter Spark: the trainers of every
    stratum share the model through a file (:class:`SharedModel`) and read their blocks from
    the files the map tasks wrote (:class:`BlockFiles`); the shuffles carry only where the
    blocks are and statistics. The epoch's shuffles (and block files) are removed when it ends.

    When the local master runs all ``P`` trainers at once (``local[N]`` with ``N ≥ P``), the
    epoch's job is one barrier stage instead of a stage per stratum: each trainer runs every
    stratum in one task and waits for the others between strata (:func:`gang_task`). That saves
    what a stage costs — scheduling, a task per trainer, a shuffle of statistics — ``rounds × P
    − 1`` times per epoch (bench-en, ``local[2]``, 5 epochs: the JVM's CPU 2.9 → 1.2 s, on the
    cores that train; one run each). A failure then fails the whole job, which the driver runs
    again from the epoch's start, as many times as the master lets Spark try a task
    (``local[N, F]``).

    Cutting blocks needs no model, so near the end of epoch ``e`` the map stage of epoch
    ``e + 1`` is queued behind it as a job of its own: its tasks run on the cores the epoch
    leaves idle — while the last stratum waits for its slowest trainer, and while the driver
    merges the model and broadcasts it again — and epoch ``e + 1``'s job starts at its first
    stratum.
    """

    def __init__(self, sc, corpus, tables, *, local: LocalMaster | None = None):
        """``local``: the executors run on the driver's machine (local mode), so the trainers
        can share the model through a file (:class:`SharedModel`) instead of a broadcast and
        shuffles, and read their blocks from files (:class:`BlockFiles`); and when the master
        runs ``P`` tasks at once, they train as one gang (:func:`gang_task`)."""
        self._sc, self._corpus, self._tables = sc, corpus, tables
        self._local = local
        self._next: _Blocks | None = None
        # Beside PySpark's own broadcast files (under spark.local.dir), removed in close().
        self._directory = (tempfile.mkdtemp(prefix="w2v_spark-epochs-",
                                                  dir=getattr(sc, "_temp_dir", None))
                                 if local is not None else None)
        # Where the shared model's file is: moved to a new directory when a gang's job fails.
        self._model_directory = self._directory

    def _gang(self, plan: EpochPlan) -> bool:
        """Whether ``plan``'s epoch trains as one gang: local mode, all trainers at once."""
        return self._local is not None and plan.partitions <= self._local.slots

    def _send_model(self, syn0: np.ndarray, syn1: np.ndarray):
        """``(shared, broadcast)``: in local mode the shared model (every stage's), else a
        broadcast of the model for the epoch's first stage."""
        if self._directory is not None:
            return SharedModel(self._model_directory).write(syn0, syn1), None
        return None, self._sc.broadcast((syn0, syn1))

    def _cut(self, plan: EpochPlan) -> _Blocks:
        parts = plan.partitions
        table = self._tables.value
        mass = table.counts * table.keep_probability  # expected training tokens per word
        deals = self._sc.broadcast([
            Deal.of(assign_buckets(mass, parts, plan.rng(2**31, round_index)), parts)
            for round_index in range(plan.rounds)
        ])
        directory = (tempfile.mkdtemp(prefix="blocks-", dir=self._directory)
                     if self._directory is not None else None)
        rdd = self._corpus.mapPartitionsWithIndex(functools.partial(
            block_task, tables=self._tables, deals=deals, plan=plan, directory=directory,
        ))
        # A gang's trainer reads the blocks of all its stages at once: one partition each.
        rdd = (rdd.partitionBy(parts, functools.partial(trainer_of_key, parts))
               if self._gang(plan) else rdd.partitionBy(plan.rounds * parts * parts, identity_partition))
        return _Blocks(plan=plan, rdd=rdd, deals=deals, directory=directory)

    def run(self, syn0, syn1, plan: EpochPlan, split: Split,
            ahead: EpochPlan | None = None) -> tuple:
        """Train one epoch; with ``ahead``, start cutting that epoch's blocks behind it.

        Returns ``(raw words, trained words, pairs, loss)``; updates ``syn0``/``syn1`` in place.
        """
        blocks, self._next = self._next, None
        if blocks is None or blocks.plan != plan:
            if blocks is not None:
                blocks.release()
            blocks = self._cut(plan)
        try:
            train = self._train_gang if self._gang(plan) else self._train_stages
            shared, records = train(blocks, syn0, syn1, plan, split, ahead)
        finally:
            blocks.release()
            _remove_shuffles(self._sc, [blocks.rdd])
        with split("merge"):
            if shared is not None:
                trained = shared.trained(plan.rounds * plan.partitions)
                syn0[...], syn1[...] = trained[INPUT], trained[OUTPUT]
                del trained
            for _, kind, words, values in (r for r in records if r[0] == ROWS):
                (syn0 if kind == INPUT else syn1)[words] = values
            totals = np.zeros(4)
            # Summed in (round, stratum, trainer) order: the loss is the same float every run.
            for _, _, numbers in sorted((r for r in records if r[0] == STATS), key=lambda r: r[1]):
                totals += numbers
        return int(totals[0]), int(totals[1]), int(totals[2]), float(totals[3])

    def _cut_ahead(self, ahead: EpochPlan | None) -> None:
        if ahead is not None and self._next is None:
            self._next = self._cut(ahead)
            self._next.submit(self._sc, f"epoch {ahead.epoch + 1}/{ahead.epochs}: "
                                        "cutting blocks (ahead)")

    def _train_stages(self, blocks, syn0, syn1, plan, split, ahead):
        """The epoch as a job of one stage per stratum. Returns ``(shared model or None,
        records)``; the slices' shuffles are removed when it ends."""
        parts = plan.partitions
        shuffled, marked = [], []
        with split("broadcast"):
            shared, broadcast = self._send_model(syn0, syn1)
        try:
            stages = [(r, s) for r in range(plan.rounds) for s in range(parts)]
            keys = len(stages) * parts
            state = None  # the previous stage's model slices, shuffled to their trainers
            for index, (round_index, stratum) in enumerate(stages):
                last = index == len(stages) - 1
                # Both sides are partitioned by identity_partition, so the union pairs the blocks of
                # (stage, trainer) with the slices sent to it (no shuffle of its own); then only
                # this stage's partitions are kept.
                inputs = _stage_inputs(blocks.rdd if state is None else blocks.rdd.union(state),
                                       index, parts)
                if index and index % LINEAGE_STAGES == 0:
                    inputs.localCheckpoint()  # see LINEAGE_STAGES
                    marked.append(inputs)
                state = inputs.mapPartitionsWithIndex(functools.partial(
                    stratum_task, model=broadcast if index == 0 else None, shared=shared,
                    tables=self._tables,
                    deals=blocks.deals, plan=plan, stratum=stratum, round_index=round_index,
                    last=last, dim=syn0.shape[1],
                ))
                if not last:
                    state = state.partitionBy(keys, identity_partition)
                    shuffled.append(state)
            with split("train"):
                records = _collect_then(self._sc, state, lambda: self._cut_ahead(ahead))
        finally:
            if broadcast is not None:
                broadcast.destroy()
            _remove_shuffles(self._sc, shuffled)
            for rdd in marked:
                rdd.unpersist()
        return shared, [value for _, value in records]

    def _train_gang(self, blocks, syn0, syn1, plan, split, ahead):
        """The epoch as one barrier stage of ``P`` trainers (:func:`gang_task`), run again from
        the epoch's start when it fails, up to the master's attempts per task. Returns
        ``(shared model, records)``."""
        if blocks.map_stage is None:
            # A job of its own, even when not cut ahead: as the first stage of the epoch's job,
            # the cores it frees one by one would go to the next epoch's cut (queued as the job
            # starts), and the trainers, which start all at once, would wait for that too.
            blocks.submit(self._sc, f"epoch {plan.epoch + 1}/{plan.epochs}: cutting blocks")
        with split("broadcast"):
            shared = SharedModel(self._model_directory, gang=True).write(syn0, syn1)
        with split("train"):
            blocks.map_stage.get()  # the trainers start once every block is cut
            for attempt in range(self._local.attempts):
                gang = blocks.rdd.barrier().mapPartitionsWithIndex(functools.partial(
                    gang_task, shared=shared, tables=self._tables, deals=blocks.deals,
                    plan=plan, token=uuid.uuid4().hex, job_attempt=attempt,
                ))
                try:
                    records = _collect_then(self._sc, gang, lambda: self._cut_ahead(ahead))
                    break
                except Py4JJavaError as error:
                    if attempt + 1 == self._local.attempts:
                        raise
                    reason = str(error.java_exception.getMessage()).splitlines()[0][:300]
                    log.warning("epoch %d/%d: the trainers' job failed (%s); running it again "
                                "from the epoch's start (attempt %d of %d)", plan.epoch + 1,
                                plan.epochs, reason, attempt + 2, self._local.attempts)
                    # The failed attempt's trainers may write on until Spark has killed them:
                    # the next attempt, and every later epoch, get a model file of their own.
                    self._model_directory = tempfile.mkdtemp(prefix="retry-", dir=self._directory)
                    shared = SharedModel(self._model_directory, gang=True).write(syn0, syn1)
        return shared, [value for _, value in records]

    def close(self) -> None:
        """Cancel and release blocks cut ahead for an epoch that will not run."""
        if self._next is not None:
            self._next.release()
            self._next = None
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None
