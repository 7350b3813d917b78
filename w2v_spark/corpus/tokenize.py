"""Stage 1: raw lines → token arrays, with Spark SQL functions only (no Python UDFs)."""

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from w2v_spark.config import DEFAULT_TOKEN_PATTERN


def normalized(text: Column, form: str) -> Column:
    """``text`` in Unicode normalization form ``form`` (``"NFKC"``, ``"NFC"``; ``"none"`` leaves
    it as it is).

    Text in decomposed form (NFD: "é" as "e" + U+0301) would otherwise give other tokens than the
    same words composed, and NFKC also folds compatibility characters (the ligature "ﬁ" → "fi",
    full-width digits → ASCII). Spark SQL has no normalize function before 4.4; ``reflect`` calls
    ICU4J's (a library every Spark 4 ships, for collations) static ``Normalizer.compose`` in the
    JVM, row by row, with no Python worker."""
    if form == "none":
        return text
    composed = F.call_function("reflect", F.lit("com.ibm.icu.text.Normalizer"), F.lit("compose"),
                               text, F.lit(form == "NFKC"))
    return F.when(text.isNotNull(), composed)  # ICU throws on null; null lines stay null


def tokenize(
    lines: DataFrame,
    *,
    column: str = "value",
    normalization: str = "NFKC",
    lowercase: bool = True,
    token_pattern: str = DEFAULT_TOKEN_PATTERN,
    min_token_length: int = 1,
    max_sentence_length: int = 10000,
) -> DataFrame:
    """Split each line of ``lines[column]`` into tokens.

    Tokens are the matches of ``token_pattern`` (Java regex syntax) in the text, after Unicode
    ``normalization`` (:func:`normalized`) and lower-casing (Unicode rules), of at
    least ``min_token_length`` characters. A line with more than ``max_sentence_length`` tokens
    becomes several consecutive documents of at most that many tokens, so that training windows
    never span more than one; lines without tokens (blank, punctuation only, null) are dropped.

    Input: any DataFrame with a string column ``column``.
    Output schema (``schemas.TOKENS``)::

        doc_id  long            xxhash64 of the tokens (equal documents share it)
        tokens  array<string>   non-empty
    """
    text: Column = normalized(F.col(column), normalization)
    if lowercase:
        text = F.lower(text)
    tokens = F.regexp_extract_all(text, F.lit(token_pattern), 0)
    if min_token_length > 1:
        tokens = F.filter(tokens, lambda token: F.length(token) >= min_token_length)
    return split_long_documents(
        lines.select(tokens.alias("tokens")).where(F.size("tokens") > 0),  # -1 for a null line
        max_sentence_length,
    )


def split_long_documents(token_arrays: DataFrame, max_sentence_length: int) -> DataFrame:
    """``tokens array<string>`` rows (non-empty) → ``schemas.TOKENS``: rows longer than
    ``max_sentence_length`` become consecutive documents of at most that many tokens.

    ``doc_id`` is a hash of the document's tokens, not of where it sits in the input: the
    training layout (:func:`~w2v_spark.corpus.pack.spread_documents`) deals and orders documents by it,
    so the same corpus trains the same bits however its files are split into partitions (a
    cluster's default parallelism, ``spark.sql.files.maxPartitionBytes``, a directory instead of
    one file). Equal documents share a ``doc_id``, and their order among themselves changes
    nothing."""
    chunk_starts = F.sequence(F.lit(0), F.size("tokens") - 1, F.lit(max_sentence_length))
    return (
        token_arrays.select(F.explode(chunk_starts).alias("start"), "tokens")
        .select(F.slice("tokens", F.col("start") + 1, max_sentence_length).alias("tokens"))
        .select(F.coalesce("tokens", F.array().cast("array<string>")).alias("tokens"))
        .select(F.xxhash64("tokens").alias("doc_id"), "tokens")
    )
