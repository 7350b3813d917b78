"""The vocabulary as the driver keeps it (an Arrow array of words): put in id order without a
copy when it already is, and fingerprinted as the list of strings was."""

import hashlib

import numpy as np
import pyarrow as pa

from w2v_spark.corpus.vocab import in_id_order
from w2v_spark.sgns.checkpoint import vocabulary_fingerprint


def _vocab(ids):
    return pa.table({"id": pa.array(ids, pa.int32()),
                     "word": pa.array([f"w{i}" for i in ids]),
                     "count": pa.array([100 - i for i in ids], pa.int64())})


def test_a_vocabulary_in_id_order_is_returned_as_it_is():
    vocab = _vocab(list(range(6)))
    assert in_id_order(vocab) is vocab


def test_a_vocabulary_out_of_order_is_sorted_by_id():
    ordered = in_id_order(_vocab([3, 0, 5, 1, 4, 2]))
    assert ordered.column("id").to_pylist() == list(range(6))
    assert ordered.column("word").to_pylist() == [f"w{i}" for i in range(6)]
    assert np.array_equal(ordered.column("count").to_numpy(), 100 - np.arange(6))


def test_an_arrow_vocabulary_has_the_fingerprint_of_its_words_as_strings():
    # Checkpoints written when the driver held a list of strings must still resume: the digest
    # is taken over 64k-word pieces of the array, and must equal the one of the whole list.
    words = [f"wörd{i}" for i in range(150_000)]
    counts = np.arange(150_000, 0, -1)
    whole = hashlib.sha256("\n".join(words).encode("utf-8"))
    whole.update(counts.astype(np.int64).tobytes())
    assert vocabulary_fingerprint(pa.array(words), counts) == whole.hexdigest()
    assert vocabulary_fingerprint(words, counts) == whole.hexdigest()
    assert vocabulary_fingerprint(pa.array(words[:-1] + ["x"]), counts) != \
        vocabulary_fingerprint(words, counts)
