"""The query API on hand-made embeddings whose answers are known."""

import numpy as np
import pytest

from w2v_spark import Embeddings

ANIMALS = Embeddings(
    ["cat", "dog", "mouse", "car", "bus"],
    np.array([50, 40, 30, 20, 10]),
    np.array([[1.0, 0.1, 0.0], [0.9, 0.2, 0.0], [0.8, 0.0, 0.3], [0.0, 1.0, 0.1], [0.1, 0.9, 0.0]]),
)


def test_similarity_most_similar_and_doesnt_match():
    assert ANIMALS.similarity("cat", "cat") == pytest.approx(1.0)
    assert ANIMALS.similarity("cat", "dog") == pytest.approx(0.92 / np.sqrt(1.01 * 0.85), abs=1e-6)
    assert [w for w, _ in ANIMALS.most_similar("cat", topn=2)] == ["dog", "mouse"]
    assert [w for w, _ in ANIMALS.most_similar("car", topn=1)] == ["bus"]
    # restrict: only the 3 most frequent words are candidates.
    assert [w for w, _ in ANIMALS.most_similar("car", topn=1, restrict=3)] == ["dog"]
    assert ANIMALS.doesnt_match(["cat", "dog", "mouse", "car"]) == "car"
    assert ANIMALS.get_vector("bus").tolist() == pytest.approx([0.1, 0.9, 0.0])


def test_unknown_words_name_the_word_and_the_vocabulary_size():
    with pytest.raises(KeyError, match="'zebra' not in vocabulary \\(5 words\\)"):
        ANIMALS.similarity("cat", "zebra")
    with pytest.raises(KeyError, match="zebra"):
        ANIMALS.analogy("cat", "zebra", "dog")


# Found by search over small integer vectors: the two objectives disagree here.
ANALOGY = Embeddings(
    ["a", "b", "c", "x", "y", "z"], np.arange(6)[::-1],
    np.array([[0, -1], [3, -2], [3, -3], [1, 1], [3, -1], [3, 1]], dtype=np.float32),
)


def test_3cosadd_and_3cosmul_give_the_answers_of_their_formulas_and_differ_here():
    unit = ANALOGY.vectors / np.linalg.norm(ANALOGY.vectors, axis=1, keepdims=True)
    cos = unit @ unit.T
    a, b, c = 0, 1, 2
    candidates = [3, 4, 5]
    add = max(candidates, key=lambda x: cos[x, b] - cos[x, a] + cos[x, c])
    shifted = (1 + cos) / 2
    mul = max(candidates, key=lambda x: shifted[x, b] * shifted[x, c] / (shifted[x, a] + 1e-6))
    assert ANALOGY.analogy("a", "b", "c", method="3cosadd")[0][0] == ANALOGY.words[add] == "y"
    assert ANALOGY.analogy("a", "b", "c", method="3cosmul")[0][0] == ANALOGY.words[mul] == "x"
    scores = dict(ANALOGY.analogy("a", "b", "c", method="3cosmul", topn=3))
    assert scores["x"] == pytest.approx(shifted[3, b] * shifted[3, c] / (shifted[3, a] + 1e-6), rel=1e-5)
    assert {w for w, _ in ANALOGY.analogy("a", "b", "c", topn=10)} == {"x", "y", "z"}  # inputs excluded
    with pytest.raises(ValueError, match="3cosadd"):
        ANALOGY.analogy("a", "b", "c", method="cosine")


def test_zero_vectors_are_dissimilar_to_everything():
    emb = Embeddings(["a", "b", "c"], np.array([3, 2, 1]), np.array([[1.0, 0.0], [0.0, 0.0], [0.9, 0.1]]))
    assert emb.similarity("a", "b") == 0.0
    assert emb.most_similar("a", topn=1)[0][0] == "c"


def test_the_gensim_lookups_mean_what_they_mean_in_gensim():
    from gensim.models import KeyedVectors

    gensim_kv = KeyedVectors(3)
    gensim_kv.add_vectors(ANIMALS.words, ANIMALS.vectors)
    np.testing.assert_array_equal(ANIMALS["mouse"], gensim_kv["mouse"])
    np.testing.assert_array_equal(ANIMALS[["bus", "cat"]], gensim_kv[["bus", "cat"]])
    assert ANIMALS[["bus", "cat"]].shape == (2, 3)
    assert ANIMALS.key_to_index == gensim_kv.key_to_index
    assert ANIMALS.index_to_key == gensim_kv.index_to_key
    assert len(ANIMALS) == len(gensim_kv) == 5
    assert ("dog" in ANIMALS, "zebra" in ANIMALS) == ("dog" in gensim_kv, "zebra" in gensim_kv)
    with pytest.raises(KeyError, match="'zebra' not in vocabulary"):
        ANIMALS["zebra"]
