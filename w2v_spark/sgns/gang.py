"""Stratified epochs in local mode when the master runs every trainer at once (``local[N]``,
``N ≥ P``): each epoch is one barrier stage of ``P`` trainers, each running every stratum in
one task (:func:`~w2v_spark.sgns.stratum.gang_task`) on a model file they share
(:class:`~w2v_spark.sgns.stratum.SharedModel`); the model is on the driver between epochs.
Everywhere else the model stays on the executors (:mod:`w2v_spark.sgns.resident_epochs`); both
give the same bits.

That saves what a job per stratum costs — scheduling, a task per trainer, reading and writing
the slices — ``rounds × P`` times per epoch (bench-en, ``local[2]``, 5 epochs: the JVM's CPU
2.9 → 1.2 s, on the cores that train; one run each). A failure fails the whole epoch's job,
which the driver runs again from the epoch's start, as many times as the master lets Spark try a
task (``local[N, F]``).

Cutting blocks needs no model, so near the end of epoch ``e`` the cut of epoch ``e + 1`` is
queued behind it as a job of its own: its tasks run on the cores the epoch leaves idle (while
the last stratum waits for its slowest trainer, and while the driver merges the model) and epoch
``e + 1``'s trainers start at once.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import tempfile
import time
import uuid

import numpy as np
from pyspark import InheritableThread

from w2v_spark.sgns.plan import EpochPlan, Split
from w2v_spark.sgns.slices import INPUT, OUTPUT
from w2v_spark.sgns.strata import Deal, assign_buckets
from w2v_spark.sgns.stratum import SharedModel, cut_task, gang_task
from w2v_spark.spark.session import LocalMaster

log = logging.getLogger(__name__)


def _cut(partition, rows, *, deals, **kwargs):
    return cut_task(partition, rows, deals=deals.value, **kwargs)


def _trainer(trainer, rows, *, deals, **kwargs):
    return gang_task(trainer, rows, deals=deals.value, **kwargs)


class _Blocks:
    """One epoch's blocks, cut into files by a job that runs on a thread of its own (so that it
    can be queued behind the job of the epoch before), and the deals they were cut with."""

    def __init__(self, sc, corpus, tables, plan: EpochPlan, directory: str, description: str):
        self.plan, self.directory, self._sc = plan, directory, sc
        table = tables.value
        mass = table.counts * table.keep_probability  # expected training tokens per word
        self.deals = sc.broadcast([
            Deal.of(assign_buckets(mass, plan.partitions, plan.rng(2**31, r)), plan.partitions)
            for r in range(plan.rounds)
        ])
        self._group = f"w2v_spark-cut-{uuid.uuid4().hex}"
        self._error: BaseException | None = None
        task = functools.partial(_cut, deals=self.deals, tables=tables, plan=plan,
                                 directory=directory)

        def cut():
            sc.setJobGroup(self._group, description, interruptOnCancel=False)
            try:
                corpus.mapPartitionsWithIndex(task).collect()
            except BaseException as error:  # noqa: BLE001 - raised by wait()
                self._error = error

        self._thread = InheritableThread(target=cut, daemon=True)
        self._thread.start()

    def wait(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error

    def release(self) -> None:
        if self._thread.is_alive():
            self._sc.cancelJobGroup(self._group)
        self._thread.join()
        self.deals.destroy()
        shutil.rmtree(self.directory, ignore_errors=True)


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
            # Every poll is a round trip to the JVM, ≈ 1 ms of CPU in the JVM and the driver, on the
            # trainers' cores in local mode: poll at half the job's time so far per stage of it
            # (short jobs stay responsive), at most every 0.25 s — the last stage's trainers
            # run far longer before they free a core (bench-en: 1 s; the JVM gateway threads
            # 0.59 → 0.48 CPU s in one run each against a fixed 50 ms).
            thread.join(0.002 if last_stage is None else
                        min(0.25, max(0.01, (time.monotonic() - started) / (2 * stages))))
        then()
    finally:
        thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["records"]


class GangEpochs:
    """Runs stratified epochs over the cached ``corpus`` as gangs of trainers, one job each;
    local mode only (files on the driver's disk, under ``work``)."""

    def __init__(self, sc, corpus, tables, *, local: LocalMaster, work: str):
        self._sc, self._corpus, self._tables, self._local = sc, corpus, tables, local
        self._work = work if not os.path.isdir(work) else None  # created here: removed in close
        os.makedirs(work, exist_ok=True)
        self._directory = tempfile.mkdtemp(prefix="w2v_spark-gang-", dir=work)
        # Where the shared model's file is: moved to a new directory when a job fails.
        self._model_directory = self._directory
        self._next: _Blocks | None = None

    def _cut(self, plan: EpochPlan, ahead: bool = False) -> _Blocks:
        return _Blocks(self._sc, self._corpus, self._tables, plan,
                       tempfile.mkdtemp(prefix="blocks-", dir=self._directory),
                       f"epoch {plan.epoch + 1}/{plan.epochs}: cutting blocks"
                       + (" (ahead)" if ahead else ""))

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
            with split("broadcast"):
                shared = SharedModel(self._model_directory).write(syn0, syn1)
            with split("train"):
                blocks.wait()  # the trainers start once every block is cut
                shared, records = self._train(blocks, shared, syn0, syn1, plan, ahead)
        finally:
            blocks.release()
        with split("merge"):
            trained = shared.trained()
            syn0[...], syn1[...] = trained[INPUT], trained[OUTPUT]
            del trained
            totals = np.zeros(4)
            # Summed in (round, stratum, trainer) order: the loss is the same float every run.
            for record in sorted(records):
                totals += record[3:]
        return int(totals[0]), int(totals[1]), int(totals[2]), float(totals[3])

    def _train(self, blocks: _Blocks, shared, syn0, syn1, plan, ahead):
        """The epoch as one barrier stage of ``P`` trainers, run again from the epoch's start
        when it fails, up to the master's attempts per task. Returns ``(shared model,
        records)``."""
        parts = plan.partitions
        for attempt in range(self._local.attempts):
            gang = self._sc.parallelize(range(parts), parts).barrier().mapPartitionsWithIndex(
                functools.partial(_trainer, shared=shared, tables=self._tables,
                                  deals=blocks.deals, plan=plan, blocks=blocks.directory,
                                  token=uuid.uuid4().hex, job_attempt=attempt))
            try:
                return shared, _collect_then(self._sc, gang, lambda: self._cut_ahead(ahead))
            except Exception as error:  # a failed job: Spark's error, whatever its class
                if attempt + 1 == self._local.attempts:
                    raise
                reason = str(error).strip().splitlines()[0][:300] if str(error).strip() else ""
                log.warning("epoch %d/%d: the trainers' job failed (%s); running it again from "
                            "the epoch's start (attempt %d of %d)", plan.epoch + 1, plan.epochs,
                            reason, attempt + 2, self._local.attempts)
                # The failed attempt's trainers may write on until Spark has killed them: the
                # next attempt, and every later epoch, get a model file of their own.
                self._model_directory = tempfile.mkdtemp(prefix="retry-", dir=self._directory)
                shared = SharedModel(self._model_directory).write(syn0, syn1)
        raise AssertionError("unreachable")

    def _cut_ahead(self, ahead: EpochPlan | None) -> None:
        if ahead is not None and self._next is None:
            self._next = self._cut(ahead, ahead=True)

    def close(self, *, keep_work: bool = False) -> None:
        """Cancel and release blocks cut ahead for an epoch that will not run; delete the files,
        and the directory they were in if this created it and it is empty, unless
        ``keep_work`` (another thread may still be writing a checkpoint into it)."""
        if self._next is not None:
            self._next.release()
            self._next = None
        shutil.rmtree(self._directory, ignore_errors=True)
        if self._work is not None and not keep_work:
            try:
                os.rmdir(self._work)  # only if nothing else (a checkpoint) went in since
            except OSError:
                pass
