"""The averaging epoch (``[sgns] partition_mode = "averaging"``): every partition trains a copy of
the whole model on its own documents and the driver averages the copies' changes, each row
weighted by how often each partition touched it. Cheaper per epoch than the stratified epoch, but
it loses quality as partitions grow (see BENCHMARKS.md)."""

from __future__ import annotations

import functools

from w2v_spark.corpus.packed import join_records
from w2v_spark.sgns.kernel import train_partition
from w2v_spark.sgns.merge import RowUpdate, merge_updates
from w2v_spark.sgns.plan import EpochPlan, Split, freeze_worker_heap, inject_failure


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
