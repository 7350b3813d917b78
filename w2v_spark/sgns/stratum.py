"""The stratified epoch's tasks, apart from how Spark moves their inputs: cutting a partition's
windows into blocks (round, stratum, bucket), training one trainer's block on its two model
slices, and passing the slices on; and, for local mode, the files through which trainers on one
machine share blocks and the model (:class:`BlockFiles`, :class:`SharedModel`) and wait for each
other (:class:`FileBarrier`, :func:`gang_task`). :mod:`w2v_spark.sgns.epochs` schedules them."""

from __future__ import annotations

import os
import time
from typing import NamedTuple

import numpy as np

from w2v_spark.sgns.kernel import (
    PartitionStats,
    Windows,
    document_slices,
    sample_windows,
    train_windows,
)
from w2v_spark.sgns.plan import freeze_worker_heap, inject_failure
from w2v_spark.sgns.strata import Deal, pack_block, split_blocks, unpack_block


def round_documents(offsets: np.ndarray, round_index: int, rounds: int) -> tuple[int, int]:
    """Documents ``[lo, hi)`` of round ``round_index`` of ``rounds``: consecutive runs of about
    equal token counts."""
    total = offsets[-1] - offsets[0]
    cut = [int(np.searchsorted(offsets, offsets[0] + total * r / rounds, side="left"))
           for r in (round_index, round_index + 1)]
    documents = offsets.shape[0] - 1
    return min(cut[0], documents), min(cut[1], documents) if round_index + 1 < rounds else documents


class StoredBlock(NamedTuple):
    """Where a piece of a block was written in local mode (:class:`BlockFiles`): its arrays, as
    ``(dtype, length)`` in ``layout``, one after the other from byte ``offset`` of ``path``."""

    path: str
    offset: int
    layout: tuple[tuple[str, int], ...]

    def load(self) -> tuple[np.ndarray, ...]:
        with open(self.path, "rb") as file:
            file.seek(self.offset)
            return tuple(np.fromfile(file, dtype=dtype, count=length)
                         for dtype, length in self.layout)


class BlockFiles:
    """Local mode: one map task's blocks, written to files for the trainers to read instead of
    travelling through the shuffle, which then carries only where they are (:class:`StoredBlock`).

    In local mode the trainers share the machine, and a shuffled block is copied four times
    between the map task and its trainer: pickled by Python into the JVM, written to a shuffle
    file, read back by the JVM and sent to the trainer, which unpickles it (bench-en: 57 MB per
    epoch; the JVM's CPU over a run 2.8 → 2.3 s without them, on the cores that train). Here
    each piece is written once, into the file of its (stage, trainer), and read once. A retried
    task rewrites its files (the same bytes: its windows come from seeded generators); the
    directory is one epoch's and goes when the epoch ends (:meth:`_Blocks.release`).
    """

    def __init__(self, directory: str, partition: int):
        self._directory, self._partition = directory, partition
        self._files: dict[int, object] = {}

    def put(self, key: int, arrays: tuple[np.ndarray, ...]) -> StoredBlock:
        """Append ``arrays`` (contiguous) to the file of shuffle key ``key``."""
        file = self._files.get(key)
        if file is None:
            path = os.path.join(self._directory, f"{key}-{self._partition}.bin")
            file = self._files[key] = open(path, "wb")  # noqa: SIM115 - closed in close()
        stored = StoredBlock(file.name, file.tell(),
                              tuple((array.dtype.str, array.size) for array in arrays))
        for array in arrays:
            file.write(np.ascontiguousarray(array).data)
        return stored

    def close(self) -> None:
        for file in self._files.values():
            file.close()
        self._files.clear()


def block_task(partition, rows, *, tables, deals, plan, directory=None):
    """Map side: this data partition's windows of every round of the epoch, cut into the blocks
    of :func:`~w2v_spark.sgns.strata.block_id` (stratum, centre bucket), ``plan.slice_tokens`` tokens at
    a time, with word ids translated to rows of the trainers' slices. Keyed by :func:`stage_key`
    (stage, trainer = centre bucket); pieces are ordered by (partition, slice) downstream. With
    a ``directory`` (local mode) the pieces go to files there and the records say where."""
    freeze_worker_heap()
    inject_failure(plan, partition)
    files = BlockFiles(directory, partition) if directory is not None else None
    try:
        yield from cut_blocks(partition, rows, tables=tables, deals=deals, plan=plan, files=files)
    finally:
        if files is not None:
            files.close()


def cut_blocks(partition, rows, *, tables, deals, plan, files):
    table = tables.value
    # A partition may hold several packed records (train.PACKED_RECORD_TOKENS): each round takes
    # its share of every record, one generator per round draws its windows across all of them,
    # and pieces are numbered per round across records (their order downstream).
    rngs = [plan.rng(partition, 0, round_index) for round_index in range(plan.rounds)]
    pieces = [0] * plan.rounds
    for ids, offsets in rows:
        for round_index in range(plan.rounds):
            rng = rngs[round_index]
            deal = deals.value[round_index]
            start, stop = round_documents(offsets, round_index, plan.rounds)
            part = offsets[start : stop + 1]
            for lo, hi in document_slices(part, plan.slice_tokens):
                piece, pieces[round_index] = pieces[round_index], pieces[round_index] + 1
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
                    shuffle_key = stage_key(stage, trainer, plan.partitions)
                    packed = pack_block(local, deal.largest)
                    yield shuffle_key, (
                        BLOCK, (partition, piece),
                        (int(last - first), kept) if key == 0 else (0, 0),
                        packed if files is None else files.put(shuffle_key, packed),
                    )


# Record kinds of the stratified epoch's stages (the first item of every value).
BLOCK, ROWS, STATS = 0, 1, 2
# Model slices: which matrix.
INPUT, OUTPUT = 0, 1


def stage_key(stage: int, trainer: int, partitions: int) -> int:
    """Shuffle key of what trainer ``trainer`` needs in stage ``stage`` (``round * P + stratum``):
    every stratified shuffle has ``stages × P`` partitions, one per (stage, trainer)."""
    return stage * partitions + trainer


def trainer_of_key(partitions: int, key: int) -> int:
    """Partition function of a gang's blocks: the trainer of :func:`stage_key` ``key``."""
    return key % partitions


def identity_partition(key: int) -> int:
    """Partition function of every stratified shuffle: the key is the partition."""
    return key


def gather_slice(kind: int, words: np.ndarray, pieces: list, dim: int) -> np.ndarray:
    """Rows ``words`` (ascending) of one matrix, ``(len(words), dim) float32``, put together from
    the ``(kind, words, values)`` pieces the previous stage sent, whatever order they came in. An
    empty bucket (fewer words than partitions) gets no piece and an empty slice."""
    parts = [p for p in pieces if p[1] == kind]
    got = np.concatenate([np.zeros(0, np.int32)] + [p[2] for p in parts])
    order = np.argsort(got, kind="stable")
    if not np.array_equal(got[order], words):
        raise RuntimeError(f"stratified epoch: a trainer received {got.size} rows of matrix "
                           f"{kind} instead of its slice's {words.size}")
    return np.concatenate([np.zeros((0, dim), np.float32)] + [p[3] for p in parts])[order]


def slice_words(deal: Deal, trainer: int, stratum: int,
                 partitions: int) -> tuple[np.ndarray, np.ndarray]:
    """``(input rows, output rows)``: the word ids of the two slices that trainer ``trainer``
    holds in stratum ``stratum`` — the input vectors (``syn0``) of bucket ``(trainer + stratum)
    mod P`` and the output vectors (``syn1``) of bucket ``trainer``."""
    return deal.words((trainer + stratum) % partitions), deal.words(trainer)


def train_block(trainer, pieces, syn0, syn1, *, deal, table, plan, round_index, stratum):
    """Train trainer ``trainer``'s block of (``round_index``, ``stratum``), put together from its
    ``BLOCK`` records ``pieces`` (in any order), on its slices ``syn0`` / ``syn1`` (float32, rows
    as :func:`slice_words`) in place. Returns the stratum's ``(raw words, trained words, pairs,
    loss)``."""
    pieces = sorted(pieces, key=lambda piece: piece[1])  # fixed order, whatever the shuffle's
    windows = Windows.concatenate([
        unpack_block(piece[3].load() if isinstance(piece[3], StoredBlock) else piece[3])
        for piece in pieces
    ])
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
    return sum(p[2][0] for p in pieces), sum(p[2][1] for p in pieces), stats.pairs, stats.loss


def stratum_task(trainer, rows, *, model, shared, tables, deals, plan, stratum, round_index,
                  last, dim):
    """One trainer in one stratum: train its block, then send its model slices on.

    Trainer ``b`` holds the output vectors (``syn1``) of bucket ``b`` and the input vectors
    (``syn0``) of bucket ``(b + stratum) mod P``: exactly the rows its block reads and writes.
    In local mode they come from and go back to the ``shared`` model (:class:`SharedModel`).
    Otherwise they come from ``model`` (the driver's broadcast, in the epoch's first stage) or
    from the previous stage's ``ROWS`` records, and leave as ``ROWS`` records keyed by the
    trainer that needs them next (the driver, after the epoch's last stage). ``STATS`` records
    of all earlier stages are passed on, so that the last stage carries the epoch's statistics.
    """
    freeze_worker_heap()
    pieces, received, carried = [], [], []
    for _, value in rows:
        if value[0] == BLOCK:
            pieces.append(value)
        elif value[0] == ROWS:
            received.append(value)
        else:
            carried.append(value)
    deal = deals.value[round_index]
    input_words, output_words = slice_words(deal, trainer, stratum, plan.partitions)
    stage = round_index * plan.partitions + stratum
    if shared is not None:
        syn0, syn1 = shared.take(stage, (input_words, output_words))
    elif model is not None:
        syn0_full, syn1_full = model.value
        syn0, syn1 = syn0_full[input_words], syn1_full[output_words]  # copies
    else:
        syn0 = gather_slice(INPUT, input_words, received, dim)
        syn1 = gather_slice(OUTPUT, output_words, received, dim)
    del received
    numbers = train_block(trainer, pieces, syn0, syn1, deal=deal, table=tables.value, plan=plan,
                           round_index=round_index, stratum=stratum)
    key = stage_key(stage + 1, trainer, plan.partitions)
    yield key, (STATS, (round_index, stratum, trainer), numbers)
    for record in carried:
        yield key, record
    if shared is not None:  # written before the task ends, so before the next stage starts
        shared.put(stage, (input_words, output_words), (syn0, syn1))
        return
    if last:
        yield key, (ROWS, INPUT, input_words, syn0)
        yield key, (ROWS, OUTPUT, output_words, syn1)
        return
    next_round, next_stratum = divmod(stage + 1, plan.partitions)
    for kind, words, values in ((INPUT, input_words, syn0), (OUTPUT, output_words, syn1)):
        # Who holds these rows in the next stage: the output rows of bucket q go to trainer q,
        # the input rows of bucket q to the trainer whose context bucket is q.
        bucket = deals.value[next_round].bucket[words]
        holder = bucket if kind == OUTPUT else (bucket - next_stratum) % plan.partitions
        for target in np.unique(holder):
            mine = holder == target
            yield stage_key(stage + 1, int(target), plan.partitions), (
                ROWS, kind, words[mine], values[mine])


def gang_task(trainer, rows, *, shared, tables, deals, plan, token, job_attempt):
    """Local mode, all trainers at once: trainer ``trainer`` runs every stratum of the epoch in
    this one task, and waits for the other trainers between strata (:class:`FileBarrier`).

    Each stratum is what :func:`stratum_task` does in a stage of its own: the trainer copies its
    two slices out of the shared model, trains its block, and writes them back; the barrier then
    stands in for the stage boundary (every trainer has written its rows before any reads the
    next stratum's). ``rows`` are the ``BLOCK`` records of all its strata, keyed by
    :func:`stage_key`. Yields a ``STATS`` record per stratum.

    The stage is a barrier stage (``RDD.barrier()``): Spark starts its ``P`` tasks together or
    not at all, and when one fails it kills the others and fails the job, which the driver then
    runs again (:meth:`StratifiedEpochs._train_gang`) with a new ``token`` (the barrier's file)
    and a new shared model file (for the later epochs too), so that nothing a dying attempt still
    writes can reach the rerun or what follows.
    Spark's own ``BarrierTaskContext.barrier()`` is not used between strata: the JVM side looks
    for its answer once a second (``BarrierTaskContext.runBarrier`` sleeps a second between
    looks), and on bench-en the trainers left most barriers a second late — epochs of 5.8-7.5 s
    instead of 3.6-3.9 s (``local[2]``, one run each).
    """
    freeze_worker_heap()
    parts = plan.partitions
    inputs: list[list] = [[] for _ in range(plan.rounds * parts)]
    for key, value in rows:
        inputs[key // parts].append(value)
    barrier = FileBarrier(os.path.join(shared.directory, f"barrier-{token}"), parts)
    try:
        for stage, pieces in enumerate(inputs):
            if stage == 1:  # mid-epoch: the other trainers wait at the barrier or train
                inject_failure(plan, trainer, job_attempt)
            round_index, stratum = divmod(stage, parts)
            deal = deals.value[round_index]
            words = slice_words(deal, trainer, stratum, parts)
            syn0, syn1 = shared.take(stage, words)
            numbers = train_block(trainer, pieces, syn0, syn1, deal=deal, table=tables.value,
                                   plan=plan, round_index=round_index, stratum=stratum)
            shared.put(stage, words, (syn0, syn1))
            yield stage, (STATS, (round_index, stratum, trainer), numbers)
            if stage + 1 < len(inputs):
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
    """Local mode: the model the epoch's trainers share, one ``(2, 2, vocab_size, dim) float32``
    file — two copies (``[buffer][syn0 | syn1]``) — that every stratum's trainers map, in place
    of a broadcast and of the model slices' shuffles.

    In local mode the executors share the driver's machine, and moving slices through Spark costs
    copies that nobody needs there: each stage's slices (the whole model) are pickled by the
    trainers, written to shuffle files and read back by the JVM, and unpickled by the next trainers
    (bench-en: ≈ 27 MB per stage), and the first stage's broadcast is pickled into a file, read back
    into torrent blocks and unpickled whole by each trainer (the JVM's CPU over a bench-en run 4.4 →
    2.8 s without them). Here stage ``k`` copies its trainers' rows out of buffer ``k mod 2`` and
    writes them back, trained, into buffer ``(k + 1) mod 2``: within a stage the trainers' rows are
    disjoint and together cover the whole model (every bucket's output rows and, shifted by the
    stratum, every bucket's input rows), so stage ``k`` leaves a whole model for stage ``k + 1``. A
    retried task reads what its first attempt read (stage ``k``'s buffer is written again only by
    stage ``k + 1``, which starts when stage ``k`` has finished) and writes the same rows with the
    same values. Stages still wait for each other through their (now small) shuffles of statistics.

    With ``gang`` (:func:`gang_task`: a failure reruns the whole epoch, not one stage) the first
    stage reads buffer 0 and every stage writes buffer 1, which the later stages read: buffer 0
    keeps the epoch's start for the rerun.

    The driver writes the epoch's model into buffer 0 and reads it back from :meth:`trained`;
    the file is rewritten in place every epoch (its pages stay in the page cache: no fresh
    memory), and only between epochs' jobs; the directory goes in
    :meth:`StratifiedEpochs.close`. (A re-run of a finished stage after a lost shuffle —
    impossible in local mode, where the shuffle files live on the driver's own disk — would read
    a buffer the next stage has overwritten.)
    """

    def __init__(self, directory: str, *, gang: bool = False):
        self.directory, self.gang = directory, gang
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

    def _source(self, stage: int) -> int:
        return min(stage, 1) if self.gang else stage % 2

    def _target(self, stage: int) -> int:
        return 1 if self.gang else (stage + 1) % 2

    def take(self, stage: int, words: tuple[np.ndarray, np.ndarray]) -> list[np.ndarray]:
        """Copies of rows ``words[kind]`` of each matrix as stage ``stage`` starts."""
        model = self.buffer(self._source(stage))
        return [model[kind][rows] for kind, rows in enumerate(words)]

    def put(self, stage: int, words: tuple[np.ndarray, np.ndarray],
            values: tuple[np.ndarray, np.ndarray]) -> None:
        """Rows ``words[kind]`` of each matrix as stage ``stage`` leaves them, for the next."""
        model = self.buffer(self._target(stage), writeable=True)
        for kind, rows in enumerate(words):
            model[kind][rows] = values[kind]

    def trained(self, stages: int) -> np.ndarray:
        """The buffer the last of ``stages`` stages left the epoch's model in, mapped."""
        return self.buffer(self._target(stages - 1))
