"""A stratified epoch on Spark (model slices handed from stratum to stratum through shuffles)
equals the same epoch computed by its definition in one process, bit for bit."""

import os
import pathlib
import time
from collections import defaultdict

import numpy as np
import pytest

from tests.corpus import write_topic_corpus
from w2v_spark.epochs import (
    EpochPlan,
    Split,
    StratifiedEpochs,
    Tables,
    _block_task,
    _stage_inputs,
)
from w2v_spark.sampling import build_noise_table
from w2v_spark.session import LocalMaster
from w2v_spark.sgns import TrainSettings, Windows, new_stats, train_windows
from w2v_spark.strata import Deal, assign_buckets, unpack_block
from w2v_spark.tokenize import tokenize
from w2v_spark.train import initial_model, pack_corpus
from w2v_spark.vocab import build_vocab, count_words

pytestmark = pytest.mark.spark


class Held:
    """Stands in for a broadcast variable in the reference computation."""

    def __init__(self, value):
        self.value = value


class WordNoise:
    """A bucket's noise table drawing word ids instead of rows of the bucket's slice."""

    def __init__(self, words, table):
        self.words, self.table = words, table

    def sample(self, rng, shape):
        return self.words[self.table.sample(rng, shape)]


def _reference_epoch(parts, syn0, syn1, tables, plan):
    """The stratified epoch by its definition, in one process and in place on the whole model:
    round after round, stratum after stratum, every bucket's block with word ids and negatives
    from that bucket. No slices, no shuffles, no records. Returns the epoch's totals and the
    most pieces any block was cut into."""
    parts_count = plan.partitions
    mass = tables.counts * tables.keep_probability
    deals = [Deal.of(assign_buckets(mass, parts_count, plan.rng(2**31, r)), parts_count)
             for r in range(plan.rounds)]
    blocks = defaultdict(list)
    for index, part in enumerate(parts):
        for key, value in _block_task(index, [part], tables=Held(tables), deals=Held(deals),
                                      plan=plan):
            blocks[divmod(key // parts_count, parts_count), key % parts_count].append(value)
    totals = np.zeros(4)
    for round_index, deal in enumerate(deals):
        for stratum in range(parts_count):
            for bucket in range(parts_count):
                pieces = sorted(blocks[(round_index, stratum), bucket], key=lambda v: v[1])
                local = Windows.concatenate([unpack_block(piece[3]) for piece in pieces])
                centre_words = deal.words(bucket)
                context_words = deal.words((bucket + stratum) % parts_count)
                windows = Windows(centre=centre_words[local.centre], offsets=local.offsets,
                                  context=context_words[local.context])
                stats = new_stats(syn0.shape[0])
                if windows.groups:
                    train_windows(
                        syn0, syn1, windows, settings=plan.settings,
                        noise=WordNoise(centre_words,
                                        deal.noise(tables.counts, bucket, tables.ns_exponent)),
                        progress=plan.progress((round_index + stratum / parts_count) / plan.rounds,
                                               (round_index + (stratum + 1) / parts_count)
                                               / plan.rounds),
                        rng=plan.rng(parts_count + stratum, bucket, round_index), stats=stats,
                    )
                totals += (sum(p[2][0] for p in pieces), sum(p[2][1] for p in pieces),
                           stats.pairs, stats.loss)
    return totals, max(len(pieces) for pieces in blocks.values())


def _three_word_corpus(path):
    # Long lines: subsampling keeps ≈ 6 % of these tokens, and windows need several per line.
    path.write_text(("alpha beta gamma beta alpha gamma alpha " * 10 + "\n") * 80, encoding="utf-8")


def _shuffles_on_disk(spark) -> set[int]:
    """Ids of the shuffles with data files under the test session's ``spark.local.dir``."""
    root = pathlib.Path(spark.conf.get("spark.local.dir"))
    return {int(path.name.split("_")[1]) for path in root.rglob("shuffle_*.data")}


def _topics(path):
    write_topic_corpus(path, lines=600)


# A vocabulary of 3 words on 4 partitions leaves a bucket empty in every round: its trainer holds
# empty slices and still has to pass them on. The topic corpus is cut 256 tokens at a time: a
# trainer's block arrives in a dozen pieces, from every partition, in any order. The 3- and
# 4-partition cases run twice: as in local mode with fewer task slots (2, the test session's)
# than trainers — a stage per stratum, the model shared through a file, blocks read from the
# files the map tasks wrote — and as on a cluster (the model broadcast, blocks and slices
# shuffled). With 2 partitions the local master runs every trainer at once: the epoch is one
# barrier stage, its trainers waiting for each other between strata.
@pytest.mark.parametrize(("write_corpus", "partitions", "slice_tokens", "mode"), [
    (_topics, 3, 256, "local-files"),
    (_topics, 3, 256, "shuffles"),
    (_three_word_corpus, 4, EpochPlan.slice_tokens, "local-files"),
    (_three_word_corpus, 4, EpochPlan.slice_tokens, "shuffles"),
    (_topics, 2, 256, "gang"),
], ids=["topics-3-local-files", "topics-3-shuffles", "fewer-words-than-partitions-local-files",
        "fewer-words-than-partitions-shuffles", "topics-2-gang"])
def test_spark_stratified_epoch_equals_reference(spark, tmp_path, write_corpus, partitions,
                                                 slice_tokens, mode):
    path = tmp_path / "corpus.txt"
    write_corpus(path)
    documents = spark.read.text(str(path)).transform(tokenize)
    vocab = documents.transform(count_words).transform(build_vocab, min_count=2).toArrow().sort_by("id")
    words = vocab.column("word").to_pylist()
    counts = vocab.column("count").to_numpy()
    tables = Tables(counts=counts,
                    keep_probability=vocab.column("keep_probability").to_numpy().astype(np.float32),
                    noise=build_noise_table(counts), ns_exponent=0.75)
    corpus = pack_corpus(documents, words, partitions)
    parts = corpus.collect()
    assert len(parts) == partitions and sum(p[0].shape[0] for p in parts) == counts.sum()

    settings = TrainSettings(window=3, negative=4, alpha=0.05, min_alpha=0.001, batch_centers=32)
    syn0, syn1 = initial_model(len(words), 12, seed=3)
    ref0, ref1 = syn0.copy(), syn1.copy()
    broadcast_tables = spark.sparkContext.broadcast(tables)
    shuffles_before = _shuffles_on_disk(spark)
    local = None if mode == "shuffles" else LocalMaster(slots=2, attempts=1)  # local[2]
    runner = StratifiedEpochs(spark.sparkContext, corpus, broadcast_tables, local=local)
    assert (runner._directory is not None) == (local is not None)
    plans = [EpochPlan(settings=settings, seed=3, epoch=epoch, epochs=2, partitions=partitions,
                       rounds=2, slice_tokens=slice_tokens) for epoch in range(2)]
    assert runner._gang(plans[0]) == (mode == "gang")
    for epoch, plan in enumerate(plans):
        split = Split()
        # Epoch 1's blocks are cut ahead, while epoch 0 trains, and used by epoch 1's job.
        ahead = plans[epoch + 1] if epoch + 1 < len(plans) else None
        raw, kept, pairs, loss = runner.run(syn0, syn1, plan, split, ahead=ahead)
        if ahead is not None:
            assert runner._next.plan == ahead and runner._next.map_stage.jobIds().size() == 1
            # A gang's trainer reads all its stages' blocks from one partition.
            assert runner._next.rdd.getNumPartitions() == (
                partitions if mode == "gang" else 2 * partitions * partitions)
        assert set(split.seconds) == {"broadcast", "train", "merge"}
        expected, most_pieces = _reference_epoch(parts, ref0, ref1, tables, plan)
        assert (most_pieces >= 2 * partitions) == (slice_tokens < 1000)
        assert (raw, kept, pairs, loss) == (expected[0], expected[1], expected[2], expected[3])
        assert raw == counts.sum() and 0 < kept <= raw and pairs > kept and np.isfinite(loss)
    assert runner._next is None  # taken by epoch 1
    directory = runner._directory
    runner.close()
    if local is not None:
        assert not os.path.exists(directory)
    # Every epoch removed its shuffles (blocks and model slices) when it ended; Spark alone
    # would keep them until the driver's next periodic GC. (Removal is asynchronous.)
    deadline = time.monotonic() + 30
    while _shuffles_on_disk(spark) - shuffles_before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _shuffles_on_disk(spark) - shuffles_before
    broadcast_tables.destroy()
    corpus.unpersist()
    np.testing.assert_array_equal(syn0, ref0)
    np.testing.assert_array_equal(syn1, ref1)
    assert np.abs(syn1).sum() > 0  # it trained


def test_stage_inputs_are_the_stage_partitions_and_only_those_are_computed(spark):
    sc = spark.sparkContext
    computed = sc.accumulator(0)

    def mark(index, rows):
        computed.add(1)
        return ((index, row) for row in rows)

    rdd = sc.parallelize(range(12), 6).mapPartitionsWithIndex(mark)
    stage = _stage_inputs(rdd, 1, 2)  # stage 1 of 2 trainers: partitions 2 and 3
    assert stage.getNumPartitions() == 2
    assert stage.glom().collect() == [[(2, 4), (2, 5)], [(3, 6), (3, 7)]]
    assert computed.value == 2
