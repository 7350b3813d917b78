"""Parameter averaging of partition models."""

import numpy as np

from w2v_spark.sgns.merge import RowUpdate, merge_updates


def test_one_partition_applies_its_change_exactly():
    before = np.random.default_rng(0).random((6, 3), dtype=np.float32)
    after = before.copy()
    after[[1, 4]] += np.float32(0.25)
    touches = np.array([0, 3, 0, 0, 1, 0])
    merged = merge_updates(before.copy(), [RowUpdate.from_matrices(before, after, touches)])
    np.testing.assert_array_equal(merged, after)


def test_rows_are_averaged_by_touch_count_and_untouched_rows_stay():
    base = np.zeros((4, 2), dtype=np.float32)
    a = RowUpdate(rows=np.array([0, 1], np.int32), delta=np.array([[1, 1], [2, 2]], np.float32),
                  touches=np.array([1, 3]))
    b = RowUpdate(rows=np.array([1, 2], np.int32), delta=np.array([[6, 6], [5, 5]], np.float32),
                  touches=np.array([1, 2]))
    merged = merge_updates(base, [a, b])
    # row 0: only a; row 1: (3·2 + 1·6) / 4 = 3; row 2: only b; row 3: nobody.
    np.testing.assert_allclose(merged, [[1, 1], [3, 3], [5, 5], [0, 0]])
