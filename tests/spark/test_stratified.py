"""Stratified epochs on Spark equal the same tasks run in plain Python, whatever the shuffle order;
averaging mode runs and differs."""

from collections import defaultdict

import numpy as np
import pytest

from tests.corpus import write_topic_corpus
from w2v_spark.encode import encode
from w2v_spark.epochs import (
    EpochPlan,
    Split,
    Tables,
    _block_task,
    _round_block,
    _stratum_task,
    run_stratified_epoch,
)
from w2v_spark.sampling import build_noise_table
from w2v_spark.sgns import TrainSettings
from w2v_spark.strata import assign_buckets, block_id
from w2v_spark.tokenize import tokenize
from w2v_spark.train import initial_model, pack_corpus
from w2v_spark.vocab import build_vocab, count_words

pytestmark = pytest.mark.spark


class Held:
    """Stands in for a broadcast variable in the reference computation."""

    def __init__(self, value):
        self.value = value


def _reference_epoch(parts, syn0, syn1, tables, plan):
    """The stratified epoch without Spark: same task functions, pieces fed in reverse order."""
    mass = tables.counts * tables.keep_probability
    assignments = Held(np.stack([assign_buckets(mass, plan.partitions, plan.rng(2**31, r))
                                 for r in range(plan.rounds)]))
    blocks = defaultdict(list)
    for index, part in enumerate(parts):
        for key, value in _block_task(index, [part], tables=Held(tables), assignments=assignments,
                                      plan=plan):
            blocks[key].append((key, value))
    for round_index in range(plan.rounds):
        for stratum in range(plan.partitions):
            model = Held((syn0.copy(), syn1.copy()))
            for bucket in range(plan.partitions):
                key = _round_block(round_index, block_id(stratum, bucket, plan.partitions),
                                   plan.partitions)
                for _, _, inputs, outputs in _stratum_task(
                    reversed(blocks[key]), model=model, tables=Held(tables),
                    assignments=assignments, plan=plan, stratum=stratum, round_index=round_index,
                ):
                    syn0[inputs.rows] += inputs.delta
                    syn1[outputs.rows] += outputs.delta


def test_spark_stratified_epoch_equals_reference(spark, tmp_path):
    path = tmp_path / "corpus.txt"
    write_topic_corpus(path, lines=600)
    documents = spark.read.text(str(path)).transform(tokenize)
    vocab = documents.transform(count_words).transform(build_vocab, min_count=2).toArrow().sort_by("id")
    words = vocab.column("word").to_pylist()
    counts = vocab.column("count").to_numpy()
    tables = Tables(counts=counts,
                    keep_probability=vocab.column("keep_probability").to_numpy().astype(np.float32),
                    noise=build_noise_table(counts), ns_exponent=0.75)
    partitions = 3
    corpus = pack_corpus(documents.transform(encode, words=words), partitions)
    parts = corpus.collect()
    assert len(parts) == partitions and sum(p[0].shape[0] for p in parts) == counts.sum()

    settings = TrainSettings(window=3, negative=4, alpha=0.05, min_alpha=0.001, batch_centers=32)
    syn0, syn1 = initial_model(len(words), 12, seed=3)
    ref0, ref1 = syn0.copy(), syn1.copy()
    broadcast_tables = spark.sparkContext.broadcast(tables)
    for epoch in range(2):
        plan = EpochPlan(settings=settings, seed=3, epoch=epoch, epochs=2, partitions=partitions,
                         rounds=2)
        split = Split()
        raw, kept, pairs, loss = run_stratified_epoch(spark.sparkContext, corpus, syn0, syn1,
                                                      broadcast_tables, plan, split)
        assert set(split.seconds) == {"broadcast", "train", "merge"}
        _reference_epoch(parts, ref0, ref1, tables, plan)
        assert raw == counts.sum() and 0 < kept <= raw and pairs > kept and np.isfinite(loss)
    broadcast_tables.destroy()
    corpus.unpersist()
    np.testing.assert_array_equal(syn0, ref0)
    np.testing.assert_array_equal(syn1, ref1)
    assert np.abs(syn1).sum() > 0  # it trained
