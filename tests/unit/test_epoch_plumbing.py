"""What a stratified epoch does around the kernel, without a JVM: the block files and the worker
heap's garbage collection."""

import gc
import os
import tracemalloc

import numpy as np
import pytest

from w2v_spark.corpus.packed import join_records
from w2v_spark.sgns.kernel import TrainSettings, Windows
from w2v_spark.sgns.plan import EpochPlan, Tables
from w2v_spark.sgns.slices import read_block, write_blocks
from w2v_spark.sgns.strata import Deal, assign_buckets, unpack_block
from w2v_spark.sgns.stratum import cut_blocks, cut_task
from w2v_spark.spark.files import FileSystem


class _Held:
    def __init__(self, value):
        self.value = value


def _plan(partitions, rounds, slice_tokens, seed=1):
    return EpochPlan(settings=TrainSettings(window=2, negative=2, alpha=0.025, min_alpha=0.001,
                                            batch_centers=8),
                     seed=seed, epoch=0, epochs=1, partitions=partitions, rounds=rounds,
                     slice_tokens=slice_tokens)


def test_a_worker_task_freezes_the_heap_it_starts_with(tmp_path):
    counts = np.array([30, 20, 10, 5], dtype=np.int64)
    tables = Tables.build(counts, np.ones(4, np.float32), 0.75)
    plan = _plan(2, 1, EpochPlan.slice_tokens)
    deals = [Deal.of(assign_buckets(counts.astype(float), 2, plan.rng(2**31, 0)), 2)]
    ids = np.array([0, 1, 2, 3, 0, 1, 0, 2], dtype=np.int32)
    offsets = np.array([0, 4, 8], dtype=np.int64)
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        records = list(cut_task(0, [(ids, offsets)], tables=_Held(tables), deals=deals,
                                plan=plan, directory=str(tmp_path)))
        # Full collections in a worker skip its imports and numba's objects from now on.
        # Measured: 38,589 objects frozen in this test process (numpy, pyspark, the package);
        # any real freeze is far above 1,000, none leaves 0.
        assert gc.get_freeze_count() > 1000
        assert records == [(0, (tmp_path / "part-00000.bin").stat().st_size)]  # and it cut
    finally:
        gc.unfreeze()


@pytest.mark.parametrize("run_bytes", [None, 64])
def test_a_block_file_holds_each_keys_pieces_in_corpus_order(tmp_path, run_bytes):
    # run_bytes=None: cut_task's default, one run for this small corpus; 64: a run every few
    # pieces, as a large partition is written, so a key's windows span several runs.
    counts = np.array([30, 20, 10, 5, 3], dtype=np.int64)
    tables = Tables.build(counts, np.ones(5, np.float32), 0.75)
    plan = _plan(2, 2, 8)
    deals = [Deal.of(assign_buckets(counts.astype(float), 2, plan.rng(2**31, r)), 2)
             for r in range(2)]
    rng = np.random.default_rng(5)
    ids = rng.integers(0, 5, 60).astype(np.int32)
    offsets = np.arange(0, 61, 6, dtype=np.int64)
    arguments = dict(tables=_Held(tables), deals=deals, plan=plan)
    pieces = list(cut_blocks(1, [(ids, offsets)], **arguments))
    assert len(pieces) > 8  # several slices of 8 tokens, every (stage, trainer)
    keys = plan.rounds * plan.partitions ** 2
    path = str(tmp_path / "part-00001.bin")
    fs = FileSystem(str(tmp_path))
    if run_bytes is None:
        list(cut_task(1, [(ids, offsets)], directory=str(tmp_path), **arguments))
    else:
        write_blocks(fs, path, keys, iter(pieces), run_bytes=run_bytes)
    runs = int(np.frombuffer((tmp_path / "part-00001.bin").read_bytes()[-8:], np.int64)[0])
    assert runs == 1 if run_bytes is None else runs > 3
    raw_total = 0
    for key in range(keys):
        mine = [(numbers, unpack_block(packed)) for k, numbers, packed in pieces if k == key]
        raw, kept, found = read_block(fs, path, key)
        assert (raw, kept) == (sum(n[0] for n, _ in mine), sum(n[1] for n, _ in mine))
        raw_total += raw
        expected = Windows.concatenate([w for _, w in mine])
        windows = Windows.concatenate(found)
        for name in ("centre", "offsets", "context"):
            np.testing.assert_array_equal(getattr(windows, name), getattr(expected, name))
    assert raw_total == 60  # the corpus's words, counted once
    assert [p.name for p in tmp_path.iterdir()] == ["part-00001.bin"]


def test_a_cut_that_fails_while_writing_leaves_no_block_file(tmp_path):
    counts = np.array([30, 20, 10, 5, 3], dtype=np.int64)
    tables = Tables.build(counts, np.ones(5, np.float32), 0.75)
    plan = _plan(2, 1, 8)
    deals = [Deal.of(assign_buckets(counts.astype(float), 2, plan.rng(2**31, 0)), 2)]
    ids = np.random.default_rng(5).integers(0, 5, 60).astype(np.int32)
    pieces = cut_blocks(0, [(ids, np.arange(0, 61, 6, dtype=np.int64))], tables=_Held(tables),
                        deals=deals, plan=plan)

    def failing():
        for number, piece in enumerate(pieces):
            if number == 6:
                raise MemoryError("the worker ran out of memory")
            yield piece

    with pytest.raises(MemoryError):
        write_blocks(FileSystem(str(tmp_path)), str(tmp_path / "part-00000.bin"), 4, failing(),
                     run_bytes=100)
    assert list(tmp_path.iterdir()) == []  # no block file, no partial one


def test_a_partition_of_several_packed_records_is_cut_as_one_sequence_of_documents():
    # A large partition is cached as several records (packed.RECORD_TOKENS). With one round and
    # record boundaries on slice boundaries, cutting two records must give exactly the blocks of
    # one: the same windows from the same generator, pieces in the same order.
    counts = np.array([30, 20, 10, 5, 3], dtype=np.int64)
    tables = Tables.build(counts, np.full(5, 0.8, np.float32), 0.75)
    plan = _plan(2, 1, 12, seed=3)
    deals = [Deal.of(assign_buckets(counts.astype(float), 2, plan.rng(2**31, 0)), 2)]
    ids = np.random.default_rng(7).integers(0, 5, 60).astype(np.int32)
    offsets = np.arange(0, 61, 6, dtype=np.int64)  # ten documents of 6 tokens, two per slice
    arguments = dict(tables=_Held(tables), deals=deals, plan=plan)
    whole = list(cut_blocks(0, [(ids, offsets)], **arguments))
    records = [(ids[:24], offsets[:5]), (ids[24:], offsets[4:] - 24)]
    assert join_records(records)[0].tobytes() == ids.tobytes()
    assert np.array_equal(join_records(records)[1], offsets)
    split = list(cut_blocks(0, records, **arguments))

    assert [piece[:2] for piece in split] == [piece[:2] for piece in whole]
    for a, b in zip(whole, split, strict=True):
        for expected, got in zip(a[2], b[2], strict=True):
            np.testing.assert_array_equal(got, expected)
    assert len({key for key, _, _ in split}) < len(split)  # a key's pieces from several slices


def test_a_cut_tasks_memory_does_not_grow_with_its_partition(tmp_path):
    # Blocks go to the file a run at a time: cutting 4 × the tokens must not hold 4 × the bytes.
    # Measured (tracemalloc peak, run_bytes = 1 MB, slices of 64k tokens): 10.8 MB for 500k
    # tokens and 11.0 MB for 2M, whose blocks are 5.4 and 21.7 MB. Holding the blocks until the
    # end (as before runs) peaked above the file's size.
    vocab = 2000
    counts = np.sort(np.random.default_rng(1).zipf(1.3, vocab).clip(1, 10**6))[::-1].copy()
    tables = Tables.build(counts.astype(np.int64), np.ones(vocab, np.float32), 0.75)
    plan = _plan(2, 2, EpochPlan.slice_tokens)
    deals = [Deal.of(assign_buckets(counts.astype(float), 2, plan.rng(2**31, r)), 2)
             for r in range(2)]
    peaks, sizes = [], []
    for tokens in (10_000, 500_000, 2_000_000):  # the first warms up numba and NumPy
        ids = np.random.default_rng(2).integers(0, vocab, tokens).astype(np.int32)
        offsets = np.arange(0, tokens + 1, 50, dtype=np.int64)
        path = str(tmp_path / f"part-{tokens}.bin")
        tracemalloc.start()
        try:
            write_blocks(FileSystem(path), path, plan.rounds * 4,
                         cut_blocks(0, [(ids, offsets)], tables=_Held(tables), deals=deals,
                                    plan=plan), run_bytes=1 << 20)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        sizes.append(os.path.getsize(path))
    peaks, sizes = peaks[1:], sizes[1:]
    assert sizes[1] > 3.5 * sizes[0]  # four times the blocks were written...
    assert peaks[1] < 1.5 * peaks[0]  # ...with about the same memory
    assert peaks[1] < sizes[1] * 0.7
