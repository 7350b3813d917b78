"""What a stratified epoch does around the kernel, without a JVM: the local-mode shared model,
the gang's barrier and the worker heap's garbage collection."""

import gc
import os
import threading
import time

import numpy as np

from w2v_spark.corpus.packed import join_records
from w2v_spark.sgns.kernel import TrainSettings
from w2v_spark.sgns.plan import EpochPlan, Tables
from w2v_spark.sgns.strata import Deal, assign_buckets
from w2v_spark.sgns.stratum import FileBarrier, SharedModel, StoredBlock, block_task


def test_shared_model_hands_each_stage_the_rows_the_previous_stage_wrote(tmp_path):
    rng = np.random.default_rng(0)
    syn0, syn1 = rng.random((50, 8), dtype=np.float32), rng.random((50, 8), dtype=np.float32)
    model = SharedModel(str(tmp_path)).write(syn0, syn1)
    inode = os.stat(model.path).st_ino
    start = model.buffer(0)
    assert isinstance(start, np.memmap) and not start.flags.writeable
    np.testing.assert_array_equal(start[0], syn0)
    np.testing.assert_array_equal(start[1], syn1)
    del start

    # Stage 0's two trainers: disjoint rows that together cover both matrices.
    halves = (np.arange(0, 50, 2), np.arange(1, 50, 2))
    for input_rows, output_rows in (halves, halves[::-1]):
        taken0, taken1 = model.take(0, (input_rows, output_rows))
        np.testing.assert_array_equal(taken0, syn0[input_rows])
        np.testing.assert_array_equal(taken1, syn1[output_rows])
        taken0 += 1  # copies: training them leaves the stage's buffer as it was
        taken1 *= 2
        np.testing.assert_array_equal(model.buffer(0)[0], syn0)
        model.put(0, (input_rows, output_rows), (taken0, taken1))
    # Stage 1 starts from the trained model; stage 0's buffer is intact for a retried task.
    np.testing.assert_array_equal(model.buffer(1)[0], syn0 + 1)
    np.testing.assert_array_equal(model.buffer(1)[1], syn1 * 2)
    np.testing.assert_array_equal(model.take(0, halves)[1], syn1[halves[1]])
    # Stage 1 writes into stage 0's buffer, which stage 2 reads.
    model.put(1, (np.arange(50), np.arange(50)), (syn0 - 1, syn1 - 1))
    np.testing.assert_array_equal(model.take(2, halves)[1], syn1[halves[1]] - 1)
    np.testing.assert_array_equal(model.trained(2)[1], syn1 - 1)  # after an even number of stages

    # The next epoch's model goes into the same file (same inode: its pages are reused).
    model = SharedModel(str(tmp_path)).write(syn0 * 3, syn1 * 3)
    assert os.stat(model.path).st_ino == inode
    np.testing.assert_array_equal(model.buffer(0)[1], syn1 * 3)

    # Another shape (a resumed run with another vocabulary, say) replaces the file.
    model = SharedModel(str(tmp_path)).write(syn0[:10], syn1[:10])
    assert model.buffer(0).shape == (2, 10, 8)
    np.testing.assert_array_equal(model.buffer(0)[1], syn1[:10])


def test_a_gang_reads_the_start_once_and_then_trains_one_copy(tmp_path):
    # A gang's failure reruns the whole epoch: copy 0 keeps the epoch's start throughout.
    rng = np.random.default_rng(1)
    syn0, syn1 = rng.random((20, 4), dtype=np.float32), rng.random((20, 4), dtype=np.float32)
    model = SharedModel(str(tmp_path), gang=True).write(syn0, syn1)
    rows = (np.arange(20), np.arange(20))
    for stage in range(3):
        taken0, taken1 = model.take(stage, rows)
        np.testing.assert_array_equal(taken0, syn0 + stage)  # what the last stage wrote
        model.put(stage, rows, (taken0 + 1, taken1))
        np.testing.assert_array_equal(model.buffer(0)[0], syn0)
    np.testing.assert_array_equal(model.trained(3)[0], syn0 + 3)
    np.testing.assert_array_equal(model.trained(3)[1], syn1)


def test_file_barrier_lets_no_party_through_before_all_have_arrived(tmp_path):
    parties, rounds = 3, 6
    events, lock = [], threading.Lock()

    def party(index):
        barrier = FileBarrier(str(tmp_path / "barrier"), parties)
        jitter = np.random.default_rng(index)
        try:
            for round_index in range(rounds):
                time.sleep(jitter.uniform(0, 0.02))  # arrive in a different order every round
                with lock:
                    events.append(("arrive", round_index, index))
                barrier.wait()
                with lock:
                    events.append(("leave", round_index, index))
        finally:
            barrier.close()

    threads = [threading.Thread(target=party, args=(index,)) for index in range(parties)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert len(events) == 2 * parties * rounds
    for round_index in range(rounds):
        arrived = [i for i, e in enumerate(events) if e[:2] == ("arrive", round_index)]
        left = [i for i, e in enumerate(events) if e[:2] == ("leave", round_index)]
        assert len(arrived) == len(left) == parties and max(arrived) < min(left)
    assert (tmp_path / "barrier").stat().st_size == parties * rounds  # one byte per arrival


class _Held:
    def __init__(self, value):
        self.value = value


def test_a_worker_task_freezes_the_heap_it_starts_with():
    counts = np.array([30, 20, 10, 5], dtype=np.int64)
    tables = Tables.build(counts, np.ones(4, np.float32), 0.75)
    plan = EpochPlan(settings=TrainSettings(window=2, negative=2, alpha=0.025, min_alpha=0.001,
                                            batch_centers=8),
                     seed=1, epoch=0, epochs=1, partitions=2)
    deals = [Deal.of(assign_buckets(counts.astype(float), 2, plan.rng(2**31, 0)), 2)]
    ids = np.array([0, 1, 2, 3, 0, 1, 0, 2], dtype=np.int32)
    offsets = np.array([0, 4, 8], dtype=np.int64)
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        records = list(block_task(0, [(ids, offsets)], tables=_Held(tables),
                                   deals=_Held(deals), plan=plan))
        # Full collections in a worker skip its imports and numba's objects from now on.
        # Measured: 38,589 objects frozen in this test process (numpy, pyspark, the package);
        # any real freeze is far above 1,000, none leaves 0.
        assert gc.get_freeze_count() > 1000
        assert records  # and the task did its work
    finally:
        gc.unfreeze()


def test_block_task_writes_its_blocks_to_files_and_records_where(tmp_path):
    counts = np.array([30, 20, 10, 5, 3], dtype=np.int64)
    tables = Tables.build(counts, np.ones(5, np.float32), 0.75)
    plan = EpochPlan(settings=TrainSettings(window=2, negative=2, alpha=0.025, min_alpha=0.001,
                                            batch_centers=8),
                     seed=1, epoch=0, epochs=1, partitions=2, rounds=2, slice_tokens=8)
    deals = [Deal.of(assign_buckets(counts.astype(float), 2, plan.rng(2**31, r)), 2)
             for r in range(2)]
    rng = np.random.default_rng(5)
    ids = rng.integers(0, 5, 60).astype(np.int32)
    offsets = np.arange(0, 61, 6, dtype=np.int64)
    arguments = dict(tables=_Held(tables), deals=_Held(deals), plan=plan)
    shuffled = list(block_task(1, [(ids, offsets)], **arguments))
    stored = list(block_task(1, [(ids, offsets)], directory=str(tmp_path), **arguments))

    # Same records, in the same order, except that the arrays are in files.
    assert ([(key, value[:3]) for key, value in stored]
            == [(key, value[:3]) for key, value in shuffled])
    assert len(shuffled) > 8  # several slices of 8 tokens, every (stage, trainer)
    for (_, in_memory), (_, in_file) in zip(shuffled, stored, strict=True):
        assert isinstance(in_file[3], StoredBlock)
        loaded = in_file[3].load()
        assert len(loaded) == len(in_memory[3])
        for expected, got in zip(in_memory[3], loaded, strict=True):
            assert got.dtype == expected.dtype
            np.testing.assert_array_equal(got, expected)
    # One file per (stage, trainer) of this partition, every piece appended to it.
    keys = {key for key, _ in stored}
    assert (sorted(path.name for path in tmp_path.iterdir())
            == sorted(f"{key}-1.bin" for key in keys))
    assert sum(path.stat().st_size for path in tmp_path.iterdir()) == sum(
        array.nbytes for _, value in shuffled for array in value[3])


def test_a_partition_of_several_packed_records_is_cut_as_one_sequence_of_documents():
    # A large partition is cached as several records (packed.RECORD_TOKENS). With one round and
    # record boundaries on slice boundaries, cutting two records must give exactly the blocks of
    # one: the same windows from the same generator, pieces numbered on across records.
    counts = np.array([30, 20, 10, 5, 3], dtype=np.int64)
    tables = Tables.build(counts, np.full(5, 0.8, np.float32), 0.75)
    plan = EpochPlan(settings=TrainSettings(window=2, negative=2, alpha=0.025, min_alpha=0.001,
                                            batch_centers=8),
                     seed=3, epoch=0, epochs=1, partitions=2, rounds=1, slice_tokens=12)
    deals = [Deal.of(assign_buckets(counts.astype(float), 2, plan.rng(2**31, 0)), 2)]
    ids = np.random.default_rng(7).integers(0, 5, 60).astype(np.int32)
    offsets = np.arange(0, 61, 6, dtype=np.int64)  # ten documents of 6 tokens, two per slice
    arguments = dict(tables=_Held(tables), deals=_Held(deals), plan=plan)
    whole = list(block_task(0, [(ids, offsets)], **arguments))
    records = [(ids[:24], offsets[:5]), (ids[24:], offsets[4:] - 24)]
    assert join_records(records)[0].tobytes() == ids.tobytes()
    assert np.array_equal(join_records(records)[1], offsets)
    split = list(block_task(0, records, **arguments))

    assert [(key, value[:3]) for key, value in split] == [(key, value[:3]) for key, value in whole]
    for (_, a), (_, b) in zip(whole, split, strict=True):
        for expected, got in zip(a[3], b[3], strict=True):
            np.testing.assert_array_equal(got, expected)
    pieces = [(key, value[1]) for key, value in split]
    assert len(set(pieces)) == len(pieces)  # every (stage, trainer)'s pieces sort one way
    assert max(piece for _, (_, piece) in pieces) == 4  # five slices: 2 + 3 across the records
