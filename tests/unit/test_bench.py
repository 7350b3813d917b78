"""The benchmark harness's bookkeeping for reference systems (no reference system needed)."""

import json

import numpy as np
import pytest

from w2v_spark.bench import _count_words, main, write_result
from w2v_spark.embeddings import Embeddings


def test_reference_vectors_get_corpus_counts_and_count_order_after_timing(tmp_path):
    # MLlib's child writes its vectors without counts (counting is not MLlib's work); the parent
    # adds them, as ours are ordered: descending count, ties by word.
    documents = tmp_path / "documents.txt"
    documents.write_text("b a c a\nc a b d\n", encoding="utf-8")
    words = ["a", "b", "c", "d"]
    vectors = np.arange(8, dtype=np.float32).reshape(4, 2)
    out = tmp_path / "out"
    write_result(str(out), words, np.zeros(4, dtype=np.int64), vectors, 0, 5)
    _count_words(documents, out)
    loaded = Embeddings.load(out)
    assert loaded.words == ["a", "b", "c", "d"]  # a: 3, then b and c: 2 (by word), d: 1
    np.testing.assert_array_equal(loaded.counts, [3, 2, 2, 1])
    np.testing.assert_array_equal(loaded.vectors, vectors)  # each word keeps its own vector
    assert json.loads((out / "_manifest.json").read_text())["corpus"]["tokens"] == 8


def test_reordering_moves_each_vector_with_its_word(tmp_path):
    documents = tmp_path / "documents.txt"
    documents.write_text("z z z y y x\n", encoding="utf-8")
    vectors = np.array([[1, 1], [2, 2], [3, 3]], dtype=np.float32)  # x, y, z
    out = tmp_path / "out"
    write_result(str(out), ["x", "y", "z"], np.zeros(3, dtype=np.int64), vectors, 0, 5)
    _count_words(documents, out)
    loaded = Embeddings.load(out)
    assert loaded.words == ["z", "y", "x"]
    np.testing.assert_array_equal(loaded.vectors, vectors[::-1])


def test_the_harness_wants_a_corpus(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2
    assert "--corpus is required" in capsys.readouterr().err
