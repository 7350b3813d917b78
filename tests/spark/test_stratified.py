"""A stratified epoch on Spark (model slices handed from stratum to stratum through shuffles)
equals the same epoch computed by its definition in one process, bit for bit. The reference
builds its blocks itself, pair by pair; it shares with production only the window sampler and
the kernel, which their own tests check."""

import os
import pathlib
import time
from collections import defaultdict

import numpy as np
import pytest

from tests.corpus import write_topic_corpus
from w2v_spark.corpus.tokenize import tokenize
from w2v_spark.corpus.vocab import build_vocab, count_words
from w2v_spark.sgns.epochs import StratifiedEpochs, _stage_inputs
from w2v_spark.sgns.kernel import (
    TrainSettings,
    Windows,
    document_slices,
    new_stats,
    sample_windows,
    train_windows,
)
from w2v_spark.sgns.plan import EpochPlan, Split, Tables
from w2v_spark.sgns.sampling import build_noise_table
from w2v_spark.sgns.strata import Deal, assign_buckets
from w2v_spark.sgns.stratum import round_documents
from w2v_spark.sgns.train import initial_model, pack_corpus
from w2v_spark.spark.session import LocalMaster

pytestmark = pytest.mark.spark


class WordNoise:
    """A bucket's noise table drawing word ids instead of rows of the bucket's slice."""

    def __init__(self, words, table):
        self.words, self.table = words, table

    def sample(self, rng, shape):
        return self.words[self.table.sample(rng, shape)]


def _reference_blocks(parts, tables, plan, deals):
    """Every (round, stratum, bucket)'s windows by the definition of a block, without the
    production block cutter: each partition's documents of a round, sampled slice by slice as
    the cutter samples them (the same generators, so the same windows), then every (centre,
    context) pair put in the block of (stratum = (context's bucket − centre's bucket) mod P,
    bucket = centre's bucket), a centre keeping its pairs of that block, in corpus order.
    Returns ``{(round, stratum, bucket): [(centre, [contexts])]}`` in word ids, the epoch's raw
    and kept words, and the most slices any round was cut into."""
    parts_count = plan.partitions
    blocks = defaultdict(list)
    raw = kept = 0
    slices_per_round = defaultdict(int)
    for index, (ids, offsets) in enumerate(parts):
        for round_index in range(plan.rounds):
            rng = plan.rng(index, 0, round_index)
            bucket = deals[round_index].bucket
            start, stop = round_documents(offsets, round_index, plan.rounds)
            part = offsets[start : stop + 1]
            for lo, hi in document_slices(part, plan.slice_tokens):
                slices_per_round[round_index] += 1
                first, last = part[lo], part[hi]
                windows, kept_here = sample_windows(
                    ids[first:last], part[lo : hi + 1] - first,
                    keep_probability=tables.keep_probability, window=plan.settings.window, rng=rng)
                raw, kept = raw + int(last - first), kept + kept_here
                for group in range(windows.groups):
                    centre = int(windows.centre[group])
                    mine = defaultdict(list)
                    for context in windows.context[windows.offsets[group]:windows.offsets[group + 1]]:
                        stratum = (int(bucket[context]) - int(bucket[centre])) % parts_count
                        mine[stratum].append(int(context))
                    for stratum, contexts in mine.items():
                        blocks[round_index, stratum, int(bucket[centre])].append((centre, contexts))
    return blocks, raw, kept, max(slices_per_round.values())


def _reference_epoch(parts, syn0, syn1, tables, plan):
    """The stratified epoch by its definition, in one process and in place on the whole model:
    round after round, stratum after stratum, every bucket's block with word ids and negatives
    from that bucket. No slices, no shuffles, no records. Returns the epoch's totals and the
    most slices a round was cut into."""
    parts_count = plan.partitions
    mass = tables.counts * tables.keep_probability
    deals = [Deal.of(assign_buckets(mass, parts_count, plan.rng(2**31, r)), parts_count)
             for r in range(plan.rounds)]
    blocks, raw, kept, most_slices = _reference_blocks(parts, tables, plan, deals)
    totals = np.array([raw, kept, 0, 0.0])
    for round_index, deal in enumerate(deals):
        for stratum in range(parts_count):
            for bucket in range(parts_count):
                groups = blocks[round_index, stratum, bucket]
                windows = Windows(
                    centre=np.array([centre for centre, _ in groups], np.int32),
                    offsets=np.cumsum([0] + [len(c) for _, c in groups]).astype(np.int64),
                    context=np.array([x for _, c in groups for x in c], np.int32))
                centre_words = deal.words(bucket)
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
                totals += (0, 0, stats.pairs, stats.loss)
    return totals, most_slices


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
def test_spark_stratified_epoch_equals_reference(spark, tmp_path, monkeypatch, write_corpus,
                                                 partitions, slice_tokens, mode):
    if mode == "shuffles":
        # Stage inputs marked for local checkpointing every 3 strata (16 in production, where
        # it keeps a long epoch's lineage walk off the driver's stack): the bits do not change.
        from w2v_spark.sgns import epochs

        monkeypatch.setattr(epochs, "LINEAGE_STAGES", 3)
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
        expected, most_slices = _reference_epoch(parts, ref0, ref1, tables, plan)
        # Small slices: every block arrives in many pieces, from every partition.
        assert (most_slices >= 2 * partitions) == (slice_tokens < 1000)
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
