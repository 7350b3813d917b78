"""How the SVD cuts a sparse matrix into row blocks (:func:`w2v_spark.count.svd.row_ranges`)."""

import numpy as np

from w2v_spark.count.svd import ENTRY_BYTES, PRODUCT_BYTES, row_ranges


def _bytes(row_entries, bounds, width):
    return [int(row_entries[a:b].sum()) * ENTRY_BYTES + (b - a) * width * PRODUCT_BYTES
            for a, b in zip(bounds, bounds[1:], strict=False)]


def test_a_zipf_matrix_is_cut_into_ranges_of_about_equal_bytes():
    # Entries per row fall with the word's rank, as in a PPMI matrix; rows of equal height
    # would give the first range most of the entries.
    rows, width = 20_000, 160
    row_entries = np.minimum(rows, 400_000 / np.arange(1, rows + 1)).astype(np.int64) + 3
    bounds = row_ranges(row_entries, width, at_least=2, block_bytes=1 << 20)
    sizes = _bytes(row_entries, bounds, width)
    total = int(row_entries.sum()) * ENTRY_BYTES + rows * width * PRODUCT_BYTES
    heaviest_row = int(row_entries.max()) * ENTRY_BYTES + width * PRODUCT_BYTES
    assert bounds[0] == 0 and bounds[-1] == rows and np.all(np.diff(bounds) > 0)
    assert len(sizes) == -(-total // (1 << 20))
    assert max(sizes) <= total / len(sizes) + heaviest_row
    # The first range is a handful of rows, the last hundreds: equal bytes, not equal height
    # (measured: 5 and 663 rows of 62 ranges).
    assert bounds[1] - bounds[0] < 20 and bounds[-1] - bounds[-2] > 500
    equal_height = np.linspace(0, rows, len(sizes) + 1).astype(np.int64)
    # Measured: equal heights' largest range holds 15.3 × the bytes of ours.
    assert max(_bytes(row_entries, equal_height, width)) > 3 * max(sizes)


def test_at_least_the_partitions_and_never_an_empty_range():
    row_entries = np.array([5, 0, 0, 7, 1])
    assert len(row_ranges(row_entries, 4, at_least=3, block_bytes=1 << 30)) - 1 == 3
    bounds = row_ranges(row_entries, 4, at_least=50, block_bytes=1)  # 5 rows: ≤ 5 ranges
    assert bounds[0] == 0 and bounds[-1] == 5 and np.all(np.diff(bounds) > 0)
    assert 4 <= len(bounds) - 1 <= 5


def test_a_row_heavier_than_a_share_makes_fewer_ranges_not_an_empty_one():
    row_entries = np.array([1000, 1, 1, 1, 1, 1])
    bounds = row_ranges(row_entries, 1, at_least=4, block_bytes=1 << 30)
    assert bounds[0] == 0 and bounds[1] == 1 and bounds[-1] == 6
    assert np.all(np.diff(bounds) > 0) and len(bounds) - 1 < 4
