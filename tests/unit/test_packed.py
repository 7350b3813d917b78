"""The packed corpus's records: bounded in size, whole documents, and back to one sequence."""

from types import SimpleNamespace

import numpy as np
import pytest

from w2v_spark.corpus.packed import join_records, pack_records


def _rows(documents_per_row: list[list[list[int]]]):
    """Rows as pack_corpus's Arrow pass makes them: raw int32 ids and int64 offsets per batch."""
    rows = []
    for documents in documents_per_row:
        ids = np.array([i for doc in documents for i in doc], dtype=np.int32)
        offsets = np.concatenate(([0], np.cumsum([len(d) for d in documents]))).astype(np.int64)
        rows.append(SimpleNamespace(ids=ids.tobytes(), offsets=offsets.tobytes()))
    return rows


def test_records_are_bounded_hold_whole_documents_and_join_back_to_the_partition():
    rng = np.random.default_rng(1)
    batches = [[list(rng.integers(0, 50, rng.integers(1, 9))) for _ in range(rng.integers(1, 5))]
               for _ in range(40)]
    documents = [doc for batch in batches for doc in batch]
    largest_row = max(sum(len(d) for d in batch) for batch in batches)

    records = list(pack_records(_rows(batches), record_tokens=20))

    assert len(records) > 5
    for ids, offsets in records[:-1]:
        assert 20 <= ids.shape[0] < 20 + largest_row
    for ids, offsets in records:
        assert ids.dtype == np.int32 and offsets.dtype == np.int64
        assert offsets[0] == 0 and offsets[-1] == ids.shape[0]
    found = [list(ids[offsets[k]:offsets[k + 1]]) for ids, offsets in records
             for k in range(offsets.shape[0] - 1)]
    assert found == documents  # in order, none cut in two
    ids, offsets = join_records(records)
    assert ids.tolist() == [i for doc in documents for i in doc]
    assert np.diff(offsets).tolist() == [len(d) for d in documents]


@pytest.mark.parametrize("record_tokens", [1 << 22, 10**9])
def test_a_partition_smaller_than_a_record_is_one_record(record_tokens):
    batches = [[[1, 2, 3], [4]], [[5, 6]]]
    (ids, offsets), = pack_records(_rows(batches), record_tokens=record_tokens)
    assert ids.tolist() == [1, 2, 3, 4, 5, 6]
    assert offsets.tolist() == [0, 3, 4, 6]


def test_an_empty_partition_is_one_empty_record():
    (ids, offsets), = pack_records([], record_tokens=10)
    assert ids.shape == (0,) and offsets.tolist() == [0]
    ids, offsets = join_records([(ids, offsets)])
    assert ids.shape == (0,) and offsets.tolist() == [0]


def test_a_partition_that_fills_records_exactly_leaves_no_empty_record_behind():
    records = list(pack_records(_rows([[[1, 2]], [[3, 4]]]), record_tokens=2))
    assert [r[0].tolist() for r in records] == [[1, 2], [3, 4]]
