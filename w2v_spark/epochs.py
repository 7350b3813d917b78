"""One training epoch on Spark, in one of two ways (``[sgns] partition_mode``).

``"stratified"`` (default): ownership of model rows (:mod:`w2v_spark.strata`). Each data
partition cuts its windows into blocks of (round, stratum, bucket); one shuffle per epoch brings
every block to its trainer; then, round after round, ``P`` strata run one after the other, each
as a stage of ``P`` trainers whose rows are disjoint. A trainer holds only its two slices of the
model, which travel to the next stratum's trainers through a shuffle: no averaging, and the
driver sees the model once per epoch, not once per stratum. (In local mode blocks and slices
travel through files instead: :class:`_BlockFiles`, :class:`_SharedModel`; and when the local
master runs all ``P`` trainers at once, each trainer runs every stratum of the epoch in one task,
the trainers waiting for each other between strata: :func:`_gang_task`.)

``"averaging"``: every partition trains a copy of the whole model on its own documents and the
driver averages the copies' changes, each row weighted by how often each partition touched it.
Cheaper per epoch, but loses quality as partitions grow (see BENCHMARKS.md).
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from py4j.protocol import Py4JJavaError
from pyspark import RDD, Broadcast, InheritableThread, TaskContext

from w2v_spark.merge import RowUpdate, merge_updates
from w2v_spark.packed import join_records
from w2v_spark.sampling import NoiseTable, build_noise_table
from w2v_spark.sgns import (
    PartitionStats,
    TrainSettings,
    Windows,
    document_slices,
    sample_windows,
    train_partition,
    train_windows,
)
from w2v_spark.strata import Deal, assign_buckets, pack_block, split_blocks, unpack_block

if TYPE_CHECKING:
    from w2v_spark.session import LocalMaster

log = logging.getLogger(__name__)


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


#: Tokens the block cutter samples windows for at a time (``EpochPlan.slice_tokens``, which tests
#: set lower to cut many slices from a small corpus). Its temporaries then stay within a
#: few MB (cache-resident, and recycled by the worker's malloc from the first slice on) instead of
#: ~200 MB of fresh pages in a worker's first task: cutting a bench-en partition took 0.92 s in a
#: new process and 0.30 s after with 1M-token slices, 0.27 s throughout with 64k (scratch bench,
#: THP on madvise); the first epoch's map stage at local[2] went from 1.43 s to 0.59-0.73 s.
BLOCK_SLICE_TOKENS = 1 << 16


@dataclass(frozen=True)
class EpochPlan:
    """What every task of one epoch needs to know besides the model."""

    settings: TrainSettings
    seed: int
    epoch: int
    epochs: int
    partitions: int
    rounds: int = 1
    slice_tokens: int = BLOCK_SLICE_TOKENS
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
        #: The phase entered last (kept after it ends or fails): where a failure happened.
        self.current: str | None = None

    def rounded(self) -> dict[str, float]:
        return {phase: round(seconds, 3) for phase, seconds in self.seconds.items()}

    @contextmanager
    def __call__(self, phase: str):
        if self._log is not None:
            self._log.info("%s ...", phase)
        self.current = phase
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] += time.perf_counter() - start


def _freeze_worker_heap() -> None:
    """Move every object the Python worker holds now (its imports, numba's compiled kernel and
    type system) out of the cyclic garbage collector's reach, at the start of each task.

    A training task allocates few container objects, but each full collection walks the whole
    heap, and numba's objects make it large: on bench-en the collector took ≈ 4.5 % of the
    trainers' CPU (``perf``, 5 epochs, ``local[2]``). Frozen objects are still freed by reference
    counting; only cycles among them stay (a task's records hold none)."""
    gc.freeze()


def _inject_failure(plan: EpochPlan, partition: int, job_attempt: int | None = None) -> None:
    """``[debug] fail_task_once``: the first attempt of this task exits its Python worker hard,
    as an executor lost to the OOM killer would; Spark then retries it. With ``job_attempt`` (a
    trainer of the gang path, which the driver retries as a whole job): the job's first attempt."""
    if plan.fail_task_once != (plan.epoch + 1, partition):
        return
    if job_attempt is None:
        context = TaskContext.get()
        first = context is not None and context.attemptNumber() == 0
    else:
        first = job_attempt == 0
    if first:
        os._exit(17)


# --- averaging -------------------------------------------------------------------------------

def _average_task(partition, rows, *, model, tables, plan):
    _freeze_worker_heap()
    _inject_failure(plan, partition)
    syn0_start, syn1_start = model.value
    table = tables.value
    syn0, syn1 = syn0_start.copy(), syn1_start.copy()
    # One pass over the partition's documents in order, whatever its number of packed records:
    # the learning rate decays once over the epoch and one generator draws every window.
    ids, offsets = join_records(rows)
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


class AveragingEpochs:
    """Runs averaging epochs over the cached ``corpus``, one Spark job each."""

    def __init__(self, sc, corpus, tables):
        self._sc, self._corpus, self._tables = sc, corpus, tables

    def run(self, syn0, syn1, plan: EpochPlan, split: Split,
            ahead: EpochPlan | None = None) -> tuple:
        """Returns ``(raw words, trained words, pairs, loss)``; updates ``syn0``/``syn1`` in
        place. (``ahead`` is ignored: every task needs the model.)"""
        with split("broadcast"):
            model = self._sc.broadcast((syn0, syn1))
        try:
            with split("train"):
                task = functools.partial(_average_task, model=model, tables=self._tables,
                                         plan=plan)
                results = sorted(self._corpus.mapPartitionsWithIndex(task).collect(),
                                 key=lambda r: r[0])
        finally:
            model.destroy()
        with split("merge"):
            merge_updates(syn0, [r[2] for r in results])
            merge_updates(syn1, [r[3] for r in results])
        return tuple(sum(r[1][i] for r in results) for i in range(4))

    def close(self) -> None:
        pass


# --- stratified ------------------------------------------------------------------------------

def round_documents(offsets: np.ndarray, round_index: int, rounds: int) -> tuple[int, int]:
    """Documents ``[lo, hi)`` of round ``round_index`` of ``rounds``: consecutive runs of about
    equal token counts."""
    total = offsets[-1] - offsets[0]
    cut = [int(np.searchsorted(offsets, offsets[0] + total * r / rounds, side="left"))
           for r in (round_index, round_index + 1)]
    documents = offsets.shape[0] - 1
    return min(cut[0], documents), min(cut[1], documents) if round_index + 1 < rounds else documents


class _StoredBlock(NamedTuple):
    """Where a piece of a block was written in local mode (:class:`_BlockFiles`): its arrays, as
    ``(dtype, length)`` in ``layout``, one after the other from byte ``offset`` of ``path``."""

    path: str
    offset: int
    layout: tuple[tuple[str, int], ...]

    def load(self) -> tuple[np.ndarray, ...]:
        with open(self.path, "rb") as file:
            file.seek(self.offset)
            return tuple(np.fromfile(file, dtype=dtype, count=length)
                         for dtype, length in self.layout)


class _BlockFiles:
    """Local mode: one map task's blocks, written to files for the trainers to read instead of
    travelling through the shuffle, which then carries only where they are (:class:`_StoredBlock`).

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

    def put(self, key: int, arrays: tuple[np.ndarray, ...]) -> _StoredBlock:
        """Append ``arrays`` (contiguous) to the file of shuffle key ``key``."""
        file = self._files.get(key)
        if file is None:
            path = os.path.join(self._directory, f"{key}-{self._partition}.bin")
            file = self._files[key] = open(path, "wb")  # noqa: SIM115 - closed in close()
        stored = _StoredBlock(file.name, file.tell(),
                              tuple((array.dtype.str, array.size) for array in arrays))
        for array in arrays:
            file.write(np.ascontiguousarray(array).data)
        return stored

    def close(self) -> None:
        for file in self._files.values():
            file.close()
        self._files.clear()


def _block_task(partition, rows, *, tables, deals, plan, directory=None):
    """Map side: this data partition's windows of every round of the epoch, cut into the blocks
    of :func:`~w2v_spark.strata.block_id` (stratum, centre bucket), ``plan.slice_tokens`` tokens at
    a time, with word ids translated to rows of the trainers' slices. Keyed by :func:`_stage_key`
    (stage, trainer = centre bucket); pieces are ordered by (partition, slice) downstream. With
    a ``directory`` (local mode) the pieces go to files there and the records say where."""
    _freeze_worker_heap()
    _inject_failure(plan, partition)
    files = _BlockFiles(directory, partition) if directory is not None else None
    try:
        yield from _cut_blocks(partition, rows, tables=tables, deals=deals, plan=plan, files=files)
    finally:
        if files is not None:
            files.close()


def _cut_blocks(partition, rows, *, tables, deals, plan, files):
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
                    shuffle_key = _stage_key(stage, trainer, plan.partitions)
                    packed = pack_block(local, deal.largest)
                    yield shuffle_key, (
                        _BLOCK, (partition, piece),
                        (int(last - first), kept) if key == 0 else (0, 0),
                        packed if files is None else files.put(shuffle_key, packed),
                    )


# Record kinds of the stratified epoch's stages (the first item of every value).
_BLOCK, _ROWS, _STATS = 0, 1, 2
# Model slices: which matrix.
_INPUT, _OUTPUT = 0, 1


def _stage_key(stage: int, trainer: int, partitions: int) -> int:
    """Shuffle key of what trainer ``trainer`` needs in stage ``stage`` (``round * P + stratum``):
    every stratified shuffle has ``stages × P`` partitions, one per (stage, trainer)."""
    return stage * partitions + trainer


def _trainer_of_key(partitions: int, key: int) -> int:
    """Partition function of a gang's blocks: the trainer of :func:`_stage_key` ``key``."""
    return key % partitions


def _identity(key: int) -> int:
    """Partition function of every stratified shuffle: the key is the partition."""
    return key


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


def _slice(kind: int, words: np.ndarray, pieces: list, dim: int) -> np.ndarray:
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


def _slice_words(deal: Deal, trainer: int, stratum: int,
                 partitions: int) -> tuple[np.ndarray, np.ndarray]:
    """``(input rows, output rows)``: the word ids of the two slices that trainer ``trainer``
    holds in stratum ``stratum`` — the input vectors (``syn0``) of bucket ``(trainer + stratum)
    mod P`` and the output vectors (``syn1``) of bucket ``trainer``."""
    return deal.words((trainer + stratum) % partitions), deal.words(trainer)


def _train_block(trainer, pieces, syn0, syn1, *, deal, table, plan, round_index, stratum):
    """Train trainer ``trainer``'s block of (``round_index``, ``stratum``), put together from its
    ``_BLOCK`` records ``pieces`` (in any order), on its slices ``syn0`` / ``syn1`` (float32, rows
    as :func:`_slice_words`) in place. Returns the stratum's ``(raw words, trained words, pairs,
    loss)``."""
    pieces = sorted(pieces, key=lambda piece: piece[1])  # fixed order, whatever the shuffle's
    windows = Windows.concatenate([
        unpack_block(piece[3].load() if isinstance(piece[3], _StoredBlock) else piece[3])
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


def _stratum_task(trainer, rows, *, model, shared, tables, deals, plan, stratum, round_index,
                  last, dim):
    """One trainer in one stratum: train its block, then send its model slices on.

    Trainer ``b`` holds the output vectors (``syn1``) of bucket ``b`` and the input vectors
    (``syn0``) of bucket ``(b + stratum) mod P``: exactly the rows its block reads and writes.
    In local mode they come from and go back to the ``shared`` model (:class:`_SharedModel`).
    Otherwise they come from ``model`` (the driver's broadcast, in the epoch's first stage) or
    from the previous stage's ``_ROWS`` records, and leave as ``_ROWS`` records keyed by the
    trainer that needs them next (the driver, after the epoch's last stage). ``_STATS`` records
    of all earlier stages are passed on, so that the last stage carries the epoch's statistics.
    """
    _freeze_worker_heap()
    pieces, received, carried = [], [], []
    for _, value in rows:
        if value[0] == _BLOCK:
            pieces.append(value)
        elif value[0] == _ROWS:
            received.append(value)
        else:
            carried.append(value)
    deal = deals.value[round_index]
    input_words, output_words = _slice_words(deal, trainer, stratum, plan.partitions)
    stage = round_index * plan.partitions + stratum
    if shared is not None:
        syn0, syn1 = shared.take(stage, (input_words, output_words))
    elif model is not None:
        syn0_full, syn1_full = model.value
        syn0, syn1 = syn0_full[input_words], syn1_full[output_words]  # copies
    else:
        syn0 = _slice(_INPUT, input_words, received, dim)
        syn1 = _slice(_OUTPUT, output_words, received, dim)
    del received
    numbers = _train_block(trainer, pieces, syn0, syn1, deal=deal, table=tables.value, plan=plan,
                           round_index=round_index, stratum=stratum)
    key = _stage_key(stage + 1, trainer, plan.partitions)
    yield key, (_STATS, (round_index, stratum, trainer), numbers)
    for record in carried:
        yield key, record
    if shared is not None:  # written before the task ends, so before the next stage starts
        shared.put(stage, (input_words, output_words), (syn0, syn1))
        return
    if last:
        yield key, (_ROWS, _INPUT, input_words, syn0)
        yield key, (_ROWS, _OUTPUT, output_words, syn1)
        return
    next_round, next_stratum = divmod(stage + 1, plan.partitions)
    for kind, words, values in ((_INPUT, input_words, syn0), (_OUTPUT, output_words, syn1)):
        # Who holds these rows in the next stage: the output rows of bucket q go to trainer q,
        # the input rows of bucket q to the trainer whose context bucket is q.
        bucket = deals.value[next_round].bucket[words]
        holder = bucket if kind == _OUTPUT else (bucket - next_stratum) % plan.partitions
        for target in np.unique(holder):
            mine = holder == target
            yield _stage_key(stage + 1, int(target), plan.partitions), (
                _ROWS, kind, words[mine], values[mine])


def _gang_task(trainer, rows, *, shared, tables, deals, plan, token, job_attempt):
    """Local mode, all trainers at once: trainer ``trainer`` runs every stratum of the epoch in
    this one task, and waits for the other trainers between strata (:class:`_FileBarrier`).

    Each stratum is what :func:`_stratum_task` does in a stage of its own: the trainer copies its
    two slices out of the shared model, trains its block, and writes them back; the barrier then
    stands in for the stage boundary (every trainer has written its rows before any reads the
    next stratum's). ``rows`` are the ``_BLOCK`` records of all its strata, keyed by
    :func:`_stage_key`. Yields a ``_STATS`` record per stratum.

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
    _freeze_worker_heap()
    parts = plan.partitions
    inputs: list[list] = [[] for _ in range(plan.rounds * parts)]
    for key, value in rows:
        inputs[key // parts].append(value)
    barrier = _FileBarrier(os.path.join(shared.directory, f"barrier-{token}"), parts)
    try:
        for stage, pieces in enumerate(inputs):
            if stage == 1:  # mid-epoch: the other trainers wait at the barrier or train
                _inject_failure(plan, trainer, job_attempt)
            round_index, stratum = divmod(stage, parts)
            deal = deals.value[round_index]
            words = _slice_words(deal, trainer, stratum, parts)
            syn0, syn1 = shared.take(stage, words)
            numbers = _train_block(trainer, pieces, syn0, syn1, deal=deal, table=tables.value,
                                   plan=plan, round_index=round_index, stratum=stratum)
            shared.put(stage, words, (syn0, syn1))
            yield stage, (_STATS, (round_index, stratum, trainer), numbers)
            if stage + 1 < len(inputs):
                barrier.wait()
    finally:
        barrier.close()


class _FileBarrier:
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


class _SharedModel:
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

    With ``gang`` (:func:`_gang_task`: a failure reruns the whole epoch, not one stage) the first
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

    def write(self, syn0: np.ndarray, syn1: np.ndarray) -> "_SharedModel":
        """Buffer 0 := ``(syn0, syn1)``; a new file if the shape changed."""
        shape = (2, 2, *syn0.shape)
        try:
            stored = np.load(self.path, mmap_mode="r+")
        except FileNotFoundError:
            stored = None
        if stored is None or stored.shape != shape or stored.dtype != np.float32:
            stored = np.lib.format.open_memmap(self.path, mode="w+", dtype=np.float32, shape=shape)
        stored[0, _INPUT], stored[0, _OUTPUT] = syn0, syn1
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


@dataclass
class _Blocks:
    """One epoch's blocks, shuffled to their (stage, trainer) partitions (``stages × P`` of
    them; a gang's to one partition per trainer), and the broadcast deals they were cut with.
    ``map_stage`` is the JVM's future of the map stage when it was submitted as a job of its own
    (ahead of the epoch's job, or, for a gang, before it)."""

    plan: EpochPlan
    rdd: RDD
    deals: Broadcast  # list[Deal], one per round
    directory: str | None = None  # local mode: where the blocks are (_BlockFiles)
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
    stratum share the model through a file (:class:`_SharedModel`) and read their blocks from
    the files the map tasks wrote (:class:`_BlockFiles`); the shuffles carry only where the
    blocks are and statistics. The epoch's shuffles (and block files) are removed when it ends.

    When the local master runs all ``P`` trainers at once (``local[N]`` with ``N ≥ P``), the
    epoch's job is one barrier stage instead of a stage per stratum: each trainer runs every
    stratum in one task and waits for the others between strata (:func:`_gang_task`). That saves
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
        can share the model through a file (:class:`_SharedModel`) instead of a broadcast and
        shuffles, and read their blocks from files (:class:`_BlockFiles`); and when the master
        runs ``P`` tasks at once, they train as one gang (:func:`_gang_task`)."""
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
            return _SharedModel(self._model_directory).write(syn0, syn1), None
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
            _block_task, tables=self._tables, deals=deals, plan=plan, directory=directory,
        ))
        # A gang's trainer reads the blocks of all its stages at once: one partition each.
        rdd = (rdd.partitionBy(parts, functools.partial(_trainer_of_key, parts))
               if self._gang(plan) else rdd.partitionBy(plan.rounds * parts * parts, _identity))
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
                syn0[...], syn1[...] = trained[_INPUT], trained[_OUTPUT]
                del trained
            for _, kind, words, values in (r for r in records if r[0] == _ROWS):
                (syn0 if kind == _INPUT else syn1)[words] = values
            totals = np.zeros(4)
            # Summed in (round, stratum, trainer) order: the loss is the same float every run.
            for _, _, numbers in sorted((r for r in records if r[0] == _STATS), key=lambda r: r[1]):
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
        shuffled = []
        with split("broadcast"):
            shared, broadcast = self._send_model(syn0, syn1)
        try:
            stages = [(r, s) for r in range(plan.rounds) for s in range(parts)]
            keys = len(stages) * parts
            state = None  # the previous stage's model slices, shuffled to their trainers
            for index, (round_index, stratum) in enumerate(stages):
                last = index == len(stages) - 1
                # Both sides are partitioned by _identity, so the union pairs the blocks of
                # (stage, trainer) with the slices sent to it (no shuffle of its own); then only
                # this stage's partitions are kept.
                inputs = _stage_inputs(blocks.rdd if state is None else blocks.rdd.union(state),
                                       index, parts)
                state = inputs.mapPartitionsWithIndex(functools.partial(
                    _stratum_task, model=broadcast if index == 0 else None, shared=shared,
                    tables=self._tables,
                    deals=blocks.deals, plan=plan, stratum=stratum, round_index=round_index,
                    last=last, dim=syn0.shape[1],
                ))
                if not last:
                    state = state.partitionBy(keys, _identity)
                    shuffled.append(state)
            with split("train"):
                records = _collect_then(self._sc, state, lambda: self._cut_ahead(ahead))
        finally:
            if broadcast is not None:
                broadcast.destroy()
            _remove_shuffles(self._sc, shuffled)
        return shared, [value for _, value in records]

    def _train_gang(self, blocks, syn0, syn1, plan, split, ahead):
        """The epoch as one barrier stage of ``P`` trainers (:func:`_gang_task`), run again from
        the epoch's start when it fails, up to the master's attempts per task. Returns
        ``(shared model, records)``."""
        if blocks.map_stage is None:
            # A job of its own, even when not cut ahead: as the first stage of the epoch's job,
            # the cores it frees one by one would go to the next epoch's cut (queued as the job
            # starts), and the trainers, which start all at once, would wait for that too.
            blocks.submit(self._sc, f"epoch {plan.epoch + 1}/{plan.epochs}: cutting blocks")
        with split("broadcast"):
            shared = _SharedModel(self._model_directory, gang=True).write(syn0, syn1)
        with split("train"):
            blocks.map_stage.get()  # the trainers start once every block is cut
            for attempt in range(self._local.attempts):
                gang = blocks.rdd.barrier().mapPartitionsWithIndex(functools.partial(
                    _gang_task, shared=shared, tables=self._tables, deals=blocks.deals,
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
                    shared = _SharedModel(self._model_directory, gang=True).write(syn0, syn1)
        return shared, [value for _, value in records]

    def close(self) -> None:
        """Cancel and release blocks cut ahead for an epoch that will not run."""
        if self._next is not None:
            self._next.release()
            self._next = None
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None
