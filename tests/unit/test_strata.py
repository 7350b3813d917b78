"""Windows and stratified ownership: structure checked against brute force on small inputs."""

import numpy as np
import pytest

from w2v_spark.sgns.kernel import Windows, sample_windows
from w2v_spark.sgns.strata import (
    Deal,
    assign_buckets,
    block_id,
    pack_block,
    split_blocks,
    unpack_block,
)


def _corpus():
    ids = np.arange(40, dtype=np.int32) % 13
    offsets = np.array([0, 7, 8, 20, 40], dtype=np.int64)  # a one-word document included
    return ids, offsets


def test_windows_stay_inside_documents_and_reach():
    _, offsets = _corpus()
    positions = np.arange(40)  # word id = position, so contexts can be located
    windows, kept = sample_windows(positions.astype(np.int32), offsets,
                                   keep_probability=np.ones(40, np.float32), window=3,
                                   rng=np.random.default_rng(0))
    assert kept == 40
    doc_of = np.searchsorted(offsets, positions, side="right") - 1
    assert windows.groups == 39  # every word but the lone one in document 1
    for g in range(windows.groups):
        centre = windows.centre[g]
        context = windows.context[windows.offsets[g] : windows.offsets[g + 1]]
        assert centre not in context
        assert np.all(doc_of[context] == doc_of[centre])
        assert np.all(np.abs(context - centre) <= 3)
        # contexts are the contiguous span around the centre
        span = np.sort(np.concatenate((context, [centre])))
        assert np.array_equal(span, np.arange(span[0], span[-1] + 1))


def test_subsampling_removes_tokens_before_windowing():
    ids = np.zeros(12, dtype=np.int32)
    ids[::2] = 1  # 1 0 1 0 ...
    keep = np.array([0.0, 1.0], np.float32)  # word 0 never kept
    windows, kept = sample_windows(ids, np.array([0, 12]), keep_probability=keep, window=1,
                                   rng=np.random.default_rng(1))
    assert kept == 6 and set(windows.centre.tolist()) == {1} and set(windows.context.tolist()) == {1}


def test_buckets_are_balanced_and_seeded():
    mass = np.random.default_rng(0).zipf(1.3, 5000).astype(float)
    a = assign_buckets(mass, 4, np.random.default_rng(7))
    assert set(a.tolist()) == {0, 1, 2, 3}
    assert np.bincount(a).max() - np.bincount(a).min() <= 1
    assert np.array_equal(a, assign_buckets(mass, 4, np.random.default_rng(7)))
    assert not np.array_equal(a, assign_buckets(mass, 4, np.random.default_rng(8)))


@pytest.mark.parametrize("buckets", [3, 20, 300])  # uint8, uint16 and int64 sort keys
def test_blocks_partition_every_pair_exactly_once_with_single_writers(buckets):
    ids, offsets = _corpus()
    windows, _ = sample_windows(ids, offsets, keep_probability=np.ones(13, np.float32), window=4,
                                rng=np.random.default_rng(3))
    assignment = assign_buckets(np.ones(13), buckets, np.random.default_rng(5))
    blocks = split_blocks(windows, assignment, buckets)
    all_pairs = sorted(
        (int(windows.centre[g]), int(c))
        for g in range(windows.groups)
        for c in windows.context[windows.offsets[g] : windows.offsets[g + 1]]
    )
    seen = []
    for stratum in range(buckets):
        written_out, written_in = set(), set()
        for bucket in range(buckets):
            block = blocks.get(block_id(stratum, bucket, buckets))
            if block is None:
                continue
            assert np.all(assignment[block.centre] == bucket)
            assert np.all(assignment[block.context] == (bucket + stratum) % buckets)
            assert np.all(np.diff(block.offsets) > 0)
            out_rows, in_rows = set(block.centre.tolist()), set(block.context.tolist())
            assert not (out_rows & written_out) and not (in_rows & written_in)
            written_out |= out_rows
            written_in |= in_rows
            seen += [(int(block.centre[g]), int(c)) for g in range(block.groups)
                     for c in block.context[block.offsets[g] : block.offsets[g + 1]]]
    assert sorted(seen) == all_pairs


def test_deal_ranks_words_within_their_bucket_in_id_order():
    assignment = assign_buckets(np.random.default_rng(0).zipf(1.3, 101).astype(float), 4,
                                np.random.default_rng(3))
    deal = Deal.of(assignment, 4)
    assert deal.largest == np.bincount(assignment).max() == 26
    for bucket in range(4):
        words = deal.words(bucket)
        assert np.all(np.diff(words) > 0) and np.all(assignment[words] == bucket)
        assert deal.rank[words].tolist() == list(range(words.size))  # row i of the slice


def test_bucket_noise_draws_only_its_bucket_in_proportion():
    counts = np.arange(1, 21, dtype=float)
    deal = Deal.of(np.arange(20) % 2, 2)
    draws = deal.words(1)[deal.noise(counts, 1, 0.75).sample(np.random.default_rng(0), 200000)]
    assert set(np.unique(draws).tolist()) == set(range(1, 20, 2))
    freq = np.bincount(draws, minlength=20)[1::2] / draws.size
    target = counts[1::2] ** 0.75 / (counts[1::2] ** 0.75).sum()
    # Measured: largest deviation 0.0017 (binomial sd of one frequency at 200k draws ≈ 0.001).
    np.testing.assert_allclose(freq, target, atol=0.005)


def test_concatenate_windows():
    a = Windows(np.array([1, 2], np.int32), np.array([0, 2, 3]), np.array([5, 6, 7], np.int32))
    b = Windows(np.array([3], np.int32), np.array([0, 1]), np.array([8], np.int32))
    c = Windows.concatenate([a, b])
    assert c.centre.tolist() == [1, 2, 3] and c.offsets.tolist() == [0, 2, 3, 4]
    assert c.context.tolist() == [5, 6, 7, 8]


def test_document_slices_cover_all_documents_in_runs():
    from w2v_spark.sgns.kernel import document_slices

    offsets = np.array([0, 5, 9, 30, 31, 40, 41], dtype=np.int64)
    slices = document_slices(offsets, max_tokens=10)
    assert slices[0][0] == 0 and slices[-1][1] == 6
    assert all(a[1] == b[0] for a, b in zip(slices, slices[1:]))
    for lo, hi in slices:
        assert hi > lo
        assert offsets[hi] - offsets[lo] <= 10 or hi == lo + 1  # only a long document exceeds
    assert document_slices(np.array([0, 3]), max_tokens=10) == [(0, 1)]


def test_rounds_split_documents_into_consecutive_runs():
    from w2v_spark.sgns.stratum import round_documents

    offsets = np.array([0, 10, 20, 30, 40, 50, 60, 70, 80], dtype=np.int64)
    runs = [round_documents(offsets, r, 4) for r in range(4)]
    assert runs == [(0, 2), (2, 4), (4, 6), (6, 8)]
    assert round_documents(offsets, 0, 1) == (0, 8)
    # more rounds than documents: some rounds are empty, none is lost
    short = np.array([0, 5, 9], dtype=np.int64)
    runs = [round_documents(short, r, 4) for r in range(4)]
    assert runs[0][0] == 0 and runs[-1][1] == 2
    assert all(a[1] == b[0] for a, b in zip(runs, runs[1:]))


@pytest.mark.parametrize(("vocab_size", "window", "id_dtype", "count_dtype"),
                         [(13, 4, np.uint16, np.uint8), (70_000, 4, np.int32, np.uint8),
                          (13, 200, np.uint16, np.int64)])
def test_packed_blocks_unpack_exactly(vocab_size, window, id_dtype, count_dtype):
    rng = np.random.default_rng(7)
    ids = rng.integers(0, vocab_size, 3000).astype(np.int32)
    offsets = np.array([0, 400, 410, 3000])
    windows, _ = sample_windows(ids, offsets, keep_probability=np.ones(vocab_size, np.float32),
                                window=window, rng=rng)
    packed = pack_block(windows, vocab_size)
    assert packed[0].dtype == id_dtype and packed[2].dtype == id_dtype
    assert packed[1].dtype == count_dtype
    back = unpack_block(packed)
    for name in ("centre", "offsets", "context"):
        assert np.array_equal(getattr(back, name), getattr(windows, name))
        assert getattr(back, name).dtype == getattr(windows, name).dtype
    empty = unpack_block(pack_block(Windows.concatenate([]), vocab_size))
    assert empty.groups == 0 and empty.offsets.tolist() == [0]
