"""The averaging epoch (``[sgns] partition_mode = "averaging"``): every partition trains a copy of
the whole model on its own documents and the driver averages the copies' changes, each row
weighted by how often each partition touched it. Cheaper per epoch than the stratified epoch, but
it loses quality as partitions grow (see BENCHMARKS.md). One partition trains this way too (plain
SGD over the corpus).

DataFrames only, as executor-resident training: a ``mapInArrow`` over the packed corpus, the model
:class:`~w2v_spark.spark.context.Shared` with the tasks, each partition's changes back as one
pickled row."""

from __future__ import annotations

import functools
import pickle

import pyarrow as pa
from pyspark import TaskContext

from w2v_spark.corpus.pack import ONE_ROW_PER_BATCH, PackedCorpus, partition_records
from w2v_spark.corpus.packed import join_records
from w2v_spark.sgns.kernel import train_partition
from w2v_spark.sgns.merge import RowUpdate, merge_updates
from w2v_spark.sgns.plan import EpochPlan, Split, freeze_worker_heap, inject_failure
from w2v_spark.spark.context import Shared, lent_settings

_RESULT = pa.schema([("partition", pa.int32()), ("result", pa.binary())])
_RESULT_DDL = "partition int, result binary"


def _average_partition(batches, **kwargs):
    """``mapInArrow`` body: train the cached corpus's partition that this task reads; one row,
    its :func:`_average_task` result pickled."""
    partition = TaskContext.get().partitionId()  # a narrow map of the cached corpus: its own
    for result in _average_task(partition, partition_records(batches), **kwargs):
        yield pa.RecordBatch.from_pydict(
            {"partition": [partition],
             "result": [pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)]}, schema=_RESULT)


def _average_task(partition, rows, *, model, tables, plan):
    freeze_worker_heap()
    inject_failure(plan, partition)
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
    """Runs averaging epochs over the packed ``corpus``, one Spark job each. ``tables``: the
    shared :class:`~w2v_spark.sgns.plan.Tables`; ``work``: where a Spark Connect session's
    shared model goes (storage every executor reaches; a classic session broadcasts it)."""

    def __init__(self, spark, corpus: PackedCorpus, tables: Shared, *, work: str | None):
        self._spark, self._corpus, self._tables, self._work = spark, corpus, tables, work

    def run(self, syn0, syn1, plan: EpochPlan, split: Split,
            ahead: EpochPlan | None = None) -> tuple:
        """Returns ``(raw words, trained words, pairs, loss)``; updates ``syn0``/``syn1`` in
        place. (``ahead`` is ignored: every task needs the model.)"""
        with split("broadcast"):
            model = Shared(self._spark, (syn0, syn1), self._work)
        try:
            with split("train"):
                task = functools.partial(_average_partition, model=model, tables=self._tables,
                                         plan=plan)
                with lent_settings(self._spark, ONE_ROW_PER_BATCH):
                    rows = self._corpus.frame.mapInArrow(task, _RESULT_DDL).toArrow()
                results = sorted((pickle.loads(blob) for blob in rows.column("result").to_pylist()),
                                 key=lambda r: r[0])
        finally:
            model.destroy()
        with split("merge"):
            merge_updates(syn0, [r[2] for r in results])
            merge_updates(syn1, [r[3] for r in results])
        return tuple(sum(r[1][i] for r in results) for i in range(4))
