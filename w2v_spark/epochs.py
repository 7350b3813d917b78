"""One training epoch on Spark, in one of two ways (``[sgns] partition_mode``).

``"stratified"`` (default): ownership of model rows (:mod:`w2v_spark.strata`). Each data
partition cuts its windows into blocks keyed by (round, stratum, bucket); one shuffle per epoch
brings every block to its trainer; then, round after round, ``P`` strata run one after the other,
each as one Spark job of ``P`` tasks whose written rows are disjoint. The driver puts the touched rows back in place: no averaging.

``"averaging"``: every partition trains a copy of the whole model on its own documents and the
driver averages the copies' changes, each row weighted by how often each partition touched it.
Cheaper per epoch, but loses quality as partitions grow (see BENCHMARKS.md).
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from w2v_spark.merge import RowUpdate, merge_updates
from w2v_spark.sampling import NoiseTable, build_noise_table
from w2v_spark.sgns import (
    TrainSettings,
    Windows,
    document_slices,
    new_stats,
    sample_windows,
    train_partition,
    train_windows,
)
from w2v_spark.strata import (
    assign_buckets,
    block_id,
    bucket_noise,
    pack_block,
    split_blocks,
    unpack_block,
)


@dataclass(frozen=True)
class Tables:
    """Read-only per-word tables, broadcast once per job.

    Attributes:
        counts: ``(vocab_size,) int64`` corpus counts.
        keep_probability: ``(vocab_size,) float32`` subsampling keep chance.
        noise: alias table over ``counts ** ns_exponent``.
    """

    counts: np.ndarray
    keep_probability: np.ndarray
    noise: NoiseTable
    ns_exponent: float

    @classmethod
    def build(cls, counts: np.ndarray, keep_probability: np.ndarray, ns_exponent: float) -> "Tables":
        """From a vocabulary's counts and keep probabilities: the noise table over
        ``counts ** ns_exponent``, built once."""
        return cls(counts=counts, keep_probability=np.asarray(keep_probability, dtype=np.float32),
                   noise=build_noise_table(counts, ns_exponent), ns_exponent=ns_exponent)


@dataclass(frozen=True)
class EpochPlan:
    """What every task of one epoch needs to know besides the model."""

    settings: TrainSettings
    seed: int
    epoch: int
    epochs: int
    partitions: int
    rounds: int = 1
    #: ``(epoch, partition)`` (1-based epoch) whose first task attempt kills its Python worker.
    fail_task_once: tuple[int, int] | None = None

    def progress(self, start: float, end: float) -> tuple[float, float]:
        """This epoch's slice ``[start, end]`` (fractions of the epoch) of the whole run."""
        return (self.epoch + start) / self.epochs, (self.epoch + end) / self.epochs

    def rng(self, *key: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([self.seed, self.epoch, *key]))


class Split:
    """Seconds spent per phase (an epoch's broadcast / train / merge, or a job's stages); with a
    ``log``, the start of each phase is logged."""

    def __init__(self, log: logging.Logger | None = None):
        self.seconds: dict[str, float] = defaultdict(float)
        self._log = log

    def rounded(self) -> dict[str, float]:
        return {phase: round(seconds, 3) for phase, seconds in self.seconds.items()}

    @contextmanager
    def __call__(self, phase: str):
        if self._log is not None:
            self._log.info("%s ...", phase)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] += time.perf_counter() - start


def _inject_failure(plan: EpochPlan, partition: int) -> None:
    """``[debug] fail_task_once``: the first attempt of this task exits its Python worker hard,
    as an executor lost to the OOM killer would; Spark then retries it."""
    if plan.fail_task_once != (plan.epoch + 1, partition):
        return
    from pyspark import TaskContext

    context = TaskContext.get()
    if context is not None and context.attemptNumber() == 0:
        os._exit(17)


# --- averaging -------------------------------------------------------------------------------

def _average_task(partition, rows, *, model, tables, plan):
    _inject_failure(plan, partition)
    syn0_start, syn1_start = model.value
    table = tables.value
    syn0, syn1 = syn0_start.copy(), syn1_start.copy()
    for ids, offsets in rows:
        stats = train_partition(
            syn0, syn1, ids, offsets, keep_probability=table.keep_probability, noise=table.noise,
            settings=plan.settings, progress=plan.progress(0.0, 1.0), rng=plan.rng(partition),
        )
        yield (
            partition,
            (stats.raw_words, stats.trained_words, stats.pairs, stats.loss),
            RowUpdate.from_matrices(syn0_start, syn0, stats.input_touches),
            RowUpdate.from_matrices(syn1_start, syn1, stats.output_touches),
        )


def run_averaging_epoch(sc, corpus, syn0, syn1, tables, plan: EpochPlan, split: Split) -> tuple:
    """Returns ``(raw words, trained words, pairs, loss)``; updates ``syn0``/``syn1`` in place."""
    with split("broadcast"):
        model = sc.broadcast((syn0, syn1))
    try:
        with split("train"):
            task = functools.partial(_average_task, model=model, tables=tables, plan=plan)
            results = sorted(corpus.mapPartitionsWithIndex(task).collect(), key=lambda r: r[0])
    finally:
        model.destroy()
    with split("merge"):
        merge_updates(syn0, [r[2] for r in results])
        merge_updates(syn1, [r[3] for r in results])
    return tuple(sum(r[1][i] for r in results) for i in range(4))


# --- stratified ------------------------------------------------------------------------------

def round_documents(offsets: np.ndarray, round_index: int, rounds: int) -> tuple[int, int]:
    """Documents ``[lo, hi)`` of round ``round_index`` of ``rounds``: consecutive runs of about
    equal token counts."""
    total = offsets[-1] - offsets[0]
    cut = [int(np.searchsorted(offsets, offsets[0] + total * r / rounds, side="left"))
           for r in (round_index, round_index + 1)]
    documents = offsets.shape[0] - 1
    return min(cut[0], documents), min(cut[1], documents) if round_index + 1 < rounds else documents


def _block_task(partition, rows, *, tables, assignments, plan):
    """Map side: this data partition's windows of every round of the epoch, cut into blocks keyed
    by :func:`_round_block` (round, stratum, bucket), about a million tokens at a time (pieces are
    ordered by (partition, slice) downstream)."""
    _inject_failure(plan, partition)
    table = tables.value
    for ids, offsets in rows:
        for round_index in range(plan.rounds):
            rng = plan.rng(partition, 0, round_index)
            assignment = assignments.value[round_index]
            start, stop = round_documents(offsets, round_index, plan.rounds)
            part = offsets[start : stop + 1]
            for piece, (lo, hi) in enumerate(document_slices(part)):
                first, last = part[lo], part[hi]
                windows, kept = sample_windows(
                    ids[first:last], part[lo : hi + 1] - first,
                    keep_probability=table.keep_probability, window=plan.settings.window, rng=rng,
                )
                blocks = split_blocks(windows, assignment, plan.partitions)
                # Corpus statistics travel with block 0 so that they are counted exactly once.
                blocks.setdefault(0, Windows.concatenate([]))
                for key, block in blocks.items():
                    stats = (int(last - first), kept) if key == 0 else (0, 0)
                    yield (_round_block(round_index, key, plan.partitions),
                           ((partition, piece), stats, pack_block(block, table.counts.shape[0])))


def _round_block(round_index: int, block: int, partitions: int) -> int:
    """Shuffle key of ``block`` (:func:`~w2v_spark.strata.block_id`) in round ``round_index``."""
    return round_index * partitions * partitions + block


def _block_key(key: int) -> int:
    return key


def _stratum_task(rows, *, model, tables, assignments, plan, stratum, round_index):
    """Reduce side: train one block; return the rows written (all owned by this block)."""
    pieces = sorted((value for _, value in rows), key=lambda piece: piece[0])  # fixed order
    if not pieces:
        return
    raw = sum(piece[1][0] for piece in pieces)
    kept = sum(piece[1][1] for piece in pieces)
    windows = Windows.concatenate([unpack_block(piece[2]) for piece in pieces])
    syn0_start, syn1_start = model.value
    table = tables.value
    assignment = assignments.value[round_index]
    bucket = int(assignment[windows.centre[0]]) if windows.groups else -1
    stats = new_stats(syn0_start.shape[0])
    syn0, syn1 = syn0_start, syn1_start
    if windows.groups:
        syn0, syn1 = syn0_start.copy(), syn1_start.copy()
        noise = bucket_noise(table.counts, assignment, bucket, table.ns_exponent)
        train_windows(
            syn0, syn1, windows, noise=noise, settings=plan.settings,
            progress=plan.progress(
                (round_index + stratum / plan.partitions) / plan.rounds,
                (round_index + (stratum + 1) / plan.partitions) / plan.rounds,
            ),
            rng=plan.rng(plan.partitions + stratum, bucket, round_index), stats=stats,
        )
    yield (
        bucket,
        (raw, kept, stats.pairs, stats.loss),
        RowUpdate.from_matrices(syn0_start, syn0, stats.input_touches),
        RowUpdate.from_matrices(syn1_start, syn1, stats.output_touches),
    )


def run_stratified_epoch(sc, corpus, syn0, syn1, tables, plan: EpochPlan, split: Split) -> tuple:
    """Returns ``(raw words, trained words, pairs, loss)``; updates ``syn0``/``syn1`` in place.

    The epoch runs as ``plan.rounds`` rounds, each over a ``1 / rounds`` slice of every partition's
    documents with freshly dealt buckets, as ``P`` stratum jobs; one shuffle per epoch carries
    the blocks of every round.
    """
    table = tables.value
    parts = plan.partitions
    mass = table.counts * table.keep_probability  # expected training tokens per word
    # One shuffle per epoch carries the blocks of all its rounds: one map stage, not one per round.
    assignments = sc.broadcast(np.stack([
        assign_buckets(mass, parts, plan.rng(2**31, round_index)) for round_index in range(plan.rounds)
    ]))
    totals = np.zeros(4)
    try:
        blocks = corpus.mapPartitionsWithIndex(functools.partial(
            _block_task, tables=tables, assignments=assignments, plan=plan,
        )).partitionBy(plan.rounds * parts * parts, _block_key)
        for round_index in range(plan.rounds):
            for stratum in range(parts):
                totals += _run_stratum(sc, blocks, syn0, syn1, tables, assignments, plan, split,
                                       stratum, round_index)
    finally:
        assignments.destroy()
    return int(totals[0]), int(totals[1]), int(totals[2]), float(totals[3])


def _run_stratum(sc, blocks, syn0, syn1, tables, assignments, plan, split, stratum, round_index):
    parts = plan.partitions
    with split("broadcast"):
        model = sc.broadcast((syn0, syn1))
    try:
        # The epoch's first job also runs the map side (windows, blocks, shuffle write).
        with split("train"):
            task = functools.partial(_stratum_task, model=model, tables=tables,
                                     assignments=assignments, plan=plan, stratum=stratum,
                                     round_index=round_index)
            keys = [_round_block(round_index, block_id(stratum, bucket, parts), parts)
                    for bucket in range(parts)]
            results = sorted(sc.runJob(blocks, task, keys), key=lambda r: r[0])
    finally:
        model.destroy()
    totals = np.zeros(4)
    with split("merge"):
        for _, numbers, input_update, output_update in results:
            # Disjoint rows: each belongs to exactly one block of this stratum.
            syn0[input_update.rows] += input_update.delta
            syn1[output_update.rows] += output_update.delta
            totals += numbers
    return totals
