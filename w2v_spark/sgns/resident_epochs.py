"""The driver's side of executor-resident stratified training (the tasks are in
:mod:`w2v_spark.sgns.resident`): which job runs when, where each stage's files go, and which
files may go. DataFrames only, so that it runs in a classic and a Spark Connect session alike:
the cut is a ``mapInArrow`` over the packed corpus, each stage a job of ``P`` trainers over
``spark.range(P)``, and nothing but a few numbers per task comes back. What every task reads
(tables, deals, the vocabulary) is :class:`~w2v_spark.spark.context.Shared`.

Files, under the run's work directory ``W`` (the checkpoint directory, on storage every executor
reaches):

- ``W/blocks-e<E>/part-<m>.bin``: epoch ``E``'s blocks, one file per data partition, removed
  when the epoch ends;
- ``W/e<E>-s<k>/part-<b>.bin``: the slices trainer ``b`` left after stage ``k`` of epoch ``E``,
  removed once stage ``k + 1`` has read them;
- ``W/epoch=<N>/part-<b>.bin``: the model after epoch ``N`` (its last stage's slices, laid out
  for epoch ``N + 1``'s first stage, or by id ranges after the last epoch); with ``state.json``
  and ``_COMPLETE`` it is a checkpoint (:class:`~w2v_spark.sgns.checkpoint.Checkpoints`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa
from pyspark import TaskContext

from w2v_spark.corpus.pack import ONE_ROW_PER_BATCH, PackedCorpus, partition_records
from w2v_spark.sgns.plan import EpochPlan, Split
from w2v_spark.sgns.resident import LayoutSpec, embeddings_task, entry_task
from w2v_spark.sgns.resident import stratum_task as _stratum_task
from w2v_spark.sgns.slices import part_path, read_all
from w2v_spark.sgns.strata import Deal, assign_buckets
from w2v_spark.sgns.stratum import cut_task
from w2v_spark.spark.context import Shared, cores_of, describe, lent_settings
from w2v_spark.spark.files import FileSystem

log = logging.getLogger(__name__)

_STATS = pa.schema([("trainer", pa.int32()), ("raw", pa.int64()), ("kept", pa.int64()),
                    ("pairs", pa.int64()), ("loss", pa.float64()), ("finite", pa.bool_())])
_STATS_DDL = "trainer int, raw long, kept long, pairs long, loss double, finite boolean"


def _each_trainer(task: Callable[[int], tuple], batches):
    """``mapInArrow`` body: run ``task`` for every trainer id of ``spark.range``'s batches and
    yield one row of ``_STATS`` each."""
    for batch in batches:
        for trainer in batch.column(0).to_pylist():
            numbers = task(int(trainer))
            yield pa.RecordBatch.from_pylist(
                [dict(zip(_STATS.names, (trainer, *numbers), strict=True))], schema=_STATS)


def _entry(trainer, **kwargs):
    kwargs["following"] = kwargs["following"].resolve(kwargs.pop("deals").value)
    entry_task(trainer, **kwargs)
    return 0, 0, 0, 0.0, True


def _stratum(trainer, *, deals, key, previous, following, **kwargs):
    found = deals.value
    return _stratum_task(trainer, deal=found[key], previous=previous.resolve(found),
                         following=following.resolve(found), **kwargs)


def _embeddings(trainer, *, words, deals, previous, **kwargs):
    rows = embeddings_task(trainer, words=words.value[0], counts=words.value[1],
                           previous=previous.resolve(deals.value), **kwargs)
    return rows, 0, 0, 0.0, True


_CUT = pa.schema([("partition", pa.int32()), ("bytes", pa.int64())])
_CUT_DDL = "partition int, bytes long"


def _cut(batches, *, deals, epoch, **kwargs):
    """``mapInArrow`` body: cut the packed corpus's partition that this task reads."""
    found = deals.value
    rounds = kwargs["plan"].rounds
    partition = TaskContext.get().partitionId()  # a narrow map of the cached corpus: its own
    for index, size in cut_task(partition, partition_records(batches),
                                deals=[found[(epoch, r)] for r in range(rounds)], **kwargs):
        yield pa.RecordBatch.from_pydict({"partition": [index], "bytes": [size]}, schema=_CUT)


class ResidentEpochs:
    """Stratified epochs whose model never leaves the executors' storage.

    ``corpus``: the packed corpus (``P`` partitions); ``tables``: the shared
    :class:`~w2v_spark.sgns.plan.Tables`; ``work``: where the files go (storage every executor
    reaches; ``owned``: this run's alone); ``plan_of(epoch)``: epoch ``epoch``'s plan (None past
    the last); ``mass``: ``(vocab_size,)`` expected training tokens per word, which the buckets
    are dealt by. The driver keeps the deals of the epochs at hand only (O(vocabulary) each)."""

    def __init__(self, spark, corpus: PackedCorpus, tables: Shared, *, work: str,
                 vocab_size: int, dim: int, seed: int, plan_of: Callable[[int], EpochPlan | None], mass: np.ndarray,
                 owned: bool = False):
        self._spark = spark
        self._corpus, self._tables = corpus, tables
        self.work = work.rstrip("/")
        self._fs = FileSystem(self.work)
        self._vocab_size, self._dim, self._seed = vocab_size, dim, seed
        self._plan_of, self._mass = plan_of, mass
        self._deals: dict[tuple[int, int], Deal] = {}
        #: Where the model is now, the layout of the trainers that wrote it, and that of the
        #: trainers it is laid out for.
        self.directory: str | None = None
        self.layout: LayoutSpec | None = None
        self.readers: LayoutSpec | None = None
        #: ``work`` is this run's alone: deleted whole by :meth:`close`.
        self._owned = owned

    # -- deals and layouts ------------------------------------------------------------------

    def _deal(self, epoch: int, round_index: int) -> Deal:
        key = (epoch, round_index)
        if key not in self._deals:
            plan = self._plan_of(epoch)
            self._deals[key] = Deal.of(assign_buckets(
                self._mass, plan.partitions, plan.rng(2**31, round_index)), plan.partitions)
        return self._deals[key]

    def _spec(self, epoch: int, stage: int) -> LayoutSpec:
        """The layout of stage ``stage`` of epoch ``epoch``; past the last epoch, id ranges."""
        plan = self._plan_of(epoch)
        parts = self._plan_of(0).partitions
        if plan is None:
            return LayoutSpec(parts, self._vocab_size)
        round_index, stratum = divmod(stage, plan.partitions)
        if round_index == plan.rounds:
            return self._spec(epoch + 1, 0)
        self._deal(epoch, round_index)
        return LayoutSpec(parts, self._vocab_size, deal=(epoch, round_index), stratum=stratum)

    def _shared_deals(self, *specs: LayoutSpec, rounds_of: int | None = None):
        """The deals that ``specs`` (and every round of epoch ``rounds_of``) refer to, shared
        with the tasks."""
        keys = {spec.deal for spec in specs if spec.deal is not None}
        if rounds_of is not None:
            keys |= {(rounds_of, r) for r in range(self._plan_of(rounds_of).rounds)}
        return self._share({key: self._deal(*key) for key in keys})

    def _share(self, value) -> Shared:
        return Shared(self._spark, value, self.work)

    # -- jobs -------------------------------------------------------------------------------

    def _per_trainer(self, task, description: str) -> list:
        """Run ``task(trainer)`` for every trainer, in one stage of at most as many tasks as
        the cluster has cores (:func:`~w2v_spark.spark.context.cores_of`): with more trainers
        than cores, a task runs a consecutive group of them one after the other (a stratum's
        trainers are independent), instead of queueing a task per trainer — a Python task costs its start-up
        (≈ 40 ms of a core on the machine of BENCHMARKS.md) however little it trains. Returns
        the ``_STATS`` rows in trainer order."""
        parts = self._plan_of(0).partitions
        tasks = max(1, min(parts, cores_of(self._spark)))
        describe(self._spark, description)
        rows = (self._spark.range(0, parts, 1, tasks)
                .mapInArrow(functools.partial(_each_trainer, task), _STATS_DDL).collect())
        return sorted(rows, key=lambda row: row["trainer"])

    def start(self, first_epoch: int, *, checkpoint: str | None = None,
              matrices: tuple[str, str] | None = None) -> None:
        """Put the model where epoch ``first_epoch``'s first stage reads it: drawn afresh, read
        from driver-written ``matrices`` (``syn0.npy``, ``syn1.npy``), or, with ``checkpoint``,
        already there (the slice files of epoch ``first_epoch``)."""
        for name in self._fs.list_names(self.work):  # what a killed run left
            if name.startswith(("entry", "blocks-", "e")) and not name.startswith("epoch="):
                self._fs.delete(f"{self.work}/{name}")
        following = self._spec(first_epoch, 0)
        if checkpoint is not None:
            self.directory, self.readers = checkpoint, following
            self.layout = self._previous_of(first_epoch)
            return
        directory = f"{self.work}/entry"
        deals = self._shared_deals(following)
        try:
            self._per_trainer(functools.partial(
                _entry, deals=deals, vocab_size=self._vocab_size, dim=self._dim,
                seed=self._seed, following=following, directory=directory, checkpoint=matrices,
            ), "sgns: the model's first state, on the executors")
        finally:
            deals.destroy()
        self.directory, self.readers = directory, following
        self.layout = LayoutSpec(following.parts, self._vocab_size)

    def _previous_of(self, epoch: int) -> LayoutSpec:
        """The layout of the trainers that wrote the model epoch ``epoch`` starts from."""
        plan = self._plan_of(epoch - 1)
        return self._spec(epoch - 1, plan.rounds * plan.partitions - 1)

    def run(self, plan: EpochPlan, split: Split) -> tuple[int, int, int, float, bool]:
        """Train epoch ``plan.epoch``; the model ends in ``W/epoch=<epoch + 1>``. Returns
        ``(raw words, trained words, pairs, loss, finite)``."""
        epoch, parts = plan.epoch, plan.partitions
        stages = plan.rounds * parts
        specs = [self._spec(epoch, k) for k in range(stages + 1)]
        deals = self._shared_deals(self.layout, *specs, rounds_of=epoch)
        blocks = f"{self.work}/blocks-e{epoch}"
        totals = np.zeros(4)
        finite = True
        try:
            with split("cut"):
                describe(self._spark, f"epoch {epoch + 1}/{plan.epochs}: cutting blocks")
                with lent_settings(self._spark, ONE_ROW_PER_BATCH):
                    cut = self._corpus.frame.mapInArrow(functools.partial(
                        _cut, deals=deals, epoch=epoch, tables=self._tables, plan=plan,
                        directory=blocks), _CUT_DDL).collect()
                read = sorted(row["partition"] for row in cut)
                if read != list(range(self._corpus.partitions)):
                    raise RuntimeError(f"the cut of epoch {epoch + 1} read partitions {read}, "
                                       f"expected 0..{self._corpus.partitions - 1}")
            with split("train"):
                for stage in range(stages):
                    round_index, stratum = divmod(stage, parts)
                    directory = (f"{self.work}/epoch={epoch + 1}" if stage == stages - 1
                                 else f"{self.work}/e{epoch}-s{stage}")
                    self._fs.delete(directory)  # a failed attempt's
                    rows = self._per_trainer(functools.partial(
                        _stratum, deals=deals, key=(epoch, round_index), previous=self.layout,
                        following=specs[stage + 1], tables=self._tables, plan=plan,
                        round_index=round_index, stratum=stratum, dim=self._dim,
                        previous_directory=self.directory, directory=directory, blocks=blocks,
                    ), f"epoch {epoch + 1}/{plan.epochs}: round {round_index + 1}/"
                       f"{plan.rounds}, stratum {stratum + 1}/{parts}")
                    for row in rows:  # (round, stratum, trainer) order: the same sums every run
                        totals += (row["raw"], row["kept"], row["pairs"], row["loss"])
                        finite = finite and row["finite"]
                    self._release(self.directory)
                    self.directory, self.layout = directory, specs[stage]
                    self.readers = specs[stage + 1]
        finally:
            deals.destroy()
            self._fs.delete(blocks)
        for key in [key for key in self._deals if key[0] < epoch]:
            del self._deals[key]  # the model is now laid out by this epoch's last deal
        describe(self._spark, None)
        return int(totals[0]), int(totals[1]), int(totals[2]), float(totals[3]), finite

    def _release(self, directory: str) -> None:
        """Delete a stage's slices once the next stage has read them; a checkpoint's
        (``epoch=N``) are the caller's (:meth:`forget`)."""
        if not directory.rsplit("/", 1)[1].startswith("epoch="):
            self._fs.delete(directory)

    def forget(self, keep: str) -> None:
        """Delete every ``epoch=N`` directory but ``keep`` (without checkpoints, the model's
        previous states)."""
        for name in self._fs.list_names(self.work):
            path = f"{self.work}/{name}"
            if name.startswith("epoch=") and path != keep:
                self._fs.delete(path)

    def write_embeddings(self, words: Sequence[str] | pa.StringArray, counts: np.ndarray,
                         output: str) -> int:
        """The executors write ``output`` (``schemas.EMBEDDINGS``, one file per trainer, ids in
        order within and across files) from the model's slice files; then ``_SUCCESS``. Returns
        the rows written."""
        if self.readers.deal is not None:
            raise RuntimeError("write_embeddings: the model is not laid out by ids (training "
                               "has not ended)")
        shared = self._share((words, np.asarray(counts, dtype=np.int64)))
        deals = self._shared_deals(self.layout)
        try:
            rows = self._per_trainer(functools.partial(
                _embeddings, words=shared, deals=deals, dim=self._dim, previous=self.layout,
                previous_directory=self.directory, output=output,
            ), "sgns: writing the embeddings from the executors")
        finally:
            shared.destroy()
            deals.destroy()
        FileSystem(output).write_bytes(f"{output}/_SUCCESS", iter([b""]))
        return sum(row["raw"] for row in rows)

    def vectors(self) -> np.ndarray:
        """The input vectors, read on this machine (the ML estimator's model, tests)."""
        paths = [part_path(self.directory, t) for t in range(self.layout.parts)]
        return read_all(FileSystem(self.directory), paths, self._vocab_size, self._dim)[0]

    def close(self) -> None:
        """Delete the work directory if it is this run's alone, else everything in it but the
        checkpoints (``epoch=N`` with its ``_COMPLETE``: an epoch that failed before it was
        sealed is not one), and the directory too if no checkpoint is left (a run that failed in
        its first epoch leaves nothing)."""
        if self._owned:
            self._fs.delete(self.work)
            return
        for name in self._fs.list_names(self.work):
            path = f"{self.work}/{name}"
            if not name.startswith("epoch=") or not self._fs.exists(f"{path}/_COMPLETE"):
                self._fs.delete(path)
        if not self._fs.list_names(self.work):
            self._fs.delete(self.work)
