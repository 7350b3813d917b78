"""What a stratified epoch does around the kernel, without a JVM: the local-mode model file and
the worker heap's garbage collection."""

import gc
import os

import numpy as np

from w2v_spark.epochs import EpochPlan, Tables, _block_task, _ModelFile
from w2v_spark.sgns import TrainSettings
from w2v_spark.strata import Deal, assign_buckets


def test_model_file_is_rewritten_in_place_and_read_as_maps(tmp_path):
    rng = np.random.default_rng(0)
    syn0, syn1 = rng.random((50, 8), dtype=np.float32), rng.random((50, 8), dtype=np.float32)
    model = _ModelFile(str(tmp_path)).write(syn0, syn1)
    inode = os.stat(model.path).st_ino
    read0, read1 = model.value
    assert isinstance(read0, np.memmap) and not read0.flags.writeable
    np.testing.assert_array_equal(read0, syn0)
    np.testing.assert_array_equal(read1, syn1)
    rows = np.array([3, 7, 49])
    taken = read1[rows]  # what a trainer does: a copy of its rows, not a view of the file
    del read0, read1

    # The next epoch's model goes into the same file (same inode: its pages are reused), and a
    # reader gets the new values while copies taken before keep the old ones.
    model = _ModelFile(str(tmp_path)).write(syn0 + 1, syn1 * 2)
    assert os.stat(model.path).st_ino == inode
    read0, read1 = model.value
    np.testing.assert_array_equal(read0, syn0 + 1)
    np.testing.assert_array_equal(read1, syn1 * 2)
    np.testing.assert_array_equal(taken, syn1[rows])
    del read0, read1

    # Another shape (a resumed run with another vocabulary, say) replaces the file.
    model = _ModelFile(str(tmp_path)).write(syn0[:10], syn1[:10])
    read0, read1 = model.value
    assert read0.shape == (10, 8)
    np.testing.assert_array_equal(read1, syn1[:10])


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
        records = list(_block_task(0, [(ids, offsets)], tables=_Held(tables),
                                   deals=_Held(deals), plan=plan))
        # Full collections in a worker skip its imports and numba's objects from now on.
        # Measured: 38,589 objects frozen in this test process (numpy, pyspark, the package);
        # any real freeze is far above 1,000, none leaves 0.
        assert gc.get_freeze_count() > 1000
        assert records  # and the task did its work
    finally:
        gc.unfreeze()
