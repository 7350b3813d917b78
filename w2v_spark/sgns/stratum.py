"""The stratified epoch's tasks, apart from how Spark schedules them: cutting a data partition's
windows into blocks (round, stratum, bucket) and writing them to a block file
(:func:`cut_task`), training one trainer's block on its two model slices
(:func:`train_stratum`). :mod:`w2v_spark.sgns.resident` and
:mod:`w2v_spark.sgns.resident_epochs` run them as Spark tasks."""

from __future__ import annotations

import numpy as np

from w2v_spark.sgns.kernel import (
    PartitionStats,
    Windows,
    document_slices,
    sample_windows,
    train_windows,
)
from w2v_spark.sgns.plan import freeze_worker_heap, inject_failure
from w2v_spark.sgns.slices import part_path, write_blocks
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
