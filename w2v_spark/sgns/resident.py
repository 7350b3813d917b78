"""The tasks of executor-resident stratified training: the model lives in slice files on the
run's storage (:mod:`w2v_spark.sgns.slices`), never on the driver.

An epoch is one job that cuts every data partition's windows into a block file
(:func:`~w2v_spark.sgns.stratum.cut_task`), then one job per stratum in which trainer ``b`` reads its block and its two
slices, trains, and writes its slices for the next stratum's trainers (:func:`stratum_task`).
The run starts with a job in which trainer ``t`` draws (or reads from a checkpoint) the rows of
its range of ids (:func:`entry_task`), and ends with one in which it writes them to
``embeddings/`` (:func:`embeddings_task`). Each task returns a few numbers; the driver schedules
them (:mod:`w2v_spark.sgns.resident_epochs`) and holds only what is O(vocabulary): counts and deals.

These functions take and return plain values (no Spark objects besides the broadcast tables),
so tests can run a whole epoch in one process and compare it with Spark's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from w2v_spark.sgns.plan import EpochPlan, freeze_worker_heap, inject_failure
from w2v_spark.sgns.slices import (
    INPUT,
    IdRanges,
    Layout,
    StratumLayout,
    initial_rows,
    part_path,
    read_slices,
    read_windows,
    sources,
    write_slices,
)
from w2v_spark.sgns.strata import Deal
from w2v_spark.sgns.stratum import slice_words, stage_key, train_stratum
from w2v_spark.spark.files import FileSystem


@dataclass(frozen=True)
class LayoutSpec:
    """A :class:`~w2v_spark.sgns.slices.Layout` small enough to travel in a task's closure: id
    ranges (``deal`` None) or stratum ``stratum`` of a ``deal`` that the task looks up in the
    broadcast deals (``("epoch", e, round)``)."""

    parts: int
    vocab_size: int
    deal: tuple[int, int] | None = None  # (epoch, round)
    stratum: int = 0

    def resolve(self, deals: dict[tuple[int, int], Deal]) -> Layout:
        if self.deal is None:
            return IdRanges(self.vocab_size, self.parts)
        return StratumLayout(deals[self.deal], self.stratum, self.parts)


def _read_rows(fs, directory: str, previous: Layout, trainer: int, words, dim: int):
    paths = [part_path(directory, s) for s in sources(previous, words)]
    return read_slices(fs, paths, trainer, words, dim)


def entry_task(trainer: int, *, vocab_size: int, dim: int, seed: int, following: Layout,
               directory: str, checkpoint: tuple[str, str] | None = None) -> None:
    """Trainer ``trainer`` of :class:`IdRanges` puts the model's first state into
    ``directory``: its rows drawn afresh (:func:`~w2v_spark.sgns.slices.initial_rows`, output
    vectors zero) or read from a driver-written checkpoint (``(syn0.npy, syn1.npy)`` paths), then
    written for the first stratum's trainers (``following``)."""
    freeze_worker_heap()
    ranges = IdRanges(vocab_size, following.parts)
    words = ranges.words(INPUT, trainer)
    lo, hi = int(ranges.bounds[trainer]), int(ranges.bounds[trainer + 1])
    if checkpoint is None:
        values = (initial_rows(lo, hi, dim, seed), np.zeros((hi - lo, dim), np.float32))
    else:
        values = tuple(_npy_rows(path, lo, hi, dim) for path in checkpoint)
    path = part_path(directory, trainer)
    write_slices(FileSystem(path), path, following, (words, words), values)


def _npy_rows(path: str, lo: int, hi: int, dim: int) -> np.ndarray:
    """Rows ``[lo, hi)`` of the ``(V, dim) float32`` matrix in the ``.npy`` file ``path``."""
    fs = FileSystem(path)
    with fs.open_input(path) as file:
        version = np.lib.format.read_magic(file)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, fortran, dtype = read_header(file)
        if fortran or dtype != np.float32 or shape[1] != dim:
            raise RuntimeError(f"{path}: expected a C-ordered float32 matrix of {dim} columns")
        start = file.tell()
        data = file.read_at(4 * dim * (hi - lo), start + 4 * dim * lo)
    return np.frombuffer(data, np.float32).reshape(hi - lo, dim).copy()


def stratum_task(trainer: int, *, tables, deal: Deal, plan: EpochPlan, round_index: int,
                 stratum: int, dim: int, previous: Layout, previous_directory: str,
                 following: Layout, directory: str, blocks: str) -> tuple:
    """Trainer ``trainer`` in stratum ``stratum`` of round ``round_index`` (dealt by ``deal``):
    read its two slices (the rows of :func:`~w2v_spark.sgns.stratum.slice_words`) from the files
    the previous stage's trainers (``previous``) left in ``previous_directory``, its block from
    the epoch's block files in ``blocks`` (one per data partition), train, and write its slices
    for ``following``'s trainers into ``directory``.

    Returns ``(raw words, trained words, pairs, loss, finite)``; ``finite``: no NaN or Inf in its
    slices after training."""
    freeze_worker_heap()
    if round_index == 0 and stratum == min(1, plan.partitions - 1):  # mid-epoch
        inject_failure(plan, trainer)
    words = slice_words(deal, trainer, stratum, plan.partitions)
    fs = FileSystem(directory)
    syn0, syn1 = _read_rows(fs, previous_directory, previous, trainer, words, dim)
    key = stage_key(round_index * plan.partitions + stratum, trainer, plan.partitions)
    raw, kept, windows = read_windows(fs, blocks, key, plan.partitions)
    pairs, loss = train_stratum(trainer, windows, syn0, syn1, deal=deal, table=tables.value,
                                plan=plan, round_index=round_index, stratum=stratum)
    finite = bool(np.isfinite(syn0).all() and np.isfinite(syn1).all())
    write_slices(fs, part_path(directory, trainer), following, words, (syn0, syn1))
    return raw, kept, pairs, loss, finite


def embeddings_task(trainer: int, *, words, counts, dim: int, previous: Layout,
                    previous_directory: str, output: str) -> int:
    """Trainer ``trainer`` of :class:`IdRanges` writes its range of ids as file ``trainer`` of
    ``output`` (:func:`~w2v_spark.vectors.word2vec_format.embeddings_part`), from the run's last
    slice files. Returns the rows written."""
    # Here, not at the top: the trainers' workers need no Parquet writer (≈ 20 ms to import).
    from w2v_spark.vectors.word2vec_format import embeddings_part

    freeze_worker_heap()
    ranges = IdRanges(len(counts), previous.parts)
    ids = ranges.words(INPUT, trainer)
    syn0, _ = _read_rows(FileSystem(output), previous_directory, previous, trainer, (ids, None),
                         dim)
    lo = int(ranges.bounds[trainer])
    embeddings_part(output, trainer, words[lo : lo + ids.size], counts[ids], syn0, lo)
    return int(ids.size)


