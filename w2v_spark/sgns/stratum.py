"""The stratified epoch's tasks, apart from how Spark schedules them: cutting a data partition's
windows into blocks (round, stratum, bucket) and writing them to a block file
(:func:`cut_task`), training one trainer's block on its two model slices
(:func:`train_stratum`), and, for local mode when every trainer runs at once, a trainer that
runs every stratum of the epoch in one task (:func:`gang_task`), sharing the model with the
others through a file (:class:`SharedModel`) and waiting for them (:class:`FileBarrier`).
:mod:`w2v_spark.sgns.resident_epochs` and :mod:`w2v_spark.sgns.gang` schedule them."""

from __future__ import annotations

import os
import time

import numpy as np

from w2v_spark.sgns.kernel import (
    PartitionStats,
    Windows,
    document_slices,
    sample_windows,
    train_windows,
)
from w2v_spark.sgns.plan import freeze_worker_heap, inject_failure
from w2v_spark.sgns.slices import INPUT, OUTPUT, part_path, read_windows, write_blocks
from w2v_spark.sgns.strata import Deal, pack_block, split_blocks
from w2v_spark.spark.files import FileSystem


def round_documents(offsets: np.ndarray, round_index: int, rounds: int) -> tuple[int, int]:
    """Documents ``[lo, hi)`` of round ``round_index`` of ``rounds``: consecutive runs of about
    equal token counts."""
    total = offsets[-1] - offsets[0]
    cut = [int(np.searchsorted(offsets, offsets[0] + total * r / rounds, side="left"))
           for r in (round_index, round_index + 1)]
    documents = offsets.shape[0] - 1
    return min(cut[0], documents), min(cut[1], documents) if round_index + 1 < rounds else documents


def cut_blocks(partition, rows, *, tables, deals, plan):
    """This data partition's windows of every round of the epoch, ``plan.slice_tokens`` tokens
    at a time, cut into the blocks of :func:`~w2v_spark.sgns.strata.block_id` (stratum, centre
    bucket), with word ids translated to rows of the trainers' slices. Yields ``(key, (raw
    words, kept words), packed block)`` per piece, key = :func:`stage_key` (stage, trainer =
    centre bucket), a key's pieces in corpus order. ``deals``: the epoch's, one per round."""
    table = tables.value
    # A partition may hold several packed records (train.PACKED_RECORD_TOKENS): each round takes
    # its share of every record, and one generator per round draws its windows across all of them.
    rngs = [plan.rng(partition, 0, round_index) for round_index in range(plan.rounds)]
    for ids, offsets in rows:
        for round_index in range(plan.rounds):
            rng = rngs[round_index]
            deal = deals[round_index]
            start, stop = round_documents(offsets, round_index, plan.rounds)
            part = offsets[start : stop + 1]
            for lo, hi in document_slices(part, plan.slice_tokens):
                first, last = part[lo], part[hi]
                windows, kept = sample_windows(
                    ids[first:last], part[lo : hi + 1] - first,
                    keep_probability=table.keep_probability, window=plan.settings.window, rng=rng,
                )
                blocks = split_blocks(windows, deal.bucket, plan.partitions)
                # Corpus statistics travel with block 0 so that they are counted exactly once.
                blocks.setdefault(0, Windows.concatenate([]))
                for key, block in blocks.items():
                    stratum, trainer = divmod(key, plan.partitions)
                    local = Windows(centre=deal.rank[block.centre], offsets=block.offsets,
                                    context=deal.rank[block.context])
                    stage = round_index * plan.partitions + stratum
                    yield (stage_key(stage, trainer, plan.partitions),
                           (int(last - first), kept) if key == 0 else (0, 0),
                           pack_block(local, deal.largest))


def cut_task(partition, rows, *, tables, deals, plan, directory: str):
    """Map side of an epoch: this data partition's blocks of every (stage, trainer) as one block
    file, ``part-<partition>.bin`` in ``directory``, written as they are cut, a run of at most
    ≈ 64 MB at a time (:func:`~w2v_spark.sgns.slices.write_blocks`). Yields ``(partition,
    bytes written)``.

    A key's segments are this partition's pieces in order: a trainer that reads the partitions'
    segments in partition order, runs in order, trains its block in corpus order. A retried task
    writes the same bytes (its windows come from seeded generators)."""
    freeze_worker_heap()
    inject_failure(plan, partition)
    path = part_path(directory, partition)
    fs = FileSystem(path)
    write_blocks(fs, path, plan.rounds * plan.partitions * plan.partitions,
                 cut_blocks(partition, rows, tables=tables, deals=deals, plan=plan))
    yield partition, fs.size(path)


def stage_key(stage: int, trainer: int, partitions: int) -> int:
    """Key of what trainer ``trainer`` needs in stage ``stage`` (``round * P + stratum``): a
    block file has ``stages × P`` keys, one segment per (stage, trainer) in each run."""
    return stage * partitions + trainer


def slice_words(deal: Deal, trainer: int, stratum: int,
                 partitions: int) -> tuple[np.ndarray, np.ndarray]:
    """``(input rows, output rows)``: the word ids of the two slices that trainer ``trainer``
    holds in stratum ``stratum`` — the input vectors (``syn0``) of bucket ``(trainer + stratum)
    mod P`` and the output vectors (``syn1``) of bucket ``trainer``."""
    return deal.words((trainer + stratum) % partitions), deal.words(trainer)


def train_stratum(trainer, windows, syn0, syn1, *, deal, table, plan, round_index,
                  stratum) -> tuple[int, float]:
    """Train ``windows`` (trainer ``trainer``'s whole block of (``round_index``, ``stratum``),
    in corpus order) on its slices in place. Returns ``(pairs, loss)``."""
    stats = PartitionStats(input_touches=np.zeros(syn0.shape[0], np.int64),
                           output_touches=np.zeros(syn1.shape[0], np.int64))
    if windows.groups:
        train_windows(
            syn0, syn1, windows, noise=deal.noise(table.counts, trainer, table.ns_exponent),
            settings=plan.settings,
            progress=plan.progress(
                (round_index + stratum / plan.partitions) / plan.rounds,
                (round_index + (stratum + 1) / plan.partitions) / plan.rounds,
            ),
            rng=plan.rng(plan.partitions + stratum, trainer, round_index), stats=stats,
            vocab_size=table.counts.shape[0],
        )
    return stats.pairs, stats.loss


def gang_task(trainer, _, *, shared, tables, deals, plan, blocks, token, job_attempt):
    """Local mode, all trainers at once: trainer ``trainer`` runs every stratum of the epoch in
    this one task, and waits for the other trainers between strata (:class:`FileBarrier`).

    Each stratum is what :func:`~w2v_spark.sgns.resident.stratum_task` does in a job of its
    own: the trainer copies its two slices out of the shared model, reads its block from the
    epoch's block files in ``blocks``, trains, and writes the slices back; the barrier stands in
    for the end of the job (every trainer has written its rows before any reads the next
    stratum's). Yields ``(round, stratum, trainer, raw words, trained words, pairs, loss)`` per
    stratum.

    The stage is a barrier stage (``RDD.barrier()``): Spark starts its ``P`` tasks together or
    not at all, and when one fails it kills the others and fails the job, which the driver then
    runs again (:meth:`~w2v_spark.sgns.gang.GangEpochs._train`) with a new ``token`` (the
    barrier's file) and a new shared model file (for the later epochs too), so that nothing a
    dying attempt still writes can reach the rerun or what follows.
    Spark's own ``BarrierTaskContext.barrier()`` is not used between strata: the JVM side looks
    for its answer once a second (``BarrierTaskContext.runBarrier`` sleeps a second between
    looks), and on bench-en the trainers left most barriers a second late — epochs of 5.8-7.5 s
    instead of 3.6-3.9 s (``local[2]``, one run each).
    """
    freeze_worker_heap()
    parts = plan.partitions
    fs = FileSystem(blocks)
    barrier = FileBarrier(os.path.join(shared.directory, f"barrier-{token}"), parts)
    try:
        for stage in range(plan.rounds * parts):
            if stage == 1:  # mid-epoch: the other trainers wait at the barrier or train
                inject_failure(plan, trainer, job_attempt)
            round_index, stratum = divmod(stage, parts)
            deal = deals[round_index]
            raw, kept, windows = read_windows(fs, blocks, stage_key(stage, trainer, parts), parts)
            words = slice_words(deal, trainer, stratum, parts)
            syn0, syn1 = shared.take(stage, words)
            pairs, loss = train_stratum(trainer, windows, syn0, syn1, deal=deal,
                                        table=tables.value, plan=plan, round_index=round_index,
                                        stratum=stratum)
            shared.put(stage, words, (syn0, syn1))
            yield round_index, stratum, trainer, raw, kept, pairs, loss
            if stage + 1 < plan.rounds * parts:
                barrier.wait()
    finally:
        barrier.close()


class FileBarrier:
    """A barrier among the ``parties`` processes that open the file at ``path``: each arrival
    appends a byte, and a process that has called :meth:`wait` ``n`` times returns once the file
    holds ``n × parties`` bytes (appends are atomic, so no byte is lost or counted twice).

    Waiting sleeps 0.2 ms at first, up to 5 ms between looks: a stratum's trainers arrive within
    ≈ 0.1 s of each other, so a waiting trainer looks a few dozen times (one ``fstat`` each) and
    leaves at most 5 ms after the last arrival. There is no time-out: when a party dies, Spark
    kills the others (they are tasks of one barrier stage)."""

    _FIRST_PAUSE, _LONGEST_PAUSE = 0.0002, 0.005

    def __init__(self, path: str, parties: int):
        self._file = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._parties, self._waits = parties, 0

    def wait(self) -> None:
        self._waits += 1
        os.write(self._file, b"\0")
        everyone, pause = self._waits * self._parties, self._FIRST_PAUSE
        while os.fstat(self._file).st_size < everyone:
            time.sleep(pause)
            pause = min(2 * pause, self._LONGEST_PAUSE)

    def close(self) -> None:
        os.close(self._file)


class SharedModel:
    """Local mode, a gang of trainers (:func:`gang_task`): the model they share, one
    ``(2, 2, vocab_size, dim) float32`` file — two copies (``[buffer][syn0 | syn1]``) — that
    every trainer maps, in place of moving slices between them.

    The first stratum copies its rows out of buffer 0 and every stratum writes its rows back,
    trained, into buffer 1, which the later strata read: within a stratum the trainers' rows
    are disjoint and together cover the whole model (every bucket's output rows and, shifted by
    the stratum, every bucket's input rows), and the barrier between strata orders each row's
    write before its next read. Buffer 0 keeps the epoch's start for a rerun of the epoch.

    The driver writes the epoch's model into buffer 0 and reads it back from :meth:`trained`;
    the file is rewritten in place every epoch (its pages stay in the page cache: no fresh
    memory), and only between epochs' jobs; the directory goes in
    :meth:`~w2v_spark.sgns.gang.GangEpochs.close`.
    """

    def __init__(self, directory: str):
        self.directory = directory
        self.path = os.path.join(directory, "model.npy")

    def write(self, syn0: np.ndarray, syn1: np.ndarray) -> "SharedModel":
        """Buffer 0 := ``(syn0, syn1)``; a new file if the shape changed."""
        shape = (2, 2, *syn0.shape)
        try:
            stored = np.load(self.path, mmap_mode="r+")
        except FileNotFoundError:
            stored = None
        if stored is None or stored.shape != shape or stored.dtype != np.float32:
            stored = np.lib.format.open_memmap(self.path, mode="w+", dtype=np.float32, shape=shape)
        stored[0, INPUT], stored[0, OUTPUT] = syn0, syn1
        del stored  # unmapped; readers see the page cache, no flush to disk needed
        return self

    def buffer(self, index: int, *, writeable: bool = False) -> np.ndarray:
        """Buffer ``index`` (0 or 1), ``(2, vocab_size, dim)``, mapped."""
        return np.load(self.path, mmap_mode="r+" if writeable else "r")[index]

    def take(self, stage: int, words: tuple[np.ndarray, np.ndarray]) -> list[np.ndarray]:
        """Copies of rows ``words[kind]`` of each matrix as stage ``stage`` starts."""
        model = self.buffer(min(stage, 1))
        return [model[kind][rows] for kind, rows in enumerate(words)]

    def put(self, stage: int, words: tuple[np.ndarray, np.ndarray],
            values: tuple[np.ndarray, np.ndarray]) -> None:
        """Rows ``words[kind]`` of each matrix as stage ``stage`` leaves them, for the next."""
        model = self.buffer(1, writeable=True)
        for kind, rows in enumerate(words):
            model[kind][rows] = values[kind]

    def trained(self) -> np.ndarray:
        """The buffer the epoch's last stratum left the model in, mapped."""
        return self.buffer(1)
