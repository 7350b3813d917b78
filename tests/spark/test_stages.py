"""tokenize, count_words/build_vocab and encode against small inline DataFrames (chispa)."""

import math
import unicodedata

import pytest
from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from w2v_spark.config import REFERENCE_TOKEN_PATTERN
from w2v_spark.corpus.encode import encode
from w2v_spark.corpus.tokenize import tokenize
from w2v_spark.corpus.vocab import build_vocab, count_words
from w2v_spark.schemas import ENCODED, TOKENS, VOCAB

pytestmark = pytest.mark.spark

LINES = StructType([StructField("value", StringType(), True)])


def _lines(spark, *texts):
    return spark.createDataFrame([(t,) for t in texts], LINES).coalesce(1)


def _tokens(spark, *docs):
    return spark.createDataFrame(list(enumerate(docs)), TOKENS)


def test_tokenize_lowercases_and_drops_empty_lines(spark):
    lines = _lines(spark, "The King's men, 1861!", "", None, "  ...  ", "Don't STOP")
    result = lines.transform(tokenize)
    expected = _tokens(spark, ["the", "king's", "men", "1861"], ["don't", "stop"])
    assert_df_equality(result.select("tokens"), expected.select("tokens"), ignore_nullable=True)
    ids = {tuple(r.tokens): r.doc_id for r in result.collect()}
    assert len(set(ids.values())) == 2
    # The id is the document's, not its place's: the same line elsewhere, in another partitioning,
    # among other lines, has the same id; equal documents share it.
    elsewhere = spark.createDataFrame([("x y",), ("Don't STOP",), ("don't stop",)], LINES) \
        .repartition(3).transform(tokenize).collect()
    assert {r.doc_id for r in elsewhere if r.tokens == ["don't", "stop"]} == {ids[("don't", "stop")]}


def test_tokenize_unicode_by_default_and_the_ascii_reference_pattern(spark):
    lines = _lines(spark, "Café «naïve» ÜBER straße — 東京 tokyo")
    assert lines.transform(tokenize).first().tokens == [
        "café", "naïve", "über", "straße", "東京", "tokyo"]
    # The reference pattern (the benchmarks' tokenization) is ASCII: accented words split,
    # non-Latin text vanishes.
    ascii_tokens = lines.transform(tokenize, token_pattern=REFERENCE_TOKEN_PATTERN,
                                   normalization="none").first().tokens
    assert ascii_tokens == ["caf", "na", "ve", "ber", "stra", "e", "tokyo"]


# Sentences of ours, with the tokens a reader expects (lower-cased, marks kept, apostrophes
# inside words): French, German, Russian (ё, й: a letter + a combining mark in NFD), Greek
# (accents; a capital sigma that lower-cases to the final form at a word's end).
MULTILINGUAL = [
    ("L'étudiant aîné n'a pas mangé le gâteau, à Noël.",
     ["l'étudiant", "aîné", "n'a", "pas", "mangé", "le", "gâteau", "à", "noël"]),
    ("Der Bürgermeister öffnet die Tür für Jürgen und Käthe.",
     ["der", "bürgermeister", "öffnet", "die", "tür", "für", "jürgen", "und", "käthe"]),
    ("Мой сосед продаёт старый чайник за 300 рублей.",
     ["мой", "сосед", "продаёт", "старый", "чайник", "за", "300", "рублей"]),
    ("Η ΣΟΦΊΑ του γέροντα είναι σπάνια στις μέρες μας.",
     ["η", "σοφία", "του", "γέροντα", "είναι", "σπάνια", "στις", "μέρες", "μας"]),
]


@pytest.mark.parametrize("form", ["NFC", "NFD"])
def test_tokenize_keeps_words_of_every_script_whole_in_composed_or_decomposed_text(spark, form):
    lines = _lines(spark, *[unicodedata.normalize(form, text) for text, _ in MULTILINGUAL])
    found = [row.tokens for row in lines.transform(tokenize).collect()]
    # NFD text comes out composed (NFKC): the same tokens, the same strings, as NFC text.
    assert sorted(found) == sorted(tokens for _, tokens in MULTILINGUAL)
    if form == "NFD":  # without normalization the marks stay apart: other strings
        first = _lines(spark, unicodedata.normalize(form, MULTILINGUAL[0][0]))
        raw = first.transform(tokenize, normalization="none").first().tokens
        assert raw != MULTILINGUAL[0][1] and len(raw) == len(MULTILINGUAL[0][1])


def test_tokenize_nfkc_folds_compatibility_characters_and_nfc_keeps_them(spark):
    lines = _lines(spark, "ﬁne ２０２６ Ⅻ")  # a ligature, full-width digits, a Roman numeral
    assert lines.transform(tokenize).first().tokens == ["fine", "2026", "xii"]
    assert lines.transform(tokenize, normalization="NFC").first().tokens == ["ﬁne", "２０２６", "ⅻ"]


def test_tokenize_options(spark):
    lines = _lines(spark, "A bb CCC dddd")
    kept = lines.transform(tokenize, lowercase=False, token_pattern="[A-Za-z]+", min_token_length=2)
    assert kept.first().tokens == ["bb", "CCC", "dddd"]


def test_tokenize_splits_documents_longer_than_max_sentence_length(spark):
    words = [f"w{i}" for i in range(23)]
    lines = _lines(spark, " ".join(words), "short line")
    result = lines.transform(tokenize, max_sentence_length=10)
    expected = _tokens(spark, words[0:10], words[10:20], words[20:23], ["short", "line"])
    assert_df_equality(result.select("tokens"), expected.select("tokens"), ignore_nullable=True,
                       ignore_row_order=True)
    assert [f.name for f in result.schema] == ["doc_id", "tokens"]
    assert result.select("doc_id").distinct().count() == 4


def test_vocab_counts_min_count_and_ids_by_count_then_word(spark):
    docs = _tokens(spark, ["b", "a", "c", "a"], ["b", "d", "a", "c"], ["e"])
    counts = docs.transform(count_words)
    vocab = counts.transform(build_vocab, min_count=2, sample=0)
    expected = spark.createDataFrame(
        [(0, "a", 3, 1.0), (1, "b", 2, 1.0), (2, "c", 2, 1.0)], VOCAB
    )
    assert_df_equality(vocab, expected, ignore_nullable=True, ignore_row_order=True)
    top = counts.transform(build_vocab, min_count=1, max_vocab_size=2, sample=0)
    assert sorted(r.word for r in top.collect()) == ["a", "b"]


def test_vocab_keep_probability_is_the_word2vec_formula(spark):
    docs = _tokens(spark, ["x"] * 900 + ["y"] * 90 + ["z"] * 10)
    vocab = docs.transform(count_words).transform(build_vocab, min_count=1, sample=0.01)
    threshold = 0.01 * 1000
    rows = []
    for i, (word, c) in enumerate([("x", 900), ("y", 90), ("z", 10)]):
        p = min(1.0, (math.sqrt(c / threshold) + 1) * threshold / c)
        rows.append((i, word, c, p))
    expected = spark.createDataFrame(rows, VOCAB)
    assert_approx_df_equality(vocab, expected, 1e-12, ignore_nullable=True, ignore_row_order=True)
    assert rows[0][3] < 0.5 and rows[2][3] == 1.0


def test_encode_maps_ids_drops_unknown_tokens_and_empty_documents(spark):
    docs = _tokens(spark, ["a", "zz", "b", "a"], ["zz", "yy"], ["東京", "b"])
    result = docs.transform(encode, words=["a", "b", "東京"])
    expected = spark.createDataFrame([(0, [0, 1, 0]), (2, [2, 1])], ENCODED)
    assert_df_equality(result, expected, ignore_nullable=True, ignore_row_order=True)


def test_stages_compose_with_transform(spark):
    lines = _lines(spark, "the cat sat on the mat", "the dog sat")
    docs = lines.transform(tokenize)
    vocab = docs.transform(count_words).transform(build_vocab, min_count=2, sample=0)
    words = [r.word for r in vocab.orderBy("id").collect()]
    assert words == ["the", "sat"]
    encoded = docs.transform(encode, words=words)
    assert sorted(r.ids for r in encoded.collect()) == [[0, 1], [0, 1, 0]]
    assert encoded.schema.fieldNames() == ["doc_id", "ids"]
    assert dict(encoded.dtypes) == {"doc_id": "bigint", "ids": "array<int>"}
    assert encoded.where(F.size("ids") == 0).count() == 0


def test_packing_documents_kept_in_training_layout_skips_the_shuffle_with_the_same_arrays(
        spark, tmp_path):
    """A single-file input is kept in the training layout (hash of doc_id, doc_id order); packing
    it then skips the shuffle and must give the arrays the shuffle would have given."""
    import numpy as np

    from w2v_spark.corpus.pack import pack_corpus, spread_documents

    lines = [" ".join(f"w{(i * 7 + j) % 23}" for j in range(i % 9 + 1)) for i in range(400)]
    lines[5] = "zzz only unknown words"  # a document that encoding drops entirely
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    documents = spark.read.text(str(path)).transform(tokenize)
    assert documents.rdd.getNumPartitions() == 1  # the case the pipeline keeps spread
    words = [f"w{k}" for k in range(23)]
    reference = pack_corpus(documents, words, 3).collect()
    kept = spread_documents(documents, 3).cache()
    packed = pack_corpus(kept, words, 3, spread=True).collect()
    kept.unpersist()
    assert len(packed) == len(reference) == 3
    for (ids, offsets), (ref_ids, ref_offsets) in zip(packed, reference, strict=True):
        np.testing.assert_array_equal(ids, ref_ids)
        np.testing.assert_array_equal(offsets, ref_offsets)
    assert sum(p[0].size for p in packed) == sum(len(line.split()) for line in lines) - 4
    assert min(p[0].size for p in packed) > 0  # every partition got documents
    with pytest.raises(ValueError, match="expected 2 partitions"):
        pack_corpus(kept, words, 2, spread=True).sizes()
