"""Stage 2: vocabulary — word counts, ``min_count`` / ``max_vocab_size`` cut, stable ids, and
word2vec's frequent-word subsampling keep-probabilities."""

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F


def count_words(documents: DataFrame) -> DataFrame:
    """Count every token.

    Input: ``schemas.TOKENS`` (``tokens array<string>``).
    Output: ``word string, count long`` — one row per distinct token.
    """
    return (
        documents.select(F.explode("tokens").alias("word"))
        .groupBy("word")
        .agg(F.count(F.lit(1)).alias("count"))
    )


def word_strings(words: Sequence[str] | pa.StringArray) -> Sequence[str]:
    """``words`` (a slice of the vocabulary) as Python strings: the driver keeps the vocabulary
    as an Arrow array, callers that format or hash words need ``str``."""
    return words.to_pylist() if isinstance(words, pa.Array) else words


def in_id_order(vocab: pa.Table) -> pa.Table:
    """``vocab`` (collected :func:`build_vocab` rows) sorted by id. Spark hands the rows back
    in id order already (one window partition, ranked in order), so this checks and only sorts
    when they are not: a sorted copy of a 1 M-word vocabulary would hold ≈ 60 MB more on the
    driver while it is made."""
    ids = vocab.column("id").to_numpy()
    if np.array_equal(ids, np.arange(ids.shape[0], dtype=ids.dtype)):
        return vocab
    return vocab.sort_by("id")


def build_vocab(
    word_counts: DataFrame, *, min_count: int = 5, max_vocab_size: int = 0, sample: float = 1e-3
) -> DataFrame:
    """Keep words seen at least ``min_count`` times (and only the ``max_vocab_size`` most frequent
    when it is > 0); number them 0.. by descending count, ties broken by the word itself, so the
    ids do not depend on partitioning.

    ``keep_probability`` is word2vec's subsampling formula (as in gensim 4): with
    ``t = sample × (total count of kept words)``, a word seen ``c`` times is kept with probability
    ``min(1, (sqrt(c / t) + 1) · t / c)``; 1 everywhere when ``sample`` is 0.

    Input: ``word string, count long`` (from :func:`count_words`).
    Output schema (``schemas.VOCAB``)::

        id                int     0 = most frequent
        word              string
        count             long
        keep_probability  double  in (0, 1]
    """
    # The vocabulary is small (one row per distinct word): a global window is one task, by design.
    # Partitioned by an expression that is false for every word (counts are positive) rather than
    # by nothing: the same single partition, without Spark's warning about a window without
    # partitions on every run (13 lines per pyspark.ml fit; MLlib's fit prints none).
    everyone = F.col("count") < 0
    by_frequency = Window.partitionBy(everyone).orderBy(F.desc("count"), F.asc("word"))
    ranked = word_counts.where(F.col("count") >= min_count).withColumn(
        "id", (F.row_number().over(by_frequency) - 1).cast("int")
    )
    if max_vocab_size > 0:
        ranked = ranked.where(F.col("id") < max_vocab_size)
    if sample > 0:
        threshold = F.lit(sample) * F.sum("count").over(Window.partitionBy(everyone))
        keep = F.least(
            F.lit(1.0), (F.sqrt(F.col("count") / threshold) + 1) * threshold / F.col("count")
        )
    else:
        keep = F.lit(1.0)
    return ranked.select(
        "id", "word", F.col("count").cast("long").alias("count"),
        keep.cast("double").alias("keep_probability"),
    )
