"""A stratified epoch on Spark (model slices handed from stratum to stratum through files, or,
in local mode, through one shared file) equals the same epoch computed by its definition in one process, bit for bit. The reference
builds its blocks itself, pair by pair; it shares with production only the window sampler and
the kernel, which their own tests check."""

import os
from collections import defaultdict

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.corpus import write_topic_corpus
from w2v_spark.corpus.pack import pack_corpus
from w2v_spark.corpus.tokenize import tokenize
from w2v_spark.corpus.vocab import build_vocab, count_words
from w2v_spark.sgns.kernel import (
    TrainSettings,
    Windows,
    document_slices,
    new_stats,
    sample_windows,
    train_windows,
)
from w2v_spark.sgns.plan import EpochPlan, Split, Tables
from w2v_spark.sgns.resident_epochs import ResidentEpochs
from w2v_spark.sgns.sampling import build_noise_table
from w2v_spark.sgns.slices import read_all
from w2v_spark.sgns.strata import Deal, assign_buckets
from w2v_spark.sgns.stratum import round_documents
from w2v_spark.sgns.train import initial_model
from w2v_spark.spark.files import FileSystem

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


def _topics(path):
    write_topic_corpus(path, lines=600)


def _packed(spark, tmp_path, write_corpus, partitions):
    """``(words, counts, tables, packed corpus RDD)`` of the corpus ``write_corpus`` writes."""
    path = tmp_path / "corpus.txt"
    write_corpus(path)
    documents = spark.read.text(str(path)).transform(tokenize)
    vocab = documents.transform(count_words).transform(build_vocab, min_count=2).toArrow().sort_by("id")
    counts = vocab.column("count").to_numpy()
    tables = Tables(counts=counts,
                    keep_probability=vocab.column("keep_probability").to_numpy().astype(np.float32),
                    noise=build_noise_table(counts), ns_exponent=0.75)
    words = vocab.column("word").to_pylist()
    return words, counts, tables, pack_corpus(documents, words, partitions)


# A vocabulary of 3 words on 4 partitions leaves a bucket empty in every round: its trainer holds
# empty slices and still has to pass them on. The topic corpus is cut 256 tokens at a time: a
# trainer's block is put together from many pieces, from every partition. The model stays on the
# executors (slice files, a job per stratum) whether the master runs every trainer at once
# (2 partitions at local[2]) or not (3 and 4).
@pytest.mark.parametrize(("write_corpus", "partitions", "slice_tokens"), [
    (_topics, 2, 256),
    (_topics, 3, 256),
    (_three_word_corpus, 4, EpochPlan.slice_tokens),
], ids=["topics-2", "topics-3", "fewer-words-than-partitions"])
def test_spark_stratified_epoch_equals_reference(spark, tmp_path, write_corpus, partitions,
                                                 slice_tokens):
    words, counts, tables, corpus = _packed(spark, tmp_path, write_corpus, partitions)
    parts = corpus.collect()
    assert len(parts) == partitions and sum(p[0].shape[0] for p in parts) == counts.sum()

    settings = TrainSettings(window=3, negative=4, alpha=0.05, min_alpha=0.001, batch_centers=32)
    syn0, syn1 = initial_model(len(words), 12, seed=3)
    ref0, ref1 = syn0.copy(), syn1.copy()
    broadcast_tables = spark.sparkContext.broadcast(tables)
    plans = [EpochPlan(settings=settings, seed=3, epoch=epoch, epochs=2, partitions=partitions,
                       rounds=2, slice_tokens=slice_tokens) for epoch in range(2)]
    work = tmp_path / "work"
    runner = ResidentEpochs(
        spark, corpus, broadcast_tables, work=str(work), vocab_size=len(words), dim=12,
        seed=3, plan_of=lambda e: plans[e] if e < len(plans) else None,
        mass=tables.counts * tables.keep_probability)
    runner.start(0)
    for epoch, plan in enumerate(plans):
        raw, kept, pairs, loss, finite = runner.run(plan, Split())
        assert finite
        runner.forget(keep=runner.directory)  # as train_sgns does without checkpoints
        # Only the model after this epoch is left: the blocks and every stratum's slices went
        # as soon as they had been read.
        assert sorted(os.listdir(work)) == [f"epoch={epoch + 1}"]
        assert len(os.listdir(work / f"epoch={epoch + 1}")) == partitions
        expected, most_slices = _reference_epoch(parts, ref0, ref1, tables, plan)
        # Small slices: every block arrives in many pieces, from every partition.
        assert (most_slices >= 2 * partitions) == (slice_tokens < 1000)
        assert (raw, kept, pairs, loss) == (expected[0], expected[1], expected[2], expected[3])
        assert raw == counts.sum() and 0 < kept <= raw and pairs > kept and np.isfinite(loss)
    syn0 = runner.vectors()
    syn1 = read_all(FileSystem(runner.directory),
                    [f"{runner.directory}/part-{t:05d}.bin" for t in range(partitions)],
                    len(words), 12)[1]
    # The executors write the embeddings: one file per trainer, ids in order across them.
    out = tmp_path / "embeddings"
    assert runner.write_embeddings(words, counts, str(out)) == len(words)
    files = sorted(p.name for p in out.iterdir())
    assert files == ["_SUCCESS"] + [f"part-{t:05d}.snappy.parquet" for t in range(partitions)]
    table = pq.read_table(out)
    assert table.column("id").to_pylist() == list(range(len(words)))
    assert table.column("word").to_pylist() == words
    np.testing.assert_array_equal(np.stack(table.column("vector").to_numpy(
        zero_copy_only=False)), ref0)
    runner.close()
    assert not work.exists() or not [p for p in work.iterdir() if not p.name.startswith("epoch=")]
    broadcast_tables.destroy()
    corpus.unpersist()
    np.testing.assert_array_equal(syn0, ref0)
    np.testing.assert_array_equal(syn1, ref1)
    assert np.abs(syn1).sum() > 0  # it trained


def test_an_epoch_on_the_executors_is_one_stage_per_stratum_with_no_shuffle(spark, tmp_path):
    """Read from Spark's status API: an epoch of P = 4 trainers and R = 2 rounds runs R·P + 1
    jobs (the cut, then one per stratum) of one stage each — no shuffle at all. The cut has a
    task per data partition; a stratum as many tasks as the session has cores (2 here: each
    runs two trainers), never more than P."""
    partitions, rounds = 4, 2
    words, _, tables, corpus = _packed(spark, tmp_path, _topics, partitions)
    corpus.sizes()  # cached before the epoch, as the pipeline does
    broadcast_tables = spark.sparkContext.broadcast(tables)
    settings = TrainSettings(window=3, negative=4, alpha=0.05, min_alpha=0.001, batch_centers=32)
    plan = EpochPlan(settings=settings, seed=3, epoch=0, epochs=1, partitions=partitions,
                     rounds=rounds)
    runner = ResidentEpochs(spark, corpus, broadcast_tables, work=str(tmp_path / "work"),
                            vocab_size=len(words), dim=12, seed=3,
                            plan_of=lambda e: plan if e == 0 else None,
                            mass=tables.counts * tables.keep_probability, owned=True)
    sc = spark.sparkContext
    try:
        runner.start(0)
        sc.setJobGroup("one-epoch", "the epoch under test")
        try:
            runner.run(plan, Split())
        finally:
            sc.setLocalProperty("spark.jobGroup.id", None)
            sc.setLocalProperty("spark.job.description", None)
    finally:
        runner.close()
        broadcast_tables.destroy()
        corpus.unpersist()
    tracker = sc.statusTracker()
    jobs = sorted(tracker.getJobIdsForGroup("one-epoch"))
    assert len(jobs) == rounds * partitions + 1
    # A job lists the stages of its whole lineage; those of the cached corpus are skipped (no
    # task of theirs ran; the tracker may have dropped them already, after the other tests'
    # stages: no info). Every job ran one stage: nothing is shuffled during the epoch.
    infos = [[tracker.getStageInfo(stage) for stage in tracker.getJobInfo(job).stageIds]
             for job in jobs]
    ran = [[info for info in stages if info is not None and info.numCompletedTasks > 0]
           for stages in infos]
    assert [len(stages) for stages in ran] == [1] * len(jobs)
    cores = sc.defaultParallelism
    assert cores == 2
    assert [stages[0].numTasks for stages in ran] == [partitions] + [cores] * (len(jobs) - 1)
    assert not (tmp_path / "work").exists()
